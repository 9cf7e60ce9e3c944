"""Variability masks: moments per kind, scopes, seeds, gradients, floors, multi-scale."""
import math

import numpy as np
import pytest

from ebana.devices import LayerNoise, Variability, VariabilityModel
from ebana.errors import ShapeError, ValidationError

N = 200_000  # draws for moment checks
G_MIN, G_MAX = 1e-6, 1e-4


def _draw(kind, sigma, g=None, seed=1):
    vm = VariabilityModel(Variability(kind=kind, sigma=sigma))
    shape = (N // 1000, 1000)
    m = vm.sample_masks(shape[1:], batch=shape[0], rng=seed, g_max=G_MAX,
                        g=None if g is None else np.full(shape[1:], g))
    assert m.shape == shape
    return m.ravel()


def _check_moments(x, mean, std, k=5.0):
    """Sample mean/std agree with (mean, std) within k standard errors."""
    n = x.size
    se_mean = x.std() / math.sqrt(n)
    c = x - x.mean()
    var = c.var()
    se_std = math.sqrt(max((np.mean(c ** 4) - var ** 2) / n, 0.0)) / (2 * math.sqrt(var))
    assert abs(x.mean() - mean) < k * se_mean, (x.mean(), mean, se_mean)
    assert abs(x.std() - std) < k * se_std, (x.std(), std, se_std)


@pytest.mark.parametrize("sigma", [0.1, 0.3])
def test_gaussian_moments(sigma):
    _check_moments(_draw("gaussian", sigma), 1.0, sigma)


@pytest.mark.parametrize("sigma", [0.3, 1.0])
def test_folded_moments_match_analytic(sigma):
    phi = 0.5 * (1 + math.erf(-1 / sigma / math.sqrt(2)))  # Phi(-1/s)
    mean = sigma * math.sqrt(2 / math.pi) * math.exp(-1 / (2 * sigma ** 2)) + 1 - 2 * phi
    std = math.sqrt(1 + sigma ** 2 - mean ** 2)
    x = _draw("folded", sigma)
    assert x.min() >= 0
    _check_moments(x, mean, std)
    if sigma == 1.0:  # folding matters here: the mean is clearly above 1
        assert mean > 1.08 and x.mean() > 1.05


@pytest.mark.parametrize("sigma", [0.2, 0.5])
def test_lognormal_unit_mean_convention(sigma):
    x = _draw("lognormal", sigma)
    _check_moments(x, 1.0, math.sqrt(math.exp(sigma ** 2) - 1))
    # log M ~ N(-s^2/2, s^2): check the log directly
    _check_moments(np.log(x), -sigma ** 2 / 2, sigma)


@pytest.mark.parametrize("g", [G_MAX, 0.25 * G_MAX])
def test_additive_std_is_relative_to_g_max(g):
    sigma = 0.05
    vm = VariabilityModel(Variability(kind="additive", sigma=sigma))
    gg = np.full(1000, g)
    m = vm.sample_masks((1000,), 200, rng=3, g_max=G_MAX, g=gg)
    delta = vm.apply(gg, m, G_MIN) - gg  # G_eff - G in siemens
    _check_moments(delta.ravel() / G_MAX, 0.0, sigma)
    # the mask is G_eff / G: relative spread grows as G shrinks
    _check_moments(m.ravel(), 1.0, sigma * G_MAX / g)


def test_additive_needs_conductances():
    vm = VariabilityModel(Variability(kind="additive", sigma=0.1))
    with pytest.raises(ValidationError, match="additive"):
        vm.sample_masks((3,), 2, rng=0)
    with pytest.raises(ShapeError):
        vm.sample_masks((3,), 2, rng=0, g_max=G_MAX, g=np.full(4, G_MAX))


@pytest.mark.parametrize("kind", ["gaussian", "folded", "lognormal", "additive"])
def test_per_sample_masks_differ_and_seed_reproduces(kind):
    vm = VariabilityModel(Variability(kind=kind, sigma=0.2))
    g = np.full((4, 3), 5e-5)
    a = vm.sample_masks((4, 3), 5, rng=42, g_max=G_MAX, g=g)
    b = vm.sample_masks((4, 3), 5, rng=np.random.default_rng(42), g_max=G_MAX, g=g)
    c = vm.sample_masks((4, 3), 5, rng=43, g_max=G_MAX, g=g)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    for i in range(5):
        for j in range(i + 1, 5):
            assert not np.allclose(a[i], a[j])


def test_chip_masks_deterministic_per_chip_and_layer():
    vm = VariabilityModel(Variability(kind="gaussian", sigma=0.1, scope="chip"))
    a = vm.chip_masks((8, 4), seed=7, key="dense_1")
    np.testing.assert_array_equal(a, vm.chip_masks((8, 4), seed=7, key="dense_1"))
    assert a.shape == (8, 4)
    assert not np.allclose(a, vm.chip_masks((8, 4), seed=8, key="dense_1"))
    assert not np.allclose(a, vm.chip_masks((8, 4), seed=7, key="dense_2"))


@pytest.mark.parametrize("kind", ["gaussian", "folded", "lognormal", "additive"])
@pytest.mark.parametrize("scope", ["sample", "chip", "read"])
def test_zero_sigma_returns_weights_exactly(kind, scope):
    rng = np.random.default_rng(0)
    g = rng.uniform(G_MIN, G_MAX, size=(5, 3))
    grad = "straight_through" if scope == "read" else "mask"
    noise = LayerNoise(Variability(kind=kind, sigma=0.0, scope=scope, gradient=grad),
                       (5, 3), G_MIN, G_MAX, seed=1)
    noise.begin_step(g, batch=4)
    for _ in range(2):  # free and nudged phases
        g_eff = noise.effective()
        assert g_eff.shape == (4, 5, 3)
        assert np.array_equal(g_eff, np.broadcast_to(g, g_eff.shape))
    ge = rng.normal(size=(4, 5, 3))
    np.testing.assert_array_equal(noise.nominal_gradient(ge, reduce=None), ge)
    vm = VariabilityModel(Variability(kind=kind, sigmas=(0.0, 0.0)))
    assert np.array_equal(vm.apply(g, vm.sample_masks(g.shape, 3, 0, G_MAX, g), G_MIN)[1], g)


def test_gradient_rules():
    rng = np.random.default_rng(5)
    masks = rng.uniform(0.5, 1.5, size=(6, 4, 3))
    grad = rng.normal(size=(6, 4, 3))
    mask_rule = VariabilityModel(Variability(sigma=0.1, gradient="mask"))
    st_rule = VariabilityModel(Variability(sigma=0.1, gradient="straight_through"))
    np.testing.assert_array_equal(mask_rule.nominal_gradient(grad, masks), masks * grad)
    np.testing.assert_allclose(mask_rule.nominal_gradient(grad, masks, "sum"), (masks * grad).sum(0))
    np.testing.assert_allclose(mask_rule.nominal_gradient(grad, masks, "mean"), (masks * grad).mean(0))
    np.testing.assert_array_equal(st_rule.nominal_gradient(grad, masks), grad)
    np.testing.assert_allclose(st_rule.nominal_gradient(grad, None, "sum"), grad.sum(0))
    # chip masks (one sample's shape) broadcast over the batch
    np.testing.assert_array_equal(mask_rule.nominal_gradient(grad, masks[0]), masks[0] * grad)
    out = st_rule.nominal_gradient(grad, None)
    out[...] = 0
    assert np.any(grad != 0)  # the caller's array is not aliased
    with pytest.raises(ShapeError):
        mask_rule.nominal_gradient(grad, masks[:, :2])
    with pytest.raises(ValidationError, match="reduce"):
        mask_rule.nominal_gradient(grad, masks, "max")


def test_mask_rule_is_chain_rule_of_g_times_m():
    # L(G) = sum(c * (G*M)^2) / 2  ->  dL/dG = M * dL/dG_eff, checked by finite differences
    rng = np.random.default_rng(2)
    g, m, c = rng.uniform(1, 2, 4), rng.uniform(0.5, 1.5, 4), rng.normal(size=4)
    vm = VariabilityModel(Variability(sigma=0.1))
    grad_eff = c * (g * m)
    fd = [(np.sum(c * ((g + h) * m) ** 2) - np.sum(c * ((g - h) * m) ** 2)) / 4e-6
          for h in np.eye(4) * 1e-6]
    np.testing.assert_allclose(vm.nominal_gradient(grad_eff[None], m[None], "sum"), fd, rtol=1e-6)


@pytest.mark.parametrize("kind", ["gaussian", "folded", "lognormal", "additive"])
def test_no_conductance_at_or_below_zero_even_at_sigma_5(kind):
    spec = Variability(kind=kind, sigma=5.0)
    vm = VariabilityModel(spec)
    g = np.random.default_rng(0).uniform(G_MIN, G_MAX, size=(50, 40))
    m = vm.sample_masks(g.shape, 100, rng=9, g_max=G_MAX, g=g)
    g_eff = vm.apply(g, m, G_MIN)
    assert np.all(g_eff > 0)
    assert g_eff.min() >= spec.floor * G_MIN
    if kind in ("gaussian", "additive"):  # these masks go negative: the floor is hit exactly
        assert g_eff.min() == spec.floor * G_MIN


def test_floor_is_configurable_and_validated():
    vm = VariabilityModel(Variability(sigma=5.0, floor=0.5))
    g_eff = vm.apply(np.full(10, G_MIN), -np.ones((3, 10)), G_MIN)
    assert np.all(g_eff == 0.5 * G_MIN)
    for bad in (0.0, -1e-3, 1.5, float("nan")):
        with pytest.raises(ValidationError, match="floor"):
            Variability(floor=bad)


def test_multiscale_per_sample_uses_only_and_all_given_sigmas():
    sigmas = (0.1, 0.2, 0.3)
    vm = VariabilityModel(Variability(kind="gaussian", sigmas=sigmas))
    drawn = vm.draw_sigmas(3000, rng=0)
    assert set(np.unique(drawn)) == set(sigmas)
    counts = np.array([(drawn == s).sum() for s in sigmas])
    assert np.all(np.abs(counts - 1000) < 5 * math.sqrt(3000 * (1 / 3) * (2 / 3)))
    # the masks themselves: each sample's spread is one of the sigmas
    m = vm.sample_masks((4000,), 60, rng=1)
    est = m.std(axis=1)
    nearest = np.array(sigmas)[np.argmin(np.abs(est[:, None] - np.array(sigmas)), axis=1)]
    np.testing.assert_allclose(est, nearest, rtol=0.06)
    assert set(nearest) == set(sigmas)


def test_multiscale_cycle_epoch():
    vm = VariabilityModel(Variability(sigmas=[0.1, 0.3], multiscale="cycle_epoch"))
    for epoch, s in [(0, 0.1), (1, 0.3), (2, 0.1), (5, 0.3)]:
        assert np.all(vm.draw_sigmas(4, rng=0, epoch=epoch) == s)
        m = vm.sample_masks((20000,), 1, rng=epoch, epoch=epoch)
        assert abs(m.std() - s) < 0.05 * s


def test_layer_noise_scopes_across_phases():
    g = np.full((6, 5), 5e-5)
    sample = LayerNoise(Variability(sigma=0.2, scope="sample"), (6, 5), G_MIN, G_MAX, seed=0)
    sample.begin_step(g, batch=3)
    a, b = sample.effective(), sample.effective()
    np.testing.assert_array_equal(a, b)  # free and nudged see the same masks
    assert not np.allclose(a[0], a[1])  # samples differ
    sample.begin_step(g, batch=3)
    assert not np.allclose(sample.effective(), a)  # next step: fresh masks

    read = LayerNoise(Variability(sigma=0.2, scope="read", gradient="straight_through"),
                      (6, 5), G_MIN, G_MAX, seed=0)
    read.begin_step(g, batch=3)
    assert not np.allclose(read.effective(), read.effective())  # fresh at every solve
    assert read.masks is None

    chip = LayerNoise(Variability(sigma=0.2, scope="chip"), (6, 5), G_MIN, G_MAX, chip_seed=4, key="d1")
    chip.begin_step(g, batch=3)
    c = chip.effective()
    np.testing.assert_array_equal(c[0], c[2])  # one chip: same mask for every sample
    chip.begin_step(g, batch=2)
    np.testing.assert_array_equal(chip.effective()[0], c[0])  # and every step
    chip.set_chip(5)
    chip.begin_step(g, batch=2)
    assert not np.allclose(chip.effective()[0], c[0])
    grad = np.ones((2, 6, 5))
    np.testing.assert_allclose(chip.nominal_gradient(grad), 2 * chip.masks)


def test_layer_noise_additive_chip_keeps_offsets_in_siemens():
    spec = Variability(kind="additive", sigma=0.05, scope="chip")
    noise = LayerNoise(spec, (10,), G_MIN, G_MAX, chip_seed=1)
    g1, g2 = np.full(10, 4e-5), np.full(10, 6e-5)
    noise.begin_step(g1, 1)
    d1 = noise.effective()[0] - g1
    noise.begin_step(g2, 1)
    np.testing.assert_allclose(noise.effective()[0] - g2, d1, rtol=1e-9, atol=1e-18)


def test_layer_noise_errors():
    noise = LayerNoise(Variability(sigma=0.1), (2, 2), G_MIN, G_MAX)
    with pytest.raises(Exception, match="begin_step"):
        noise.effective()
    with pytest.raises(ShapeError, match=r"\(2, 2\)"):
        noise.begin_step(np.ones((3, 2)) * G_MIN, 2)
    noise.begin_step(np.full((2, 2), G_MIN), 2)
    with pytest.raises(ShapeError):
        noise.nominal_gradient(np.ones((3, 2, 2)))
    with pytest.raises(ValidationError, match="g_max"):
        LayerNoise(Variability(), (2,), G_MAX, G_MIN)


@pytest.mark.parametrize("kwargs, field", [
    ({"kind": "uniform"}, "kind"),
    ({"scope": "epoch"}, "scope"),
    ({"gradient": "exact"}, "gradient"),
    ({"multiscale": "random"}, "multiscale"),
    ({"sigma": -0.1}, "sigma"),
    ({"sigma": float("inf")}, "sigma"),
    ({"sigma": "big"}, "sigma"),
    ({"sigmas": ()}, "sigmas"),
    ({"sigmas": (0.1, -0.2)}, r"sigmas\[1\]"),
    ({"sigmas": "0.1"}, "sigmas"),
    ({"sigma": 0.1, "sigmas": (0.2,)}, "not both"),
    ({"scope": "read"}, "straight_through"),
])
def test_validation_names_the_field(kwargs, field):
    with pytest.raises(ValidationError, match=field):
        Variability(**kwargs)


def test_no_global_rng():
    vm = VariabilityModel(Variability(sigma=0.1))
    with pytest.raises(ValidationError, match="seed"):
        vm.sample_masks((2,), 2, rng=None)
    np.random.seed(0)
    before = np.random.random()
    np.random.seed(0)
    vm.sample_masks((100,), 10, rng=3)
    vm.chip_masks((100,), seed=3)
    assert np.random.random() == before
