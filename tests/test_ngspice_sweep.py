"""One Ngspice DC sweep per batch gives what one Ngspice ``op`` per sample gives."""
import logging
import os
import shutil
import subprocess

import numpy as np
import pytest
from networks import image_inputs, image_network, mlp_64_32_20, mlp_inputs, xor_like

from ebana import (BiasVoltageLayer, ConcatenateLayer, CurrentLayer, DenseLayer, DiodeLayer, InputVoltageLayer,
                   Model)
from ebana.backends import make_stimulus
from ebana.backends.ngspice import NgspiceBackend, NgspiceSweepBackend
from ebana.circuit.netlist import render_sweep
from ebana.errors import SimulatorError, ValidationError


def _stimulus(model, inputs, B, rng, currents=True):
    c = model.circuit
    _, arrays = model.check_inputs(inputs)
    isrc = rng.normal(0, 1e-6, (B, c.n_is)) if currents else np.zeros((B, c.n_is))
    return make_stimulus(c, model.conductances(), model.source_voltages(arrays, B), isrc)


def _agree(a, b, atol=1e-9):
    np.testing.assert_allclose(a.v, b.v, rtol=0, atol=atol)
    np.testing.assert_allclose(a.i_vs, b.i_vs, rtol=1e-6, atol=1e-15)


@pytest.mark.parametrize("fold", [True, False])
@pytest.mark.parametrize("kind", ["behavioral", "real"])
def test_one_sweep_solves_the_batch_as_one_op_per_sample(rng, fold, kind):
    """Inputs and nudging currents differ per sample: folded, they are Norton currents; unfolded,
    the input voltage sources themselves become swept B sources (their branch currents too)."""
    model, B = xor_like("native", kind=kind), 7
    stim = _stimulus(model, {"x": rng.uniform(-1, 1, (B, 2))}, B, rng)
    sweep = NgspiceSweepBackend(fold_sources=fold)
    a = sweep.solve(model.circuit, stim)
    _agree(a, NgspiceBackend(fold_sources=fold).solve(model.circuit, stim))
    assert sweep.sweeps == 1 and sweep.fallbacks == 0 and sweep.solves == B


def test_larger_networks_agree_within_a_femtovolt_scale(rng):
    for model, inputs in ((mlp_64_32_20("native"), mlp_inputs(9, rng)),
                          (image_network("native", pool=2), {"x": image_inputs(9, rng)})):
        stim = _stimulus(model, inputs, 9, rng)
        _agree(NgspiceSweepBackend().solve(model.circuit, stim), NgspiceBackend().solve(model.circuit, stim), 1e-12)


def test_each_step_applies_its_sample_exactly(rng):
    """Unfolded, an input net is held by its swept B source: Ngspice reports it at the sample's
    value to a few ulp (Ngspice's parse of the decimal number), although the
    sweep net's own voltage comes out of the LU solve to rounding only."""
    model, B = xor_like("native"), 200
    x = rng.uniform(-1, 1, (B, 2))
    op = NgspiceSweepBackend(fold_sources=False).solve(model.circuit, _stimulus(model, {"x": x}, B, rng))
    c = model.circuit
    np.testing.assert_array_max_ulp(op.v[:, c.vs_pos[c.slice("vs", "x")]], x, maxulp=4)


def test_large_batches_are_cut_into_several_sweeps(rng):
    model, B = xor_like("native"), 11
    stim = _stimulus(model, {"x": rng.uniform(-1, 1, (B, 2))}, B, rng, currents=False)
    # folded, the 4 hidden nets' Norton currents are all that differ: 12 values -> 3 samples per sweep
    whole, cut = NgspiceSweepBackend(), NgspiceSweepBackend(max_table_values=12)
    _agree(cut.solve(model.circuit, stim), whole.solve(model.circuit, stim), 1e-12)
    assert whole.sweeps == 1 and cut.sweeps == 4  # 3 + 3 + 3 + 2 samples


def test_what_a_sweep_cannot_hold_is_solved_one_op_per_sample(rng):
    """Per-sample conductances (variability masks) and a batch of one take the op path."""
    model, B = xor_like("native"), 4
    c = model.circuit
    stim = _stimulus(model, {"x": rng.uniform(-1, 1, (B, 2))}, B, rng)
    per_sample = make_stimulus(c, model.conductances() * rng.uniform(0.9, 1.1, (B, c.n_res)), stim.vs, stim.isrc)
    sweep = NgspiceSweepBackend()
    for s in (per_sample, stim.take([0])):
        np.testing.assert_array_equal(sweep.solve(c, s).v, NgspiceBackend().solve(c, s).v)
    assert sweep.sweeps == 0


