"""The structure of a layered circuit, found once per circuit, for the layered native solver.

A circuit is *layered* when

* every voltage source is grounded, so the node it holds is known (inputs,
  biases, the bias node of a diode clamp);
* every amplifier output is a driven node, ``V(out) = gain V(in) + shift``: each
  remaining node is a *net* or an affine image ``alpha * V(net) + beta`` of one
  (a chain of amplifiers multiplies the gains);
* the nets fall into *groups*, the nets one layer creates (a node's group is
  its owner's name, ``owner__k``), and no element joins two nets of one group.

Given the voltages of every other group, the nets of one group then decouple:
each obeys one scalar, strictly increasing equation (resistors and diodes are
passive). The solver (:mod:`ebana.backends.layered.backend`) sweeps the groups in circuit
order and solves each group's nets exactly: a nonlinear block Gauss-Seidel.

What couples two groups (or a group to the known nodes) is a :class:`Link`:
the part of one resistor block between them, kept as a dense crossbar when the
block is a full crossbar in C order (``DenseLayer``), as windows when it is a crossbar per
window (``LocallyConnected2DLayer``, pooling; multiplied by :mod:`.windows`), else as a sparse pattern.
Circuits that are not layered raise :class:`NotLayered`; the automatic native
backend then uses the dense solver.
"""
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ...circuit.elements import BehavioralDiode
from ...errors import GraphError

FIXED = -1  # group id of nodes whose voltage is known (source-held, ground, or driven from them)


class NotLayered(Exception):
    """The circuit does not have the layered structure; the message says why."""


@dataclass
class Side:
    """One side of a link, or the diode ends in one group: nodes and what they are.

    nodes: circuit node indices. group: group id, or FIXED.
    loc: for a group side, the local index of each node's net in its group;
        for a fixed side, the index of each node's root in ``LayeredPlan.fixed_nodes``.
    alpha, beta: ``V(node) = alpha * V(root) + beta`` (V/V, V); ``gain`` and ``offset``
        are the same, as scalars when uniform (set from them).
    """
    nodes: np.ndarray
    group: int
    loc: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray
    full: bool = False      # loc == arange(group size): node k belongs to net k
    identity: bool = False  # full, alpha == 1 and beta == 0: the nodes are the nets
    scatter: object = None  # sparse (group size, n) when loc repeats a net
    size: int = 0  # nets in the group (for a fixed side: known nodes)

    def __post_init__(self):
        # a uniform gain or offset (one amplifier layer) as a scalar: one pass less per call
        a, b = np.asarray(self.alpha), np.asarray(self.beta)
        self.gain = float(a.flat[0]) if a.size and np.all(a == a.flat[0]) else a
        self.offset = float(b.flat[0]) if b.size and np.all(b == b.flat[0]) else b

    def values(self, v_root):
        """Node voltages (V), ``(B, n)``, from the root voltages ``(B, n_roots)``."""
        if self.identity:
            return v_root
        # np.take keeps C order (v[:, loc] would be F-ordered, slow to broadcast and sweep)
        x = v_root * self.gain if self.full else np.take(v_root, self.loc, axis=1) * self.gain
        if not (np.isscalar(self.offset) and self.offset == 0.0):
            x += self.offset
        return x

    def add_to(self, target, x):
        """Add per-node currents ``x`` (B, n), already divided by alpha, into the nets of ``target``."""
        if self.full:
            target += x
        elif self.scatter is not None:
            target += (self.scatter @ x.T).T
        else:
            target[:, self.loc] += x


@dataclass
class Link:
    """The resistors of one block between two sides ``a`` and ``b``.

    dense: the resistors form a full ``(len(a.nodes), len(b.nodes))`` crossbar in
        C order, at ``res`` (a slice or index array into the conductance vector);
    else ``rows``/``cols`` give each resistor's a-node and b-node position.
    """
    owner: str
    a: Side
    b: Side
    res: object
    dense: bool
    rows: np.ndarray = None
    cols: np.ndarray = None
    csr_sum: object = None        # sparse (CSR entries, resistors): conductances -> CSR data
    csr_indptr: np.ndarray = None
    csr_indices: np.ndarray = None
    windows: tuple = None  # (a_idx (W, K), F) when the block is a crossbar per window (see _windows)


@dataclass
class DiodeSet:
    """Diodes of one block whose ``end`` lies in one group, at most one per net.

    sign: +1 where the group's node is the anode, -1 where it is the cathode.
    other: the far ends (a Side, FIXED or another group).
    index: the diodes' positions in the circuit's diode arrays.
    behavioral: the block's BehavioralDiode, else None (use the general model).
    """
    end: Side
    other: Side
    sign: np.ndarray
    index: np.ndarray
    behavioral: BehavioralDiode = None


