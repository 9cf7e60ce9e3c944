"""Mixed-precision crossbar products of the layered solver: the rounding bound holds, wide
networks agree with float64, the dense solver and Ngspice, and a loose allowance is caught;
and the float32 batch sums of wide crossbars' EP gradients."""
import numpy as np
import pytest

from ebana.backends import make_stimulus
from ebana.backends.layered.backend import LayeredBackend
from ebana.backends.layered.precision import MixedProduct
from ebana.errors import SimulatorError
from ebana.layers import DenseLayer
from ebana.networks import clamped_mlp
from ebana.training import MSE
from ebana.training.ep import ep_step


class _Crossbar:
    """The part of a BoundLink that MixedProduct reads: one scaled matrix (S) per side."""

    def __init__(self, W):
        self.scaled = {"a": W, "b": W}

    def coupling_bound(self, side):
        return np.abs(self.scaled[side]).sum(axis=1 if side == "a" else 0)

    def scaled_single(self, side):
        return self.scaled[side].astype(np.float32)


def test_products_switch_precision_and_stay_within_their_bound(rng):
    W = rng.uniform(1e-6, 1e-3, size=(300, 400))
    link = _Crossbar(W)
    product = MixedProduct(link, "b", diagonal=np.full(400, 0.3), tol=1e-11)
    v = rng.uniform(-0.5, 0.5, size=(16, 300))
    def currents(x):
        return product.currents(x).copy()

    first = currents(v)
    np.testing.assert_array_equal(first, v @ W)           # no anchor yet: float64, exact
    assert product.error is None
    near = v + rng.normal(0, 1e-9, size=v.shape)           # near the anchor: float32 change
    product.moved(np.abs(near - v).max(axis=1))            # as the solver reports every move
    rounded = currents(near)
    exact = near @ W
    assert product.error is not None and np.any(rounded != exact)
    assert np.all(np.abs(rounded - exact) <= link.coupling_bound("b")[None, :] * product.error[:, None])
    far = v + 0.1                                         # too far for the tolerance: float64 again
    product.moved(np.abs(far - near).max(axis=1))
    np.testing.assert_array_equal(currents(far), far @ W)
    assert product.error is None


def test_products_are_reused_while_their_input_has_not_moved_enough(rng):
    W = rng.uniform(1e-6, 1e-3, size=(300, 400))
    link = _Crossbar(W)
    product = MixedProduct(link, "b", diagonal=np.full(400, 0.3), tol=1e-11, reuse_tol=1e-12)
    v = rng.uniform(-0.5, 0.5, size=(16, 300))
    C = product.currents(v).copy()
    reported = np.full(16, 1e-12)                            # V, per sample: at most 0.5 * 1e-12 V of step
    product.moved(reported)
    moved = v + 0.5e-12
    again = product.currents(moved)
    assert product.reused == 1
    np.testing.assert_array_equal(again, C)                  # the last currents, unchanged
    np.testing.assert_array_equal(product.error, reported)    # their error grew by the move
    assert np.all(np.abs(again - moved @ W) <= link.coupling_bound("b")[None, :] * product.error[:, None])
    product.moved(np.full(16, 1e-9))                          # moved too far: made again
    product.currents(v + 1e-9)
    assert product.reused == 1
    product.lost()                                           # unknown move: made again
    product.currents(v + 1e-9)
    assert product.reused == 1


def _wide(backend):
    """Hidden layers of 160 nets: wide enough for rounded products between them."""
    return clamped_mlp(32, [160, 160], 4, backend=backend, seed=3)


def test_wide_network_agrees_with_float64_dense_and_ngspice(rng):
    data = {"x": rng.uniform(-1, 1, size=(8, 32))}
    nudge = {"out": rng.normal(0, 1e-6, size=(8, 8))}
    mixed, double, dense, ngspice = (_wide(b) for b in ("native-layered", "native-layered", "native-dense", "ngspice"))
    double.backend.inner.precision = "double"
    results = [(m.solve(data), m.solve(data, nudge)) for m in (mixed, double, dense, ngspice)]
    products = next(iter(mixed.backend.inner._mixed.values()))[1]
    assert products and any(p.error is not None for p in products.values())  # float32 was used
    (mf, mn), (xf, xn), (df, dn), (nf, nn) = results
    for a, b in ((mf, xf), (mn, xn), (mf, df), (mn, dn)):
        assert np.abs(a.v - b.v).max() < 1e-9
    for a, b in ((mf, nf), (mn, nn)):
        assert np.abs(a.v - b.v).max() < 1e-6
    # the nudge itself (what EP learns from) agrees to far better than its size
    assert np.abs((mn.v - mf.v) - (xn.v - xf.v)).max() < 1e-6 * np.abs(xn.v - xf.v).max()


def test_ep_gradients_with_rounded_products_match_float64(rng):
    """Products of the nudge (the change from the free state) are rounded to ~1e-6 of it, so the
    gradient of the first crossbar, which sees the nudge after two layers, moves by a few 1e-6
    of its size (4e-6 to 7e-6 measured; float64 vs the dense solver: 8e-8)."""
    data = {"x": rng.uniform(-1, 1, size=(16, 32)), "out": rng.choice([-0.1, 0.1], size=(16, 4))}
    grads = []
    for precision in ("mixed", "double"):
        model = _wide("native-layered")
        model.backend.inner.precision = precision
        grads.append(ep_step(model, data, MSE(), 1e-6, symmetric=True).grads)
        if precision == "mixed":  # the nudged phases (warm starts) reused currents of layers that barely moved
            products = next(iter(model.backend.inner._mixed.values()))[1]
            assert sum(p.reused for p in products.values()) > 0
    for name in grads[1]:
        scale = np.abs(grads[1][name]).max()
        assert np.abs(grads[0][name] - grads[1][name]).max() <= 1e-4 * scale, name


def test_a_rounding_allowance_beyond_the_check_fails_the_check(rng):
    """With float32 allowed for any change, the bound added to the KCL check exceeds its
    tolerance: the solve raises instead of returning rounded voltages."""
    model = _wide("native-layered")
    backend = LayeredBackend()
    backend.product_share = 1e12  # any change may be rounded: a bound of up to 1 V
    data = {"x": rng.uniform(-1, 1, size=(4, 32))}
    stim = make_stimulus(model.circuit, model.conductances(), model.source_voltages(data, 4))
    with pytest.raises(SimulatorError, match="KCL check"):
        backend.solve(model.circuit, stim)


def test_wide_crossbar_gradients_sum_the_batch_in_float32_within_1e5_of_float64(rng):
    """DenseLayer.ep_gradient multiplies in float32 for crossbars at least 128 wide on both
    sides (here the 160 x 160 one): its gradient moves by ~1e-6 of its size; narrower crossbars
    stay float64, bit for bit."""
    data = {"x": rng.uniform(-1, 1, size=(16, 32)), "out": rng.choice([-0.1, 0.1], size=(16, 4))}
    model = _wide("native-layered")
    step = ep_step(model, data, MSE(), 1e-6)
    wide = 0
    for layer in model.layers:
        if not isinstance(layer, DenseLayer):
            continue
        single = layer.ep_gradient(step.v_free, step.v_nudged, 1e-6)
        layer.single_precision_width = None
        double = layer.ep_gradient(step.v_free, step.v_nudged, 1e-6)
        if min(layer.g.shape) >= 128:
            wide += 1
            difference = np.abs(single - double).max()
            assert 0 < difference <= 1e-5 * np.abs(double).max(), layer.name
        else:
            assert np.array_equal(single, double), layer.name
    assert wide == 1

