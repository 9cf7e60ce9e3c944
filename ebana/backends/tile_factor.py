"""Exact solves with a wired tile's inner nodal matrix, by block elimination along the tile's rows.

A tile of a wired crossbar (:mod:`ebana.layers.wires`) has two inner nodes per device
``(i, j)``: ``a[i, j]`` on row line ``i`` and ``b[i, j]`` on column line ``j``. A row line is a
chain along ``j``, a column line a chain along ``i``, and the device joins ``a[i, j]`` to
``b[i, j]``. Grouped by tile row (``i``), the inner nodal matrix ``A`` (S) has

* within row ``i``: the row line's chain ``A_aa(i)`` (tridiagonal), the devices ``A_ab(i)``
  and the column-line nodes' own block ``A_bb(i)``;
* between rows ``i`` and ``i + 1``: column-line segments only (``b`` to ``b``).

Eliminating each row's chain (a tridiagonal solve) leaves, on the column-line nodes, a block
tridiagonal matrix with dense diagonal blocks ``M_i = A_bb(i) - A_ba(i) A_aa(i)^-1 A_ab(i)``.
Block LU along the rows (Thomas' algorithm on blocks) factors it with one dense inverse per
row, ``S_i = M_i - L_i S_(i-1)^-1 L_i^T`` (``L_i``: the segments from row ``i - 1`` to row
``i``): about ``rows * cols^3`` multiply-adds, all dense BLAS. A solve then costs
``2 * rows * cols^2`` multiply-adds per right-hand side, plus two tridiagonal solves. For
the usual tile (one device per chain node, aligned with the columns) the loop over the rows
and the port Schur complement's sweeps are compiled, so a tile's reduction releases
Python's lock and tiles are reduced side by side (:mod:`ebana.backends.eliminate`). A
general sparse LU of the same two-layer grid fills in far more (``tile = 128``: 1.8 M
non-zeros, and ten times the time; see docs/wires.md).

Every ``S_i`` is a Schur complement of a symmetric positive definite matrix, hence symmetric
positive definite; devices are weak next to wire segments, so ``S_i`` stays near the column
lines' own segment conductances and its explicit inverse is well conditioned. The wire
backend's KCL check verifies every solution it returns all the same.

:func:`factorize` builds the block factor when the matrix has exactly this pattern for the
groups given, and a general sparse LU otherwise (shorted lines, a tile of one row, a piece
that is not a tile). Units: S for the matrix, whatever the right-hand side carries.
"""
from dataclasses import dataclass

import numba
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .lapack import spd_inverse

_jit = numba.njit(cache=True, nogil=True)


class SparseLU:
    """A general sparse LU (SuperLU) behind the interface of :class:`RowBlockFactor`."""
    kind = "sparse LU"

    def __init__(self, a):
        self.n = a.shape[0]
        self._lu = spla.splu(sp.csc_matrix(a)) if self.n else None

    def tile_arrays(self):
        """None: a sparse LU has none of the usual tile's arrays (:meth:`RowBlockFactor.tile_arrays`)."""
        return None

    def solve(self, f):
        """``A^-1 f`` for ``f`` of shape ``(n,)`` or ``(n, k)``, C-contiguous."""
        f = np.asarray(f, dtype=float)
        return np.ascontiguousarray(self._lu.solve(f)) if self._lu is not None else np.zeros_like(f)

    def schur(self, e, ports=None):
        """``E^T A^-1 E`` (dense ``(m, m)``) for a sparse ``E`` of shape ``(n, m)`` (``ports``:
        unused, as :meth:`RowBlockFactor.schur` takes it)."""
        e = sp.csr_matrix(e)
        return np.asarray(e.T @ self.solve(e.toarray())) if self.n else np.zeros((e.shape[1],) * 2)


