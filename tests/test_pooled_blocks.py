"""Pooled blocks: each pool net solved with the clamped nets it averages, exactly
(:mod:`ebana.backends.layered.pooled`, :func:`ebana.backends.layered.kernels.pool_block`).
The block kernel against the root of its piecewise-linear equation found by bisection (its
Newton, settle and breakpoint paths), the networks that use it against the dense native
solver and Ngspice, the paths where it stands aside (gmin stepping, a pooled group mixed by
Anderson), its KCL check, and the threads it asks for."""
import copy

import numpy as np
import pytest

from ebana import (AmplificationLayer, AveragePooling2DLayer, BiasVoltageLayer, ConcatenateLayer, CurrentLayer,
                   DenseLayer, DiodeLayer, FlattenLayer, InputVoltageLayer, LocallyConnected2DLayer, Model)
from ebana.backends.layered import kernels
from ebana.backends.layered.backend import LayeredBackend, auto_threads
from ebana.backends.layered import pooled as pooled_module
from ebana.backends.layered.pooled import PooledBlock, candidate_links, check_order
from ebana.networks import local_network, rectified_mlp
from ebana.training import MSE
from ebana.training.ep import ep_step
from networks import finite_differences

INIT = ("uniform", 1e-5, 1e-4)


def pooled_net(backend, gain=4.0, filters=4, pool_conductance=1e-3, seed=0, clamps=("down", "up")):
    """(10, 10, 2) image -> 4x4/2 local layer -> two-sided clamps (or one rectifier: ``clamps``
    ``("down",)`` or ``("up",)``) -> amplifiers of ``gain`` -> 2x2 pooling -> with a bias pair, a
    crossbar onto 3 differential outputs."""
    x = InputVoltageLayer(shape=(10, 10, 2), name="x")
    b = BiasVoltageLayer(units=2, name="b", bias_voltage=[1.0, -1.0])
    h = LocallyConnected2DLayer(filters, 4, name="l1", strides=2, initializer=INIT)(x)
    for k, direction in enumerate(clamps, start=1):
        h = DiodeLayer(name=f"c{k}", direction=direction, bias_voltage=0.05 if direction == "down" else -0.05)(h)
    h = AmplificationLayer(name="a1", param={"gain": gain})(h)
    h = AveragePooling2DLayer(2, name="p1", conductance=pool_conductance)(h)
    h = ConcatenateLayer(name="j")([FlattenLayer(name="f")(h), b])
    h = DenseLayer(units=6, name="d2", initializer=INIT)(h)
    return Model(inputs=[x, b], outputs=[CurrentLayer(name="out", fold=True)(h)], backend=backend, seed=seed)


def _batch(n, seed=0):
    rng = np.random.default_rng(seed)
    return {"x": rng.uniform(-1, 1, size=(n, 10, 10, 2))}, {"out": rng.normal(0, 2e-6, size=(n, 6))}


def _solver(model):
    solver = model.backend
    for name in ("inner", "layered"):
        solver = getattr(solver, name, solver)
    return solver


def _blocks(model):
    solver = _solver(model)
    return [b for _, blocks in solver._pooled.values() for b in blocks.values()]


def test_the_plan_finds_one_pendant_block_per_pooling_after_clamps():
    model = pooled_net("native-layered")
    model.solve(_batch(2)[0])
    (block,) = _blocks(model)
    plan = _solver(model).structure(model.circuit)
    assert [link.owner for link in candidate_links(plan)] == ["p1"]
    assert (plan.groups[block.children].name, plan.groups[block.pools].name) == ("l1", "p1")
    # 4x4 windows of 4 filters (64 nets) under 2x2 pools: 16 pools of 4 children
    assert block.pendant and block.child.shape == (4, 16)
    assert np.array_equal(np.sort(block.child.ravel()), np.arange(64))
    # the clamps' far ends are bias nodes: one row of constants for the batch, not one per sample
    assert block.lo.shape[0] == block.hi.shape[0] == block.inv.shape[0] == 1 and block.y0.shape[0] == 2
    # no pooling, or pooling without clamps before it: no block
    assert not candidate_links(LayeredBackend().structure(local_network((28, 28, 2), 2, 10, pool_size=None,
                                                                        backend="native").circuit))
    assert not candidate_links(LayeredBackend().structure(rectified_mlp(8, 4, 2, backend="native").circuit))


