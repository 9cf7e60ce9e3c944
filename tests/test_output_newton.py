"""The outputs' Newton step after a pooled block (:mod:`ebana.backends.layered.newton`): where
it applies, that its solves agree with the dense solver in every phase of an EP step, that it
takes fewer sweeps than Anderson's mixing, and that a bad jump hands over to Anderson without
changing the result."""
import numpy as np
import pytest

from ebana.backends.layered import newton, sweeps
from ebana.backends.layered.kernels import update_slope_products
from ebana.backends.layered.backend import LayeredBackend
from ebana.training import MSE
from ebana.training.ep import Phases, ep_step
from test_pooled_blocks import _batch, _solver, deeper_pooled_net, pooled_net


def _without_newton(monkeypatch):
    monkeypatch.setattr(sweeps, "output_newton", lambda *args: None)


def _phases(model, data, nudge):
    """Free, +nudge from it, -nudge from the reflection: voltages (V) and sweeps of each."""
    out = []

    def solve(currents=None, initial=None):
        v = model.solve(data, currents, initial=initial).v
        out.append((v, getattr(_solver(model), "sweeps", None)))  # the dense solver has no sweeps
        return v
    free = solve()
    plus = solve(nudge, free)
    solve({"out": -nudge["out"]}, 2 * free - plus)
    return out


def _jumps(monkeypatch):
    """Count the jumps and the hand-overs to Anderson's mixing."""
    counts = {"jumps": 0, "given_up": 0}
    mix = newton.OutputNewton.mix

    def counted(self, f, g):
        before = self.given_up
        moved = mix(self, f, g)
        counts["jumps"] += moved and not self.given_up
        counts["given_up"] += self.given_up and not before
        return moved
    monkeypatch.setattr(newton.OutputNewton, "mix", counted)
    return counts


@pytest.mark.parametrize("gain", [4.0, -2.0])
def test_the_outputs_jump_and_every_phase_agrees_with_the_dense_solver(monkeypatch, gain):
    counts = _jumps(monkeypatch)
    data, nudge = _batch(8, seed=5)
    mine = _phases(pooled_net("native-layered", gain), data, nudge)
    dense = _phases(pooled_net("native-dense", gain), data, nudge)
    assert counts["jumps"] >= 2 and counts["given_up"] == 0
    for (v, _), (ref, _) in zip(mine, dense):
        assert np.abs(v - ref).max() < 1e-9
    _without_newton(monkeypatch)
    plain = _phases(pooled_net("native-layered", gain), data, nudge)
    # the free phase: the cold sweep and one after each of two jumps, against 7 with Anderson's
    # mixing; the +nudge phase one sweep and one after its jump, against 5
    assert [s for _, s in mine][:2] == [3, 2]
    assert [s for _, s in plain][:2] > [4, 3]


def test_a_jump_that_does_not_contract_hands_over_to_anderson(monkeypatch):
    """A wrong matrix (the outputs as if they did not feed back at all) gives jumps that miss:
    Anderson's mixing takes over and the solve ends where the dense solver's does."""
    counts = _jumps(monkeypatch)
    monkeypatch.setattr(newton.OutputNewton, "_matrix", lambda self: np.zeros((8, 6, 6)) - 0.9 * np.eye(6))
    data, nudge = _batch(8, seed=5)
    got = pooled_net("native-layered").solve(data).v
    assert counts["given_up"] == 1
    assert np.abs(got - pooled_net("native-dense").solve(data).v).max() < 1e-9


def test_the_step_applies_only_to_outputs_fed_by_a_pendant_block_alone(monkeypatch):
    made = []
    qualify = newton.output_newton
    monkeypatch.setattr(sweeps, "output_newton", lambda *args: made.append(qualify(*args)) or made[-1])
    data, _ = _batch(2)
    pooled_net("native-layered").solve(data)
    assert isinstance(made[-1], newton.OutputNewton)
    # a block whose children answer to another local layer: not pendant, not visited first
    deeper_pooled_net("native-layered").solve({"x": np.random.default_rng(4).uniform(-1, 1, size=(2, 9, 9, 2))})
    assert made[-1] is None
    # no mixing asked for: plain sweeps, no jumps either
    made.clear()
    pooled_net(LayeredBackend(anderson_depth=0)).solve(data)
    assert made == []