class RowBlockFactor:
    """Block LU of a tile's inner nodal matrix along its rows (see the module docstring).

    Build it with :meth:`build`, which returns None when the matrix does not have the
    pattern: ``groups`` is a list, one per tile row in line order, of ``(chain, column)``
    index arrays into the matrix: the row line's nodes in chain order, and the row's
    column-line nodes, as many in every row, in the same column order. Solves are fastest
    when the indices run ``chain 0, chain 1, ..., column 0, column 1, ...`` (then the matrix
    is not permuted at all)."""
    kind = "row-block LU"

    @classmethod
    def build(cls, a, groups, check=True):
        """The factor of ``a`` (S) for ``groups``, or None when ``a`` does not have the pattern.
        ``check=False`` skips the pattern check: for a matrix whose pattern already passed it."""
        if check and not cls.fits(a, groups):
            return None
        return cls(sp.csr_matrix(a), *_split(groups))

    @staticmethod
    def fits(a, groups):
        """True when ``a`` (square, sparse, symmetric) has the pattern this factor needs for ``groups``."""
        a = sp.csr_matrix(a)
        return bool(a.shape[0] and groups and _fits(a, *_split(groups)))

    def __init__(self, a, chains, columns):
        self.n = a.shape[0]
        order_a, order_b = np.concatenate(chains), np.concatenate(columns)
        self.n_a = na = len(order_a)
        order = np.concatenate([order_a, order_b])
        self.order = None if np.array_equal(order, np.arange(self.n)) else order
        p = a if self.order is None else a[order][:, order]
        rows, cols = len(columns), len(columns[0])
        self.cols = cols
        self.cuts = cols * np.arange(rows + 1)
        self.chain_cuts = np.cumsum([0] + [len(c) for c in chains])
        # the row group of every (permuted) index, chains first
        self.group = np.concatenate([np.repeat(np.arange(rows), np.diff(self.chain_cuts)),
                                     np.repeat(np.arange(rows), cols)])
        # every row's chain as one tridiagonal matrix (chains do not touch: 0 between them),
        # factored once (Thomas: no pivoting, the chain matrix is diagonally dominant)
        aa = p[:na, :na]
        self.thomas = _thomas_factor(np.concatenate([[0.0], aa.diagonal(-1)]), aa.diagonal().copy(),
                                     np.concatenate([aa.diagonal(1), [0.0]]))
        self.a_ab = _diagonal_or_sparse(p[:na, na:])
        self.a_ba = _diagonal_or_sparse(p[na:, :na])
        # block LU of M along the rows: S_i^-1 (rows, cols, cols), with M_i's own part and the
        # column segments from row i-1 to row i as vectors (the pattern puts them on diagonals)
        bb = p[na:, na:]
        own = bb.diagonal().reshape(rows, cols)
        self.links = np.zeros((rows, cols))
        self.links[1:] = bb.diagonal(-cols).reshape(rows - 1, cols)
        devices = None if isinstance(self.a_ab, np.ndarray) else _BlockEntries(
            p[:na, na:], self.group[:na], self.chain_cuts[self.group[:na]], self.group[na:],
            self.cuts[self.group[na:]], rows)
        self._factor_rows(own, devices)

    def _factor_rows(self, own, devices):
        """The chains' inverses and the block LU's ``S_i^-1``, from the column-line nodes'
        diagonal ``own`` (S, ``(rows, cols)``) and ``devices`` (``A_ab`` by row, None when it is
        an aligned diagonal)."""
        rows, cols, na = len(own), self.cols, self.n_a
        lengths = np.diff(self.chain_cuts)
        # each chain's dense inverse, all at once: the stacked chains against stacked identities
        eye = np.zeros((na, int(lengths.max(initial=0))))
        eye[np.arange(na), np.arange(na) - np.repeat(self.chain_cuts[:-1], lengths)] = 1.0
        stacked = _thomas_solve(*self.thomas, eye)
        self.chain_inverse = [stacked[self._chain(i), :lengths[i]] for i in range(rows)]
        # the usual tile (one device per chain node, every chain a row of the columns): compiled
        # in one pass over the rows, without Python's lock (tiles may be reduced side by side)
        self.aligned = devices is None and bool(np.all(lengths == cols))
        #: the chains' inverses as one ``(rows, cols, cols)`` array, for the usual tile (else None)
        self.chain_inverse_stack = stacked.reshape(rows, cols, cols) if self.aligned else None
        self.inverse = None
        if self.aligned:
            try:
                self.inverse = _aligned_block_lu(own, self.a_ab.reshape(rows, cols), self.chain_inverse_stack,
                                                 self.links)
            except np.linalg.LinAlgError:  # a block not positive definite (rounding): row by row below
                self.inverse = None
        if self.inverse is None:
            self.inverse = np.empty((rows, cols, cols))
            previous = np.zeros((cols, cols))
            for i in range(rows):
                previous = self.inverse[i] = _inverse(
                    _row_block(own[i], self._through_chain(i, devices), self.links[i], previous))

    @classmethod
    def from_layout(cls, a, layout):
        """The factor of ``a`` (CSR, S) of the pattern ``layout`` was made for
        (:meth:`layout_of`), from gathers of its entries: no sparse slicing."""
        self = cls.__new__(cls)
        self.n, self.n_a, self.cols, self.cuts, self.chain_cuts, self.group = layout.fixed
        self.order = None
        entries = np.append(a.data, 0.0)  # the last: every entry the pattern lacks
        lower, diag, upper, self.a_ab, self.a_ba, own, links = (entries[p] for p in layout.positions)
        self.thomas = _thomas_factor(lower, diag, upper)
        self.links = links.reshape(-1, self.cols)
        self._factor_rows(own.reshape(-1, self.cols), None)
        return self

    @staticmethod
    def layout_of(a, factor):
        """What :meth:`from_layout` needs to factor any matrix of ``a``'s pattern (CSR, sorted
        indices) as ``factor`` (made from ``a``) did: the positions of the entries it reads.
        None unless ``factor`` is the usual tile in factor order (the others are built anew)."""
        return _TileLayout(a, factor) if factor.tile_arrays() is not None else None

    def _chain(self, i):
        return slice(self.chain_cuts[i], self.chain_cuts[i + 1])

    def _column(self, i):
        return slice(self.cuts[i], self.cuts[i + 1])

    def _through_chain(self, i, devices):
        """``A_ba(i) A_aa(i)^-1 A_ab(i)``: what row ``i``'s columns see through its chain (S);
        ``devices``: the entries of ``A_ab`` by row, None when it is an aligned diagonal."""
        inverse = self.chain_inverse[i]
        if devices is None:   # one device per chain node, aligned with the columns
            d = self.a_ab[self._chain(i)]
            return d[:, None] * inverse * d[None, :]
        block = devices.block(i, (len(inverse), self.cols))
        return block.T @ inverse @ block

    def tile_arrays(self):
        """``(thomas, a_ab, a_ba, inverse, links)`` for the compiled solves of
        :mod:`ebana.backends.tile_expand`, or None unless this is the usual tile in factor order."""
        if not self.aligned or self.order is not None:
            return None
        return self.thomas, self.a_ab, self.a_ba, self.inverse, self.links

    def solve(self, f):
        """``A^-1 f`` for ``f`` of shape ``(n,)`` or ``(n, k)``, C-contiguous."""
        f = np.asarray(f, dtype=float)
        vector = f.ndim == 1
        f = f.reshape(self.n, -1)
        if self.order is not None:
            f = f[self.order]
        na = self.n_a
        f_a = np.ascontiguousarray(f[:na])
        x_b = f[na:] - _times(self.a_ba, _thomas_solve(*self.thomas, f_a))
        _block_sweeps(self.inverse, self.links, x_b)
        out = np.empty_like(f)
        out[na:] = x_b
        out[:na] = _thomas_solve(*self.thomas, f_a - _times(self.a_ab, x_b))
        if self.order is not None:
            unordered = np.empty_like(out)
            unordered[self.order] = out
            out = unordered
        return out[:, 0].copy() if vector else out

    def schur(self, e, ports=None):
        """``E^T A^-1 E`` (dense ``(m, m)``) for a sparse ``E`` of shape ``(n, m)`` whose every
        column touches one row group only (a port's access node: the chain's first node, or a
        column line's end); None when a column touches two groups. ``ports``: the
        :meth:`port_layout` of an earlier ``E`` of the same pattern (CSR, same entry order).

        Block elimination again: ``E^T A^-1 E = E_a^T A_aa^-1 E_a + G^T M^-1 G`` with
        ``G = E_b - A_ba A_aa^-1 E_a``, whose columns live in one group each. Sorted by group,
        the columns enter the forward sweep at their own row, and ``G^T M^-1 G`` is summed
        over the rows of that sweep alone (:func:`_port_sweeps`): a tile's ports cost about
        ``rows^2 cols^2 / 2 + rows^3 cols / 3`` multiply-adds instead of a full solve."""
        e = sp.csr_matrix(e)
        if self.order is not None:
            e = e[self.order]
        e.sum_duplicates()  # canonical, as port_layout's entry order assumes (a no-op when it is)
        ports = ports if ports is not None else self.port_layout(e)
        if ports is None:
            return None
        m, starts, part_a, part_b = ports.m, ports.starts, ports.part_a, ports.part_b
        groups = len(self.inverse)
        values_a, values_b = part_a.values(e.data[:ports.split]), part_b.values(e.data[ports.split:])
        # G at each row, its own columns only (a row's columns are no other row's: one array), and
        # each row's own block E_a^T A_aa(i)^-1 E_a
        z_ports, g = np.zeros((m, m)), np.zeros((self.cols, m))
        if self.aligned:
            _aligned_port_blocks(self.chain_inverse_stack, self.a_ba.reshape(groups, self.cols), starts,
                                 part_a.arrays(values_a), part_b.arrays(values_b), z_ports, g)
        else:
            for i in range(groups):
                cols = slice(starts[i], starts[i + 1])
                e_a = part_a.block(i, (self.chain_cuts[i + 1] - self.chain_cuts[i], starts[i + 1] - starts[i]),
                                   values_a)
                e_b = part_b.block(i, (self.cols, starts[i + 1] - starts[i]), values_b)
                through = self.chain_inverse[i] @ e_a          # A_aa(i)^-1 E_a
                z_ports[cols, cols] = e_a.T @ through
                g[:, cols] = e_b - _times(_rows(self.a_ba, self._column(i), self._chain(i)), through)
        _port_sweeps(self.inverse, self.links, starts, g, z_ports)
        z_ports = 0.5 * (z_ports + z_ports.T)             # symmetric but for rounding
        out = np.empty_like(z_ports)
        out[np.ix_(ports.by_group, ports.by_group)] = z_ports
        return out

    def port_layout(self, e):
        """How :meth:`schur` sorts the ports of ``E`` (CSR, canonical, rows in this factor's
        order) by row group: from its pattern alone, so kept for every ``E`` of that pattern;
        None when a column touches two groups."""
        m, na = e.shape[1], self.n_a
        coo = e.tocoo()
        col_group = np.full(m, -1)
        col_group[coo.col] = self.group[coo.row]
        if np.any(col_group[coo.col] != self.group[coo.row]):
            return None
        col_group[col_group < 0] = 0                      # an empty column: zeros wherever it goes
        by_group = np.argsort(col_group, kind="stable")
        groups = len(self.inverse)
        starts = np.searchsorted(col_group[by_group], np.arange(groups + 1))
        place = np.empty(m, dtype=np.int64)
        place[by_group] = np.arange(m)                    # each column's place in group order
        col_start = np.arange(m) - (place - starts[col_group])  # column - its place within its group
        part_a = _BlockEntries(e[:na], self.group[:na], self.chain_cuts[self.group[:na]], col_group,
                               col_start, groups)
        part_b = _BlockEntries(e[na:], self.group[na:], self.cuts[self.group[na:]], col_group,
                               col_start, groups)
        return _Ports(m, starts, by_group, part_a, part_b, int(e.indptr[na]))


