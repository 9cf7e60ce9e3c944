"""Exact elimination of a wired crossbar's inner nodes (backend ``'native-wires'``).

A wired crossbar (:mod:`ebana.layers.wires`) is a linear resistor network
between its *ports* (its input and output nets) through many *inner* nodes
(wire segments and device ends) that nothing else touches. For the block's
nodal matrix ``A`` (S), split into inner ``I`` and port ``P`` rows, the
Schur complement ``Y = A_PP - A_PI A_II^-1 A_IP`` is exactly what the ports
see; ``Y`` is again a resistor network (zero row sums, off-diagonals <= 0), so
the block becomes one resistor ``-Y_pq`` between every pair of ports. The
small circuit that results is solved by the native solver (dense Newton: port
pairs couple a layer's nets), and the inner voltages are recovered exactly,
``V_I = -A_II^-1 A_IP V_P``.

One factorisation of ``A_II`` per block and conductance set, reused by every
sample of the batch and by the EP phases that follow (the last set is kept):
for a tile, the row-block LU of :mod:`ebana.backends.tile_factor` (dense
blocks along the tile's rows; its Schur complement only touches the ports'
own rows), for anything else a sparse LU. Which blocks: those a layer marked
``not_layered`` (wired crossbars); their inner nodes are the nodes touched by
that block's resistors only. A block is eliminated piece by piece, one piece
per connected set of inner nodes (a tile of a tiled crossbar): pieces share
no inner node, so each needs only its own ports (a crossbar of ``n`` tiles
costs about ``n`` times less than solved as one).
"""
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.csgraph as csgraph

from ..circuit.structure import Circuit, kept_blocks
from ..errors import SimulatorError
from .base import Backend, OperatingPoint, Stimulus
from .deferred import DeferredVoltages
from .threads import batch_chunks, default_threads, one_blas_thread, thread_map
from .tile_expand import expand_tile
from .tile_factor import RowBlockFactor, factorize

#: threads for the inner voltages (see :class:`WireEliminatingBackend`), and the fewest
#: samples a thread is given
WIRE_THREADS, MIN_CHUNK = 2, 16
#: largest residual (A) of a factor's own check solve, ``A_II x = 1`` (1 A into every inner
#: node), accepted: by the M-matrix bound x is then within that share of itself, so inner
#: voltages of about 1 V err by about 1e-9 V at most, the KCL check's tolerance
FACTOR_TOL = 1e-9


def pieces(c, res, touched_elsewhere):
    """The resistors ``res`` (indices) grouped by the connected set of inner nodes (nodes not
    ``touched_elsewhere``) they touch; resistors between two ports form one piece of their own."""
    a, b = c.res_a[res], c.res_b[res]
    inner_a, inner_b = ~touched_elsewhere[a], ~touched_elsewhere[b]
    both = inner_a & inner_b
    graph = sp.coo_matrix((np.ones(int(both.sum())), (a[both], b[both])), shape=(c.n_nodes, c.n_nodes))
    _, label = csgraph.connected_components(graph, directed=False)
    which = np.where(inner_a, label[a], np.where(inner_b, label[b], -1))  # -1: port to port
    return [res[which == k] for k in np.unique(which)]


def tile_groups(grid, inner):
    """Row groups of one tile for :class:`~ebana.backends.tile_factor.RowBlockFactor`: per tile
    row, its row line's inner nodes (in line order) and its column-line inner nodes, as
    positions in ``inner`` (circuit nodes of the piece); None when ``grid`` does not cover
    ``inner`` exactly once (a shorted line repeats its node: not a tile of distinct nodes) or
    a row has no column-line node (a row line cut off by shorted accesses: a chain alone)."""
    rows, cols = grid
    where = {int(node): k for k, node in enumerate(inner)}
    groups, seen = [], 0
    for r, c in zip(rows, cols):
        chain = [where[int(x)] for x in r if int(x) in where]
        column = [where[int(x)] for x in c if int(x) in where]
        if chain or column:
            groups.append((chain, column))
            seen += len(chain) + len(column)
    flat = [k for chain, column in groups for k in chain + column]
    tile = seen == len(inner) and len(set(flat)) == seen and all(column for _, column in groups)
    return groups if tile else None


