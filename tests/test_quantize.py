"""Quantizer: levels, nearest-level rounding, clipping, straight-through update."""
import numpy as np
import pytest

from ebana.devices import Quantizer
from ebana.errors import ShapeError, ValidationError

G_MIN, G_MAX = 1e-6, 1e-4


def test_binary_gives_exactly_g_min_and_g_max():
    q = Quantizer(2, G_MIN, G_MAX)
    assert q.levels_array.tolist() == [G_MIN, G_MAX]
    latent = np.random.default_rng(0).uniform(-G_MAX, 2 * G_MAX, size=(50, 20))
    out = q(latent)
    assert out.shape == latent.shape
    assert set(np.unique(out)) == {G_MIN, G_MAX}
    mid = (G_MIN + G_MAX) / 2
    w = q.clip(latent)
    np.testing.assert_array_equal(out == G_MAX, w >= mid)


@pytest.mark.parametrize("levels", [3, 4, 16])
def test_n_levels_evenly_spaced(levels):
    q = Quantizer(levels, G_MIN, G_MAX)
    lv = q.levels_array
    assert lv.shape == (levels,)
    assert lv[0] == G_MIN and lv[-1] == G_MAX
    np.testing.assert_allclose(np.diff(lv), (G_MAX - G_MIN) / (levels - 1), rtol=1e-12)
    assert q.step == pytest.approx((G_MAX - G_MIN) / (levels - 1))


@pytest.mark.parametrize("levels", [2, 3, 5])
def test_nearest_level_rounding(levels):
    q = Quantizer(levels, G_MIN, G_MAX)
    latent = np.random.default_rng(levels).uniform(G_MIN, G_MAX, size=5000)
    out = q(latent)
    lv = q.levels_array
    expected = lv[np.argmin(np.abs(latent[:, None] - lv[None, :]), axis=1)]
    np.testing.assert_array_equal(out, expected)
    assert np.all(np.isin(out, lv))
    np.testing.assert_array_equal(q.index(latent), np.searchsorted(lv, out))
    # every level is hit
    assert set(q.index(latent)) == set(range(levels))


def test_explicit_values_and_ties():
    q = Quantizer(3, 0.0 + 1.0, 3.0)  # levels 1, 2, 3 S
    np.testing.assert_array_equal(q([1.2, 1.49, 1.51, 2.4, 2.6, 2.99]), [1, 1, 2, 2, 3, 3])
    np.testing.assert_array_equal(q([1.5, 2.5]), [2, 3])  # ties go to the upper level


def test_out_of_range_latents_are_clipped():
    q = Quantizer(4, G_MIN, G_MAX)
    np.testing.assert_array_equal(q([-1.0, 0.0, G_MIN / 2]), [G_MIN] * 3)
    np.testing.assert_array_equal(q([G_MAX * 1.0001, 1.0, 1e9]), [G_MAX] * 3)
    np.testing.assert_array_equal(q.clip([-1.0, 5e-5, 1.0]), [G_MIN, 5e-5, G_MAX])
    assert q(np.float64(2 * G_MAX)) == G_MAX


def test_straight_through_step_updates_and_clips_latent():
    q = Quantizer(2, G_MIN, G_MAX)
    latent = np.array([4.9e-5, 5.1e-5, 9.9e-5, 2e-6])
    grad = np.array([-1.0, 1.0, -1.0, 1.0])  # dL/dG at q(latent)
    new = q.straight_through_step(latent, grad, lr=2e-6)
    np.testing.assert_allclose(new, [5.1e-5, 4.9e-5, G_MAX, G_MIN])
    np.testing.assert_array_equal(q(new), [G_MAX, G_MIN, G_MAX, G_MIN])  # two crossed the midpoint
    with pytest.raises(ShapeError):
        q.straight_through_step(latent, grad[:2], lr=1e-6)
    with pytest.raises(ValidationError, match="lr"):
        q.straight_through_step(latent, grad, lr=-1.0)


@pytest.mark.parametrize("args, match", [
    ((1, G_MIN, G_MAX), "levels"),
    ((2.5, G_MIN, G_MAX), "levels"),
    ((True, G_MIN, G_MAX), "levels"),
    (("2", G_MIN, G_MAX), "levels"),
    ((2, 0.0, G_MAX), "g_min"),
    ((2, -1e-6, G_MAX), "g_min"),
    ((2, G_MAX, G_MIN), "g_min < g_max"),
    ((2, G_MIN, G_MIN), "g_min < g_max"),
    ((2, G_MIN, float("nan")), "g_max"),
])
def test_validation(args, match):
    with pytest.raises(ValidationError, match=match):
        Quantizer(*args)


def test_non_finite_latent_rejected():
    with pytest.raises(ValidationError, match="latent"):
        Quantizer(2, G_MIN, G_MAX)([1e-5, float("nan")])