@dataclass
class _Ports:
    """:meth:`RowBlockFactor.port_layout`: the number of ports, where each row group's columns
    start (in group order), the columns in group order, ``E``'s entries by row group on the
    chains and on the column lines, and where the latter's entries start in ``E``'s."""
    m: int
    starts: np.ndarray
    by_group: np.ndarray
    part_a: object
    part_b: object
    split: int


@_jit
def _block_sweeps(inverse, links, x):
    """The block-tridiagonal solve of the column lines, in place on ``x`` ``(rows * cols, k)``:
    forward ``z_i = S_i^-1 (x_i - l_i z_(i-1))``, back ``x_i = z_i - S_i^-1 (l_(i+1) x_(i+1))``
    (``l``: the column segments between rows, S)."""
    rows, cols = links.shape
    k = x.shape[1]
    scaled = np.empty((cols, k))
    for i in range(rows):
        block = x[i * cols:(i + 1) * cols]
        if i:
            before = x[(i - 1) * cols:i * cols]
            for r in range(cols):
                for c in range(k):
                    block[r, c] -= links[i, r] * before[r, c]
        block[:, :] = np.dot(inverse[i], block)
    for i in range(rows - 1, 0, -1):
        block = x[i * cols:(i + 1) * cols]
        for r in range(cols):
            for c in range(k):
                scaled[r, c] = links[i, r] * block[r, c]
        x[(i - 1) * cols:i * cols] -= np.dot(inverse[i - 1], scaled)


