"""ebana.networks.rectified_local_network: locally connected halves rectified by one diode
each, solved alike by the layered, dense and Ngspice backends, with EP gradients that match
finite differences."""
import numpy as np
import pytest

from ebana.errors import ValidationError
from ebana.networks import rectified_local_network
from ebana.training import MSE
from ebana.training.ep import ep_step
from networks import finite_differences, log_uniform

SHAPE, N_OUT = (7, 7, 2), 3


def _model(backend, filters=4):
    # conductances spread over three decades, so that both halves hold some nets at the diode
    return rectified_local_network(SHAPE, filters, N_OUT, kernel_size=3, strides=2, g_min=1e-9, g_max=1e-5,
                                   initializer=log_uniform(1e-8, 1e-5), backend=backend, seed=4)


def _data(rng, n=6):
    x = rng.uniform(0, 1, size=(n,) + SHAPE[:2])
    return {"x": np.stack([x, -x], axis=-1), "out": rng.choice([0.0, 0.01], size=(n, N_OUT))}


def test_backends_agree_free_and_nudged(rng):
    models = [_model(b) for b in ("native-layered", "native-dense", "ngspice")]
    assert models[0].solver() == "native-layered"
    data = _data(rng)
    currents = {"out": rng.normal(0, 1e-7, size=(6, N_OUT))}
    (lf, ln), (df, dn), (nf, nn) = [(m.solve(data), m.solve(data, currents)) for m in models]
    for a, b in ((lf, df), (ln, dn)):
        assert np.abs(a.v - b.v).max() < 1e-9
    for a, b in ((lf, nf), (ln, nn)):
        assert np.abs(a.v - b.v).max() < 1e-6
    assert np.abs(ln.v - lf.v).max() > 1e-6  # the nudge moved the nets


def test_halves_are_rectified_and_the_diodes_act(rng):
    model = _model("native-layered")
    v = model.solve(_data(rng, 32)).v
    up, down = (v[:, model.layer(name).output_nodes] for name in ("l1p", "l1n"))
    scale = max(np.abs(up).max(), np.abs(down).max())
    assert up.min() > -0.02 * scale and down.max() < 0.02 * scale
    for half, sign in ((up, 1), (down, -1)):
        assert np.mean(sign * half < 1e-3 * scale) > 0.05 and np.mean(sign * half > 1e-2 * scale) > 0.05


def test_ep_gradient_matches_finite_differences(rng):
    model = _model("native-layered")
    batch = _data(rng, 4)
    loss = MSE()
    names = ("l1p", "l1n", "d2")
    fd = finite_differences(model, batch, loss, names)
    r = ep_step(model, batch, loss, beta=1e-7, symmetric=True)
    ep = np.concatenate([r.grads[k].ravel() for k in names])
    cos = ep @ fd / np.linalg.norm(ep) / np.linalg.norm(fd)
    assert cos >= 0.99 and np.linalg.norm(ep - fd) / np.linalg.norm(fd) <= 0.05


def test_layout_and_bias_start():
    model = _model("native")
    assert model.get_weights()["l1p"].shape == (9, 18, 2)   # 3 x 3 windows of 3 x 3 x 2 pixels
    assert np.all(model.layer("d2").g[-2:] == 1e-9)         # the bias pair starts without current


@pytest.mark.parametrize("filters", [1, 5, 0])
def test_odd_or_too_few_filters_are_refused(filters):
    with pytest.raises(ValidationError, match="even"):
        _model("native", filters)
