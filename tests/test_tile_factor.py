"""The row-block factor of a wired tile (ebana/backends/tile_factor.py) against a general sparse LU:
solves and port Schur complements on tiles of several shapes and wire resistances, in any node
order, and the pattern checks that send everything else to the sparse LU."""
import numpy as np
import pytest
import scipy.sparse as sp

from ebana.backends.tile_factor import RowBlockFactor, SparseLU, factorize


def tile_matrix(rows, cols, r_segment, r_access, g):
    """Inner nodal matrix (S) of one tile: a[i, j] = i * cols + j, b[i, j] = rows * cols + i * cols + j;
    row line i from its input (through r_access) at j = 0, column line j to its output at i = rows - 1;
    device (i, j) of conductance g[i, j] between a[i, j] and b[i, j]. Also the port columns A_IP
    (rows input ports, then cols output ports) and the row groups."""
    n = 2 * rows * cols
    a = sp.lil_matrix((n, n))
    ports = sp.lil_matrix((n, rows + cols))

    def resistor(p, q, conductance):
        a[p, p] += conductance
        a[q, q] += conductance
        a[p, q] -= conductance
        a[q, p] -= conductance

    node_a = lambda i, j: i * cols + j                      # noqa: E731
    node_b = lambda i, j: rows * cols + i * cols + j        # noqa: E731
    for i in range(rows):
        a[node_a(i, 0), node_a(i, 0)] += 1 / r_access
        ports[node_a(i, 0), i] = -1 / r_access
        for j in range(cols - 1):
            resistor(node_a(i, j), node_a(i, j + 1), 1 / r_segment)
    for j in range(cols):
        a[node_b(rows - 1, j), node_b(rows - 1, j)] += 1 / r_access
        ports[node_b(rows - 1, j), rows + j] = -1 / r_access
        for i in range(rows - 1):
            resistor(node_b(i, j), node_b(i + 1, j), 1 / r_segment)
    for i in range(rows):
        for j in range(cols):
            resistor(node_a(i, j), node_b(i, j), g[i, j])
    groups = [(np.array([node_a(i, j) for j in range(cols)]), np.array([node_b(i, j) for j in range(cols)]))
              for i in range(rows)]
    return a.tocsr(), ports.tocsr(), groups


@pytest.mark.parametrize("rows, cols, r", [(3, 4, 1.0), (8, 5, 0.1), (5, 9, 10.0), (1, 6, 1.0), (6, 1, 2.5),
                                           (16, 16, 1.0)])
@pytest.mark.parametrize("shuffled", [False, True])
def test_row_block_factor_matches_sparse_lu(rows, cols, r, shuffled):
    rng = np.random.default_rng(rows * 100 + cols)
    a, ports, groups = tile_matrix(rows, cols, r, 2 * r, rng.uniform(1e-7, 1e-3, (rows, cols)))
    if shuffled:  # any node order: the factor permutes to rows
        perm = rng.permutation(a.shape[0])
        where = np.argsort(perm)
        a, ports, groups = a[perm][:, perm], ports[perm], [(where[c], where[b]) for c, b in groups]
    factor, reference = factorize(a, groups), SparseLU(a)
    assert isinstance(factor, RowBlockFactor)
    f = rng.normal(size=(a.shape[0], 3))
    x = factor.solve(f)
    assert np.abs(a @ x - f).max() < 1e-12 * max(1.0, np.abs(f).max() / r)
    np.testing.assert_allclose(x, reference.solve(f), rtol=0, atol=1e-11 * r)
    np.testing.assert_allclose(factor.solve(f[:, 0]), x[:, 0], rtol=0, atol=1e-13 * r)
    z = factor.schur(ports)
    np.testing.assert_allclose(z, reference.schur(ports), rtol=0, atol=1e-12 / r)
    np.testing.assert_array_equal(z, z.T)