@pytest.mark.parametrize("gain, pool_conductance, clamps", [(4.0, 1e-3, ("down", "up")), (-2.0, 1e-4, ("down", "up")),
                                                       (1.0, 1e-2, ("down", "up")), (4.0, 1e-3, ("down",)),
                                                       (-2.0, 1e-3, ("up",))])
def test_pooled_networks_agree_with_the_dense_solver_and_ngspice(gain, pool_conductance, clamps):
    """Free and nudged, with the clamps in play; a negative gain turns the children's response
    to their pool around (its breakpoints come in the other order); one rectifier per child is a
    band with a breakpoint at infinity."""
    data, nudge = _batch(5)
    nets = {s: pooled_net(s, gain, pool_conductance=pool_conductance, clamps=clamps)
            for s in ("native-layered", "native-dense", "ngspice")}
    mine = [nets["native-layered"].solve(data, c) for c in (None, nudge)]
    assert len(_blocks(nets["native-layered"])) == 1
    for other, tol in (("native-dense", 1e-9), ("ngspice", 1e-6)):
        for m, ref in zip(mine, (nets[other].solve(data, c) for c in (None, nudge))):
            assert np.abs(m.v - ref.v).max() < tol, other
    hidden = mine[0].v[:, nets["native-layered"].nodes[id(nets["native-layered"].layer("l1"))]]
    assert (np.abs(hidden) > 0.05).any() and (np.abs(hidden) < 0.05).any()  # the clamps are in play


def test_the_phases_of_an_ep_step_agree_with_the_dense_solver_from_their_anchors():
    """An EP step's phases, as ep_step solves them: the nudged ones warm (from the free
    solution, and the -beta one from its reflection), their block solves one step from the
    anchors the free phase left; every phase within 1e-9 V of the dense solver's."""
    data, nudge = _batch(6, seed=3)
    mine, dense = pooled_net("native-layered"), pooled_net("native-dense")
    free = mine.solve(data)
    plus = mine.solve(data, nudge, initial=free.v)
    minus = mine.solve(data, {"out": -nudge["out"]}, initial=2 * free.v - plus.v)
    assert _blocks(mine)[0]._anchored.all()
    for got, currents in ((free, None), (plus, nudge), (minus, {"out": -nudge["out"]})):
        assert np.abs(got.v - dense.solve(data, currents).v).max() < 1e-9


def test_the_full_size_local_network_agrees_with_the_dense_solver():
    data = {"x": np.random.default_rng(1).uniform(-1, 1, size=(3, 28, 28, 2))}
    nudge = {"out": np.random.default_rng(2).normal(0, 1e-6, size=(3, 20))}
    mine, dense = (local_network((28, 28, 2), 16, 10, backend=s) for s in ("native-layered", "native-dense"))
    for c in (None, nudge):
        assert np.abs(mine.solve(data, c).v - dense.solve(data, c).v).max() < 1e-9
    assert _solver(mine).sweeps <= 8  # the pools no longer pull on their nets across sweeps


def test_gmin_stepping_sweeps_the_groups_apart_and_agrees():
    """Under a gmin shunt the block stands aside (the shunt is not in its equations)."""
    data, nudge = _batch(3)
    stepped = pooled_net(LayeredBackend(options={"gminsteps": 4}))
    dense = pooled_net("native-dense")
    for c in (None, nudge):
        assert np.abs(stepped.solve(data, c).v - dense.solve(data, c).v).max() < 1e-9


