"""test_circuit/fashion_devices.py --quick, run as a user runs it; skipped without the Fashion-MNIST files."""
import json

import numpy as np
from test_examples import run_example
from test_fashion_example import needs_data


@needs_data
def test_quick_study_writes_tables_and_uniform_drift_changes_nothing(tmp_path):
    stdout = run_example("fashion_devices", "--quick", "--out", tmp_path, timeout=600)
    res = json.loads((tmp_path / "results.json").read_text())
    faults = {k: np.array(v) for k, v in res["faults"].items()}
    drift = {k: np.array(v) for k, v in res["drift"].items()}
    assert set(faults) == {"vanilla", "vanilla, full range", "vanilla, remapped", "fault-aware"}
    assert all(a.shape == (4, 3) for a in faults.values())
    vanilla, full = faults["vanilla"], faults["vanilla, full range"]
    assert vanilla[0].min() > 0.3  # it learned (chance 0.1), and p = 0 is the same on every chip
    assert np.ptp(vanilla[0]) == 0 and abs(full[0, 0] - vanilla[0, 0]) <= 0.01  # ratios kept by the scaling
    assert np.median(full[2]) > np.median(vanilla[2])  # stuck at g_max hurts less on the full range
    assert abs(faults["vanilla, remapped"][0, 0] - vanilla[0, 0]) <= 0.02  # its own bias pair: nearly the same circuit
    assert "remapped: bias pair +-0.1 V, the 98 percentile at g_max" in stdout
    again = run_example("fashion_devices", "--quick", "--out", tmp_path, "--no-memristors", "--no-drift", timeout=600)
    assert "fault-aware epoch" not in again  # cached with its settings
    assert json.loads((tmp_path / "results.json").read_text())["drift"] == {} and "| model | t |" not in again
    other = run_example("fashion_devices", "--quick", "--out", tmp_path, "--no-memristors", "--fa-bias", "0.2",
                        timeout=600)
    assert "fault-aware epoch" in other  # other settings: trained again
    uniform = drift["vanilla, uniform drift (nu = 0.1)"]
    np.testing.assert_array_equal(uniform[:, 0], vanilla[0, 0])  # a uniform drift changes no prediction
    assert (tmp_path / "faults.png").stat().st_size > 0 and (tmp_path / "drift.png").stat().st_size > 0
    assert "| vanilla | 5 % |" in (tmp_path / "tables.md").read_text() and "full range: every conductance x" in stdout
    memristors = res["memristors"]  # part 3, the in-situ study's quick run
    assert memristors["pulses_per_device"]["total"] > 0 and memristors["ngspice"]["identical"] == 50
