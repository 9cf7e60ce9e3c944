"""test_circuit/fashion_chips.py --quick, run as a user runs it; skipped without the Fashion-MNIST files."""
import pickle

import h5py
import numpy as np
from test_examples import run_example
from test_fashion_example import needs_data


@needs_data
def test_quick_chip_study_trains_every_model_and_writes_its_results(tmp_path):
    stdout = run_example("fashion_chips", "--quick", "--out", tmp_path, timeout=900)
    models = ("vanilla", "aconnect", "mat", "multiscale", "binary", "levels4", "levels16")
    with h5py.File(tmp_path / "results.h5", "r") as f:
        acc = {m: f[m]["accuracy"][()] for m in models}
    for name, a in acc.items():
        assert a.shape == (5, 5), name  # 5 sigmas x 5 chips
        assert np.ptp(a[0]) == 0, name  # sigma 0: every chip is the nominal network
        assert a[0, 0] > 0.3, name  # it learned (chance: 0.1)
    with open(tmp_path / "binary.pkl", "rb") as fh:
        weights = pickle.load(fh)
    assert all(len(np.unique(w)) <= 2 for w in weights.values())  # binary devices: g_min or g_max
    table = (tmp_path / "table.md").read_text()
    assert "| aconnect | 0.3 |" in table and "gain at sigma 0.5" in table
    assert (tmp_path / "robustness.png").stat().st_size > 0 and "saved" in stdout
    # a rerun evaluates the cached models without training them again
    again = run_example("fashion_chips", "--quick", "--out", tmp_path, "--models", "vanilla", timeout=300)
    assert "training" not in again