def deeper_pooled_net(backend):
    """Pooling after a second local layer fed by the first one's nets: the block's children
    have another group of nets to answer to (not pendant), and the block is not the first
    group a sweep visits, so the mixing holds its nets: it solves and writes them each sweep."""
    x = InputVoltageLayer(shape=(9, 9, 2), name="x")
    h = LocallyConnected2DLayer(4, 3, name="l1", strides=2, initializer=INIT)(x)
    h = DiodeLayer(name="c1", direction="down", bias_voltage=0.1)(h)
    h = DiodeLayer(name="c2", direction="up", bias_voltage=-0.1)(h)
    h = AmplificationLayer(name="a1", param={"gain": 2.0})(h)
    h = LocallyConnected2DLayer(4, 1, name="l2", initializer=INIT)(h)
    h = DiodeLayer(name="c3", direction="down", bias_voltage=0.1)(h)
    h = DiodeLayer(name="c4", direction="up", bias_voltage=-0.1)(h)
    h = AmplificationLayer(name="a2", param={"gain": 3.0})(h)
    h = AveragePooling2DLayer(2, name="p1", conductance=1e-4)(h)
    h = DenseLayer(units=4, name="d3", initializer=INIT)(FlattenLayer(name="f")(h))
    return Model(inputs=[x], outputs=[CurrentLayer(name="out", fold=True)(h)], backend=backend)


def test_a_block_whose_children_answer_to_another_layer_agrees():
    rng = np.random.default_rng(4)
    data, nudge = {"x": rng.uniform(-1, 1, size=(4, 9, 9, 2))}, {"out": rng.normal(0, 2e-6, size=(4, 4))}
    mine, dense = deeper_pooled_net("native-layered"), deeper_pooled_net("native-dense")
    free = mine.solve(data)
    (block,) = _blocks(mine)
    assert not block.pendant and block.first != 0
    for c, m in ((None, free), (nudge, mine.solve(data, nudge, initial=free.v))):
        assert np.abs(m.v - dense.solve(data, c).v).max() < 1e-9


def _bisect_root(y, s, lo, hi, ep, sb, D, E):
    """The pool voltage (V) where ``D V - E - sum_k sb_k x_k(V)`` vanishes, by bisection."""
    def F(V):
        v_off = y + s * V
        x = v_off - ep * (v_off - np.clip(v_off, lo, hi))
        return D * V - E - sb @ x
    a, b = -1e3, 1e3
    for _ in range(200):
        m = 0.5 * (a + b)
        a, b = (m, b) if F(m) < 0 else (a, m)
    return 0.5 * (a + b)


def test_the_block_kernel_finds_the_root_from_any_start():
    """Random blocks (slopes of either sign), from pool voltages far from the root, where the
    first Newton step crosses breakpoints: the settle path, and the breakpoint search."""
    rng = np.random.default_rng(0)
    B, K, W = 3, 4, 50
    inv = rng.uniform(50, 200, size=(1, K, W))
    sa = rng.uniform(1e-4, 2e-3, size=(K, W)) * rng.choice([-1.0, 1.0], size=(K, W))
    sb = np.abs(sa) * 4.0
    s = sa * inv
    lo, hi = np.full((1, K, W), -0.1), np.full((1, K, W), 0.1)
    ep = np.full((1, K, W), 0.999)
    y0 = rng.normal(0, 0.3, size=(B, K, W))
    DP = (np.abs(sb).sum(axis=0) + rng.uniform(1e-4, 1e-3, size=W))[None]
    cP, KP = rng.normal(0, 1e-3, size=(B, W)), np.zeros((1, W))
    child, pool = np.arange(K * W).reshape(K, W), np.arange(W)
    xL, vP = np.zeros((B, K * W)), rng.normal(0, 5.0, size=(B, W))
    with np.errstate(divide="ignore"):
        inv_s = 1.0 / s
    kernels.pool_block(y0, None, inv, s, inv_s, lo, hi, ep, cP, KP, DP, child, pool, sb, 0.0, xL, vP, None, None, 1,
                       np.empty((B, kernels.ANCHOR_ROWS, W)), np.zeros(B, dtype=bool))
    for b in range(B):
        for w in range(W):
            want = _bisect_root(y0[b, :, w], s[0, :, w], lo[0, :, w], hi[0, :, w], ep[0, :, w], sb[:, w],
                                DP[0, w], cP[b, w])
            assert abs(vP[b, w] - want) < 1e-9 * max(1.0, abs(want))
            v_off = y0[b, :, w] + s[0, :, w] * vP[b, w]
            x = v_off - ep[0, :, w] * (v_off - np.clip(v_off, -0.1, 0.1))
            np.testing.assert_allclose(xL[b, child[:, w]], x, rtol=1e-12, atol=1e-15)
    # the breakpoint search alone, from a far start
    for w in range(W):
        args = (y0[0, :, w].copy(), s[0, :, w].copy(), lo[0, :, w].copy(), hi[0, :, w].copy(), ep[0, :, w].copy(),
                sb[:, w].copy(), DP[0, w], cP[0, w], np.empty(K))
        root = kernels._pool_root(100.0, *args)
        assert abs(root - vP[0, w]) < 1e-9 * max(1.0, abs(root))


