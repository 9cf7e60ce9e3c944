"""test_circuit/fashion_mnist.py shortened (a few thousand images, one epoch, a small hidden
layer), run as a user runs it; skipped when the Fashion-MNIST files are not installed."""
import importlib.util
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT
from ebana.datasets.mnist import find_idx_files, search_path
from ebana.errors import DataNotFoundError
from ebana.training import History
from test_examples import printed_accuracy, run_example


def _have_data():
    try:
        find_idx_files("fashion-mnist", search_path("fashion-mnist"), "")
        return True
    except DataNotFoundError:
        return False


needs_data = pytest.mark.skipif(not _have_data(), reason="Fashion-MNIST not installed "
                                "(apt-get install dataset-fashion-mnist, or set EBANA_DATA)")


def _example():
    spec = importlib.util.spec_from_file_location("fashion_mnist", ROOT / "test_circuit" / "fashion_mnist.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("hidden", [32, 64])
def test_local_configuration_has_about_the_dense_conductance_count(hidden):
    example = _example()
    args = {config: example.parse(["--config", config, "--hidden", str(hidden)]) for config in ("dense", "local")}
    dense, local = (example.build_model(args[c], "native").conductances().size for c in ("dense", "local"))
    assert abs(local - dense) / dense < 0.1, (dense, local)
    images = np.random.default_rng(0).integers(0, 256, size=(2, 28, 28), dtype=np.uint8)
    x = {c: example.to_inputs(images, c) for c in ("dense", "local")}
    assert x["dense"].shape == (2, 1568) and x["local"].shape == (2, 28, 28, 2)
    # the same voltages: +v then -v per pixel, v = pixel / 255 V
    np.testing.assert_array_equal(x["dense"][:, :784], x["local"][..., 0].reshape(2, -1))
    np.testing.assert_allclose(x["dense"][:, 784:], -(images.reshape(2, -1) / 255.0), rtol=1e-15)


def test_hidden_takes_a_list_of_widths_for_deeper_rectified_networks(capsys):
    example = _example()
    args = example.parse(["--hidden", "8,6"])
    assert args.hidden == [8, 6] and example.parse(["--hidden", "8"]).hidden == 8
    # several hidden layers: Ngspice (very slow on them) only when asked
    assert args.ngspice_check == 0 and args.deep_unchecked
    assert example.parse(["--hidden", "8,6", "--ngspice-check", "5"]).ngspice_check == 5
    assert example.parse(["--hidden", "8"]).ngspice_check == 1000
    model = example.build_model(args, "native")
    assert sorted(model.get_weights()) == ["d1n", "d1p", "d2n", "d2p", "d3"]
    for argv, message in ((["--hidden", "8,x"], "comma list of widths"), (["--hidden", "8,5"], "must be even"),
                          (["--hidden", "8,0"], "must be positive"),
                          (["--hidden", "8,8", "--config", "dense"], "need --config rectified")):
        with pytest.raises(SystemExit):
            example.parse(argv)
        assert message in capsys.readouterr().err


def test_cross_entropy_takes_labels_and_scales_the_default_beta(capsys):
    example = _example()
    mse, ce = example.parse([]), example.parse(["--loss", "cross-entropy"])
    assert mse.loss == "mse" and ce.logit_scale == pytest.approx(2400)  # 8 logits per 1/300 V target swing
    # the same nudging current for an output one swing off: beta * swing (MSE) = beta' * logit_scale
    assert ce.beta * ce.logit_scale == pytest.approx(mse.beta * mse.target)
    assert example.parse(["--loss", "cross-entropy", "--beta", "1e-12"]).beta == 1e-12
    assert example.parse(["--config", "dense", "--loss", "cross-entropy"]).logit_scale == pytest.approx(20)
    labels = np.array([3, 0, 9])
    np.testing.assert_array_equal(example.targets(labels, "rectified", 1 / 300, "cross-entropy"), labels)
    assert example.targets(labels, "rectified", 1 / 300)[0].tolist() == [0, 0, 0, 1 / 300, 0, 0, 0, 0, 0, 0]
    assert example.loss_function(ce).scale == ce.logit_scale
    with pytest.raises(SystemExit):
        example.parse(["--loss", "cross-entropy", "--logit-scale", "0"])
    assert "--logit-scale must be positive" in capsys.readouterr().err


def test_best_is_the_rectified_local_network_on_cross_entropy():
    example = _example()
    best = example.parse(["--config", "best"])
    assert (best.network, best.loss, best.lr, best.hidden_lr, best.ngspice_check, best.filters) == (
        "rectified-local", "cross-entropy", 1.2e-9, 1e-10, 1000, 80)
    assert example.parse(["--config", "rectified-local"]).filters == 64
    model = example.build_model(example.parse(["--config", "best", "--filters", "4"]), "native")
    assert model.layer("l1p").g.shape == (64, 98, 2) and model.layer("l1p").lr == 1e-10
    assert model.layer("d2").lr is None
    assert example.to_inputs(np.zeros((1, 28, 28), np.uint8), best.network).shape == (1, 28, 28, 2)
    with pytest.raises(SystemExit):
        example.parse(["--config", "best", "--filters", "3"])


def test_hidden_lr_steps_the_hidden_crossbars_only(capsys):
    example = _example()
    model = example.build_model(example.parse(["--hidden", "8", "--hidden-lr", "1e-10"]), "native")
    assert model.layer("d1p").lr == model.layer("d1n").lr == 1e-10 and model.layer("d2").lr is None
    args = example.parse(["--config", "rectified-local", "--filters", "2", "--local-lr", "2e-11"])
    model = example.build_model(args, "native")
    assert model.layer("l1p").lr == model.layer("l1n").lr == 2e-11 and model.layer("d2").lr is None
    assert example.parse(["--config", "rectified-local"]).hidden_lr == 5e-11  # its default
    with pytest.raises(SystemExit):
        example.parse(["--config", "dense", "--hidden-lr", "1e-10"])
    assert "one step for all crossbars" in capsys.readouterr().err


@pytest.mark.parametrize("config", ["rectified", "local", "rectified-local"])
def test_flips_mirror_whole_images_in_the_input_layout(config):
    example = _example()
    images = np.random.default_rng(0).integers(0, 256, size=(64, 28, 28), dtype=np.uint8)
    x = example.to_inputs(images, config)
    mirrored = example.to_inputs(images[:, :, ::-1], config)
    out = example.flips(config)({"x": x}, np.random.default_rng(1))["x"]
    same, flipped = (np.all((out == ref).reshape(64, -1), axis=1) for ref in (x, mirrored))
    assert np.all(same | flipped) and 10 < flipped.sum() < 54


def _ngspice_line(stdout, n):
    match = re.search(r"^ngspice check: (\d+)/(\d+) identical predictions, largest readout difference (\S+) V",
                      stdout, re.MULTILINE)
    assert match, stdout
    assert int(match.group(2)) == n
    return int(match.group(1)), float(match.group(3))


@needs_data
@pytest.mark.parametrize("config, batch, least", [("rectified", 16, 0.4), ("dense", 32, 0.5)])
def test_short_run_learns_and_agrees_with_ngspice(tmp_path, config, batch, least):
    stdout = run_example("fashion_mnist", "--config", config, "--train", 2000, "--test", 500, "--epochs", 1,
                         "--hidden", 32, "--batch-size", batch, "--ngspice-check", 40, "--out", tmp_path, timeout=600)
    assert f"fashion-mnist ({config})" in stdout
    assert printed_accuracy(stdout, "fashion-mnist") >= least  # chance: 0.1
    assert re.search(r"^epoch   1  loss [0-9.e+-]+ V\^2  train [0-9.]+  test [0-9.]+  \([0-9.]+ s\)", stdout,
                     re.MULTILINE)
    same, diff = _ngspice_line(stdout, 40)
    assert same == 40 and diff < 1e-6
    h = History.load(tmp_path / "history.h5")
    assert h.num_epochs == 1 and np.isfinite(h["val_accuracy"]).all()
    for name in ("weights.pkl", "model.json", "optimizer.pkl", "training.png", "confusion.png", "misclassified.png"):
        assert (tmp_path / name).stat().st_size > 0, name


@needs_data
def test_local_short_run_agrees_with_ngspice(tmp_path):
    stdout = run_example("fashion_mnist", "--config", "local", "--filters", 2, "--train", 300, "--test", 100,
                         "--epochs", 1, "--batch-size", 8, "--ngspice-check", 10, "--out", tmp_path, timeout=600)
    assert "fashion-mnist (local)" in stdout
    assert printed_accuracy(stdout, "fashion-mnist") >= 0.25  # chance: 0.1
    same, diff = _ngspice_line(stdout, 10)
    assert same == 10 and diff < 1e-6
    assert (tmp_path / "weights.pkl").exists() and (tmp_path / "history.h5").exists()


@needs_data
@pytest.mark.parametrize("config, unit", [("rectified-local", " V^2"), ("best", "")])  # best: cross-entropy
def test_rectified_local_short_run_learns_and_agrees_with_ngspice(tmp_path, config, unit):
    stdout = run_example("fashion_mnist", "--config", config, "--filters", 8, "--train", 2000,
                         "--test", 500, "--epochs", 1, "--batch-size", 16, "--ngspice-check", 20, "--out", tmp_path,
                         timeout=600)
    assert f"fashion-mnist ({config})" in stdout
    assert re.search(rf"^epoch   1  loss [0-9.e+-]+{re.escape(unit)}  train [0-9.]+  test", stdout, re.MULTILINE)
    assert printed_accuracy(stdout, "fashion-mnist") >= 0.4  # chance: 0.1
    same, diff = _ngspice_line(stdout, 20)
    assert same == 20 and diff < 1e-6
    assert (tmp_path / "weights.pkl").exists() and (tmp_path / "history.h5").exists()
    # the saved run re-checked on other images: the image layout comes from the saved model
    saved = (tmp_path / "weights.pkl").read_bytes()
    stdout = run_example("fashion_mnist", "--recheck", tmp_path, "--ngspice-check", 30, timeout=600)
    assert re.search(r"test accuracy 0\.\d+ on the first 30 test images \(native\)", stdout)
    same, diff = _ngspice_line(stdout, 30)
    assert same == 30 and diff < 1e-6
    assert (tmp_path / "weights.pkl").read_bytes() == saved  # nothing written


def test_rectified_local_refuses_odd_filters(capsys):
    with pytest.raises(SystemExit):
        _example().parse(["--config", "rectified-local", "--filters", "7"])
    assert "even count" in capsys.readouterr().err


@needs_data
@pytest.mark.slow
def test_full_run_reaches_the_reference(tmp_path):
    """The issue's target: 60,000 images, 1024 hidden nets, at most 30 epochs, at least the
    89.6 % of the deep-resistive-network reference, 1,000 test images identical in Ngspice.
    About 23 minutes on 2 cores (measured: 89.79 %, 1000/1000 within 1.1e-16 V; make test-all)."""
    stdout = run_example("fashion_mnist", "--out", tmp_path, timeout=4 * 3600)
    assert "after 30 epochs on 60000 images" in stdout
    assert printed_accuracy(stdout, "fashion-mnist") >= 0.896
    same, diff = _ngspice_line(stdout, 1000)
    assert same == 1000 and diff < 1e-6


@needs_data
@pytest.mark.parametrize("loss", ["mse", "cross-entropy"])
def test_joined_circuit_of_two_short_runs_trains_and_agrees_with_ngspice(tmp_path, loss):
    rect, local, joined = tmp_path / "rect", tmp_path / "local", tmp_path / "joined"
    common = ("--train", 600, "--test", 200, "--epochs", 1, "--ngspice-check", 0, "--loss", loss)
    run_example("fashion_mnist", "--hidden", 16, *common, "--out", rect, timeout=600)
    run_example("fashion_mnist", "--config", "rectified-local", "--filters", 4, *common, "--out", local, timeout=600)
    stdout = run_example("fashion_joined", "--rectified", rect, "--local", local, "--train", 600, "--test", 200,
                         "--epochs", 1, "--ngspice-check", 10, "--out", joined, timeout=600)
    assert re.search(r"^joined, before EP: test accuracy 0\.\d+", stdout, re.MULTILINE)
    assert f"EP on {loss} (beta " in stdout  # the runs' own loss
    assert printed_accuracy(stdout, "fashion-joined") >= 0.25  # chance: 0.1
    same, diff = _ngspice_line(stdout, 10)
    assert same == 10 and diff < 1e-6
    assert (joined / "weights.pkl").exists() and (joined / "history.h5").exists()
    if loss == "mse":  # --recheck takes a joined run too: one input of each layout
        stdout = run_example("fashion_mnist", "--recheck", joined, "--ngspice-check", 12, timeout=600)
        assert re.search(r"test accuracy 0\.\d+ on the first 12 test images \(native\)", stdout)
        same, diff = _ngspice_line(stdout, 12)
        assert same == 12 and diff < 1e-6


@needs_data
def test_joined_refuses_a_folder_of_the_wrong_configuration(tmp_path):
    rect = tmp_path / "rect"
    run_example("fashion_mnist", "--hidden", 16, "--train", 300, "--test", 100, "--epochs", 1, "--ngspice-check", 0,
                "--out", rect, timeout=600)
    proc = subprocess.run([sys.executable, str(ROOT / "test_circuit" / "fashion_joined.py"), "--rectified", str(rect),
                           "--local", str(rect), "--out", str(tmp_path / "j")], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=600, cwd=ROOT)
    assert proc.returncode != 0 and "--local: not a run of fashion_mnist.py --config rectified-local" in proc.stderr
    local = tmp_path / "local"  # trained on another loss than rect
    run_example("fashion_mnist", "--config", "rectified-local", "--filters", 2, "--train", 300, "--test", 100,
                "--epochs", 1, "--ngspice-check", 0, "--loss", "cross-entropy", "--out", local, timeout=600)
    proc = subprocess.run([sys.executable, str(ROOT / "test_circuit" / "fashion_joined.py"), "--rectified", str(rect),
                           "--local", str(local), "--out", str(tmp_path / "j")], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=600, cwd=ROOT)
    assert proc.returncode != 0 and "join runs of the same loss" in proc.stderr
    assert not (tmp_path / "j").exists()  # refused before anything is trained or written
