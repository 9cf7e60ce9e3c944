"""A pooling net solved together with the clamped nets it averages: one block of 1 + K unknowns.

``AveragePooling2DLayer`` after clamps and amplifiers joins each pool net, through fixed
conductances, to the K amplified nets under it, and those nets to nothing else of their own
layer. Swept as two groups, the pool and its nets pull on each other hard (a pool conductance
of 1e-3 S through a gain of 4 outweighs a window's 98 device conductances), so plain block
Gauss-Seidel needed 11 sweeps where the rest of the circuit needs 4 or 5, each sweep paying
the pooling products both ways. Eliminated together instead, the block is exact in one pass
per sweep: given the pool voltage, every child net is its band clamp's piecewise-linear
function of it, so the pool's KCL is one increasing piecewise-linear equation
(:func:`~.kernels.pool_block`). Once a pass has been exact for every window of a sample, the
solves after it (later sweeps, the nudged phases) take one step from it per window, a pass
over the pools rather than over their children (:func:`~.kernels._pool_from_anchor`).

A pair qualifies when the pool group has no diodes, the clamped group's clamps are the usual
two-sided band (:class:`~.clamps.ClampSolver`), the link between them is a window link of one
output per window (conductances shared by the batch) and every net of both groups sits in
exactly one window. Otherwise the two groups are swept apart, as before. Units: V, A, S.
"""
import numpy as np

from .kernels import ANCHOR_ROWS, pool_block, pool_block_residual, pool_gather
from .plan import FIXED
from .windows import WindowLink

#: the kernel keeps each window's clamp segments in one 64-bit number, two bits per child
MAX_CHILDREN = 31