def _split(groups):
    """``groups`` as two lists of index arrays: the chains, the columns."""
    return ([np.asarray(c, dtype=np.int64) for c, _ in groups],
            [np.asarray(b, dtype=np.int64) for _, b in groups])


class _BlockEntries:
    """A sparse matrix's entries sorted by row group, to cut its diagonal blocks (a group's rows
    and the same group's columns) without sparse slicing.
    ``row_group``/``col_group``: each row's and column's group; ``row_start``/``col_start``: the
    index where that group starts (an entry's place in its block is its index minus it)."""

    def __init__(self, m, row_group, row_start, col_group, col_start, groups):
        coo = sp.coo_matrix(m)
        coo.sum_duplicates()
        rg = row_group[coo.row]
        self.order = order = np.argsort(rg, kind="stable")
        self.col_group = col_group[coo.col][order]
        self.row, self.col = (coo.row - row_start[coo.row])[order], (coo.col - col_start[coo.col])[order]
        self.value = coo.data[order]
        self.bounds = np.searchsorted(rg[order], np.arange(groups + 1))

    def values(self, data):
        """The entries of a matrix of the same pattern (its CSR ``data``, canonical), sorted as here."""
        return data[self.order]

    def arrays(self, values=None):
        """``(bounds, row, col, value)``: the entries by row group (``values``: another matrix's
        of the same pattern, :meth:`values`), for the compiled kernels."""
        return self.bounds, self.row, self.col, self.value if values is None else values

    def block(self, i, shape, values=None):
        """The dense block of row group ``i`` and column group ``i``, of ``shape`` (``values``: as
        in :meth:`arrays`)."""
        values = self.value if values is None else values
        out = np.zeros(shape)
        rows = slice(self.bounds[i], self.bounds[i + 1])
        keep = self.col_group[rows] == i
        out[self.row[rows][keep], self.col[rows][keep]] = values[rows][keep]
        return out


