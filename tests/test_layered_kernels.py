"""The layered solver's compiled kernels against the numpy expressions they replace."""
import numpy as np
import pytest

from ebana.backends.layered.anderson import Anderson
from ebana.backends.layered.kernels import (add_single, assign_with_move, clamp_band, clamp_band_residual,
                                            fold_crossbar, largest_difference, single_change)

B, N = 7, 13


def _band_reference(C, K, inv_off, low, high, eps):
    v = (C + K) * inv_off
    return v - eps * (v - np.clip(v, low, high))


@pytest.mark.parametrize("per_sample", [False, True])
def test_clamp_band_is_the_numpy_solve_bit_for_bit_in_place_on_a_view(per_sample):
    rng = np.random.default_rng(0)
    rows = B if per_sample else 1
    C, K = rng.normal(size=(B, N)), rng.normal(size=(B, N))
    inv_off = rng.uniform(0.5, 2.0, size=(rows, N))
    low, high = -rng.uniform(0.1, 0.5, size=(rows, N)), rng.uniform(0.1, 0.5, size=(rows, N))
    eps = rng.uniform(0.5, 1.0, size=(rows, N))
    state = rng.normal(size=(B, 3 * N))
    v = state[:, N:2 * N]                   # a view with a row stride, as the mixing state gives
    old = v.copy()
    change = np.zeros((B, 3 * N))[:, :N]
    moves = clamp_band(C, *(np.broadcast_to(x, (B, N)) for x in (K, inv_off, low, high, eps)), v, change)
    expected = _band_reference(C, K, inv_off, low, high, eps)
    assert np.array_equal(v, expected)
    assert np.array_equal(state[:, N:2 * N], expected)  # written through the view
    assert np.array_equal(change, expected - old)
    assert np.array_equal(moves, np.abs(expected - old).max(axis=1))


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_a_rectifier_is_a_band_with_one_side_at_infinity(sign):
    # ClampSolver runs a one-diode group (the rectified networks' hidden nets) as a band whose
    # other side lies at +-inf: the same voltages as the one-clamp solve, off or on its segment
    rng = np.random.default_rng(4)
    C, K = rng.normal(size=(B, N)), rng.normal(size=(B, N))
    D, gd, bp = rng.uniform(0.5, 2.0, size=(1, N)), 50.0, rng.uniform(-0.2, 0.2, size=(1, N))
    c0 = C + K
    past = c0 / D > bp if sign > 0 else c0 / D < bp
    expected = np.where(past, (c0 + gd * bp) / (D + gd), c0 / D)
    assert 0 < past.mean() < 1
    beyond = np.full_like(bp, -sign * np.inf)
    low, high = (beyond, bp) if sign > 0 else (bp, beyond)
    v = np.zeros((B, N))
    wide = (np.broadcast_to(x, (B, N)) for x in (K, 1.0 / D, low, high, gd / (D + gd)))
    clamp_band(C, *wide, v, None)
    np.testing.assert_allclose(v, expected, rtol=1e-13, atol=1e-15)
    steps, _ = clamp_band_residual(v, C, *(np.broadcast_to(x, (B, N)) for x in (D, K, low, high)), gd,
                                   np.zeros((0, N)), np.zeros((0, B)), None)
    assert steps.max() < 1e-14


def test_clamp_band_reports_a_nan_in_the_sample_it_is_in():
    rng = np.random.default_rng(1)
    C = rng.normal(size=(B, N))
    C[3, 5] = np.nan
    v = np.zeros((B, N))
    ones = np.ones((B, N))
    moves = clamp_band(C, 0 * ones, ones, -ones, ones, 0.5 * ones, v, None)
    assert np.isnan(moves[3]) and np.all(np.isfinite(np.delete(moves, 3)))


def test_single_change_and_add_single_match_numpy():
    rng = np.random.default_rng(2)
    v, anchor = rng.normal(size=(B, N)), rng.normal(size=(B, N))
    out = np.empty((B, N), np.float32)
    sizes = single_change(v, anchor, out)
    expected = (v - anchor).astype(np.float32)      # subtracted in float64, then rounded
    assert np.array_equal(out, expected)
    assert np.array_equal(sizes, np.abs(expected).max(axis=1).astype(float))
    anchor_c, product = rng.normal(size=(B, N)), rng.normal(size=(B, N)).astype(np.float32)
    currents = np.empty((B, N))
    add_single(anchor_c, product, currents)
    assert np.array_equal(currents, anchor_c + product)