class _Laplacian:
    """The nodal matrix (S) of a piece's resistors between local nodes ``la`` and ``lb`` (inner
    nodes ``0..k-1``, then ports), its pattern found once: for each conductance set only its
    entries are summed (:func:`numpy.bincount`) and its blocks cut by fixed gathers, where a
    sparse matrix built and sliced afresh cost a tile of 64 x 64 about 2 ms of Python. (The
    dense solver's :class:`~ebana.backends.dense.weighted_product.WeightedProduct` does the
    same for its whole Laplacian in SciPy's entry order, to keep SciPy's sums to the bit; the
    tile factor reads sorted blocks instead.)"""

    def __init__(self, la, lb, n, k):
        key = np.concatenate([la, lb, la, lb]) * n + np.concatenate([la, lb, lb, la])
        unique, self.slot = np.unique(key, return_inverse=True)  # row-major: the CSR order
        self.size = len(unique)
        r, c = unique // n, unique % n
        self.parts = {}
        for name, rows, cols in (("ii", r < k, c < k), ("ip", r < k, c >= k), ("pp", r >= k, c >= k)):
            keep = np.flatnonzero(rows & cols)
            r0, c0 = (0 if name != "pp" else k), (0 if name == "ii" else k)
            shape = (k if name != "pp" else n - k, k if name == "ii" else n - k)
            indptr = np.searchsorted(r[keep] - r0, np.arange(shape[0] + 1))
            self.parts[name] = (keep, (c[keep] - c0).astype(np.int32), indptr.astype(np.int32), shape)
        self.pp_rows = r[self.parts["pp"][0]] - k  # A_PP is returned dense

    def blocks(self, g):
        """``A_II``, ``A_IP`` (CSR) and ``A_PP`` (dense), S, for the resistors' conductances ``g`` (S)."""
        data = np.bincount(self.slot, weights=np.concatenate([g, g, -g, -g]), minlength=self.size)
        ii, ip = (sp.csr_matrix((data[keep], indices, indptr), shape=shape)
                  for keep, indices, indptr, shape in (self.parts["ii"], self.parts["ip"]))
        keep, indices, _, shape = self.parts["pp"]
        pp = np.zeros(shape)
        pp[self.pp_rows, indices] = data[keep]
        return ii, ip, pp


@dataclass
class Reduction:
    """What a piece's reduction for one conductance set leaves for its inner voltages and their
    KCL check: the factor of ``A_II`` (:mod:`ebana.backends.tile_factor`; None without inner
    nodes), ``A_II`` and ``A_IP`` (S, sparse), and ``max(A_II^-1 1)`` (Ohm) for the check's
    bound. Its own object, so that a solve whose inner voltages are made later
    (:class:`~ebana.backends.deferred.DeferredVoltages`) makes them with its own conductances
    after the block has been reduced for others."""
    factor: object
    a_ii: object
    a_ip: object
    reach: float