class _TileLayout:
    """Where :meth:`RowBlockFactor.from_layout` finds what it reads in a CSR matrix's entries,
    for the usual tile in factor order (``factor``, made from ``a``): the chains' three
    diagonals, the devices both ways, the column-line nodes' diagonal and the column segments
    to the row before. A position past the entries stands for an entry the pattern lacks (0)."""

    def __init__(self, a, factor):
        n, na, cols = factor.n, factor.n_a, factor.cols
        self.fixed = (n, na, cols, factor.cuts, factor.chain_cuts, factor.group)  # what the pattern fixes
        keys = np.repeat(np.arange(n, dtype=np.int64), np.diff(a.indptr)) * n + a.indices
        p, q = np.arange(na), np.arange(n - na)

        def at(rows, columns):
            wanted = rows * n + columns
            found = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
            return np.where((keys[found] == wanted) & (columns >= 0) & (columns < n), found, len(keys))
        self.positions = (at(p, p - 1), at(p, p), at(p, p + 1), at(p, na + p), at(na + p, p),
                          at(na + q, na + q), np.where(q >= cols, at(na + q, na + q - cols), len(keys)))


def _rows(m, rows, cols):
    """The block ``rows x cols`` of ``m`` from :func:`_diagonal_or_sparse` (aligned when diagonal)."""
    return m[rows] if isinstance(m, np.ndarray) else m[rows, cols]


def _inverse(s):
    """The inverse of ``s``: :func:`~ebana.backends.lapack.spd_inverse`, or a general inverse
    when ``s`` is not positive definite (rounding)."""
    try:
        return spd_inverse(s)
    except np.linalg.LinAlgError:
        return np.linalg.inv(s)