def _random_block(rng, B, K, W):
    """A block kernel's arguments with slopes of either sign (children in window order)."""
    inv = rng.uniform(50, 200, size=(1, K, W))
    sa = rng.uniform(1e-4, 2e-3, size=(K, W)) * rng.choice([-1.0, 1.0], size=(K, W))
    sb = np.abs(sa) * 4.0
    s = sa * inv
    with np.errstate(divide="ignore"):
        inv_s = 1.0 / s
    return dict(y0=rng.normal(0, 0.3, size=(B, K, W)), inv=inv, s=s, inv_s=inv_s, lo=np.full((1, K, W), -0.1),
                hi=np.full((1, K, W), 0.1), ep=np.full((1, K, W), 0.999), cP=rng.normal(0, 1e-3, size=(B, W)),
                KP=np.zeros((1, W)), DP=(sb.sum(axis=0) + rng.uniform(1e-4, 1e-3, size=W))[None],
                child=np.arange(K * W).reshape(K, W), pool=np.arange(W), sb=sb)


@pytest.mark.parametrize("crossing, shuffled", [(1, False), (3, False), (40, False), (200, False), (40, True)])
def test_the_block_kernel_is_exact_whether_few_or_many_windows_cross_a_breakpoint(crossing, shuffled):
    """From the root for all windows but ``crossing`` of 200, started far away: few go one by
    one (settle), many take vectorized Newton passes first (a cold start); every pool lands on
    its root either way, and the windows started at their root stay there. ``shuffled``: pool
    nets in another order than their windows (the kernel's indexed loops)."""
    rng = np.random.default_rng(crossing)
    B, K, W = 2, 4, 200
    a = _random_block(rng, B, K, W)
    pool = rng.permutation(W) if shuffled else np.arange(W)
    a["pool"], a["cP"], a["DP"] = pool, a["cP"][:, np.argsort(pool)], a["DP"][:, np.argsort(pool)]
    roots = np.array([[_bisect_root(a["y0"][b, :, w], a["s"][0, :, w], a["lo"][0, :, w], a["hi"][0, :, w],
                                    a["ep"][0, :, w], a["sb"][:, w], a["DP"][0, pool[w]], a["cP"][b, pool[w]])
                       for w in range(W)] for b in range(B)])
    vP = np.empty((B, W))
    vP[:, pool] = roots
    far = rng.choice(W, size=crossing, replace=False)
    vP[:, pool[far]] += rng.choice([-1.0, 1.0], size=(B, crossing)) * rng.uniform(2.0, 5.0, size=(B, crossing))
    xL = np.zeros((B, K * W))
    kernels.pool_block(a["y0"], None, a["inv"], a["s"], a["inv_s"], a["lo"], a["hi"], a["ep"], a["cP"], a["KP"],
                       a["DP"], a["child"], a["pool"], a["sb"], 0.0, xL, vP, None, None, 1,
                       np.empty((B, kernels.ANCHOR_ROWS, W)), np.zeros(B, dtype=bool))
    np.testing.assert_allclose(vP[:, pool], roots, rtol=1e-9, atol=1e-9)
    near = np.setdiff1d(np.arange(W), far)
    np.testing.assert_allclose(vP[:, pool[near]], roots[:, near], rtol=1e-12, atol=1e-13)