class WireBlock:
    """One piece of a block (see :func:`pieces`): its inner nodes, ports, and its Schur
    complement for a conductance set. ``res``: the piece's resistors (indices); ``tile_of``:
    a node's tile ``(row_nodes, col_nodes)`` of the owner (``Circuit.line_grids``) or None.
    When the piece is such a tile, its inner nodes are numbered row lines first, then column
    lines, and ``A_II`` gets the row-block factor."""

    def __init__(self, c, owner, res, touched_elsewhere, tile_of=lambda node: None):
        self.owner, self.res = owner, res
        a, b = c.res_a[self.res], c.res_b[self.res]
        nodes = np.unique(np.concatenate([a, b]))
        self.inner = nodes[~touched_elsewhere[nodes]]
        self.ports = nodes[touched_elsewhere[nodes]]
        grid = tile_of(self.inner[0]) if len(self.inner) else None
        self.groups = tile_groups(grid, self.inner) if grid is not None else None
        if self.groups is not None:  # number the inner nodes in the factor's order
            order = np.array([k for chain, _ in self.groups for k in chain]
                             + [k for _, column in self.groups for k in column], dtype=np.int64)
            self.inner = self.inner[order]
            cut = np.cumsum([0] + [len(chain) for chain, _ in self.groups])
            start = cut[-1] + np.cumsum([0] + [len(column) for _, column in self.groups])
            self.groups = [(np.arange(cut[i], cut[i + 1]), np.arange(start[i], start[i + 1]))
                           for i in range(len(self.groups))]
        local = np.full(c.n_nodes, -1, dtype=np.int64)
        local[self.inner] = np.arange(len(self.inner))
        local[self.ports] = len(self.inner) + np.arange(len(self.ports))
        self.la, self.lb = local[a], local[b]
        if self.groups is not None:  # the piece fixes A_II's pattern: checked once, here
            k = len(self.inner)
            inner = (self.la < k) & (self.lb < k)
            ends = np.concatenate([self.la[inner], self.lb[inner], np.arange(k)])
            other = np.concatenate([self.lb[inner], self.la[inner], np.arange(k)])
            if not RowBlockFactor.fits(sp.csr_matrix((np.ones(len(ends)), (ends, other)), shape=(k, k)),
                                       self.groups):
                self.groups = None
        self._laplacian = _Laplacian(self.la, self.lb, len(self.inner) + len(self.ports), len(self.inner))
        # for a tile in the factor's order: where its factor and port Schur complement read their
        # entries (from the first reduction: RowBlockFactor.layout_of, port_layout), else None
        self._layout = self._ports = None
        pq = np.triu_indices(len(self.ports), 1)
        self.pair_a, self.pair_b = self.ports[pq[0]], self.ports[pq[1]]
        self._pq = pq
        self._last = None  # (g, pair conductances, Reduction)

    def reduce(self, g):
        """Port-pair conductances (S) for the block's conductances ``g`` (S), and the
        :class:`Reduction` its inner voltages are found with."""
        if self._last is not None and np.array_equal(self._last[0], g):
            return self._last[1], self._last[2]
        k = len(self.inner)
        a_ii, a_ip, y = self._laplacian.blocks(g)
        layout = self._layout if self.groups is not None else None  # no groups: the sparse LU
        factor = factorize(a_ii, self.groups, checked=True, layout=layout) if k else None
        if k:
            if layout is None and isinstance(factor, RowBlockFactor):  # the pattern's, found once
                self._layout = RowBlockFactor.layout_of(a_ii, factor)
                self._ports = factor.port_layout(a_ip) if self._layout is not None else None
            # A_PI A_II^-1 A_IP (A is symmetric: A_PI = A_IP^T)
            schur = factor.schur(a_ip, self._ports)
            y -= schur if schur is not None else a_ip.T @ factor.solve(a_ip.toarray())
        # off-diagonals are <= 0 in exact arithmetic; rounding may leave -1e-20 S of the wrong sign
        pairs = np.maximum(-y[self._pq], 0.0)
        # A_II is a nonsingular M-matrix (every inner node reaches a port through resistors), so
        # A_II^-1 >= 0 entrywise and |A_II^-1 r| <= A_II^-1 |r| <= max|r| * max(A_II^-1 1): a bound
        # on the check's Newton step from the residual alone (x 1.001 against the solve's rounding)
        x = factor.solve(np.ones(k)) if k else np.zeros(0)
        reach = 1.001 * float(x.max()) if k else 0.0
        self._check_factor(x, a_ii)
        reduction = Reduction(factor, a_ii, a_ip, reach)
        self._last = (g.copy(), pairs, reduction)
        return pairs, reduction

    def _check_factor(self, x, a_ii):
        """Raise unless ``x``, the factor's solve of ``A_II x = 1`` (1 A into every inner node),
        leaves a residual within :data:`FACTOR_TOL` (A): by the bound above, ``x`` is then
        within about that share of itself. Once per conductance set, whatever is read later:
        the port-pair conductances come from the same factor, and a solve whose inner
        voltages are never made (readouts only) is checked by this alone."""
        error = float(np.abs(a_ii @ x - 1.0).max(initial=0.0))
        if not error <= FACTOR_TOL:  # NaN fails too
            raise SimulatorError(f"native-wires: the factor of the wire nodes of {self.owner!r} fails its check "
                                 f"(a residual of {error:.3g} A for 1 A into every node, above {FACTOR_TOL:g}): conductances "
                                 "that are not finite, or a matrix too ill-conditioned to solve")

    def expand_into(self, v, rows, reduction, tol=None):
        """Write the inner node voltages (V) of the samples ``rows`` (a slice) into the node
        voltages ``v`` (V, ``(B, N)``), from their ports' there, with ``reduction`` (of
        :meth:`reduce`; see :meth:`inner_voltages`); return the KCL check's step (V) per
        sample. The usual tile in its factor's order takes one compiled pass
        (:func:`~ebana.backends.tile_expand.expand_tile`)."""
        factor = reduction.factor
        arrays = factor.tile_arrays() if factor is not None else None  # None: no inner node
        if arrays is None:
            v[rows, self.inner], step = self.inner_voltages(v[rows, self.ports], reduction, tol)
            return step
        residual, largest = expand_tile(v, rows.start, rows.stop, self.ports, self.inner,
                                        _csr(reduction.a_ip), _csr(reduction.a_ii), *arrays)
        return _newton_step(reduction, residual, tol, largest)

    def inner_voltages(self, v_ports, reduction, tol=None):
        """Inner node voltages (V), ``(B, inner)``, from the ports' ``v_ports`` (V), ``(B, ports)``:
        ``V_I = -A_II^-1 A_IP V_P`` with the ``reduction`` of :meth:`reduce`; and the KCL
        check's step (V) per sample for them (see :meth:`kcl_step`), from the same arrays."""
        if reduction.factor is None:
            return np.zeros((v_ports.shape[0], 0)), np.zeros(v_ports.shape[0])
        f = -(reduction.a_ip @ np.ascontiguousarray(v_ports.T))     # (inner, B), A
        x = reduction.factor.solve(f)
        return x.T, _newton_step(reduction, reduction.a_ii @ x - f, tol)

    def kcl_step(self, v, tol=None):
        """Largest Newton step (V) per sample that KCL at the inner nodes would still ask for,
        from full node voltages ``v`` (B, N) and the last reduction: ``A_II^-1 (A_I. V)``.
        With ``tol`` (V), samples whose bound ``max|A_I. V| max(A_II^-1 1)`` is within it get
        that bound instead (no solve); the others, and every sample without ``tol``, the step."""
        reduction = self._last[2]
        if reduction.factor is None:  # no inner node
            return np.zeros(v.shape[0])
        residual = reduction.a_ii @ v[:, self.inner].T + reduction.a_ip @ v[:, self.ports].T
        return _newton_step(reduction, residual, tol)