@_jit
def _aligned_block_lu(own, d, chain_inverse, links):
    """The block LU's inverses ``S_i^-1`` (1/S, ``(rows, cols, cols)``) of the usual tile: one
    device per chain node, aligned with the columns (``d``: their conductances, S, ``(rows,
    cols)``); ``chain_inverse`` (1/S) the chains' inverses, ``own`` (S) the column-line
    nodes' diagonal, ``links`` (S) the column segments from the row before."""
    rows, cols = own.shape
    inverse = np.empty((rows, cols, cols))
    previous = np.zeros((cols, cols))
    for i in range(rows):
        through = np.empty((cols, cols))  # A_ba(i) A_aa(i)^-1 A_ab(i), as _through_chain makes it
        for r in range(cols):
            for c in range(cols):
                through[r, c] = d[i, r] * chain_inverse[i, r, c] * d[i, c]
        inverse[i] = spd_inverse(_row_block(own[i], through, links[i], previous))
        previous = inverse[i]
    return inverse


@_jit
def _aligned_port_blocks(chain_inverse, d, starts, part_a, part_b, z_ports, g):
    """For the usual tile (see :func:`_aligned_block_lu`), each row's ports into ``z_ports``
    (their own block ``E_a^T A_aa(i)^-1 E_a``, S) and ``g`` (``G = E_b - A_ba A_aa^-1 E_a``
    at the row's own columns), from the port incidence's entries by row
    (:meth:`_BlockEntries.arrays`: bounds, row and column within the row's block, value)."""
    rows, cols = d.shape
    a_bounds, a_row, a_col, a_value = part_a
    b_bounds, b_row, b_col, b_value = part_b
    for i in range(rows):
        c0, c1 = starts[i], starts[i + 1]
        through = np.zeros((cols, c1 - c0))  # A_aa(i)^-1 E_a
        for e in range(a_bounds[i], a_bounds[i + 1]):
            for r in range(cols):
                through[r, a_col[e]] += chain_inverse[i, r, a_row[e]] * a_value[e]
        for e in range(a_bounds[i], a_bounds[i + 1]):
            for c in range(c1 - c0):
                z_ports[c0 + a_col[e], c0 + c] += a_value[e] * through[a_row[e], c]
        for r in range(cols):
            for c in range(c1 - c0):
                g[r, c0 + c] = -(d[i, r] * through[r, c])
        for e in range(b_bounds[i], b_bounds[i + 1]):
            g[b_row[e], c0 + b_col[e]] += b_value[e]


@_jit
def _port_sweeps(inverse, links, starts, g, z_ports):
    """Add ``G^T M^-1 G`` into ``z_ports`` (S, ports in row order) by the block LU's forward
    sweep alone (:meth:`RowBlockFactor.schur`). With ``M = L D L^T`` (``D``: the ``S_i``),
    ``G^T M^-1 G = sum_i w_i^T S_i^-1 w_i`` for ``w = L^-1 G``: ``w_i = G_i - L_i S_(i-1)^-1
    w_(i-1)``, where row ``i``'s own columns (``starts[i]`` to ``starts[i + 1]`` of ``g``)
    enter. No back sweep, and only the last row's ``S^-1 w`` is kept."""
    rows, cols = links.shape
    z = np.zeros((cols, 0))  # S_(i-1)^-1 w_(i-1): the columns of the rows before
    for i in range(rows):
        before, width = starts[i], starts[i + 1]
        if not width:
            continue
        w = np.empty((cols, width))
        for r in range(cols):
            for c in range(before):
                w[r, c] = -links[i, r] * z[r, c]
            for c in range(before, width):
                w[r, c] = g[r, c]
        z = np.dot(inverse[i], w)
        z_ports[:width, :width] += np.dot(w.T, z)


@_jit
def _row_block(own, through_chain, link, previous):
    """``S_i = diag(own) - A_ba(i) A_aa(i)^-1 A_ab(i) - diag(l) S_(i-1)^-1 diag(l)`` (S): row ``i``'s
    column-line block after its chain and the rows before it are eliminated."""
    n = own.shape[0]
    s = np.empty((n, n))
    for r in range(n):
        for c in range(n):
            s[r, c] = -through_chain[r, c] - link[r] * previous[r, c] * link[c]
        s[r, r] += own[r]
    return s