class PooledBlock:
    """Groups ``first`` and ``second`` of a plan, solved together through the pool link ``link``.

    ``children`` is the group of clamped nets, ``pools`` the group of pool nets (one of each is
    ``first``, the one the sweeps visit; the other, ``second``, is solved with it).
    """

    def __init__(self, link, bound, consts, pendant=False, recycle=None):
        self.link = link
        self.pendant = pendant  # the children hang on their pool alone (and known nodes)
        self.children, self.pools = link.a.group, link.b.group
        self.first, self.second = sorted((self.children, self.pools))
        a_col, b_col, into_children = bound.window_weights("a")
        into_pools = bound.window_weights("b")[2]
        # (K, W): window positions across, so the kernel's loops over windows run over contiguous memory
        self.child = np.ascontiguousarray(a_col.T)                 # child net of each position
        self.pool = np.ascontiguousarray(b_col)                    # (W,) pool net of each window
        self.sa = np.ascontiguousarray(into_children[:, :, 0].T)  # S: pool volt -> child (folded)
        self.sb = np.ascontiguousarray(into_pools[:, :, 0].T)     # S: child volt -> pool
        clamps = self.clamps = consts[self.children][3]
        # the children's constants in window order, (rows, K, W), each with one row or one per sample
        low, high, _, eps = clamps.band
        self.inv, self.lo, self.hi, self.ep, self.D = (np.ascontiguousarray(np.atleast_2d(x)[:, self.child])
                                                       for x in (clamps.inv_off, low, high, eps, clamps.D))
        self.s = np.ascontiguousarray(self.sa * self.inv)
        with np.errstate(divide="ignore"):
            self.inv_s = 1.0 / self.s
        # the block it replaces (the last batch's, in ``recycle``: blocks by ``first``) lends its
        # buffers: 17 MB each at 128 samples, whose fresh pages cost more to fault in than the
        # passes that fill them
        old = (recycle or {}).get(self.first)
        known = self._known_currents()
        first, run = self.check_order()[:2]
        shape = (max(known[0].shape[0], known[1].shape[0], self.inv.shape[0]),) + self.inv.shape[1:]
        self.y0 = pool_gather(*known, self.inv, first, run, _buffer(None if old is None else old.y0, shape))
        self.follow = float(np.abs(self.s).max(initial=0.0))  # the most a child moves per volt of its pool
        self.DP, self.KP = (np.ascontiguousarray(x) for x in consts[self.pools][:2])
        self._zeros = None  # one row of zeros: the pools' currents when nothing else feeds them
        # per sample, the last pass that was exact for every window (kernels.pool_block): the
        # solves after it, within its linear pieces, are one step from it
        self._anchor, self._anchored = None, None
        self._spare_anchor = None if old is None else old._anchor
        #: the slope products of the last Newton matrix made on the block's anchors, with the
        #: slopes they were made for (:mod:`.newton`); None before the first
        self.newton_products = None

    def update(self, C_children, C_pools, v_children, v_pools, change_children=None, change_pools=None,
               children_too=True):
        """Solve the block into ``v_children``, ``v_pools`` (V, in place) for the currents (A) the
        rest of the circuit drives into each group (the pool link excluded; None: none);
        ``change_*`` (or None) receive new minus old. Returns every sample's largest move (V).
        ``children_too`` False: the pool nets only, the children's moves bounded (they must
        follow from the pools alone: ``C_children`` None); :meth:`check` with ``write`` (or
        :meth:`finish`) writes them after the last sweep."""
        B, W = v_pools.shape[0], self.pool.size
        if self._anchor is None or self._anchor.shape[0] != B:  # each sample's last exact pass
            self._anchor = _buffer(self._spare_anchor, (B, ANCHOR_ROWS, W))
            self._anchored, self._spare_anchor = np.zeros(B, dtype=np.bool_), None
        return pool_block(self.y0, C_children, self.inv, self.s, self.inv_s, self.lo, self.hi, self.ep,
                          self._zeros_if_none(C_pools),
                          self.KP, self.DP, self.child, self.pool, self.sb, self.follow, v_children, v_pools,
                          change_children, change_pools, 1 if children_too else 0, self._anchor, self._anchored)

    def check(self, v_children, v_pools, C_pools, extra_pools, write=False, nodes=None):
        """KCL check of both groups at their final voltages (V), for pendant children: the
        pool link's currents from those voltages, the pools' other currents ``C_pools`` (A, as
        their last solve used them, or None) off by at most ``extra_pools`` (A, ``(B, n)``, or
        None). With ``write``, the children are first written from the pools (after sweeps
        that solved the pools only), in the same pass: into ``v_children``, or with ``nodes``
        (the node voltages, V, ``(B, N)``, C order, and the children's columns there as
        :meth:`~.plan.LayeredPlan.whole_runs` gives them) into those columns only. Every
        sample's largest residual as a Newton step (V) and as a current (A)."""
        first, run, pools = self.check_order()
        # the pools' arrays in window order, where pool net w is not window w's
        in_windows = [x if pools is None or x is None else np.ascontiguousarray(x[:, pools])
                      for x in (v_pools, self._zeros_if_none(C_pools), self.KP, self.DP, extra_pools)]
        out, runs = (_NO_NODES, _NO_RUNS) if nodes is None else nodes
        D, XL, lo, hi, inv, ep, sa, sb = self._check_constants()
        return pool_block_residual(v_children, in_windows[0], D, self._known_currents()[0], XL, lo, hi,
                                   self.clamps.band[2], inv, ep, *in_windows[1:], sa, sb, first, run, write, out, *runs)

    def _check_constants(self):
        """The children's constants as :meth:`check` passes them: each one number where every
        child shares it (one pooling conductance and one clamp band for the whole layer, as
        usual), else its array, so that the check's pass streams only the constants that
        differ (3 arrays instead of 8 per child; the kernel alone at 128 samples: 5.8 -> 3.8 ms).
        Found at each check: a pass over the constants, about 1/B of the check's reads."""
        return tuple(_shared(x) for x in (self.D, self._known_currents()[1], self.lo, self.hi, self.inv, self.ep,
                                          self.sa[None], self.sb[None]))

    @property
    def anchored(self):
        """Per sample, whether its anchor holds the last exact pass (``(B,)`` bool), or None
        before the first solve."""
        return self._anchored

    def anchor_slopes(self):
        """Each window's root per ampere of its currents on its anchored piece (1/S, ``(B, W)``,
        a view): :func:`~.kernels._anchor_at`'s inverse slope."""
        return self._anchor[:, 1, :]

    def check_order(self):
        """:func:`check_order` of the block's windows; their layout is the link's, whatever its
        conductances: found once per link."""
        layout = self.link.__dict__.get("_check_order")
        if layout is None:
            layout = self.link.__dict__["_check_order"] = check_order(self.child, self.pool)
        return layout

    def _known_currents(self):
        """The children's currents from known nodes and their clamps' off part (A, ``(rows, n)``
        each, net order), apart: their sum is taken where it is read."""
        return (np.ascontiguousarray(np.atleast_2d(self.clamps.known)),
                np.ascontiguousarray(self.clamps.extra_c))

    def _zeros_if_none(self, C_pools):
        """``C_pools`` (A), or one row of zeros when nothing but the pool link feeds the pools."""
        if C_pools is not None:
            return C_pools
        if self._zeros is None:
            self._zeros = np.zeros((1, self.DP.shape[1]))
        return self._zeros

    def finish(self, C_children, v_children, v_pools):
        """Write the children's voltages (V) for the pool voltages ``v_pools``, after sweeps
        that solved the pools only."""
        # mode 2 reads no pool currents: the pools' constants stand in for them
        pool_block(self.y0, C_children, self.inv, self.s, self.inv_s, self.lo, self.hi, self.ep, self.KP, self.KP,
                   self.DP, self.child, self.pool, self.sb, self.follow, v_children, v_pools, None, None, 2,
                   np.empty((0, ANCHOR_ROWS, 0)), np.zeros(0, dtype=np.bool_))