def _newton_step(reduction, residual, tol, largest=None):
    """:meth:`WireBlock.kcl_step` from the KCL residual ``(inner, B)`` (A) at a piece's inner
    nodes (and its largest size per sample, when known), with its ``reduction``."""
    step = (np.abs(residual).max(axis=0) if largest is None else largest) * reduction.reach
    solve = np.ones(len(step), dtype=bool) if tol is None else ~(step <= tol)
    if solve.any():
        step[solve] = np.abs(reduction.factor.solve(np.ascontiguousarray(residual[:, solve]))).max(axis=0)
    return step


def _csr(m):
    """A CSR matrix's ``(data, indices, indptr)``, for the compiled kernels."""
    return m.data, m.indices, m.indptr


def _tile_lookup(c, owner):
    """A function from a wire node of ``owner`` to its tile ``(row_nodes, col_nodes)`` (None: no tile)."""
    grids = c.line_grids.get(owner, [])
    tile = np.full(c.n_nodes, -1, dtype=np.int64)
    for k, (rows, cols) in enumerate(grids):  # a tile's own wire nodes are in no other tile
        tile[rows.ravel()] = k
        tile[cols.ravel()] = k
    return lambda node: grids[tile[node]] if tile[node] >= 0 else None


class WireElimination:
    """The reduced circuit of ``circuit`` (every marked block's inner nodes eliminated) and the maps."""

    def __init__(self, circuit):
        c = self.full = circuit
        owners = [o for o in circuit.not_layered if o in circuit.blocks.get("res", {})]
        in_block = np.zeros(c.n_res, dtype=bool)
        for o in owners:
            in_block[c.blocks["res"][o]] = True
        touched = np.zeros(c.n_nodes, dtype=bool)
        touched[0] = True
        for nodes in (c.res_a[~in_block], c.res_b[~in_block], c.vs_pos, c.vs_neg, c.is_node,
                      c.d_anode, c.d_cathode, c.amp_in, c.amp_out):
            touched[nodes] = True
        tile_of = {o: _tile_lookup(c, o) for o in owners}
        self.blocks = [WireBlock(c, o, piece, touched, tile_of[o])
                       for o in owners for piece in pieces(c, np.arange(c.n_res)[c.blocks["res"][o]], touched)]
        self.kept_res = np.flatnonzero(~in_block)
        inner = np.concatenate([b.inner for b in self.blocks]) if self.blocks else np.zeros(0, dtype=np.int64)
        self.present = np.setdiff1d(np.arange(c.n_nodes), inner)
        # the order blocks are expanded in: largest first, so that the threads finish together
        self._largest_first = sorted(range(len(self.blocks)), key=lambda k: -len(self.blocks[k].inner))
        self.circuit = self._reduced(c)

    @property
    def n_inner(self):
        return self.full.n_nodes - len(self.present)

    def _reduced(self, c):
        new = np.full(c.n_nodes, -1, dtype=np.int64)
        new[self.present] = np.arange(len(self.present))
        blocks = {k: dict(v) for k, v in c.blocks.items()}
        blocks["res"] = kept_blocks(c.blocks.get("res", {}), np.isin(np.arange(c.n_res), self.kept_res))
        start = len(self.kept_res)
        for b in self.blocks:  # an owner's pieces are consecutive: its pairs are one slice
            first = blocks["res"][b.owner].start if b.owner in blocks["res"] else start
            blocks["res"][b.owner] = slice(first, start + len(b.pair_a))
            start += len(b.pair_a)
        pa = [new[c.res_a[self.kept_res]]] + [new[b.pair_a] for b in self.blocks]
        pb = [new[c.res_b[self.kept_res]]] + [new[b.pair_b] for b in self.blocks]
        return Circuit(
            node_names=[c.node_names[k] for k in self.present],
            res_a=np.concatenate(pa), res_b=np.concatenate(pb),
            vs_pos=new[c.vs_pos], vs_neg=new[c.vs_neg], vs_value=c.vs_value, is_node=new[c.is_node],
            d_anode=new[c.d_anode], d_cathode=new[c.d_cathode], diode_blocks=list(c.diode_blocks),
            amp_in=new[c.amp_in], amp_out=new[c.amp_out], amp_gain=c.amp_gain, amp_shift=c.amp_shift,
            spice_blocks=[], blocks=blocks)

    def reduce_g(self, g, threads=1):
        """Reduced conductances (S) for one full conductance vector ``g`` (S), and each block's
        :class:`Reduction`; the blocks in ebana's ``threads`` (:func:`~ebana.backends.threads.thread_map`: a
        tile's factor and port sweeps are compiled and release Python's lock)."""
        reduced = thread_map(lambda b: b.reduce(g[b.res]), self.blocks, threads=threads)
        return np.concatenate([g[self.kept_res]] + [pairs for pairs, _ in reduced]), [f for _, f in reduced]

    def expand_v(self, v_red, reductions, tol=None, threads=1):
        """Full node voltages (V) from the reduced ones: inner nodes by ``V_I = -A_II^-1 A_IP V_P``;
        and each block's KCL check step (V) per sample (:meth:`WireBlock.kcl_step`, ``tol``).
        In ebana's ``threads`` (:func:`~ebana.backends.threads.thread_map`): by blocks, each
        with the whole batch, when there are at least as many blocks as threads (a block's
        factor is then read once per phase: the 28x28 wires study's 26 tiles of 64 x 64 at 32
        samples took 49.5 against 65.8 ms a phase in two chunks of the batch); else by chunks
        of the batch of at least ``MIN_CHUNK`` samples. Every sample's voltages are its own,
        and a split changes them by rounding only."""
        B = v_red.shape[0]
        v = np.empty((B, self.full.n_nodes))  # every node is present or some block's inner
        steps = np.empty((len(self.blocks), B))
        v[:, self.present] = v_red
        if len(self.blocks) >= threads:
            chunks = [slice(0, B)]
        else:
            chunks = batch_chunks(B, threads, MIN_CHUNK)

        def expand(item):
            k, rows = item
            steps[k, rows] = self.blocks[k].expand_into(v, rows, reductions[k], tol)
        thread_map(expand, [(k, rows) for k in self._largest_first for rows in chunks], threads=threads)
        return v, steps