def _diagonal_or_sparse(m):
    """``m`` (sparse) as its diagonal (a vector) when it is square and diagonal, else as CSR."""
    m = sp.csr_matrix(m)
    if m.shape[0] == m.shape[1]:
        coo = m.tocoo()
        if np.all(coo.row == coo.col):
            return m.diagonal().copy()
    return m


def _times(m, x):
    """``m @ x`` for ``m`` a diagonal (vector), a sparse or a dense matrix and a dense ``x`` (rows, k)."""
    return m[:, None] * x if isinstance(m, np.ndarray) else m @ x


@_jit
def _thomas_factor(lower, diag, upper):
    """Thomas' algorithm, factor: ``(lower, 1 / pivot, upper / pivot)`` of a tridiagonal
    matrix (``lower[p] = A[p, p-1]``, ``upper[p] = A[p, p+1]``)."""
    n = diag.shape[0]
    inv_pivot, ratio = np.empty(n), np.empty(n)
    for p in range(n):
        pivot = diag[p] - (lower[p] * ratio[p - 1] if p else 0.0)
        inv_pivot[p] = 1.0 / pivot
        ratio[p] = upper[p] * inv_pivot[p]
    return lower, inv_pivot, ratio


@_jit
def _thomas_solve(lower, inv_pivot, ratio, f):
    """``A^-1 f`` for the factor of :func:`_thomas_factor` and ``f`` (n, k); a new array."""
    n, k = f.shape
    x = np.empty((n, k))
    for p in range(n):
        for c in range(k):
            x[p, c] = (f[p, c] - (lower[p] * x[p - 1, c] if p else 0.0)) * inv_pivot[p]
    for p in range(n - 2, -1, -1):
        for c in range(k):
            x[p, c] -= ratio[p] * x[p + 1, c]
    return x


def _fits(a, chains, columns):
    """True when ``chains`` and ``columns`` cover every index once and ``a`` (symmetric) has
    the pattern of the module docstring for them."""
    n = a.shape[0]
    group, kind, place = np.full(n, -1), np.zeros(n, dtype=np.int8), np.zeros(n, dtype=np.int64)
    seen = np.zeros(n, dtype=np.int64)
    for i, (c, b) in enumerate(zip(chains, columns)):
        if len(b) == 0 or len(b) != len(columns[0]):   # every tile row has its column-line nodes
            return False
        for idx, k in ((c, 0), (b, 1)):
            if len(idx) and (idx.min() < 0 or idx.max() >= n):
                return False
            seen[idx] += 1
            group[idx], kind[idx], place[idx] = i, k, np.arange(len(idx))
    if not np.all(seen == 1) or abs(a - a.T).max() > 0:
        return False
    coo = a.tocoo()
    r, c = coo.row, coo.col
    same = group[r] == group[c]
    chain_pair = (kind[r] == 0) & (kind[c] == 0)
    # column-line nodes: to themselves, and to the same column in the rows next to them only
    ok = np.where(chain_pair, same & (np.abs(place[r] - place[c]) <= 1),
                  np.where((kind[r] == 1) & (kind[c] == 1),
                           (np.abs(group[r] - group[c]) <= 1) & (place[r] == place[c]), same))
    return bool(ok.all())


def factorize(a, groups=None, checked=False, layout=None):
    """A factor of the square sparse matrix ``a`` with ``solve(f) = a^-1 f``: the row-block LU
    when ``groups`` (see :class:`RowBlockFactor`) describe its pattern, else a sparse LU.
    ``checked``: the pattern of ``a`` already passed the check with these groups; ``layout``:
    :meth:`RowBlockFactor.layout_of` an earlier matrix of ``a``'s pattern (CSR with sorted
    indices, the same entries in the same order), by which the factor reads ``a``'s entries."""
    if layout is not None:
        return RowBlockFactor.from_layout(a, layout)
    factor = RowBlockFactor.build(a, groups, check=not checked) if groups else None
    return factor if factor is not None else SparseLU(a)
