"""test_circuit/fashion_chips.py --quick, run as a user runs it; skipped without the Fashion-MNIST files."""
import importlib.util
import json
import os
import subprocess
import sys

import h5py
import numpy as np
from conftest import ROOT
from test_examples import run_example
from test_fashion_example import needs_data


def _example():
    spec = importlib.util.spec_from_file_location("fashion_chips", ROOT / "test_circuit" / "fashion_chips.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@needs_data
def test_quick_chip_study_trains_every_model_and_writes_its_results(tmp_path):
    stdout = run_example("fashion_chips", "--quick", "--out", tmp_path, timeout=900)
    example = _example()
    with h5py.File(tmp_path / "results.h5", "r") as f:
        acc = {m: f[m]["accuracy"][()] for m in example.MODELS}
    for name, a in acc.items():
        assert a.shape == (5, 5), name  # 5 sigmas x 5 chips
        assert np.ptp(a[0]) == 0, name  # sigma 0: every chip is the nominal network
        assert a[0, 0] > 0.2, name  # it learned (chance: 0.1)
    args = example.parse(["--quick", "--out", str(tmp_path)])
    for name, levels in (("binary", 2), ("levels4", 4), ("levels16", 16)):
        model = example.build(args, name)
        model.load_weights(tmp_path / f"{name}.pkl")
        assert len(np.unique(model.conductances())) <= levels, name  # the circuit holds that many values
    reads = json.loads((tmp_path / "read_noise.json").read_text())
    assert reads["sigma"] == 0.1 and all(len(r) == 3 for r in reads["accuracy"].values())
    table = (tmp_path / "table.md").read_text()
    assert "| aconnect | 0.3 |" in table and "gain at sigma 0.5" in table and "read noise sigma 0.1" in table
    assert (tmp_path / "robustness.png").stat().st_size > 0 and "saved" in stdout
    # a rerun evaluates the cached models without training them again
    again = run_example("fashion_chips", "--quick", "--out", tmp_path, "--models", "vanilla", timeout=300)
    assert "vanilla: training" not in again and "vanilla: trained in" in again


@needs_data
def test_the_vanilla_model_can_be_a_run_of_the_training_example(tmp_path):
    small = ("--train", "300", "--test", "100", "--epochs", "1", "--schedule", "none", "--ngspice-check", "0")
    run_example("fashion_mnist", *small, "--hidden", "64", "--out", tmp_path / "run", timeout=600)
    study = ("fashion_chips", "--quick", "--models", "vanilla,mat", "--spice-chips", "0", "--workers", "1")
    stdout = run_example(*study, "--vanilla", tmp_path / "run", "--out", tmp_path / "study", timeout=600)
    assert "vanilla: training" not in stdout and "vanilla: the model of" in stdout
    # mat's clean phase is the example's run: only its --mat-epochs noisy epochs (1 here) are trained
    assert "mat: training" in stdout and stdout.split("mat: training")[1].count("  epoch ") == 1
    with open(tmp_path / "run" / "weights.pkl", "rb") as a, open(tmp_path / "study" / "vanilla.pkl", "rb") as b:
        assert a.read() == b.read()  # the example's conductances, judged as they were trained
    again = run_example(*study, "--vanilla", tmp_path / "run", "--out", tmp_path / "study", timeout=600)
    assert "vanilla: the model of" not in again  # cached, with its study
    # a run of another network is refused, naming its folder, before anything is written
    run_example("fashion_mnist", *small, "--hidden", "32", "--out", tmp_path / "other", timeout=600)
    out = subprocess.run([sys.executable, str(ROOT / "test_circuit" / "fashion_chips.py"), *study[1:], "--vanilla",
                          str(tmp_path / "other"), "--out", str(tmp_path / "study2")], capture_output=True, text=True,
                         timeout=600, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1"))
    assert out.returncode != 0 and str(tmp_path / "other") in out.stderr and "conductances" in out.stderr
    assert not (tmp_path / "study2" / "vanilla.pkl").exists()


@needs_data
def test_mask_groups_bench_quick_run(tmp_path):
    """bench/mask_groups.py --quick: trained rows and timed rows against clean, measured in one run."""
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "mask_groups.py"), "--quick", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=600, cwd=ROOT,
                         env=dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1"))
    assert out.returncode == 0, out.stderr[-2000:]
    assert "| clean | " in out.stdout and "| 4 masks / batch | " in out.stdout
    assert "| one mask per sample (128 / batch) | " in out.stdout
    assert (tmp_path / "groups4.pkl").exists()