#: no node columns to write (:meth:`PooledBlock.check`)
_NO_NODES, _NO_RUNS = np.empty((0, 0)), (np.empty(0, dtype=np.int64), np.empty(0), np.empty(0))


def _shared(x):
    """``x`` (a float64 array) as one float when every entry has the same bits (-0.0 and 0.0
    differ, so the arithmetic is the array's to the bit), else ``x``."""
    bits = x.view(np.int64)
    return float(x.flat[0]) if x.size and np.all(bits == bits.flat[0]) else x


def _buffer(spare, shape):
    """``spare`` (an array no one else uses any more, or None) when it has ``shape``, else a
    new array of it; float64, contents undefined."""
    return spare if spare is not None and spare.shape == shape else np.empty(shape)


def check_order(child, pool):
    """How :func:`~.kernels.pool_block_residual` visits a block's children and pools: child
    ``k`` of window ``w`` (net ``child[k, w]``) is net ``first[k, w // run] + w % run``, with
    ``run`` the longest power of two (up to 1024) that divides the windows and holds for every
    ``k``; ``pools``: the pool nets in window order, or None when pool net ``w`` is window ``w``'s."""
    K, W = child.shape
    run = 1
    while run < 1024 and W % (2 * run) == 0:
        runs = child.reshape(K, W // (2 * run), 2 * run)
        if not (runs == runs[:, :, :1] + np.arange(2 * run)).all():
            break
        run *= 2
    first = np.ascontiguousarray(child.reshape(K, W // run, run)[:, :, 0])
    return first, run, None if (pool == np.arange(W)).all() else pool


def pooled_blocks(plan, bound, consts, recycle=None):
    """The qualifying pairs of ``plan`` (see the module docstring) as :class:`PooledBlock`, keyed
    by the group the sweeps visit (``first``); ``recycle``: the blocks they replace (the last
    batch's, which no one uses any more), whose buffers they take."""
    blocks = {}
    for link in candidate_links(plan):
        bl = bound[id(link)]
        clamps = consts[link.a.group][3]
        if (isinstance(bl, WindowLink) and clamps is not None and clamps.band is not None
                and consts[link.b.group][3] is None):
            children = plan.groups[link.a.group]
            pendant = not children.currents and all(l is link or FIXED in (l.a.group, l.b.group)
                                                    for l, _ in children.links)
            block = PooledBlock(link, bl, consts, pendant, recycle)
            blocks[block.first] = block
    return blocks


def candidate_links(plan):
    """The links of ``plan`` whose structure qualifies for a pooled block (made once per plan):
    a window link of one output per window from group A's (amplified) nets to group B's nets,
    every net of both groups in exactly one window, B without diodes, and no other link
    between A and B."""
    cached = plan.__dict__.get("_pooled_links")
    if cached is None:
        cached = plan.__dict__["_pooled_links"] = [link for link in plan.links if _qualifies(plan, link)]
    return cached


def _qualifies(plan, link):
    if link.windows is None or link.windows[1] != 1 or FIXED in (link.a.group, link.b.group):
        return False
    children, pools = plan.groups[link.a.group], plan.groups[link.b.group]
    if pools.diodes or not link.b.identity:
        return False
    between = [l for l, _ in children.links if {l.a.group, l.b.group} == {link.a.group, link.b.group}]
    if len(between) != 1:
        return False
    a_idx = link.windows[0]
    child_nets = link.a.loc[a_idx].ravel()
    return (len(child_nets) == len(children.nets) and len(np.unique(child_nets)) == len(child_nets)
            and a_idx.shape[0] == len(pools.nets) and a_idx.shape[1] <= MAX_CHILDREN)