@dataclass
class Group:
    name: str
    nets: np.ndarray                      # circuit node index of each net
    links: list = field(default_factory=list)   # (link, 'a' or 'b') touching this group
    diodes: list = field(default_factory=list)  # DiodeSet
    currents: list = field(default_factory=list)  # (is index array, Side) injections into the nets
    span: object = None  # ``nets`` as a slice when consecutive (views instead of copies)


class LayeredPlan:
    """Groups, links and diode sets of a layered circuit (see the module docstring)."""

    def __init__(self, circuit):
        if circuit.spice_blocks:
            raise NotLayered("the circuit holds an opaque SPICE block")
        for reason in circuit.not_layered.values():
            raise NotLayered(reason)
        self.circuit = circuit
        self._roots(circuit)
        self._groups(circuit)
        self._links(circuit)
        self._diodes(circuit)
        self._sources(circuit)

    # nodes -------------------------------------------------------------------
    def _roots(self, c):
        N = c.n_nodes
        held = np.full(N, -1, dtype=np.int64)   # source holding each node
        held_sign = np.zeros(N)
        for k, (p, n) in enumerate(zip(c.vs_pos, c.vs_neg)):
            if p == n:
                raise GraphError(f"voltage source {c.element_name('vs', k)} is shorted (both ends on one node)")
            if p != 0 and n != 0:
                raise NotLayered(f"voltage source {c.element_name('vs', k)} is floating")
            node, sign = (p, 1.0) if n == 0 else (n, -1.0)
            if held[node] >= 0:
                raise GraphError(f"node {c.node_names[node]!r} is held by two voltage sources "
                                 f"({c.element_name('vs', held[node])} and {c.element_name('vs', k)})")
            held[node], held_sign[node] = k, sign
        driver = np.full(N, -1, dtype=np.int64)  # amplifier driving each node
        for k, out in enumerate(c.amp_out):
            if held[out] >= 0 or out == 0 or driver[out] >= 0:
                raise GraphError(f"amplifier {c.element_name('amp', k)} drives node {c.node_names[out]!r}, "
                                 "which a voltage source, ground or another amplifier already holds")
            driver[out] = k
        # root of every node: follow amplifier inputs back to a known node or a net
        root = np.arange(N)
        alpha, beta = np.ones(N), np.zeros(N)
        for n in range(N):
            node, a, b, seen = n, 1.0, 0.0, 0
            while driver[node] >= 0:
                k = driver[node]
                a, b = a * c.amp_gain[k], b + a * c.amp_shift[k]
                node = c.amp_in[k]
                seen += 1
                if seen > N:
                    raise GraphError("amplifiers form a loop")
            root[n], alpha[n], beta[n] = node, a, b
        fixed = (held >= 0)
        fixed[0] = True
        self.root, self.alpha, self.beta = root, alpha, beta
        self.is_fixed_root = fixed[root]
        self.fixed_nodes = np.flatnonzero(fixed)      # known nodes (ground first)
        self.fixed_src = held[self.fixed_nodes]        # -1 for ground
        self.fixed_sign = held_sign[self.fixed_nodes]
        self.fixed_pos = np.full(N, -1, dtype=np.int64)
        self.fixed_pos[self.fixed_nodes] = np.arange(len(self.fixed_nodes))
        # known node k takes source value vs[fixed_src[k]] * fixed_sign[k]: as runs of slices
        held = np.flatnonzero(self.fixed_src >= 0)
        src, sign = self.fixed_src[held], self.fixed_sign[held]
        breaks = np.flatnonzero((np.diff(held) != 1) | (np.diff(src) != 1) | (np.diff(sign) != 0)) + 1
        self.known_runs = [(slice(int(h[0]), int(h[-1]) + 1), slice(int(s_[0]), int(s_[-1]) + 1), float(sg[0]))
                           for h, s_, sg in zip(np.split(held, breaks), np.split(src, breaks), np.split(sign, breaks))
                           if len(h)]

    def _groups(self, c):
        nets = np.flatnonzero((self.root == np.arange(c.n_nodes)) & ~self.is_fixed_root)
        owners = {}
        for n in nets:
            owners.setdefault(c.node_names[n].split("__")[0], []).append(n)
        # circuit order is layer order (the model lowers parents first)
        self.groups = [Group(name, np.asarray(ns)) for name, ns in sorted(owners.items(), key=lambda kv: kv[1][0])]
        self.group_of = np.full(c.n_nodes, FIXED, dtype=np.int64)
        self.loc_of = np.full(c.n_nodes, -1, dtype=np.int64)
        for gid, g in enumerate(self.groups):
            consecutive = np.array_equal(g.nets, np.arange(g.nets[0], g.nets[0] + len(g.nets)))
            g.span = slice(int(g.nets[0]), int(g.nets[0]) + len(g.nets)) if consecutive else g.nets
            self.group_of[g.nets] = gid
            self.loc_of[g.nets] = np.arange(len(g.nets))
        # every node takes the group and local index of its root
        free = ~self.is_fixed_root
        self.node_group = np.where(free, self.group_of[self.root], FIXED)
        self.node_loc = np.where(free, self.loc_of[self.root], self.fixed_pos[self.root])
        self.assembly = self._assembly(c.n_nodes)

    def _assembly(self, N):
        """How to write every node voltage from its root's: runs ``(group, dst, src, alpha, beta)``,
        with slices where node and root indices are both consecutive (no fancy indexing)."""
        runs = []
        for gid in [FIXED] + list(range(len(self.groups))):
            nodes = np.flatnonzero(self.node_group == gid)
            if not len(nodes):
                continue
            loc = self.node_loc[nodes]
            breaks = np.flatnonzero((np.diff(nodes) != 1) | (np.diff(loc) != 1)) + 1
            for part in np.split(np.arange(len(nodes)), breaks):
                n, l = nodes[part], loc[part]
                a, b = self.alpha[n], self.beta[n]
                a = float(a[0]) if np.all(a == a[0]) else a
                b = float(b[0]) if np.all(b == b[0]) else b
                runs.append((gid, slice(int(n[0]), int(n[-1]) + 1), slice(int(l[0]), int(l[-1]) + 1), a, b))
        return runs

    def whole_runs(self, k):
        """Group ``k``'s node columns as ``(first columns, alphas, betas)`` (arrays, one entry per
        run of the assembly), when every run of it covers all its nets in order with one alpha
        and one beta: node ``first[i] + j`` is ``alpha[i] * net_j + beta[i]``. Else None."""
        cached = self.__dict__.setdefault("_whole_runs", {})
        if k not in cached:
            n = len(self.groups[k].nets)
            runs = [(dst, src, alpha, beta) for gid, dst, src, alpha, beta in self.assembly if gid == k]
            whole = runs and all(src == slice(0, n) and np.isscalar(a) and np.isscalar(b) for _, src, a, b in runs)
            cached[k] = (np.array([dst.start for dst, *_ in runs], dtype=np.int64),
                         np.array([a for *_, a, _ in runs], dtype=float),
                         np.array([b for *_, b in runs], dtype=float)) if whole else None
        return cached[k]

    def side(self, nodes):
        """A :class:`Side` for ``nodes`` (all in one group, or all fixed)."""
        nodes = np.asarray(nodes, dtype=np.int64)
        gid = int(self.node_group[nodes[0]])
        loc, alpha, beta = self.node_loc[nodes], self.alpha[nodes], self.beta[nodes]
        side = Side(nodes, gid, loc, alpha, beta, size=len(self.fixed_nodes))
        if gid != FIXED:
            size = side.size = len(self.groups[gid].nets)
            side.full = len(nodes) == size and np.array_equal(loc, np.arange(size))
            side.identity = side.full and np.all(alpha == 1.0) and np.all(beta == 0.0)
            if len(np.unique(loc)) < len(loc):
                side.scatter = sp.csr_matrix((np.ones(len(loc)), (loc, np.arange(len(loc)))),
                                             shape=(size, len(loc)))
        return side

    # resistors ---------------------------------------------------------------
    def _links(self, c):
        self.links = []
        ga, gb = self.node_group[c.res_a], self.node_group[c.res_b]
        for owner, sl in sorted(c.blocks.get("res", {}).items(), key=lambda kv: kv[1].start):
            idx = np.arange(sl.start, sl.stop)
            x, y = ga[sl], gb[sl]
            inside = (x == y) & (x != FIXED)
            if inside.any():
                r = int(idx[np.argmax(inside)])
                raise NotLayered(f"resistor {c.element_name('res', r)} joins two nets of group "
                                 f"{self.groups[x[r - sl.start]].name!r}")
            # the resistors of each (group, group) pair, pairs in order of first appearance
            # (vectorised: a crossbar of DRN-XL size has 51 M resistors)
            keys = (x + 1) * (len(self.groups) + 1) + (y + 1)
            uniq, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
            order = np.argsort(inverse, kind="stable")
            bounds = np.cumsum(np.bincount(inverse, minlength=len(uniq)))[:-1]
            members = np.split(idx[order], bounds)
            for u in np.argsort(first, kind="stable"):
                link = self._link(c, owner, members[u])
                self.links.append(link)
                for name, s in (("a", link.a), ("b", link.b)):
                    if s.group != FIXED:
                        self.groups[s.group].links.append((link, name))

    def _link(self, c, owner, rs):
        # keep first-appearance order so a crossbar's rows and columns stay in layer order
        a_nodes, a_pos = _appearance_order(c.res_a[rs])
        b_nodes, b_pos = _appearance_order(c.res_b[rs])
        na, nb = len(a_nodes), len(b_nodes)
        dense = len(rs) == na * nb and np.array_equal(a_pos * nb + b_pos, np.arange(len(rs)))
        contiguous = np.array_equal(rs, np.arange(rs[0], rs[0] + len(rs)))
        res = slice(int(rs[0]), int(rs[0]) + len(rs)) if contiguous else rs
        link = Link(owner, self.side(a_nodes), self.side(b_nodes), res, dense)
        if not dense:
            link.rows, link.cols = a_pos, b_pos
            link.windows = _windows(a_pos, b_pos, nb)
            # CSR pattern of the (a, b) pairs; parallel resistors (e.g. several padded window
            # positions to ground) share an entry, summed by ``csr_sum`` (entries x resistors)
            keys, which = np.unique(a_pos.astype(np.int64) * nb + b_pos, return_inverse=True)  # row-major
            rows, cols = keys // nb, keys % nb
            link.csr_indptr = np.searchsorted(rows, np.arange(na + 1)).astype(np.int64)
            link.csr_indices = cols.astype(np.int64)
            link.csr_sum = sp.csr_matrix((np.ones(len(rs)), (which, np.arange(len(rs)))), shape=(len(keys), len(rs)))
        return link

    # diodes ------------------------------------------------------------------
    def _diodes(self, c):
        ends = {"anode": c.d_anode, "cathode": c.d_cathode}
        for block in c.diode_blocks:
            idx = np.arange(block.index.start, block.index.stop)
            an, ca = c.d_anode[idx], c.d_cathode[idx]
            g_an, g_ca = self.node_group[an], self.node_group[ca]
            same = (g_an == g_ca) & (g_an != FIXED)
            if same.any():
                k = idx[np.argmax(same)]
                raise NotLayered(f"diode {c.element_name('diode', k)} joins two nets of one group")
            behavioral = block.model if isinstance(block.model, BehavioralDiode) else None
            for end_name, sign in (("anode", 1.0), ("cathode", -1.0)):
                end = ends[end_name][idx]
                far = ends["cathode" if end_name == "anode" else "anode"][idx]
                g_end, g_far = self.node_group[end], self.node_group[far]
                for gid in np.unique(g_end[g_end != FIXED]):
                    for gfar in np.unique(g_far[g_end == gid]):
                        sel = np.flatnonzero((g_end == gid) & (g_far == gfar))
                        for part in _unique_runs(self.node_loc[end[sel]]):
                            s = sel[part]
                            self.groups[gid].diodes.append(DiodeSet(
                                self.side(end[s]), self.side(far[s]), np.full(len(s), sign), idx[s], behavioral))

    def _sources(self, c):
        g_is = self.node_group[c.is_node]
        for gid in np.unique(g_is[g_is != FIXED]):
            ks = np.flatnonzero(g_is == gid)
            self.groups[gid].currents.append((ks, self.side(c.is_node[ks])))


