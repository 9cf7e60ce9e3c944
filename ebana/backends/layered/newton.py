"""A Newton step on a few output nets fed by a pooled block, in place of Anderson's mixing.

In the local image network the sweeps alternate between two parts: a pooled block
(:mod:`.pooled`: 4,096 pool nets, each with its clamped children) and the 20 output nets that
read the pools through one crossbar. Swept in turn, the two converge linearly, each sweep
shrinking the error about tenfold: a free phase took 9 sweeps, a nudged one 5, at 3 ms each
per chunk of 64 samples. Yet the sweeps' state is the outputs alone (the block is recomputed
from them in every sweep), and once the block's pools are anchored (each pool's root a linear
function of its currents while no child crosses a breakpoint,
:func:`~.kernels._pool_from_anchor`), one sweep is an affine map of the outputs:

    v_o' = Phi(v_o) = D_o^-1 (Om^T (root + inv * (Pm^T v_o + k)) + c_o),

with ``Pm``, ``Om`` the crossbar seen from each side (:meth:`~.links.BoundLink.from_nets`) and
``inv`` the anchors' inverse slopes. Its fixed point is one small solve per sample away:
``(I - A) y = f`` with ``A = D_o^-1 Om^T diag(inv) Pm^T`` (``n_o x n_o``) and ``f`` the last
sweep's move of the outputs; the outputs then move by ``y``, and the pools by what their
anchors say that move does to them, so that the next sweep, on the same pieces, moves nothing.
A window whose root leaves its piece is re-anchored by that sweep, which then moves, and the
outputs jump again. ``A`` costs one product over the pools per sample (``B x W x n_o (n_o + 1)
/ 2`` multiply-adds, 1.8 ms at 64 samples) for a block's first jump; later jumps update that
product for the windows re-anchored since (:meth:`OutputNewton._slope_products`), and a
nudged phase's first jump takes the free phase's last matrix as it is (the nudge keeps most
anchors, and the sweeps judge the jump). A free phase now takes 3 sweeps (the cold one, then
two after jumps), a nudged one 2.

The sweeps still decide convergence and the KCL check still judges the result: a jump can
only change how fast a solve ends, not where. Should a jump not shrink the next sweep's move
by half, Anderson's mixing takes over for the rest of the solve.

The step itself, for any outputs whose feeding nets follow them alone, is :class:`OutputJump`;
:mod:`.clamp_newton` takes it to the outputs of one rectified hidden layer. Units: V, A, S.
"""
import threading

import numpy as np

from .kernels import update_slope_products
from .plan import FIXED

#: output nets above which the per-sample matrices would cost more than the sweeps they save
MAX_OUTPUTS = 64
#: a jump that leaves more than this share of the move before it: no more jumps
GIVE_UP = 0.5
#: a sample whose slopes changed in more than 1 / FRESH_SHARE of the windows since the last
#: matrix gets a fresh product rather than one update per window
FRESH_SHARE = 16
_pairs_lock = threading.Lock()


def output_newton(sweeps, order, v, fallback, warm=False):
    """An :class:`OutputNewton` for the sweeps' visiting ``order`` and voltages ``v`` (V, per
    group, updated in place), with the mixer ``fallback`` to take over if its jumps stop
    contracting, when it qualifies, else None (``warm``: the solve starts from the block's last
    one, see :meth:`OutputNewton._jump_matrix`): a pendant pooled block visited first, its pool
    net ``w`` window ``w``'s (as pooling layers make them), then one linear group of at most
    ``MAX_OUTPUTS`` nets joined to nothing but the block's pools (one crossbar, folded, shared by
    the batch) and known nodes; the pools joined to nothing but it."""
    if len(order) != 2 or order[0] not in sweeps.active:
        return None
    block, out = sweeps.active[order[0]], order[1]
    groups = sweeps.plan.groups
    if not block.pendant or block.check_order()[2] is not None or groups[out].diodes \
            or sweeps.consts[out][3] is not None or len(groups[out].nets) > MAX_OUTPUTS:
        return None
    outer = [link for link, _ in groups[block.pools].links if link is not block.link]
    if len(outer) != 1 or {outer[0].a.group, outer[0].b.group} != {block.pools, out}:
        return None
    link = outer[0]
    if any(l is not link and FIXED not in (l.a.group, l.b.group) for l, _ in groups[out].links):
        return None
    bl = sweeps.bound[id(link)]
    if not bl.folded or bl.per_sample:
        return None
    return OutputNewton(sweeps, block, out, link, v, fallback, warm)