def test_patterns_that_are_not_a_tile_go_to_the_sparse_lu():
    rng = np.random.default_rng(0)
    a, ports, groups = tile_matrix(4, 3, 1.0, 2.0, rng.uniform(1e-7, 1e-3, (4, 3)))
    assert RowBlockFactor.build(a, groups) is not None
    assert RowBlockFactor.build(a, groups[:-1]) is None                      # a node left out
    assert RowBlockFactor.build(a, groups + [groups[0]]) is None             # a node twice
    assert RowBlockFactor.build(a, [(c[::-1][[1, 0, 2]], b) for c, b in groups]) is None  # not chain order
    extra = a.tolil()
    extra[0, 11] = extra[11, 0] = -1e-3                                      # a chain node to another row
    extra[0, 0] += 1e-3
    extra[11, 11] += 1e-3
    assert RowBlockFactor.build(extra.tocsr(), groups) is None
    assert isinstance(factorize(extra.tocsr(), groups), SparseLU)
    assert factorize(extra.tocsr(), groups).tile_arrays() is None  # the compiled expansion is not for it
    far = a.tolil()                                                          # columns two rows apart
    b0, b2 = groups[0][1][0], groups[2][1][0]
    far[b0, b2] = far[b2, b0] = -1e-3
    assert RowBlockFactor.build(far.tocsr(), groups) is None
    # a port column touching two rows has no row-by-row Schur complement: None (the caller solves)
    factor = RowBlockFactor.build(a, groups)
    two = ports.tolil()
    two[groups[2][0][0], 0] = -0.1
    assert factor.schur(two.tocsr()) is None


def test_wider_conductance_range_stays_exact():
    """Devices up to 1e-3 S on 10 Ohm segments (the issue's extremes) and tiny ones at 0.1 Ohm."""
    rng = np.random.default_rng(5)
    for r, low, high in ((10.0, 1e-4, 1e-3), (0.1, 1e-9, 1e-7)):
        a, ports, groups = tile_matrix(32, 32, r, 2 * r, rng.uniform(low, high, (32, 32)))
        factor = RowBlockFactor.build(a, groups)
        f = rng.normal(size=(a.shape[0], 2))
        assert np.abs(a @ factor.solve(f) - f).max() < 1e-11 * max(1.0, 1 / r)
        np.testing.assert_allclose(factor.schur(ports), SparseLU(a).schur(ports), rtol=1e-12, atol=1e-15 / r)


def test_compiled_tile_path_matches_the_general_one(monkeypatch):
    """The usual tile (one device per chain node) takes the compiled block LU and port blocks; the
    general path (Python, per row) gives the same inverses and Schur complement to rounding."""
    from ebana.backends import tile_factor
    rng = np.random.default_rng(5)
    a, ports, groups = tile_matrix(12, 7, 1.0, 2.0, rng.uniform(1e-7, 1e-3, (12, 7)))
    fast = factorize(a, groups)
    assert fast.aligned and fast.chain_inverse_stack is not None

    def refuse(*args):
        raise np.linalg.LinAlgError("forced")
    monkeypatch.setattr(tile_factor, "_aligned_block_lu", refuse)
    slow = factorize(a, groups)
    slow.aligned = False  # the Schur complement's general path too
    np.testing.assert_allclose(fast.inverse, slow.inverse, rtol=1e-13, atol=0)
    z_fast, z_slow = fast.schur(ports), slow.schur(ports)
    np.testing.assert_allclose(z_fast, z_slow, rtol=0, atol=1e-13 * np.abs(z_slow).max())


def test_inverse_of_a_block_that_is_not_positive_definite():
    from ebana.backends.lapack import spd_inverse
    from ebana.backends.tile_factor import _inverse
    spd = np.array([[4.0, 1.0], [1.0, 3.0]])
    np.testing.assert_allclose(spd_inverse(spd), np.linalg.inv(spd), rtol=1e-15)
    assert np.array_equal(spd_inverse(spd), spd_inverse(spd).T)
    indefinite = np.array([[1.0, 2.0], [2.0, 1.0]])
    with pytest.raises(np.linalg.LinAlgError):
        spd_inverse(indefinite)
    np.testing.assert_allclose(_inverse(indefinite), np.linalg.inv(indefinite), rtol=1e-15)