def test_a_block_solve_from_its_anchor_is_the_full_solve():
    """After a pass whose every step was exact, a solve for new currents takes one step from it
    (the anchor): the same pools as a full solve when they stay on the anchor's linear pieces,
    and the full solve again when the new currents move them across a breakpoint."""
    rng = np.random.default_rng(7)
    B, K, W = 3, 4, 200
    a = _random_block(rng, B, K, W)
    args = [a[k] for k in ("y0",)] + [None] + [a[k] for k in ("inv", "s", "inv_s", "lo", "hi", "ep")]
    after = [a["KP"], a["DP"], a["child"], a["pool"], a["sb"], 0.0]

    def solve(cP, vP, anchor, anchored):
        xL = np.zeros((B, K * W))
        kernels.pool_block(*args, cP, *after, xL, vP, None, None, 1, anchor, anchored)
        return vP, xL
    anchor, anchored = np.empty((B, kernels.ANCHOR_ROWS, W)), np.zeros(B, dtype=bool)
    vP = rng.normal(0, 5.0, size=(B, W))
    solve(a["cP"], vP, anchor, anchored)      # from far away: some windows settle, no anchor
    solve(a["cP"], vP, anchor, anchored)      # from the root: every step exact, anchored
    assert anchored.all()
    for scale, moved in ((1e-9, False), (1e-2, True)):
        cP = a["cP"] + rng.normal(0, scale, size=(B, W))
        kept_anchor, kept = anchor.copy(), anchored.copy()
        v_anchor, x_anchor = solve(cP, vP.copy(), kept_anchor, kept)
        v_full, x_full = solve(cP, vP.copy(), np.empty((B, kernels.ANCHOR_ROWS, W)), np.zeros(B, dtype=bool))
        np.testing.assert_allclose(v_anchor, v_full, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(x_anchor, x_full, rtol=1e-12, atol=1e-15)
        # a small change keeps the anchor (the solve did not pass over the children again)
        assert np.array_equal(kept_anchor, anchor) != moved
    # two windows pushed off their pieces: settled one by one and anchored afresh, the others
    # from their anchors; then a small change, from the anchors so kept
    kept_anchor, kept = anchor.copy(), anchored.copy()
    for nudge in (1e-2, 1e-9):
        cP = a["cP"].copy()
        cP[:, :2] += nudge
        v_anchor, x_anchor = solve(cP, vP.copy(), kept_anchor, kept)
        v_full, x_full = solve(cP, vP.copy(), np.empty((B, kernels.ANCHOR_ROWS, W)), np.zeros(B, dtype=bool))
        np.testing.assert_allclose(v_anchor, v_full, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(x_anchor, x_full, rtol=1e-12, atol=1e-15)
        assert kept.all()
        changed = np.flatnonzero(np.any(kept_anchor != anchor, axis=(0, 1)))
        assert set(changed) <= {0, 1} and len(changed) > 0  # only the pushed windows re-anchored


def _solved_block(batch, **net):
    """A pooled network's block after a solve of ``batch`` samples: the block, each group's
    voltages (V) and the pools' other currents (A: the output crossbar's, from the final outputs)."""
    model = pooled_net("native-layered", **net)
    op = model.solve(_batch(batch)[0])
    (block,) = _blocks(model)
    solver = _solver(model)
    plan = solver.structure(model.circuit)
    v = [np.array(op.v[:, grp.span]) for grp in plan.groups]
    link = next(l for l, _ in plan.groups[block.pools].links if l is not block.link)
    side, other = ("a", link.b.group) if link.a.group == block.pools else ("b", link.a.group)
    return block, v, solver._bound[None][2][id(link)].from_nets(side, v[other])


def test_the_block_check_catches_a_wrong_child_and_a_wrong_pool():
    block, v, C = _solved_block(2)

    def steps(children, pools):
        return block.check(children, pools, C, None)[0]
    assert steps(v[block.children], v[block.pools]).max() < 1e-9
    wrong = v[block.children].copy()
    wrong[1, 5] += 1e-6
    assert steps(wrong, v[block.pools])[1] > 1e-8 and steps(wrong, v[block.pools])[0] < 1e-9
    wrong = v[block.pools].copy()
    wrong[0, 3] += 1e-6
    assert steps(v[block.children], wrong)[0] > 1e-8


def _reference_check(block, x, vP, C, write):
    """The block check's (Newton step, current) per sample, in net order with plain NumPy."""
    c = block.clamps
    low, high, gd, eps = (np.broadcast_to(np.atleast_2d(a), x.shape) if np.ndim(a) else a for a in c.band)
    D, K = (np.broadcast_to(np.atleast_2d(a), x.shape) for a in (c.D, c.K))
    parent, sa, sb = (np.empty(x.shape[1], t) for t in (np.int64, float, float))
    parent[block.child] = np.broadcast_to(block.pool, block.child.shape)
    sa[block.child], sb[block.child] = block.sa, block.sb
    V = vP[:, parent]
    if write:
        y = (sa * V + K) * (1.0 / D)
        x = y + eps * (np.clip(y, low, high) - y)
    beyond = x - np.clip(x, low, high)
    f = np.abs(D * x - sa * V - K + gd * beyond)
    into = np.zeros_like(vP)
    np.add.at(into.T, parent, (sb * x).T)
    fp = np.abs(block.DP * vP - (C + into) - block.KP)
    step = np.maximum((f / (D + gd * (beyond != 0))).max(1), (fp / block.DP).max(1))
    return step, np.maximum(f.max(1), fp.max(1)), x


def _shuffled_windows(block, seed=0):
    """The same block with its windows in another order (pool net w no longer window w's)."""
    other = copy.copy(block)
    order = np.random.default_rng(seed).permutation(block.pool.size)
    for name in ("child", "pool", "sa", "sb", "D", "lo", "hi", "inv", "ep"):
        setattr(other, name, np.ascontiguousarray(getattr(block, name)[..., order]))
    other.link = copy.copy(block.link)  # its own layout, found afresh
    other.link.__dict__.pop("_check_order", None)
    return other


@pytest.mark.parametrize("write", [False, True])
def test_the_block_check_agrees_with_plain_numpy_in_any_window_order(write):
    block, v, C = _solved_block(3, filters=8)
    children, pools = v[block.children], v[block.pools].copy()
    pools[1] += 1e-7 * np.arange(pools.shape[1])  # off the solution: residuals well above rounding
    shuffled = _shuffled_windows(block)
    assert block.check(children.copy(), pools, C, None)[0].max() > 0 and check_order(block.child, block.pool)[1] > 1
    _, run, pool_order = check_order(shuffled.child, shuffled.pool)
    assert run == 1 and pool_order is not None
    step, amp, x = _reference_check(block, children, pools, C, write)
    for b in (block, shuffled):
        written = children.copy()
        got_step, got_amp = b.check(written, pools, C, None, write=write)
        np.testing.assert_allclose(got_step, step, rtol=1e-12)
        np.testing.assert_allclose(got_amp, amp, rtol=1e-12)
        np.testing.assert_array_equal(written, x)
    children = children.copy()
    children[2, 7] = np.nan
    assert np.isnan(block.check(children, pools, C, None)[0][2])


def test_the_block_check_writes_children_straight_into_their_node_columns_as_the_assembly_would():
    """With node columns, a writing check leaves the children's array as it was and puts each
    child into every column the plan keeps it in (alpha * x + beta), bit for bit what writing
    the array and assembling the nodes from it gives, with the same residuals, in any window
    order; columns no run names stay untouched."""
    block, v, C = _solved_block(3, filters=8)
    children, pools = v[block.children], v[block.pools].copy()
    pools[1] += 1e-7 * np.arange(pools.shape[1])
    n = children.shape[1]
    runs = (np.array([2, n + 5]), np.array([1.0, 4.0]), np.array([0.0, -0.25]))  # a copy, an amplifier
    for b in (block, _shuffled_windows(block)):
        written = children.copy()
        want_step, want_amp = b.check(written, pools, C, None, write=True)
        want = np.full((3, 2 * n + 9), 7.0)
        want[:, 2:2 + n] = written
        np.multiply(written, 4.0, out=want[:, n + 5:2 * n + 5])
        want[:, n + 5:2 * n + 5] += -0.25
        untouched = np.array(children, copy=True) + 1.0  # whatever the state held
        nodes = np.full((3, 2 * n + 9), 7.0)
        got_step, got_amp = b.check(untouched, pools, C, None, write=True, nodes=(nodes, runs))
        np.testing.assert_array_equal(nodes, want)
        np.testing.assert_array_equal(untouched, children + 1.0)
        np.testing.assert_array_equal(got_step, want_step)
        np.testing.assert_array_equal(got_amp, want_amp)


def test_the_block_check_reads_constants_shared_by_every_child_as_numbers_to_the_same_bits(monkeypatch):
    """The check passes a constant that every child shares (the pooling conductances, the
    clamp band here) as one number; as the arrays it was made from it gives the same bits."""
    block, v, C = _solved_block(3, filters=8)
    children, pools = v[block.children], v[block.pools].copy()
    pools[1] += 1e-7 * np.arange(pools.shape[1])
    shared = block._check_constants()
    assert sum(np.ndim(c) == 0 for c in shared) >= 4  # XL, the band's two edges, sa, sb at least
    assert np.ndim(pooled_module._shared(np.array([0.0, -0.0]))) == 1  # signed zeros: not one number
    results = []
    for keep_arrays in (False, True):
        if keep_arrays:
            monkeypatch.setattr(pooled_module, "_shared", lambda x: x)
        written = children.copy()
        results.append(block.check(written, pools, C, None, write=True) + (written,))
    for got, want in zip(*results):
        np.testing.assert_array_equal(got, want)


def test_ep_gradients_through_pooled_blocks_match_finite_differences():
    model = pooled_net("native-layered", seed=1)
    rng = np.random.default_rng(0)
    batch = {"x": rng.uniform(-1, 1, size=(3, 10, 10, 2)), "b": np.tile([1.0, -1.0], (3, 1)),
             "out": rng.choice([-0.02, 0.02], size=(3, 3))}
    names = ("l1", "d2")
    picks = {n: [tuple(int(rng.integers(s)) for s in model.layer(n).g.shape) for _ in range(25)] for n in names}
    fd = finite_differences(model, batch, MSE(), names, picks)
    r = ep_step(model, batch, MSE(), beta=1e-7, symmetric=True)
    ep = np.concatenate([r.grads[n][tuple(np.array(picks[n]).T)] for n in names])
    cos = ep @ fd / np.linalg.norm(ep) / np.linalg.norm(fd)
    assert cos >= 0.99, cos


def test_pooled_circuits_split_batches_over_two_threads_unless_told(monkeypatch):
    pooled, plain = pooled_net("native-layered"), rectified_mlp(8, 4, 2, backend="native-layered")
    monkeypatch.delenv("EBANA_THREADS", raising=False)
    assert auto_threads(LayeredBackend().structure(pooled.circuit)) == 2
    assert auto_threads(LayeredBackend().structure(plain.circuit)) == 1
    assert LayeredBackend().threads is None and LayeredBackend(threads=1).threads == 1
    monkeypatch.setenv("EBANA_THREADS", "1")
    assert LayeredBackend().threads == 1
    data, _ = _batch(160)  # 2 chunks of 80 by default, one with EBANA_THREADS=1
    one = pooled_net(LayeredBackend()).solve(data).v
    monkeypatch.delenv("EBANA_THREADS")
    two = pooled_net(LayeredBackend()).solve(data).v
    assert np.abs(one - two).max() < 1e-11


def test_an_ep_step_beside_the_solvers_own_threads_runs_blas_on_one_thread(monkeypatch):
    """OpenBLAS's idle threads spin after a call and would take a core from the solver's threads:
    an EP step of a pooled circuit (solved in two threads of ebana's pool) runs BLAS on one
    thread; one of a circuit solved in the caller's thread keeps BLAS as the caller set it."""
    from threadpoolctl import threadpool_info, threadpool_limits
    from ebana.backends import RetryingBackend
    monkeypatch.delenv("EBANA_THREADS", raising=False)
    seen = []

    class Watching(MSE):  # the loss is taken inside the step, between the phases
        def __call__(self, y, target):
            seen.append(max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"))
            return super().__call__(y, target)

    pooled = pooled_net(RetryingBackend("native"))
    plain = rectified_mlp(40, 80, 2, backend="native")
    assert pooled.backend.own_threads(pooled.circuit) == 2
    assert plain.backend.own_threads(plain.circuit) == 1
    data, _ = _batch(4)
    plain_batch = {"x": np.random.default_rng(0).uniform(-1, 1, (4, 40)), "out": np.zeros((4, 2))}
    with threadpool_limits(2, user_api="blas"):
        ep_step(pooled, {**data, "out": np.zeros((4, 3))}, Watching(), 1e-6)
        ep_step(plain, plain_batch, Watching(), 1e-6)
    assert seen == [1, 2]


def test_a_block_is_remade_for_new_conductances():
    model = pooled_net("native-layered")
    data, _ = _batch(2)
    model.solve(data)
    (first,) = _blocks(model)
    model.layer("l1").g *= 1.1
    model.solve(data)
    (second,) = _blocks(model)
    assert isinstance(second, PooledBlock) and second is not first


def test_a_pooled_solve_stopped_early_fails_the_kcl_check():
    """Children written from their pools always satisfy their own KCL; a solve stopped early
    (vtol 1 mV) still fails, through the pools and the outputs."""
    from ebana.errors import SimulatorError
    data, _ = _batch(3)
    pooled_net(LayeredBackend()).solve(data)  # converged: passes
    with pytest.raises(SimulatorError, match="KCL check"):
        pooled_net(LayeredBackend(vtol=1e-3, anderson_depth=0)).solve(data)


def test_clamped_nets_no_sweep_reads_keep_their_array_across_phases():
    """A pendant block's clamped nets start a phase from their chunk's last array, as it is (no
    sweep reads them, and the check writes them from the final pools straight into the node
    voltages); the phases still agree with the dense solver."""
    data, nudge = _batch(4, seed=7)
    mine, dense = pooled_net("native-layered"), pooled_net("native-dense")
    free = mine.solve(data)
    solver = _solver(mine)
    (key,) = solver._final
    (block,) = _blocks(mine)
    kept = solver._final[key][block.children]
    held = kept.copy()
    plus = mine.solve(data, nudge, initial=free.v)
    assert solver._final[key][block.children] is kept
    # the check wrote the nudged phase's clamped nets straight into its node voltages, not here
    assert np.array_equal(kept, held)
    assert np.abs(plus.v - dense.solve(data, nudge).v).max() < 1e-9
    assert np.abs(free.v - dense.solve(data).v).max() < 1e-9  # the free result is its own array


def test_a_new_batch_s_block_takes_the_last_one_s_buffers_and_solves_as_a_fresh_one():
    """The block of the next batch (new constants) fills the replaced block's buffers rather than
    fresh memory; it solves exactly as a backend that never saw the first batch."""
    first, second = _batch(4, seed=8)[0], _batch(4, seed=9)[0]
    mine = pooled_net("native-layered")
    mine.solve(first)
    (old,) = _blocks(mine)
    buffers = old.y0, old._anchor
    got = mine.solve(second).v
    (new,) = _blocks(mine)
    assert new is not old and (new.y0, new._anchor) == buffers
    assert np.array_equal(got, pooled_net("native-layered").solve(second).v)
    # a batch of another size gets its own
    mine.solve(_batch(3, seed=10)[0])
    (third,) = [b for b in _blocks(mine) if b.y0.shape[0] == 3]
    assert third.y0 is not buffers[0] and third._anchor is not buffers[1]
