"""The outputs' Newton step after one rectified (or two-sided clamped) hidden layer
(:mod:`ebana.backends.layered.clamp_newton`): where it applies, that every phase of an EP step
ends where the dense solver's does in fewer sweeps than Anderson's mixing takes, that the
nudged phases (swept from the outputs back) jump too, and that a bad jump hands over to
Anderson without changing the result."""
import numpy as np
import pytest

from ebana.backends.layered import clamp_newton, newton, sweeps
from ebana.backends.layered.backend import LayeredBackend
from ebana.backends.layered.kernels import clamp_piece_slopes, follow_pieces
from ebana.networks import clamped_mlp, rectified_local_network, rectified_mlp
from ebana.training import MSE
from ebana.training.ep import ep_step
from test_output_newton import _phases
from test_pooled_blocks import _solver, pooled_net

#: conductances large enough that many hidden nets sit past their diode's breakpoint
STRONG = dict(g_max=1e-4, initializer=("uniform", 1e-6, 1e-4))


def _mlp(backend, hidden=(24,)):
    return rectified_mlp(40, list(hidden), 4, backend=backend, **STRONG)


def _clamped(backend, pairs=1):
    """Two-sided clamps and x4 amplifiers: the crossbar to the outputs differs both ways."""
    return clamped_mlp(40, [24], pairs, backend=backend)


def _local(backend):
    return rectified_local_network((10, 10, 2), 8, 4, kernel_size=4, strides=3, backend=backend, **STRONG)


def _data(model, n=12, seed=3, nets=4):
    """Inputs (V) and a nudge (A) for each of the ``nets`` output nets."""
    rng = np.random.default_rng(seed)
    shape = (n, 40) if model.layer("x").shape == (40,) else (n, 10, 10, 2)
    return {"x": rng.uniform(-1, 1, size=shape)}, {"out": rng.normal(0, 1e-6, size=(n, nets))}


def _made(monkeypatch):
    """Every mixer clamp_newton is asked for, as made (or None)."""
    made = []
    qualify = clamp_newton.clamp_newton
    monkeypatch.setattr(sweeps, "clamp_newton", lambda *args: made.append(qualify(*args)) or made[-1])
    return made


@pytest.mark.parametrize("network, nets", [(_mlp, 4), (_local, 4), (_clamped, 2)])  # _clamped: one pair
def test_every_phase_jumps_and_agrees_with_the_dense_solver_in_fewer_sweeps(monkeypatch, network, nets):
    made = _made(monkeypatch)
    jumps = []
    mix = newton.OutputJump.mix
    monkeypatch.setattr(newton.OutputJump, "mix", lambda self, f, g: jumps.append(self.given_up) or mix(self, f, g))
    data, nudge = _data(network("native-layered"), nets=nets)
    mine = _phases(network("native-layered"), data, nudge)
    dense = _phases(network("native-dense"), data, nudge)
    for (v, _), (ref, _) in zip(mine, dense):
        assert np.abs(v - ref).max() < 1e-9
    # a cold solve visits the outputs last, the nudged ones (warm, swept backward) first
    assert [m.forward for m in made] == [True, False, False]
    assert len(jumps) >= 3 and not any(jumps)  # two in the free phase, one in the +nudge one
    monkeypatch.setattr(sweeps, "clamp_newton", lambda *args: None)
    plain = _phases(network("native-layered"), data, nudge)
    for (v, _), (ref, _) in zip(plain, dense):
        assert np.abs(v - ref).max() < 1e-9
    # the cold sweep and one after each of two jumps, one sweep and one after its jump, and the
    # -nudge phase from the reflection: against 5 or more a phase with Anderson's mixing
    assert [s for _, s in mine] == [3, 2, 1]
    assert [s for _, s in plain][:2] >= [5, 4]


def test_a_jump_that_does_not_contract_hands_over_to_anderson(monkeypatch):
    """A wrong matrix (the outputs as if they fed back on themselves alone) gives jumps that
    miss: Anderson's mixing takes over, and the solve ends where the dense solver's does."""
    given_up = []
    mix = newton.OutputJump.mix

    def counted(self, f, g):
        out = mix(self, f, g)
        given_up.append(self.given_up)
        return out
    monkeypatch.setattr(newton.OutputJump, "mix", counted)
    monkeypatch.setattr(clamp_newton.ClampNewton, "_assemble",
                        lambda self, prod: np.broadcast_to(-0.9 * np.eye(self.n), (12, self.n, self.n)))
    data, _ = _data(_mlp("native-layered"))
    got = _mlp("native-layered").solve(data).v
    assert any(given_up)
    assert np.abs(got - _mlp("native-dense").solve(data).v).max() < 1e-9


