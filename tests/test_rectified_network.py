"""ebana.networks.rectified_mlp and rectified_local_network: halves rectified by one diode
each, solved alike by the layered, dense and Ngspice backends, with EP gradients that match
finite differences."""
import numpy as np
import pytest

from ebana.errors import ValidationError
from ebana.networks import rectified_local_network, rectified_mlp
from ebana.training import MSE
from ebana.training.ep import ep_step
from networks import finite_differences, log_uniform

N_IN, N_OUT = 12, 3
IMAGE = (7, 7, 2)  # the local network's input: 3 x 3 windows of 3 x 3 x 2 pixels
# conductances spread over three decades, so that both halves hold some nets at the diode
RANGE = dict(g_min=1e-9, g_max=1e-5, initializer=log_uniform(1e-8, 1e-5), seed=4)
# per network: its hidden crossbars (the two halves) and the readout crossbar
CROSSBARS = {"dense": ("d1p", "d1n", "d2"), "local": ("l1p", "l1n", "d2")}


def _model(backend, hidden=(8,), kind="dense"):
    if kind == "local":
        return rectified_local_network(IMAGE, 4, N_OUT, kernel_size=3, strides=2, backend=backend, **RANGE)
    return rectified_mlp(N_IN, list(hidden), N_OUT, backend=backend, **RANGE)


def _data(rng, n=6, kind="dense"):
    if kind == "local":
        x = rng.uniform(0, 1, size=(n,) + IMAGE[:2])
        x = np.stack([x, -x], axis=-1)
    else:
        x = rng.uniform(0, 1, size=(n, N_IN // 2))
        x = np.hstack([x, -x])
    return {"x": x, "out": rng.choice([0.0, 0.01], size=(n, N_OUT))}


@pytest.mark.parametrize("kind, hidden", [("dense", (8,)), ("dense", (8, 6)), ("local", None)])
def test_backends_agree_free_and_nudged(kind, hidden, rng):
    models = [_model(b, hidden, kind) for b in ("native-layered", "native-dense", "ngspice")]
    assert models[0].solver() == "native-layered"
    data = _data(rng, kind=kind)
    currents = {"out": rng.normal(0, 1e-7, size=(6, N_OUT))}
    (lf, ln), (df, dn), (nf, nn) = [(m.solve(data), m.solve(data, currents)) for m in models]
    for a, b in ((lf, df), (ln, dn)):
        assert np.abs(a.v - b.v).max() < 1e-9
    for a, b in ((lf, nf), (ln, nn)):
        assert np.abs(a.v - b.v).max() < 1e-6
    assert np.abs(ln.v - lf.v).max() > 1e-6  # the nudge moved the nets


@pytest.mark.parametrize("kind", ["dense", "local"])
def test_halves_are_rectified(kind, rng):
    model = _model("native-layered", kind=kind)
    v = model.solve(_data(rng, 32, kind)).v
    up, down = (v[:, model.layer(name).output_nodes] for name in CROSSBARS[kind][:2])
    scale = max(np.abs(up).max(), np.abs(down).max())
    # one diode to ground each: the p half cannot go below 0 V nor the n half above it, up to
    # the drive the diode's 100 Ohm lets through (at most 14 x 1e-5 S against 0.01 S: 1.4 %)
    assert up.min() > -0.02 * scale and down.max() < 0.02 * scale
    # and the diodes do act: some nets of each half sit at the rectifier, some away from it
    for half, sign in ((up, 1), (down, -1)):
        assert np.mean(sign * half < 1e-3 * scale) > 0.05 and np.mean(sign * half > 1e-2 * scale) > 0.05


@pytest.mark.parametrize("kind", ["dense", "local"])
def test_ep_gradient_matches_finite_differences(kind, rng):
    model = _model("native-layered", kind=kind)
    batch = _data(rng, 4, kind)
    loss = MSE()
    names = CROSSBARS[kind]
    fd = finite_differences(model, batch, loss, names)
    r = ep_step(model, batch, loss, beta=1e-7, symmetric=True)
    ep = np.concatenate([r.grads[k].ravel() for k in names])
    cos = ep @ fd / np.linalg.norm(ep) / np.linalg.norm(fd)
    assert cos >= 0.99 and np.linalg.norm(ep - fd) / np.linalg.norm(fd) <= 0.05


def test_local_layout_bias_start_and_own_step():
    model = rectified_local_network(IMAGE, 4, N_OUT, kernel_size=3, strides=2, hidden_lr=2e-11, backend="native",
                                    **RANGE)
    assert model.get_weights()["l1p"].shape == (9, 18, 2)   # 3 x 3 windows of 3 x 3 x 2 pixels, 2 filters
    assert np.all(model.layer("d2").g[-2:] == 1e-9)         # the bias pair starts without current
    assert model.layer("l1n").lr == 2e-11 and model.layer("d2").lr is None


def test_odd_widths_are_refused():
    with pytest.raises(ValidationError, match="even"):
        rectified_mlp(4, [6, 5], 2)


@pytest.mark.parametrize("filters", [1, 5, 0, 4.0, "8", True])
def test_odd_or_too_few_filters_are_refused(filters):
    with pytest.raises(ValidationError, match="even"):
        rectified_local_network(IMAGE, filters, N_OUT, kernel_size=3, strides=2)
