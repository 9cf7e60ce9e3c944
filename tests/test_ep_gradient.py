"""EP gradients against finite differences of the loss, in Ngspice and natively."""
import numpy as np
import pytest

import networks
from ebana.training import MSE
from ebana.training.ep import ep_step

BATCH = {"x": np.array([[0, 0], [0, 1], [1, 0], [1, 1.0]]), "out": np.array([[-0.05], [0.05], [0.05], [-0.05]])}


def diode_network(backend, kind, gain=None):
    return networks.diode_network(backend, seed=3, kind=kind, clamps=(0.45, 0.35), gain=gain, shift=-0.3)


def compare(a, f):
    return a @ f / np.linalg.norm(a) / np.linalg.norm(f), np.linalg.norm(a - f) / np.linalg.norm(f)


@pytest.mark.parametrize("kind", ["behavioral", "real"])
def test_ep_gradient_matches_finite_differences(backend_name, kind):
    model = diode_network(backend_name, kind)
    loss = MSE()
    fd = networks.finite_differences(model, BATCH, loss, ("d1", "d2"))
    errors = {}
    for symmetric in (False, True):
        r = ep_step(model, BATCH, loss, beta=1e-6, symmetric=symmetric)
        ep = np.concatenate([r.grads[k].ravel() for k in ("d1", "d2")])
        cos, rel = compare(ep, fd)
        assert cos >= 0.99 and rel <= 0.05, (symmetric, cos, rel)
        errors[symmetric] = rel
    # symmetric nudging removes the first-order bias of a finite beta
    assert errors[True] < errors[False] / 10


def test_one_sided_bias_shrinks_with_beta():
    model = diode_network("native", "behavioral")
    loss = MSE()
    fd = networks.finite_differences(model, BATCH, loss, ("d1", "d2"))
    rels = []
    for beta in (1e-6, 1e-7):
        r = ep_step(model, BATCH, loss, beta=beta)
        rels.append(compare(np.concatenate([r.grads[k].ravel() for k in ("d1", "d2")]), fd)[1])
    assert rels[1] < rels[0] / 5


def test_gradient_sign_lowers_the_loss():
    """A small step against the EP gradient lowers the loss (the sign convention)."""
    model = diode_network("ngspice", "behavioral")
    loss = MSE()
    before = loss(model.readouts(model.solve(BATCH).v)["out"], BATCH["out"])[0].sum()
    r = ep_step(model, BATCH, loss, beta=1e-7, symmetric=True)
    for name in ("d1", "d2"):
        layer = model.layer(name)
        step = 1e-3 * layer.g.mean() * r.grads[name] / np.abs(r.grads[name]).max()
        layer.g -= step
    after = loss(model.readouts(model.solve(BATCH).v)["out"], BATCH["out"])[0].sum()
    assert after < before


def test_batch_sum_equals_sum_of_per_sample_gradients(rng):
    """The matrix-product batch sum is the sum of the per-sample rule (dV_h^2 - dV_l^2) / (2 span)."""
    model = diode_network("native", "behavioral")
    layer = model.layer("d1")
    v_low = rng.normal(size=(5, model.circuit.n_nodes))
    v_high = v_low + 1e-6 * rng.normal(size=v_low.shape)
    direct = ((layer.drops(v_high) ** 2 - layer.drops(v_low) ** 2) / (2 * 1e-7))
    np.testing.assert_allclose(layer.ep_gradient(v_low, v_high, 1e-7, per_sample=True), direct, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(layer.ep_gradient(v_low, v_high, 1e-7), direct.sum(axis=0), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("gain", [0.5, 4.0])
def test_ep_gradient_through_an_amplifier(backend_name, gain):
    """The amplifier's backward current is I/gain, so upstream layers need the gain**2 factor."""
    model = diode_network(backend_name, "behavioral", gain=gain)
    assert model.ep_scales["d1"] == gain ** 2 and model.ep_scales["d2"] == 1.0
    loss = MSE()
    fd = networks.finite_differences(model, BATCH, loss, ("d1", "d2"))
    r = ep_step(model, BATCH, loss, beta=1e-7, symmetric=True)
    cos, rel = compare(np.concatenate([r.grads[k].ravel() for k in ("d1", "d2")]), fd)
    assert cos >= 0.99 and rel <= 0.05, (cos, rel)