def test_clamp_band_residual_matches_numpy_and_keeps_nan():
    rng = np.random.default_rng(3)
    v, C, K = rng.normal(size=(B, N)), rng.normal(size=(B, N)), rng.normal(size=(B, N))
    D = rng.uniform(1.0, 2.0, size=(1, N))
    low, high, gd = -0.3 * np.ones((1, N)), 0.3 * np.ones((1, N)), 5.0
    coupling, uncertain = rng.uniform(size=(2, N)), rng.uniform(size=(2, B))
    extra = rng.uniform(size=(B, N))
    beyond = v - np.clip(v, low, high)
    f = np.abs(D * v - C - K + gd * beyond) + uncertain.T @ coupling + extra
    slope = D + gd * (beyond != 0)
    wide = [np.broadcast_to(x, (B, N)) for x in (D, K, low, high)]
    steps, amps = clamp_band_residual(v, C, wide[0], wide[1], wide[2], wide[3], gd, coupling, uncertain, extra)
    np.testing.assert_allclose(steps, (f / slope).max(axis=1), rtol=1e-14)
    np.testing.assert_allclose(amps, f.max(axis=1), rtol=1e-14)
    v[2, 0] = np.nan
    steps, amps = clamp_band_residual(v, C, wide[0], wide[1], wide[2], wide[3], gd, coupling, uncertain, None)
    assert np.isnan(steps[2]) and np.isnan(amps[2]) and np.all(np.isfinite(np.delete(steps, 2)))


def test_anderson_mix_is_the_least_squares_combination_of_its_history():
    """Type-II Anderson: x+ = g - dG gamma, gamma minimising |f - dF gamma| per sample."""
    rng = np.random.default_rng(4)
    depth, steps = 3, 6
    mixer = Anderson(depth, regularization=0.0)
    fs, gs = [], []
    for t in range(steps):
        f, g = rng.normal(size=(B, N)), rng.normal(size=(B, N))
        fs.append(f.copy())
        gs.append(g.copy())
        mixed = mixer.mix(f, g)  # g becomes the next iterate in place
        if t == 0:
            assert not mixed and np.array_equal(g, gs[-1])
            continue
        m = min(t, depth)
        dF = np.stack([fs[-i] - fs[-i - 1] for i in range(1, m + 1)], axis=1)  # (B, m, N)
        dG = np.stack([gs[-i] - gs[-i - 1] for i in range(1, m + 1)], axis=1)
        for b in range(B):
            gamma = np.linalg.lstsq(dF[b].T, fs[-1][b], rcond=None)[0]
            np.testing.assert_allclose(g[b], gs[-1][b] - gamma @ dG[b], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("unit", [False, True])
def test_fold_crossbar_matches_numpy(unit):
    """The gains folded into a crossbar between two groups, with its sums, coupling bounds and
    offsets, in one pass: the numpy expressions to rounding."""
    rng = np.random.default_rng(5)
    W = rng.uniform(1e-6, 1e-3, size=(9, 11))
    alpha_a = np.ones(9) if unit else rng.choice([-4.0, 0.5, 2.0], size=9)
    alpha_b = np.ones(11) if unit else rng.choice([-3.0, 1.0, 5.0], size=11)
    beta_a, beta_b = rng.normal(size=9), rng.normal(size=11)
    scaled = (None, None) if unit else (np.empty_like(W), np.empty_like(W))
    out = fold_crossbar(W, alpha_a, alpha_b, beta_a, beta_b, *scaled)
    expected = (W.sum(axis=1), W.sum(axis=0), (W @ np.abs(alpha_b)) / np.abs(alpha_a),
                (np.abs(alpha_a) @ W) / np.abs(alpha_b), (W @ beta_b) / alpha_a, (beta_a @ W) / alpha_b)
    for got, want in zip(out, expected):
        np.testing.assert_allclose(got, want, rtol=1e-13)
    if not unit:
        np.testing.assert_allclose(scaled[0], W * alpha_b[None, :] / alpha_a[:, None], rtol=1e-15)
        np.testing.assert_allclose(scaled[1], W * alpha_a[:, None] / alpha_b[None, :], rtol=1e-15)


def test_largest_difference_per_sample_keeps_nan():
    rng = np.random.default_rng(6)
    a, b = rng.normal(size=(B, 2 * N))[:, :N], rng.normal(size=(B, N))
    np.testing.assert_array_equal(largest_difference(a, b), np.abs(a - b).max(axis=1))
    a[4, 2] = np.nan
    out = largest_difference(a, b)
    assert np.isnan(out[4]) and np.all(np.isfinite(np.delete(out, 4)))


def test_assign_with_move_writes_through_a_view_and_reports_the_move():
    rng = np.random.default_rng(7)
    state = rng.normal(size=(B, 2 * N))
    v, old, new = state[:, N:], state[:, N:].copy(), rng.normal(size=(B, N))
    change = np.empty((B, N))
    moves = assign_with_move(v, new, change)
    assert np.array_equal(state[:, N:], new) and np.array_equal(change, new - old)
    assert np.array_equal(moves, np.abs(new - old).max(axis=1))