def test_lapack_inverse_of_a_block_larger_than_lapacks_own_blocks():
    """dpotrf/dpotri work in blocks of 64 or so: a 150 x 150 block, against NumPy's inverse; the
    input is left as it was, and the inverse is symmetric to the bit."""
    from ebana.backends.lapack import spd_inverse
    m = np.random.default_rng(3).random((150, 150))
    spd = m @ m.T + 150 * np.eye(150)
    kept = spd.copy()
    inverse = spd_inverse(spd)
    assert np.array_equal(spd, kept) and np.array_equal(inverse, inverse.T)
    np.testing.assert_allclose(inverse, np.linalg.inv(spd), rtol=1e-12, atol=1e-12 * np.abs(inverse).max())
    assert spd_inverse(np.zeros((0, 0))).shape == (0, 0)  # LAPACK would refuse lda = 0


def test_factor_from_the_pattern_of_an_earlier_matrix():
    """A wired block reduces every conductance set of one pattern: the factor and the port layout
    found for the first serve the next, to the bit of a factor built afresh."""
    rng = np.random.default_rng(9)
    a, ports, groups = tile_matrix(10, 6, 1.0, 2.0, rng.uniform(1e-7, 1e-3, (10, 6)))
    first = factorize(a, groups)
    layout, port_layout = RowBlockFactor.layout_of(a, first), first.port_layout(ports)
    assert layout is not None and port_layout is not None
    b, ports_b, _ = tile_matrix(10, 6, 1.5, 3.0, rng.uniform(1e-7, 1e-3, (10, 6)))  # same pattern
    again, fresh = factorize(b, layout=layout), factorize(b, groups)
    np.testing.assert_array_equal(again.inverse, fresh.inverse)
    f = rng.normal(size=(b.shape[0], 2))
    np.testing.assert_array_equal(again.solve(f), fresh.solve(f))
    np.testing.assert_array_equal(again.schur(ports_b, port_layout), fresh.schur(ports_b))
    shuffled = np.random.default_rng(1).permutation(a.shape[0])  # not in the factor's order: no layout
    where = np.argsort(shuffled)
    moved = factorize(a[shuffled][:, shuffled], [(where[c], where[k]) for c, k in groups])
    assert RowBlockFactor.layout_of(a[shuffled][:, shuffled], moved) is None


@pytest.mark.parametrize("kept_rows", [[0, 3], [2], []])
def test_schur_with_rows_that_have_no_port(kept_rows):
    """Ports on some rows only (a row line whose input is another tile's, say): the sweeps pass rows
    without columns of their own, and the Schur complement still matches the sparse LU's."""
    rng = np.random.default_rng(11)
    rows, cols = 5, 4
    a, ports, groups = tile_matrix(rows, cols, 1.0, 2.0, rng.uniform(1e-7, 1e-3, (rows, cols)))
    ports = ports[:, list(kept_rows) + list(range(rows, rows + cols))]
    factor = factorize(a, groups)
    np.testing.assert_allclose(factor.schur(ports), SparseLU(a).schur(ports), rtol=0, atol=1e-12)


def test_schur_of_ports_with_duplicate_entries():
    """A port incidence given with an entry split in two (not canonical) sums like the sparse LU's."""
    rng = np.random.default_rng(12)
    a, ports, groups = tile_matrix(4, 3, 1.0, 2.0, rng.uniform(1e-7, 1e-3, (4, 3)))
    ports = sp.csr_matrix(ports)
    counts = np.diff(ports.indptr)
    # every entry twice, halves, in each row's entries: CSR arrays as given, not summed
    data = np.concatenate([np.tile(ports.data[p:q] / 2, 2) for p, q in zip(ports.indptr[:-1], ports.indptr[1:])])
    indices = np.concatenate([np.tile(ports.indices[p:q], 2) for p, q in zip(ports.indptr[:-1], ports.indptr[1:])])
    split = sp.csr_matrix((data, indices, np.concatenate([[0], np.cumsum(2 * counts)])), shape=ports.shape)
    assert split.nnz == 2 * ports.nnz
    np.testing.assert_allclose(factorize(a, groups).schur(split), SparseLU(a).schur(ports), rtol=0, atol=1e-12)
