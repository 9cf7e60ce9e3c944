"""A written netlist, run by the ngspice command line, gives the in-process solution."""
import os
import shutil
import subprocess

import numpy as np
import pytest

from networks import xor_like

NGSPICE = shutil.which("ngspice")


def read_ascii_raw(path):
    """Operating point from an ngspice ASCII rawfile: {vector name: value}."""
    lines = open(path).read().splitlines()
    n = int(next(l for l in lines if l.startswith("No. Variables")).split(":")[1])
    start = lines.index("Variables:") + 1
    names = [lines[start + k].split()[1].lower() for k in range(n)]
    values_at = lines.index("Values:") + 1
    flat = " ".join(lines[values_at:]).split()
    values = [float(v) for v in flat[1:1 + n]]  # first token is the point index
    return dict(zip(names, values))


@pytest.mark.skipif(NGSPICE is None, reason="the ngspice command is not installed")
@pytest.mark.parametrize("kind", ["behavioral", "real", "mos"])
def test_ngspice_batch_matches_in_process(tmp_path, kind):
    model = xor_like("ngspice", kind=kind)
    sample = {"x": np.array([1.0, 0.0])}
    cir = model.write_netlist(tmp_path / "xor.cir", sample)
    raw = tmp_path / "xor.raw"
    env = dict(os.environ, SPICE_ASCIIRAWFILE="1")
    subprocess.run([NGSPICE, "-b", "-r", str(raw), str(cir)], check=True, capture_output=True,
                   env=env, timeout=60, cwd=tmp_path)
    batch = read_ascii_raw(raw)
    v = model.solve({"x": sample["x"][None, :]}).v[0]
    names = model.circuit.node_names
    compared = 0
    for k in range(1, len(names)):
        assert batch[f"v({names[k]})"] == pytest.approx(v[k], abs=1e-6), names[k]
        compared += 1
    assert compared == len(names) - 1


def test_netlist_is_deterministic_and_plain():
    a = xor_like("native", seed=3).netlist({"x": [0.0, 1.0]})
    b = xor_like("native", seed=3).netlist({"x": [0.0, 1.0]})
    assert a == b
    lowered = a.lower()
    for forbidden in (".control", ".include", ".lib", "shell"):
        assert forbidden not in lowered
    assert lowered.rstrip().endswith(".end") and ".op" in lowered


def test_an_image_input_takes_one_sample_with_or_without_its_batch_axis():
    from ebana.errors import ShapeError
    from ebana.networks import rectified_local_network
    model = rectified_local_network((7, 7, 2), 4, 3, kernel_size=3, strides=2, backend="native")
    image = np.random.default_rng(0).uniform(-1, 1, size=(7, 7, 2))
    assert model.netlist({"x": image}) == model.netlist({"x": image[None]})
    assert "vx__97" in model.netlist({"x": image})  # the last of 98 pixel sources
    with pytest.raises(ShapeError, match="one sample"):
        model.netlist({"x": np.stack([image, image])})