def test_the_step_applies_only_to_outputs_fed_by_clamped_groups_alone(monkeypatch):
    made = _made(monkeypatch)
    data, _ = _data(_mlp("native-layered"), n=2)
    _mlp("native-layered").solve(data)
    assert isinstance(made[-1], clamp_newton.ClampNewton)
    # two hidden layers: the first answers to the second, not to the outputs
    _mlp("native-layered", hidden=(16, 8)).solve(data)
    assert made[-1] is None
    # too many slope products for the sweeps they save: 4 amplified output pairs (8 nets, 64
    # products), where one pair qualifies (2 nets, 4 products)
    _clamped("native-layered", pairs=4).solve(data)
    assert made[-1] is None
    _clamped("native-layered").solve(data)
    assert isinstance(made[-1], clamp_newton.ClampNewton)
    # a pooled block's outputs: the pooled step, asked first
    made.clear()
    pooled_net("native-layered").solve({"x": np.random.default_rng(4).uniform(-1, 1, size=(2, 10, 10, 2))})
    assert made == []
    # no mixing asked for: plain sweeps, no jumps
    _mlp(LayeredBackend(anderson_depth=0)).solve(data)
    assert made == []
    # gmin stepping: the shunted sweeps solve the clamps apart, the final sweeps jump
    _mlp(LayeredBackend(options={"gminsteps": 3})).solve(data)
    assert made[:3] == [None] * 3 and isinstance(made[-1], clamp_newton.ClampNewton)


def test_the_nudged_phases_update_the_free_phase_s_products(monkeypatch):
    """A chunk's phases share the slope products, kept on the clamps: one product per hidden
    half in the free phase, updates after it; after an EP step they are still the held slopes
    times the pairs, within rounding."""
    products = []
    matmul = newton.kept_slope_products

    def counted(holder, slopes, pairs, pairs_t):
        products.append(holder.newton_products is None)
        return matmul(holder, slopes, pairs, pairs_t)
    monkeypatch.setattr(clamp_newton, "kept_slope_products", counted)
    model = _mlp("native-layered")
    data, _ = _data(model)
    data["out"] = np.random.default_rng(6).choice([-0.1, 0.1], size=(12, 4))
    ep_step(model, data, MSE(), 1e-5, symmetric=True)
    assert products.count(True) == 2 and len(products) > 4  # fresh for the two halves, then updates
    solver = _solver(model)
    held = [c[3] for _, _, consts in solver._norton.values() for c in consts if c[3] is not None]
    pairs = [bl.__dict__["_newton_pairs"][0] for _, _, bound in solver._bound.values() for bl in bound.values()
             if "_newton_pairs" in bl.__dict__]
    assert len(held) == 2 == len(pairs)
    for clamps in held:  # each half's products: its slopes times its own crossbar's pairs
        prod, slopes = clamps.newton_products
        assert sum(np.allclose(prod, slopes @ p.T, rtol=1e-12, atol=1e-20) for p in pairs) == 1


def test_the_kernels_match_their_numpy_expressions():
    rng = np.random.default_rng(0)
    B, n, m = 5, 7, 3
    x = rng.normal(size=(B, n))
    low, high = np.full((B, n), -0.5), np.full((B, n), np.inf)
    inv, eps = rng.uniform(1, 2, size=(B, n)), rng.uniform(0, 1, size=(B, n))
    want = inv * (1.0 - eps * ((x < low) | (x > high)))
    assert np.array_equal(clamp_piece_slopes(x, inv, low, high, eps), want)
    state = rng.normal(size=(B, n + 4))
    view = state[:, 2:2 + n]  # the followers' columns of a mixing state
    y, P, s = rng.normal(size=(B, m)), rng.normal(size=(m, n)), rng.uniform(size=(B, n))
    expected = view + s * (y @ P)
    untouched = state[:, [0, 1, n + 2, n + 3]].copy()
    follow_pieces(view, y, P, s)
    assert np.allclose(view, expected, rtol=1e-14, atol=1e-15)
    assert np.array_equal(state[:, [0, 1, n + 2, n + 3]], untouched)