class WireEliminatingBackend(Backend):
    """Solve a wired circuit exactly on its reduced circuit (see the module docstring);
    ``inner``: the solver of the reduced circuit (default: the native dense Newton solver).
    ``check_tol``: largest KCL residual at the inner nodes accepted, as the Newton step it
    would cause (V); a sample above it raises SimulatorError naming it.
    ``threads``: the inner voltages are found in this many of ebana's threads
    (:func:`~.threads.thread_map`, each with one BLAS thread), by blocks when there are
    enough of them, else by chunks of the batch (:meth:`WireElimination.expand_v`); the
    whole solve runs with one
    BLAS thread (its products are ``tile x tile`` blocks, which two BLAS threads made
    slower: 587 against 418 ms per EP step of a 128 x 128 tile on the 2-core machine).
    Default ``EBANA_THREADS``, else 2: a fixed number, not the machine's cores, since the
    split moves the voltages by rounding (about 1e-16 V), so the same settings give the same
    results everywhere. A crossbar's tiles are reduced side by side in as many threads: a
    tile's factor and port sweeps are compiled and release Python's lock (each tile's
    reduction is its own, so this changes no result)."""
    name = "native-wires"

    def __init__(self, inner=None, check_tol=1e-9, threads=None):
        from .dense.backend import DenseBackend
        self.inner = inner if inner is not None else DenseBackend()
        self.check_tol = float(check_tol)
        self.threads = (default_threads() or WIRE_THREADS) if threads is None else max(1, int(threads))
        self._plan = None  # (circuit, WireElimination)

    @property
    def solves(self):
        return self.inner.solves

    def plan(self, circuit):
        if self._plan is None or self._plan[0] is not circuit:
            self._plan = (circuit, WireElimination(circuit))
        return self._plan[1]

    def which(self, circuit):
        plan = self.plan(circuit)
        tiles = sum(b.groups is not None for b in plan.blocks)
        others = sum(b.groups is None and len(b.inner) > 0 for b in plan.blocks)
        return (f"{self.name} ({plan.n_inner} wire nodes eliminated exactly: {tiles} tiles by row blocks, "
                f"{others} other pieces by sparse LU; then {self.inner.which(plan.circuit)})")

    def solve(self, circuit, stimulus, initial=None, sample_offset=0):
        with one_blas_thread():
            return self._solve(circuit, stimulus, initial, sample_offset)

    def _solve(self, circuit, stimulus, initial, sample_offset):
        plan = self.plan(circuit)
        g, B = stimulus.g, stimulus.batch_size
        if g.ndim == 1 or all(np.array_equal(g[0], row) for row in g[1:]):
            # one conductance set: the inner voltages are made when read (DeferredVoltages;
            # readouts and warm starts read the reduced circuit's nodes only), and then as they
            # are, with no copy of every node's voltage
            v_red, i_vs, complete = self._solve_rows(plan, stimulus, initial, sample_offset, slice(0, B),
                                                     g if g.ndim == 1 else g[0])
            return OperatingPoint(DeferredVoltages(plan.present, v_red, circuit.n_nodes, complete), i_vs)
        parts = []
        for k in range(B):  # per-sample conductances: one reduction per sample, expanded at once
            _, i_vs, complete = self._solve_rows(plan, stimulus, initial, sample_offset, slice(k, k + 1), g[k])
            parts.append((complete(), i_vs))  # (so that no sample's factors are kept)
        return OperatingPoint(np.concatenate([v for v, _ in parts]), np.concatenate([i for _, i in parts]))

    def _solve_rows(self, plan, stimulus, initial, sample_offset, rows, g_rows):
        """The reduced circuit's node voltages (V) and source currents (A) of the samples ``rows``
        (a slice), which share the conductances ``g_rows`` (S); and a function that makes every
        node's voltage from them (the inner nodes, KCL-checked) with this solve's reductions."""
        g_red, reductions = plan.reduce_g(g_rows, self.threads)
        start = None if initial is None else initial[rows][:, plan.present]
        op = self.inner.solve(plan.circuit, Stimulus(g_red, stimulus.vs[rows], stimulus.isrc[rows]),
                              initial=start, sample_offset=sample_offset + rows.start)
        v_red, samples = op.v, sample_offset + np.arange(rows.start, rows.stop)
        tol, threads = self.check_tol, self.threads  # this solve's settings, also when made later

        def complete():
            with one_blas_thread():  # as the solve ran: made later, maybe outside it
                v, steps = plan.expand_v(v_red, reductions, tol, threads)
            self._check(plan, steps, samples, tol)
            return v
        return v_red, op.i_vs, complete  # sources touch ports only: their currents are the reduced circuit's

    def _check(self, plan, steps, samples, tol=None):
        """Raise for the first block whose KCL step (V, per sample of ``samples``) exceeds ``tol``
        (default check_tol) or is not a number (naming the first such sample)."""
        tol = self.check_tol if tol is None else tol
        for block, step in zip(plan.blocks, steps):
            failed = ~(step <= tol)  # a NaN step fails too (it compares False)
            if failed.any():
                k = int(np.argmax(failed))
                raise SimulatorError(f"native-wires: KCL at the wire nodes of {block.owner!r} fails (a Newton "
                                     f"step of {step[k]:.3g} V remains, above check_tol = {tol:g} V)",
                                     sample=int(samples[k]))

    def close(self):
        self.inner.close()
