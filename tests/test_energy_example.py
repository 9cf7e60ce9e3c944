"""The accuracy-against-power example (test_circuit/energy.py), shortened for CI."""
import json

from test_examples import run_example


def test_energy_example_quick_run(tmp_path):
    stdout = run_example("energy", "--scales", 0.1, 1, "--epochs", 1, "--train-subset", 200, "--out", tmp_path)
    assert "energy: best accuracy per microwatt at scale" in stdout
    points = json.loads((tmp_path / "pareto.json").read_text())["points"]
    assert [p["scale"] for p in points] == [0.1, 1.0]
    # the same voltages at a tenth of the conductances: about a tenth of the power
    ratio = points[0]["power_W"] / points[1]["power_W"]
    assert 0.03 < ratio < 0.3, ratio
    for p in points:
        assert abs(sum(p["dissipated_W"].values()) - sum(p["delivered_W"].values())) < 1e-9 * p["power_W"]
        assert p["test_accuracy"] > 0.2  # chance is 0.1
    assert (tmp_path / "pareto.png").stat().st_size > 10_000
