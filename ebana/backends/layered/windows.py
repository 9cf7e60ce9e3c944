"""Links whose resistors form a crossbar per window, bound to one batch's conductances.

``LocallyConnected2DLayer`` lowers a dense crossbar per image window: resistor
``(w, k, f)`` joins input node ``a_idx[w, k]`` to output node ``w * F + f``
(:func:`~.plan._windows` finds the pattern). Average pooling is the case
``F = 1``: one output per pool, ``K`` positions. Treated as a generic sparse
matrix, such a link costs scipy products on transposed ``(n, B)`` copies and
fancy-indexed scatters into the nets; here it costs what its conductances do:

* **blocks** (``F >= BLOCK_WIDTH``): gather the patches ``(B, W, K)`` and make one
  matrix product per window (numpy's batched ``matmul``, BLAS per window); the way
  back is the transposed product and a scatter of the window positions onto their
  nodes (windows overlap: :func:`~.kernels.scatter_columns`);
* **entries** (narrow windows, pooling): a batch-major sparse product whose rows are
  the receiving nodes, a few entries each (:func:`~.kernels.gather_rows`), no transposes.

Either way the amplifier gains between two groups are folded in (``from_nets``):
the sweeps give net voltages and receive currents into nets, already divided by
their alpha, as for a folded dense crossbar. Units: V, A, S.
"""
import numpy as np

from .kernels import gather_rows, scatter_columns

#: windows with at least this many outputs are multiplied as dense blocks (one BLAS product each);
#: narrower ones (pooling: 1) entry by entry. Measured on 28x28x2 images, 7x7 windows: 16 filters
#: as blocks 1.4x faster than as entries; 4 filters about even.
BLOCK_WIDTH = 8


class WindowLink:
    """``link`` (a :class:`~.plan.Link` with ``windows``) with conductances ``g`` (S, ``(R,)``,
    shared by the batch), behind the interface of :class:`~.links.BoundLink`.

    ``sums[side]``: each node's total conductance through the link (S), in the side's node
    order. :meth:`toward` works on node voltages, :meth:`from_nets` on the groups' nets.
    """
    per_sample = False
    scaled = None  # no float32 products (:mod:`.precision`): those serve wide dense crossbars
    folded = True  # the sweeps call from_nets and read offset, as for a folded crossbar

    def __init__(self, link, g):
        self.link = link
        self.a_idx, F = link.windows
        W, K = self.a_idx.shape
        self.G = g[link.res].reshape(W, K, F)
        self.blocks = F >= BLOCK_WIDTH
        self.sums = {"b": self.G.sum(axis=1).reshape(W * F),
                     "a": np.bincount(self.a_idx.ravel(), weights=self.G.sum(axis=2).ravel(),
                                      minlength=len(link.a.nodes))}
        self._ways = {}    # (side, on nets) -> how to multiply (see _way)
        self._bounds = {}  # side -> coupling_bound
        self._offset = {}  # side -> offset

    # the interface of BoundLink ---------------------------------------------------
    @property
    def offset(self):
        """``{side: sum_j G_ij beta_j / alpha_i}`` (A) for each node of ``side``: the currents the
        other side's offsets drive (the part of :meth:`from_nets` that does not move)."""
        for side in ("a", "b"):
            if side not in self._offset:
                mine, other = self._sides(side)
                self._offset[side] = self.toward(side, np.atleast_2d(other.beta))[0] / mine.alpha
        return self._offset

    def coupling_bound(self, side):
        """``sum_j |G_ij alpha_j / alpha_i|`` for each node of ``side`` (S): how much a move of 1 V of
        every net on the other side can change the current into it (for the residual check).
        Exact per node (conductances are positive), one product of the link."""
        if side not in self._bounds:
            mine, other = self._sides(side)
            self._bounds[side] = self.toward(side, np.atleast_2d(np.abs(other.alpha)))[0] / np.abs(mine.alpha)
        return self._bounds[side]

    def toward(self, side, u_other):
        """``(B, n_side)``: for each node of ``side``, ``sum_j G_ij u_j`` over the other side's node
        voltages ``u_other`` (V, ``(B, n_other)``), in A."""
        return self._multiply(side, u_other, nets=False)

    def from_nets(self, side, v_other):
        """Currents (A) into the nets of ``side``'s group, divided by their alpha, ``(B, n_nets)``,
        from the other group's net voltages ``v_other`` (V), without ``offset``."""
        return self._multiply(side, v_other, nets=True)

    def leaving(self, side, u_side, u_other):
        """Current (A) leaving each node of ``side`` through the link, ``(B, n_side)``."""
        return u_side * self.sums[side] - self.toward(side, u_other)

    def window_weights(self, side):
        """How this link feeds ``side``'s nets from the other group's nets: ``(a_col, b_col, G)``,
        each window position's net on side a ``(W, K)``, each output's net on side b ``(W * F,)``,
        and the conductances with the amplifier gains folded in (S, ``(W, K, F)``)."""
        way = self._way(side, True)
        return way["a_col"], way["b_col"], way["G"]

    # the products -------------------------------------------------------------------
    def _sides(self, side):
        return (self.link.a, self.link.b) if side == "a" else (self.link.b, self.link.a)

    def _way(self, side, nets):
        """How to multiply in one direction, made once per binding: the link's pattern for that
        direction (:func:`_pattern`, made once per link) with this binding's conductances, the
        gains folded in when ``nets``, and for the entries way the padded weights."""
        key = (side, nets)
        if key in self._ways:
            return self._ways[key]
        patterns = self.link.__dict__.setdefault("_window_patterns", {})
        pattern_key = (side, nets, self.blocks)
        if pattern_key not in patterns:
            patterns[pattern_key] = _pattern(self.link, side, nets, self.blocks)
        way = dict(patterns[pattern_key])
        G = self.G if way["gain"] is None else self.G * way["gain"]
        way["G"] = G
        if not self.blocks:
            weights = np.bincount(way["pair"], weights=G.ravel(), minlength=len(way["pair_row"]))
            data = np.zeros(way["idx"].shape)
            data[way["pair_slot"], way["pair_row"]] = weights
            way["rows"] = (way["idx"], data)
        self._ways[key] = way
        return way

    def _multiply(self, side, u, nets):
        way = self._way(side, nets)
        B = u.shape[0]
        if not self.blocks:  # every row is written
            out = np.empty((B, way["width"]))
            gather_rows(*way["rows"], u, out)  # u may be a view of the mixing state: no copy
            return out
        W, K, F = self.G.shape
        out = None if way["straight"] else np.zeros((B, way["width"]))  # scattered into: zeros
        if side == "b":
            patches = np.take(u, way["a_col"], axis=1)                                     # (B, W, K)
            z = np.empty((B, W, F))
            np.matmul(patches.transpose(1, 0, 2), way["G"], out=z.transpose(1, 0, 2))
            if out is None:  # the outputs are the nodes (nets) in order: the product is the answer
                return z.reshape(B, W * F)
            scatter_columns(z.reshape(B, W * F), way["b_col"], out)
            return out
        y = u.reshape(B, W, F) if way["b_in_order"] else np.take(u, way["b_col"], axis=1).reshape(B, W, F)
        x = np.empty((B, W, K))
        np.matmul(y.transpose(1, 0, 2), way["G"].transpose(0, 2, 1), out=x.transpose(1, 0, 2))
        scatter_columns(x.reshape(B, W * K), way["a_col"].ravel(), out)
        return out


