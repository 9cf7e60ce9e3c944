"""The dense solver's diode block as low-rank updates of a shared one (ebana/backends/dense/low_rank.py)
against direct solves, and in whole circuits against the direct path and Ngspice."""
import numpy as np
import pytest
import scipy.sparse as sp
from networks import mlp_64_32_20, mlp_inputs

import ebana.backends.dense.low_rank as low_rank
from ebana.backends.dense.low_rank import LowRankDiodes, incidence


def block_jacobian(K, ends):
    """The sparse ``(K*K, D)`` stamp of diodes between block unknowns ``ends`` ((a, c), c None: a known node)."""
    rows, cols, vals = [], [], []
    for d, (a, c) in enumerate(ends):
        stamps = [(a, a, 1.0)] if c is None else [(a, a, 1.0), (c, c, 1.0), (a, c, -1.0), (c, a, -1.0)]
        for i, j, s in stamps:
            rows.append(i * K + j)
            cols.append(d)
            vals.append(s)
    return sp.csr_matrix((vals, (rows, cols)), shape=(K * K, len(ends)))


def system(rng, K=40, D=None):
    """A diagonally dominant ``S`` (S), diodes to known nodes on every unknown plus some between
    unknowns, and their off/on conductances (S)."""
    S = -rng.uniform(0, 1e-4, size=(K, K))
    S = 0.5 * (S + S.T)
    np.fill_diagonal(S, 0.0)
    np.fill_diagonal(S, -S.sum(axis=1) + rng.uniform(1e-5, 1e-3, K))
    ends = [(k, None) for k in range(K)] + [(k, (k + 3) % K) for k in range(0, K, 4)]
    jac = block_jacobian(K, ends)
    D = len(ends)
    return S, jac, (np.full(D, 1e-12), np.full(D, 1.0 / 50.0))


def direct(S, jac, g_d, rhs):
    J = S + np.asarray(jac @ g_d.T).T.reshape(-1, *S.shape)
    return np.linalg.solve(J, rhs[..., None])[..., 0]


def test_incidence_reproduces_the_stamps(rng):
    S, jac, _ = system(rng)
    U = incidence(jac, len(S))
    g = rng.uniform(0, 1, jac.shape[1])
    np.testing.assert_array_equal((U * g) @ U.T, np.asarray(jac @ g).reshape(S.shape))
    odd = jac.tolil()
    odd[0, 0] = 2.0  # not an incidence's outer product
    assert incidence(odd.tocsr(), len(S)) is None


@pytest.mark.parametrize("mostly_on", [False, True])
def test_matches_direct_solves_for_any_number_of_diodes_away_from_the_usual_state(rng, mostly_on):
    S, jac, levels = system(rng)
    D, B = jac.shape[1], 60
    # samples with 0, 1, 2, ... diodes away from the batch's usual state, up to all of them
    away = np.zeros((B, D), dtype=bool)
    for b in range(B):
        away[b, rng.choice(D, size=min(b, D), replace=False)] = True
    on = away != mostly_on
    g_d = np.where(on, levels[1], levels[0])
    rhs = rng.normal(0, 1e-4, size=(B, len(S)))
    x = LowRankDiodes(S, incidence(jac, len(S)), levels, jac).solve(rhs, g_d)
    ref = direct(S, jac, g_d, rhs)
    assert np.abs(x - ref).max() <= 1e-12 * np.abs(ref).max()


def test_a_base_that_cannot_be_inverted_falls_back_to_direct_solves(rng):
    """A chain of unknowns held by diodes alone: with every diode off (the usual state) the base
    is a floating Laplacian, singular; each sample has one diode on, so its own matrix is not."""
    K, B = 20, 12
    S = np.zeros((K, K))
    for k in range(K - 1):
        S[[k, k + 1], [k, k + 1]] += 1e-3
        S[[k, k + 1], [k + 1, k]] -= 1e-3
    jac = block_jacobian(K, [(k, None) for k in range(K)])
    levels = (np.zeros(K), np.full(K, 1e-2))
    g_d = np.zeros((B, K))
    g_d[np.arange(B), rng.integers(0, K, B)] = 1e-2
    rhs = rng.normal(0, 1e-4, size=(B, K))
    solver = LowRankDiodes(S, incidence(jac, K), levels, jac)
    np.testing.assert_allclose(solver.solve(rhs, g_d), direct(S, jac, g_d, rhs), rtol=1e-12, atol=0)
    assert list(solver._bases.values()) == [None]  # the singular base was refused, not used


def test_dense_newton_with_low_rank_blocks_matches_the_direct_path(rng, monkeypatch):
    """32 clamped hidden nets (K = 32, made eligible) in the native dense solver, inputs large
    enough that some samples pass the clamps: the same voltages with the low-rank blocks as without."""
    level = np.linspace(-3.0, 3.0, 48)[:, None]  # V: the hidden nets follow, past +-0.7 V + VTH
    data = {k: level + 0.5 * x for k, x in mlp_inputs(48, rng).items()}
    currents = {"out": rng.normal(0, 1e-6, size=(48, 20))}
    monkeypatch.setattr(low_rank, "MIN_BLOCK", 16)
    seen = []
    solve = LowRankDiodes.solve
    monkeypatch.setattr(LowRankDiodes, "solve", lambda self, rhs, g_d: seen.append(g_d) or solve(self, rhs, g_d))
    fast = mlp_64_32_20("native-dense").solve(data, currents).v
    assert seen and any(len(np.unique(g, axis=0)) > 1 for g in seen)  # samples in different states
    monkeypatch.setattr(low_rank, "MIN_BLOCK", 10 ** 9)
    slow = mlp_64_32_20("native-dense").solve(data, currents).v
    np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-12)


def test_a_singular_update_system_sends_its_samples_to_direct_solves(rng, monkeypatch):
    """Where a group's k x k system cannot be solved, its samples are solved directly (the
    residual check sees the NaN), not reported as a singular circuit."""
    S, jac, levels = system(rng)
    D, B = jac.shape[1], 12
    g_d = np.where(rng.random((B, D)) < 0.1, levels[1], levels[0])
    rhs = rng.normal(0, 1e-4, size=(B, len(S)))
    solve = np.linalg.solve

    def refuse_small(a, b):  # the k x k systems are smaller than the block: refuse those
        if a.shape[-1] < len(S):
            raise np.linalg.LinAlgError("singular")
        return solve(a, b)
    monkeypatch.setattr(np.linalg, "solve", refuse_small)
    x = LowRankDiodes(S, incidence(jac, len(S)), levels, jac).solve(rhs, g_d)
    monkeypatch.undo()
    np.testing.assert_allclose(x, direct(S, jac, g_d, rhs), rtol=1e-12, atol=0)
