"""test_circuit/fashion_memristors.py --quick, run as a user runs it; skipped without the Fashion-MNIST files.

It checks the accounting of in-situ training (pulses per device as integers, the energy from the
measured pulse rows, the History's counts) and that Ngspice sees the devices' conductances; the
accuracy of this short run is not judged (see docs/devices.md)."""
import json
import sys

import pytest
from test_examples import ROOT, run_example
from test_fashion_example import needs_data
from test_memristor_endurance import DATA

from ebana.training.history import History


@needs_data
def test_quick_in_situ_study_counts_pulses_and_matches_ngspice(tmp_path):
    stdout = run_example("fashion_memristors", "--quick", "--out", tmp_path, timeout=300)
    res = json.loads((tmp_path / "results.json").read_text())
    pulses = res["pulses_per_device"]
    assert all(isinstance(pulses[k], int) for k in ("median", "max", "total")) and pulses["total"] > 0
    assert pulses["max"] <= res["settings"]["max_pulses"] * 16  # 2,000 images in 16 batches, 1 epoch
    assert res["ngspice"]["identical"] == res["ngspice"]["images"] == 50
    assert res["ngspice"]["max_readout_difference_V"] < 1e-6
    history = History.load(tmp_path / "history.h5")
    assert sum(history.metrics[f"{n}_pulses"][-1] for n in ("d1", "d2")) == pulses["total"]
    if DATA.is_file():  # the measured file gives the energy of a pulse
        assert res["programming_energy_J"] == pytest.approx(pulses["total"] * res["pulse_energy_J"])
        assert res["pulse_energy_J"] == pytest.approx(3.82e-6, rel=0.01)
    assert "ngspice: 50/50 predictions identical" in stdout
    # the saved run re-checked in Ngspice without training (its circuit from results.json)
    again = run_example("fashion_memristors", "--quick", "--out", tmp_path, "--check-only", "--ngspice-check", "10",
                        "--hidden", "64", timeout=300)
    checked = json.loads((tmp_path / "results.json").read_text())
    assert checked["ngspice"]["images"] == checked["ngspice"]["identical"] == 10
    assert checked["pulses_per_device"] == pulses and checked["settings"]["hidden"] == 32
    assert "ngspice: 10/10 predictions identical" in again


@pytest.mark.parametrize("flag, value", [("--clamp", "-0.1"), ("--gain", "nan"), ("--lr", "0")])
def test_bad_circuit_settings_are_refused_before_anything_runs(flag, value, capsys):
    sys.path.insert(0, str(ROOT / "test_circuit"))
    import fashion_memristors
    with pytest.raises(SystemExit):
        fashion_memristors.parse([flag, value])
    assert f"{flag} must be > 0" in capsys.readouterr().err
