"""A Newton step on a few output nets fed by groups of clamped nets that follow them alone.

In the networks of one rectified hidden layer (``rectified_mlp(n, (h,), m)``, the
Fashion-MNIST default, and ``rectified_local_network``, its ``best`` circuit) the sweeps
alternate between the hidden groups (two halves, each net a band clamp: its diode to ground)
and the output nets. Every hidden net answers to the outputs alone (and to known nodes), so
while each stays on one piece of its clamp, a sweep is an affine map of the outputs:

    v_o' = Phi(v_o) = D_o^-1 (sum_h Om_h^T (s_h * (Pm_h^T v_o + k_h)) + c_o),

with ``Pm_h``, ``Om_h`` the crossbar between half ``h`` and the outputs seen from each side
and ``s_h`` each net's slope on its piece: ``1 / D`` inside the band, ``1 / (D + g_on)`` past
it (V per A). Its fixed point is one ``n_o x n_o`` solve per sample away, as for the pooled
block's outputs (:mod:`.newton`, whose step this shares): ``(I - A) y = f`` with ``A = D_o^-1
sum_h Om_h^T diag(s_h) Pm_h^T`` and ``f`` the outputs' move. The hidden nets then move along
their pieces by what the jump does to their currents, so that the next sweep, on the same
pieces, moves nothing; a net that leaves its piece is re-solved by that sweep, which then
moves, and the outputs jump again.

Anderson's mixing took 5/5/3 sweeps (free, +beta, -beta) on the first and 7/5/4 on
``best``, and mixed a state that held a whole hidden half (2,560 nets a sample in ``best``);
with the step they take 3/2/2, and an EP step of ``best`` about 1.3x less time
(bench/rectified_newton.py). Sweeps visit the outputs last in a cold solve (their move is
the state's last columns) and first in a warm one (the nudged phases sweep from the outputs
back): then the state is the hidden nets, and the outputs' move is what the hidden nets'
move does to them, ``f = D_o^-1 sum_h Om_h^T df_h``; the outputs themselves jump outside
the state. A clamped layer behind amplifiers qualifies too, with few enough outputs
(``PAIRS_PER_OUTPUT``).

The sweeps still decide convergence and the KCL check still judges the result: a jump only
changes how fast a solve ends. Should a jump not shrink the next move by half, Anderson's
mixing takes over for the rest of the solve. Units: V, A, S.
"""
import numpy as np

from .kernels import follow_pieces
from .newton import MAX_OUTPUTS, OutputJump, crossbar_sides, kept_slope_products, output_pairs
from .plan import FIXED

#: the most slope products per output net: a fresh matrix costs ``pairs`` multiply-adds per
#: hidden net and a sweep's two products ``2 n_o``, and the step saves about three sweeps a
#: phase. Measured at batch 128 (bench/rectified_newton.py): 10 outputs, 55 pairs, 1.03-1.11x
#: faster; 20 amplified outputs (the crossbar differs both ways), 400 pairs, 0.87-0.92x.
PAIRS_PER_OUTPUT = 6


def clamp_newton(sweeps, order, v, fallback, gshunt=0.0):
    """A :class:`ClampNewton` for the sweeps' visiting ``order`` and voltages ``v`` (V, per
    group, updated in place), with the mixer ``fallback`` to take over if its jumps stop
    contracting, when it qualifies, else None: no pooled blocks and no gmin shunt; one linear
    group of at most ``MAX_OUTPUTS`` nets visited first or last, every other group a band clamp
    per net (:class:`~.clamps.ClampSolver`) joined to nothing but those outputs (one crossbar,
    folded, shared by the batch, the same matrix both ways for all or for none) and known
    nodes, and the outputs to nothing else; and at most ``PAIRS_PER_OUTPUT`` slope products
    per output net (10 outputs of a rectified layer qualify, 20 behind amplifiers do not)."""
    if gshunt or sweeps.active or len(order) < 2:
        return None
    for out, followers, forward in ((order[-1], order[:-1], True), (order[0], order[1:], False)):
        links = _follower_links(sweeps, out, followers)
        if links is not None:
            return ClampNewton(sweeps, out, followers, links, v, fallback, forward)
    return None


