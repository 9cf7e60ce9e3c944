"""Folding source-held crossbar inputs into Norton currents changes nothing Ngspice reports."""
import numpy as np
import pytest
from networks import mlp_64_32_20, mlp_inputs, xor_like
from test_native_vs_ngspice import random_network

from ebana.backends import make_stimulus
from ebana.backends.ngspice import NgspiceBackend
from ebana.backends.ngspice.fold import FoldedCircuit


def _both(circuit, stim):
    a = NgspiceBackend(fold_sources=True).solve(circuit, stim)
    b = NgspiceBackend(fold_sources=False).solve(circuit, stim)
    return a, b


def test_design_network_folds_inputs_and_agrees(rng):
    model = mlp_64_32_20("native")
    c, B = model.circuit, 3
    folded = FoldedCircuit.of(c)
    assert len(folded.fold_nodes) == 128 and folded.circuit.n_res == 640 + 32
    g = model.conductances() * rng.uniform(0.9, 1.1, size=(B, c.n_res))  # per-sample (masks)
    stim = make_stimulus(c, g, model.source_voltages(mlp_inputs(B, rng), B), rng.normal(0, 1e-6, (B, c.n_is)))
    a, b = _both(c, stim)
    np.testing.assert_allclose(a.v, b.v, rtol=0, atol=1e-9)
    np.testing.assert_allclose(a.i_vs, b.i_vs, rtol=1e-6, atol=1e-13)


@pytest.mark.parametrize("trial", range(3))
def test_random_networks_agree(trial):
    model, n_in = random_network(np.random.default_rng(200 + trial), "native", "real" if trial % 2 else "behavioral")
    c = model.circuit
    data = {"x": np.random.default_rng(trial).uniform(-1.5, 1.5, size=(4, n_in))}
    stim = make_stimulus(c, model.conductances(), model.source_voltages(data, 4),
                         np.random.default_rng(trial).normal(0, 1e-5, size=(4, c.n_is)))
    a, b = _both(c, stim)
    np.testing.assert_allclose(a.v, b.v, rtol=0, atol=1e-9)
    np.testing.assert_allclose(a.i_vs, b.i_vs, rtol=1e-6, atol=1e-13)


def test_nodes_with_other_elements_are_kept():
    c = xor_like("native").circuit
    folded = FoldedCircuit.of(c)
    names = {c.node_names[k] for k in folded.fold_nodes}
    assert names == {"x__0", "x__1", "b__0"}  # the diode bias nodes stay in the netlist


@pytest.mark.parametrize("fold", [True, False])
@pytest.mark.parametrize("per_sample_g", [False, True])
def test_a_sample_does_not_depend_on_what_was_solved_before(rng, fold, per_sample_g):
    """Serial, reversed and one-sample-per-fresh-backend solves agree bit for bit
    (what makes a split over workers identical to the serial run)."""
    model, B = xor_like("native", kind="real"), 5
    c = model.circuit
    g = model.conductances() * (rng.uniform(0.9, 1.1, (B, c.n_res)) if per_sample_g else 1.0)
    stim = make_stimulus(c, g, model.source_voltages({"x": rng.uniform(-1, 1, (B, 2))}, B),
                         rng.normal(0, 1e-6, (B, c.n_is)))
    backend = NgspiceBackend(fold_sources=fold)
    serial = backend.solve(c, stim).v
    reverse = backend.solve(c, stim.take(np.arange(B)[::-1])).v[::-1]
    np.testing.assert_array_equal(serial, reverse)
    for b in (3, 0):
        alone = NgspiceBackend(fold_sources=fold)
        np.testing.assert_array_equal(alone.solve(c, stim.take([b])).v[0], serial[b])
        alone.close()