def _appearance_order(nodes):
    """Unique ``nodes`` in order of first appearance, and each entry's position among them."""
    uniq, first, inverse = np.unique(nodes, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return uniq[order], rank[inverse]


def _windows(a_pos, b_pos, nb):
    """``(a_idx, F)`` when resistor ``r = (w * K + k) * F + f`` joins a-node ``a_idx[w, k]`` to
    b-node ``w * F + f``: a dense (K inputs x F outputs) crossbar per window ``w``, as
    LocallyConnected2DLayer lowers its windows (F filters) and AveragePooling2DLayer its pools
    (F = 1, K pool positions); else None. One comparison of the pattern, no loop over windows."""
    R = len(b_pos)
    again = np.flatnonzero(b_pos[1:] == b_pos[0])
    F = int(again[0]) + 1 if len(again) else R
    if nb % F or R % nb:
        return None
    W, K = nb // F, R // nb
    outputs = np.arange(nb, dtype=b_pos.dtype).reshape(W, 1, F)
    if not np.array_equal(b_pos.reshape(W, K, F), np.broadcast_to(outputs, (W, K, F))):
        return None
    a = a_pos.reshape(W, K, F)
    if not np.array_equal(a, np.broadcast_to(a[:, :, :1], a.shape)):
        return None
    return np.ascontiguousarray(a[:, :, 0], dtype=np.int64), F


def _unique_runs(loc):
    """Split positions of ``loc`` into parts in which no value repeats (k-th occurrences together)."""
    loc = np.asarray(loc)
    occurrence = np.zeros(len(loc), dtype=np.int64)
    seen = {}
    for i, x in enumerate(loc):
        occurrence[i] = seen.get(x, 0)
        seen[x] = occurrence[i] + 1
    return [np.flatnonzero(occurrence == k) for k in range(int(occurrence.max(initial=-1)) + 1)]