def _pattern(link, side, nets, blocks):
    """What one direction of a window link needs that does not depend on the conductances:
    where each window position reads (``a_col``) and each result goes (``b_col``), the output
    width, whether the outputs are in order, the gain ratio folded into the conductances when
    ``nets`` (None: all gains 1), and for the entries way (``blocks`` False) the padded rows:
    ``idx`` ``(L, rows)``, column per slot (padding: column 0), and per resistor the
    (row, column) pair it adds to (``pair``), each pair's row and slot (resistors joining the
    same two nodes add up, as in a CSR matrix)."""
    a, b = (link.a, link.b) if side == "a" else (link.b, link.a)
    a_idx, F = link.windows
    W, K = a_idx.shape
    a_col = link.a.loc[a_idx] if nets else a_idx                                    # (W, K)
    b_col = link.b.loc if nets else np.arange(W * F)                                # (W * F,)
    gain = None
    if nets and not (np.all(a.alpha == 1.0) and np.all(b.alpha == 1.0)):
        a_alpha = link.a.alpha[a_idx][:, :, None]
        b_alpha = link.b.alpha.reshape(W, 1, F)
        gain = b_alpha / a_alpha if side == "a" else a_alpha / b_alpha
    width = a.size if nets else len(a.nodes)
    way = {"a_col": a_col, "b_col": b_col, "gain": gain, "width": width,
           "straight": side == "b" and np.array_equal(b_col, np.arange(width)),
           "b_in_order": np.array_equal(b_col, np.arange(b.size if nets else len(b.nodes)))}
    if not blocks:
        shape = (W, K, F)
        rows = np.broadcast_to(b_col.reshape(W, 1, F), shape) if side == "b" else np.broadcast_to(a_col[:, :, None], shape)
        cols = np.broadcast_to(a_col[:, :, None], shape) if side == "b" else np.broadcast_to(b_col.reshape(W, 1, F), shape)
        n_cols = int(cols.max(initial=-1)) + 1
        pairs, pair = np.unique(rows.ravel() * n_cols + cols.ravel(), return_inverse=True)  # row-major, as CSR
        pair_row, pair_col = pairs // max(n_cols, 1), pairs % max(n_cols, 1)
        counts = np.bincount(pair_row, minlength=width)
        first = np.concatenate([[0], np.cumsum(counts)[:-1]])
        pair_slot = np.arange(len(pairs)) - first[pair_row]
        idx = np.zeros((int(counts.max(initial=0)), width), dtype=np.int64)
        idx[pair_slot, pair_row] = pair_col
        way.update(idx=idx, pair=pair.ravel(), pair_row=pair_row, pair_slot=pair_slot)
    return way
