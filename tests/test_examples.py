"""The example scripts in test_circuit/, run as a user runs them (a subprocess per script).

The quick tests (CI) shorten the runs: fewer epochs, a training subset, or the
native backend, which agrees with Ngspice to < 1 uV. The ``slow`` tests run
each example in full in Ngspice and assert the accuracy docs/examples.md reports.
"""
import os
import re
import subprocess
import sys

import pytest

from conftest import ROOT
from ebana.training import History


def run_example(name, *args, timeout=3600):
    """Run ``test_circuit/<name>.py args`` and return its stdout (fails the test on a non-zero exit)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1", MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, str(ROOT / "test_circuit" / f"{name}.py"), *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT)
    assert proc.returncode == 0, f"{name}.py {' '.join(map(str, args))} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def printed_accuracy(stdout, name):
    """The test accuracy printed on the example's summary line."""
    match = re.search(rf"^{name}: test accuracy ([0-9.]+)", stdout, re.MULTILINE)
    assert match, f"no summary line in the output of {name}.py:\n{stdout}"
    return float(match.group(1))


def check_saved(out, epochs):
    h = History.load(out / "history.h5")
    assert h.num_epochs == epochs
    assert (out / "optimizer.pkl").exists()
    return h


def test_gates_in_ngspice(tmp_path):
    # The full example: five gates, 300 epochs each, about 7 s in Ngspice.
    stdout = run_example("gates", "--out", tmp_path)
    assert "gates: 20/20 correct" in stdout
    for gate in ("and", "or", "nand", "nor", "xor"):
        assert re.search(rf"^{gate.upper()} +4/4 correct", stdout, re.MULTILINE), stdout
        check_saved(tmp_path / gate, 300)


def test_iris_native_reaches_target(tmp_path):
    # The full run, natively (about 3 s): the same numbers as in Ngspice.
    stdout = run_example("iris", "--backend", "native", "--out", tmp_path)
    assert printed_accuracy(stdout, "Iris") >= 0.95
    h = check_saved(tmp_path, 60)
    assert h["loss"][-1] < h["loss"][0] / 3


def test_iris_short_run_in_ngspice(tmp_path):
    stdout = run_example("iris", "--epochs", 8, "--out", tmp_path)
    assert printed_accuracy(stdout, "Iris") >= 0.8  # chance: 1/3
    check_saved(tmp_path, 8)


def test_digits_short_run_native(tmp_path):
    # Two epochs on the whole training set (about 10 s natively).
    stdout = run_example("digits", "--backend", "native", "--epochs", 2, "--out", tmp_path)
    assert printed_accuracy(stdout, "digits") >= 0.85  # chance: 0.1
    h = check_saved(tmp_path, 2)
    assert h["loss"][1] < h["loss"][0]


def test_digits_short_run_in_ngspice(tmp_path):
    # One epoch on 200 training images in Ngspice (a few seconds).
    stdout = run_example("digits", "--epochs", 1, "--train-subset", 200, "--out", tmp_path)
    assert printed_accuracy(stdout, "digits") >= 0.4  # chance: 0.1
    check_saved(tmp_path, 1)


@pytest.mark.slow
def test_iris_full_in_ngspice(tmp_path):
    stdout = run_example("iris", "--out", tmp_path)
    assert printed_accuracy(stdout, "Iris") >= 0.95


@pytest.mark.slow
def test_digits_full_in_ngspice(tmp_path):
    stdout = run_example("digits", "--out", tmp_path)
    assert printed_accuracy(stdout, "digits") >= 0.93