class OutputJump:
    """Newton's step on ``n`` output nets that a sweep computes from groups which themselves
    follow the outputs alone, as a mixer of the sweeps' state (:meth:`mix`, the interface of
    :class:`~.anderson.Anderson`). A subclass says which samples it can jump
    (``_anchored``), makes the matrix ``A`` of one sweep's linear map of the outputs
    (``_jump_matrix``, from the slope products ``_assemble`` takes) and moves the groups
    that follow the outputs along their pieces (``_follow``). ``symmetric``: the crossbar to
    the outputs is the same matrix both ways (:func:`crossbar_sides`), so the products are
    the upper triangle's."""

    def __init__(self, sweeps, out, v, fallback, symmetric):
        self.sweeps, self.out, self.v, self.fallback = sweeps, out, v, fallback
        self.n = len(sweeps.plan.groups[out].nets)
        self.symmetric = symmetric
        self.last = None  # every sample's largest output move before the last jump (V)
        self.given_up = False

    def mix(self, f, g):
        """Jump the outputs to the fixed point of the sweep on the pieces it ended on; ``f`` and
        ``g`` are the last sweep's move and image of the state (V, ``(B, n_state)``, ``g`` in
        place). After a jump that did not contract, the ``fallback`` mixer (Anderson's) takes
        over. Returns whether it jumped (or the fallback mixed)."""
        f_out = self._output_move(f)
        size = np.abs(f_out).max(axis=1, initial=0.0)
        if self.last is not None and np.any(size > GIVE_UP * self.last):
            self.given_up = True
        if self.given_up:
            return self.fallback.mix(f, g)
        self.last = size
        anchored = self._anchored()
        if anchored is None or not anchored.any():
            return False
        try:
            y = np.linalg.solve(np.eye(self.n) - self._jump_matrix(), f_out[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:  # a singular matrix: the sweeps go on without jumps
            self.given_up = True
            return self.fallback.mix(f, g)
        kept = ~anchored | ~np.isfinite(y).all(axis=1)  # these samples keep the sweep's image
        y[kept] = 0.0
        self._follow(y)
        self._move_outputs(y, f_out, g, kept)
        return True

    def _output_move(self, f):
        """The outputs' part of the state's move ``f``: its last ``n`` columns (V)."""
        return f[:, f.shape[1] - self.n:]

    def _move_outputs(self, y, f_out, g, kept):
        """Put the outputs, the last ``n`` columns of the image ``g`` (V, in place), where the
        jump ``y`` says (the last sweep's start plus ``y``); ``kept`` samples stay as swept."""
        y[kept] = f_out[kept]
        g[:, g.shape[1] - self.n:] += y - f_out

    def _assemble(self, prod):
        """``A`` (``(B, n, n)``: how one sweep on the same pieces moves the outputs per volt of
        theirs) from the slope products ``prod`` (``(B, pairs)``, :func:`output_pairs`' order)."""
        n = self.n
        A = np.empty((prod.shape[0], n, n))
        if self.symmetric:
            iu = np.triu_indices(n)
            A[:, iu[0], iu[1]] = prod
            A[:, iu[1], iu[0]] = prod
        else:
            A[:] = prod.reshape(-1, n, n)
        A /= np.atleast_2d(self.sweeps.consts[self.out][0])[:, :, None]  # the outputs' diagonal (S)
        return A


class OutputNewton(OutputJump):
    """:class:`OutputJump` for :func:`output_newton`'s layout: the outputs fed by a pendant
    pooled block, whose pools follow them along their anchors."""

    def __init__(self, sweeps, block, out, link, v, fallback, warm=False):
        self.block = block
        self.also_moves = (block.pools,)  # groups outside the state that a jump moves
        bl = sweeps.bound[id(link)]
        self.Pm, Om, symmetric = crossbar_sides(bl, link, block.pools)
        super().__init__(sweeps, out, v, fallback, symmetric)
        self.pairs, self.pairs_t, _ = output_pairs(bl, self.Pm, Om, symmetric)
        self.inherit = warm  # the first jump takes the last solve's matrix

    def _anchored(self):
        return self.block.anchored

    def _follow(self, y):
        """The pools along their anchors' lines (window order), by the change of their currents."""
        dp = y @ self.Pm
        dp *= self.block.anchor_slopes()
        self.v[self.block.pools] += dp

    def _jump_matrix(self):
        """``A`` for this jump: the first jump of a warm solve (a nudged phase from the free
        one) takes the last matrix made on the block, whose anchors the nudge mostly keeps;
        every other jump makes it afresh for the anchors as they are (a free phase's second
        jump on its first jump's matrix needed a fourth sweep)."""
        kept, inherit, self.inherit = self.block.newton_products, self.inherit, False
        if inherit and kept is not None and kept[0].shape[0] == self.v[self.out].shape[0]:
            return self._assemble(kept[0])  # the products the last matrix was made from, as they are
        return self._matrix()

    def _matrix(self):
        """``A`` (``(B, n_o, n_o)``): how one anchored sweep moves the outputs per volt of theirs,
        for the block's anchors as they are."""
        return self._assemble(self._slope_products())

    def _slope_products(self):
        """The anchors' slopes times the window pairs, ``(B, pairs)`` (:func:`kept_slope_products`,
        kept on the block: a fresh product over the pools is 6 ms at 128 samples, and 0.2 % of
        the windows are re-anchored between a free phase's jumps)."""
        return kept_slope_products(self.block, self.block.anchor_slopes(), self.pairs, self.pairs_t)


def kept_slope_products(holder, slopes, pairs, pairs_t):
    """``slopes @ pairs.T`` (``(B, pairs)``; ``pairs`` and its transpose ``pairs_t`` as
    :func:`output_pairs` gives them), kept as ``holder.newton_products`` with the slopes it
    was made for, and updated for the entries whose slope changed since, except in a sample
    where more than 1 / FRESH_SHARE of them did (a product is then cheaper).

    The first time, every sample starts from the first sample's product where the first two
    samples share their pieces but for 1 / FRESH_SHARE of them: in the local image network
    about 80 of a sample's 4,096 windows differ from the first sample's on Fashion-MNIST
    images, so each sample's update is a few rows where its own product was ``W x pairs``
    multiply-adds (5 to 7 ms of a 128-sample free phase). A rectified layer's pieces differ in
    about a quarter of its nets: each sample gets its own product at once."""
    kept = holder.newton_products
    most = slopes.shape[1] // FRESH_SHARE
    if kept is None or kept[0].shape[0] != slopes.shape[0]:
        if len(slopes) < 2 or np.count_nonzero(slopes[1] != slopes[0]) > most:
            holder.newton_products = kept = (slopes @ pairs.T, slopes.copy())
            return kept[0]
        first = slopes[:1]  # broadcast copies: np.repeat holds Python's lock (the other chunk waits)
        holder.newton_products = kept = (np.broadcast_to(first @ pairs.T, (len(slopes), len(pairs))).copy(),
                                         np.broadcast_to(first, slopes.shape).copy())
    prod, seen = kept
    redo = update_slope_products(prod, seen, slopes, pairs_t, most)
    if redo.any():
        prod[redo] = slopes[redo] @ pairs.T
        seen[redo] = slopes[redo]
    return prod


def crossbar_sides(bl, link, fed):
    """The folded crossbar ``bl`` of ``link`` between the outputs and the group ``fed``, seen from
    each side: ``Pm`` (``c_fed = v_out @ Pm``) and ``Om`` (``C_out = v_fed @ Om``; A, divided by
    alpha, as :meth:`~.links.BoundLink.from_nets` makes them), and whether they are one matrix."""
    if link.a.group == fed:
        return bl.scaled["a"].T, bl.scaled["b"], bl.scaled["a"] is bl.scaled["b"]
    return bl.scaled["b"], bl.scaled["a"].T, bl.scaled["a"] is bl.scaled["b"]


def output_pairs(bl, Pm, Om, symmetric):
    """Per net ``w`` fed by the outputs (a pool net, window ``w``'s, or a clamped net), the
    products ``Om[w, o] Pm[o', w]`` (``(pairs, W)``; the upper triangle, row by row, when the
    crossbar is the same both ways), the same as ``(W, pairs)``, and ``Pm`` contiguous (for
    :func:`~.kernels.follow_pieces`), made once per bound crossbar ``bl`` (the chunks' threads
    share them: the first makes them, the other waits)."""
    with _pairs_lock:
        cached = bl.__dict__.get("_newton_pairs")
        if cached is not None:
            return cached
        # rows of the matrix by rows of W: contiguous writes (columns of (W, pairs) took 4 ms)
        O, P = np.ascontiguousarray(Om.T), np.ascontiguousarray(Pm)  # (n_o, W): pool net w is window w
        n, W = O.shape
        pairs = np.empty((n * (n + 1) // 2 if symmetric else n * n, W))
        start = 0
        for i in range(n):  # row i of the matrix: columns i.. (upper triangle) or all
            first = i if symmetric else 0
            np.multiply(O[i], P[first:], out=pairs[start:start + n - first])
            start += n - first
        cached = bl.__dict__["_newton_pairs"] = (pairs, np.ascontiguousarray(pairs.T), P)
        return cached