def _follower_links(sweeps, out, followers):
    """The crossbars joining each group of ``followers`` to the outputs ``out``, when they have
    :func:`clamp_newton`'s layout, else None."""
    groups, consts = sweeps.plan.groups, sweeps.consts
    if groups[out].diodes or consts[out][3] is not None or len(groups[out].nets) > MAX_OUTPUTS:
        return None
    links = []
    for h in followers:
        clamps = consts[h][3]
        own = [link for link, _ in groups[h].links if FIXED not in (link.a.group, link.b.group)]
        if clamps is None or clamps.band is None or len(own) != 1 or {own[0].a.group, own[0].b.group} != {h, out}:
            return None
        bl = sweeps.bound[id(own[0])]
        if not bl.folded or bl.per_sample:
            return None
        links.append(own[0])
    theirs = {id(link) for link, _ in groups[out].links if FIXED not in (link.a.group, link.b.group)}
    one_way = {sweeps.bound[id(link)].scaled["a"] is sweeps.bound[id(link)].scaled["b"] for link in links}
    n = len(groups[out].nets)
    pairs = n * (n + 1) // 2 if one_way == {True} else n * n
    if theirs != {id(link) for link in links} or len(one_way) != 1 or pairs > PAIRS_PER_OUTPUT * n:
        return None
    return links


class ClampNewton(OutputJump):
    """:class:`~.newton.OutputJump` for :func:`clamp_newton`'s layout: ``followers``, groups of
    band-clamped nets joined to the outputs ``out`` by ``links`` (one each); ``forward``: the
    outputs are visited last (cold solves), else first (warm solves, swept backward)."""

    def __init__(self, sweeps, out, followers, links, v, fallback, forward):
        self.forward = forward
        self.sides = []  # per follower: (group, Pm contiguous, Om, its nets' pairs (pairs, n_h), (n_h, pairs))
        for h, link in zip(followers, links):
            bl = sweeps.bound[id(link)]
            Pm, Om, symmetric = crossbar_sides(bl, link, h)  # symmetric for every link or none
            pairs, pairs_t, P = output_pairs(bl, Pm, Om, symmetric)
            self.sides.append((h, P, Om, pairs, pairs_t))
        super().__init__(sweeps, out, v, fallback, symmetric)
        # the groups a jump moves outside the mixing state: the one visited first
        self.also_moves = (followers[0],) if forward else (out,)
        # a warm solve's state is the followers side by side, in visiting order
        edges = np.cumsum([0] + [len(sweeps.plan.groups[h].nets) for h in followers])
        self.columns = dict(zip(followers, zip(edges[:-1], edges[1:])))
        self.slopes = None  # per follower, its nets' slopes at the last jump (V/A)

    def _anchored(self):
        """Every sample: a clamp's piece is read from its net's voltage."""
        return np.ones(self.v[self.out].shape[0], dtype=bool)

    def _output_move(self, f):
        """The outputs' move: the state's last columns (cold), or what the followers' moves in
        the state do to the outputs (warm), ``D_o^-1 sum_h df_h @ Om_h`` (V)."""
        if self.forward:
            return super()._output_move(f)
        move = sum(f[:, slice(*self.columns[h])] @ Om for h, _, Om, _, _ in self.sides)
        return move / np.atleast_2d(self.sweeps.consts[self.out][0])

    def _move_outputs(self, y, f_out, g, kept):
        """Cold: the outputs in the state (as ``OutputJump`` moves them); warm: the outputs,
        outside the state, from where the last sweep put them by ``y`` (0 for ``kept``)."""
        if self.forward:
            super()._move_outputs(y, f_out, g, kept)
        else:
            self.v[self.out] += y

    def _jump_matrix(self):
        """``A`` for the clamps' pieces as the last sweep left them, from each follower's slope
        products: ``B x n_h x pairs`` multiply-adds in a chunk's first jump, then updated for
        the nets whose piece changed (:func:`~.newton.kept_slope_products`)."""
        self.slopes = [self.sweeps.consts[h][3].piece_slopes(self.v[h]) for h, *_ in self.sides]
        prod = None
        for s, (h, _, _, pairs, pairs_t) in zip(self.slopes, self.sides):
            # kept on the half's clamps: the chunk's phases share them
            part = kept_slope_products(self.sweeps.consts[h][3], s, pairs, pairs_t)
            prod = part.copy() if prod is None else np.add(prod, part, out=prod)
        return self._assemble(prod)

    def _follow(self, y):
        """Each follower along its pieces by the change of its currents (V; in the state, for the
        groups in it)."""
        for s, (h, Pm, *_) in zip(self.slopes, self.sides):
            follow_pieces(self.v[h], y, Pm, s)