def test_a_nudged_phase_jumps_on_the_free_phase_s_last_matrix(monkeypatch):
    """In an EP step the free phase makes a matrix for each of its jumps; the nudged phases,
    warm from it on the same block, jump on the last of them (their nudge keeps most anchors)
    and still end in 2 sweeps, at the dense solver's voltages. A cold solve on a block that
    holds a matrix makes its own."""
    made, counts = [], []
    matrix, solve = newton.OutputNewton._matrix, Phases.solve
    monkeypatch.setattr(newton.OutputNewton, "_matrix", lambda self: made.append(1) or matrix(self))

    def counted(self, *args, **kwargs):
        made.clear()
        out = solve(self, *args, **kwargs)
        counts.append((len(made), getattr(_solver(self.model), "sweeps", None)))
        return out
    monkeypatch.setattr(Phases, "solve", counted)
    data, _ = _batch(8, seed=5)
    data["out"] = np.random.default_rng(6).choice([-0.1, 0.1], size=(8, 3))
    model = pooled_net("native-layered")
    step = ep_step(model, data, MSE(), 1e-5, symmetric=True)
    assert counts[:2] == [(2, 3), (0, 2)] and counts[2][0] == 0
    dense = ep_step(pooled_net("native-dense"), data, MSE(), 1e-5, symmetric=True)
    assert np.abs(step.v_nudged - dense.v_nudged).max() < 1e-9
    counts.clear()
    size, arrays = model.check_inputs(data)
    phases = Phases(model, arrays, size, model.conductances())
    phases.solve()
    phases.solve()  # cold again, on the block whose last matrix the first left
    assert counts == [(2, 3), (2, 3)]


def test_the_slope_products_follow_the_changed_windows_or_are_made_afresh():
    """``update_slope_products`` brings the products to the new slopes window by window: equal
    to a fresh product within rounding; a sample with too many changed windows, or a
    non-finite change, is flagged for a fresh product and left as it was."""
    rng = np.random.default_rng(3)
    B, W, P = 4, 64, 21
    pairs_t, seen = rng.normal(size=(W, P)), rng.uniform(1.0, 2.0, size=(B, W))
    prod = seen @ pairs_t
    slopes = seen.copy()
    slopes[0, [3, 40]] = 5.0                         # two windows re-anchored
    slopes[1, :20] += 1.0                            # more than most=8: a fresh product
    slopes[2, 7] = np.nan                            # an unanchored sample's garbage
    before = prod.copy()
    redo = update_slope_products(prod, seen, slopes, pairs_t, 8)
    assert redo.tolist() == [False, True, True, False]
    assert np.allclose(prod[0], slopes[0] @ pairs_t, rtol=1e-12, atol=1e-12) and not np.allclose(prod[0], before[0])
    assert np.array_equal(seen[0], slopes[0])
    assert np.array_equal(prod[1:], before[1:])  # flagged rows untouched, an unchanged one too


class _Holder:
    newton_products = None


def test_a_batch_s_first_slope_products_start_from_its_first_sample_where_the_samples_share_pieces(monkeypatch):
    """``kept_slope_products`` the first time: samples whose pieces mostly match the first
    sample's are that sample's product updated (no product of their own), a sample that differs
    more gets its own; every row equals a fresh product within rounding. Where the first two
    samples differ in more than 1 / FRESH_SHARE of the windows (a rectified layer), the whole
    batch is one product, exactly NumPy's."""
    rng = np.random.default_rng(5)
    B, W, P = 6, 64, 21
    pairs = rng.normal(size=(P, W))
    slopes = np.broadcast_to(rng.uniform(1.0, 2.0, size=W), (B, W)).copy()
    slopes[1, 5] = slopes[3, [9, 30]] = 7.0          # a few windows on other pieces
    slopes[4, :20] = 3.0                              # more than W / FRESH_SHARE = 4: its own product
    flagged = []
    update = newton.update_slope_products
    monkeypatch.setattr(newton, "update_slope_products", lambda *a: flagged.append(update(*a)) or flagged[-1])
    holder = _Holder()
    prod = newton.kept_slope_products(holder, slopes, pairs, np.ascontiguousarray(pairs.T))
    assert np.allclose(prod, slopes @ pairs.T, rtol=1e-12, atol=1e-12)
    assert holder.newton_products[0] is prod and np.array_equal(holder.newton_products[1], slopes)
    assert [f.tolist() for f in flagged] == [[False, False, False, False, True, False]]
    # rectified: the first two samples differ everywhere
    spread = rng.uniform(1.0, 2.0, size=(B, W))
    holder, flagged[:] = _Holder(), []
    assert np.array_equal(newton.kept_slope_products(holder, spread, pairs, np.ascontiguousarray(pairs.T)),
                          spread @ pairs.T)
    assert flagged == []