def test_a_failed_sweep_falls_back_to_ops_that_name_the_sample(rng, caplog):
    """Tolerances Newton can hardly meet: the sweep fails and says so, its samples are solved one op
    each, and the first that fails is named by its index in the caller's data (7 to 10)."""
    model, B = xor_like("native", kind="real"), 4
    stim = _stimulus(model, {"x": rng.uniform(-1, 1, (B, 2))}, B, rng, currents=False)
    sweep = NgspiceSweepBackend(options={"reltol": 1e-30, "vntol": 1e-300, "abstol": 1e-300, "gminsteps": 0,
                                         "srcsteps": 0})
    with caplog.at_level(logging.WARNING, logger="ebana.backends.ngspice.sweep"), \
            pytest.raises(SimulatorError, match="no operating point") as info:
        sweep.solve(model.circuit, stim, sample_offset=7)
    assert 7 <= info.value.sample <= 10 and str(info.value).startswith(f"sample {info.value.sample}:")
    assert sweep.sweeps == 1 and sweep.fallbacks == 1
    assert "DC sweep over samples 7-10 failed" in caplog.text
    _agree(NgspiceSweepBackend().solve(model.circuit, stim), NgspiceBackend().solve(model.circuit, stim))


def test_switching_between_sweeps_and_ops_in_one_process(rng):
    """Both backends share the process's one Ngspice: each reloads what it needs."""
    model, B = xor_like("native"), 5
    c = model.circuit
    stim = _stimulus(model, {"x": rng.uniform(-1, 1, (B, 2))}, B, rng)
    op, sweep = NgspiceBackend(), NgspiceSweepBackend()
    first = op.solve(c, stim).v
    _ = sweep.solve(c, stim)
    np.testing.assert_array_equal(op.solve(c, stim).v, first)
    _agree(sweep.solve(c, stim.take([1, 2])), op.solve(c, stim.take([1, 2])))


def test_model_predicts_through_the_named_backend_and_workers(rng):
    x = rng.uniform(-1, 1, (8, 2))
    native = xor_like("native", seed=2)
    expected = native.predict({"x": x})["out"]
    for name in ("ngspice-sweep", "ngspice-sweep:2"):
        model = xor_like(name, seed=2)
        np.testing.assert_allclose(model.predict({"x": x})["out"], expected, rtol=0, atol=1e-9)
        model.backend.close()


def test_sweep_names_avoid_the_circuit_own(rng):
    """A layer named like the sweep source does not meet it in the netlist."""
    x = InputVoltageLayer(units=2, name="ebanasweep")
    b = BiasVoltageLayer(units=1, name="ebanasweepx", bias_voltage=1.0)
    h = DenseLayer(units=3, name="d1")(ConcatenateLayer(name="j")([x, b]))
    h = DiodeLayer(name="c1", direction="down", bias_voltage=0.2)(h)
    out = CurrentLayer(name="out")(DenseLayer(units=2, name="d2")(h))
    model = Model(inputs=[x], outputs=[out], backend="native")
    stim = _stimulus(model, {"ebanasweep": rng.uniform(-1, 1, (3, 2))}, 3, rng)
    netlist = render_sweep(model.circuit, stim.g, stim.vs, stim.isrc)
    assert netlist.sweep == "vebanasweepxx"
    _agree(NgspiceSweepBackend(fold_sources=False).solve(model.circuit, stim),
           NgspiceBackend(fold_sources=False).solve(model.circuit, stim))


def test_render_sweep_refuses_bad_tables():
    model = xor_like("native")
    c = model.circuit
    with pytest.raises(ValidationError, match="source voltages"):
        render_sweep(c, model.conductances(), np.full((2, c.n_vs), np.nan), np.zeros((2, c.n_is)))
    with pytest.raises(ValidationError, match="expected source voltages"):
        render_sweep(c, model.conductances(), np.zeros((2, c.n_vs)), np.zeros((3, c.n_is)))


NGSPICE = shutil.which("ngspice")


@pytest.mark.skipif(NGSPICE is None, reason="the ngspice command is not installed")
def test_the_sweep_netlist_runs_standalone(tmp_path, rng):
    """``ngspice -b`` on the written sweep gives, per step, the in-process solution."""
    model, B = xor_like("native"), 4
    stim = _stimulus(model, {"x": rng.uniform(-1, 1, (B, 2))}, B, rng, currents=False)
    netlist = render_sweep(model.circuit, stim.g, stim.vs, stim.isrc)
    (tmp_path / "sweep.cir").write_text(netlist.text)
    subprocess.run([NGSPICE, "-b", "-r", "sweep.raw", "sweep.cir"], check=True, capture_output=True, timeout=60,
                   cwd=tmp_path, env=dict(os.environ, SPICE_ASCIIRAWFILE="1"))
    lines = (tmp_path / "sweep.raw").read_text().splitlines()
    n = int(next(line for line in lines if line.startswith("No. Variables")).split(":")[1])
    start = lines.index("Variables:") + 1
    names = [lines[start + k].split()[1].lower() for k in range(n)]
    flat = " ".join(lines[lines.index("Values:") + 1:]).split()
    table = np.array([float(v) for k, v in enumerate(flat) if k % (n + 1)]).reshape(B, n)
    expected = NgspiceBackend().solve(model.circuit, stim).v
    for k, node in enumerate(model.circuit.node_names[1:], start=1):
        np.testing.assert_allclose(table[:, names.index(f"v({node})")], expected[:, k], rtol=0, atol=1e-9)
