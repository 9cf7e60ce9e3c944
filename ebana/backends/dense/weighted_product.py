"""A sparse product ``A diag(w) B`` remade for new weights ``w`` as one sparse product.

The dense solver rebuilds two such products for every conductance state: the resistors'
Laplacian (``K diag(g) K^T``, for the source currents) and what the known nodes push into the
unknowns' rows. SciPy multiplies them afresh each time (``csr_matmat``, twice, with a pass to
size the result first): for the reduced circuit of the 28x28 wires study, whose 25 tiles
leave 200,000 resistors between their ports, that was about 28 ms of every training step.
The pattern depends on ``A`` and ``B`` only, so it is found once here, and each product's
values are then ``T @ w`` for a fixed sparse ``T``.

``T``'s rows sum their terms in the order ``csr_matmat`` adds them (the entries of a row of
``A diag(w)`` as SciPy stores them, each with ``B``'s row as stored), and the result keeps
SciPy's column order in each row: the matrix is the one SciPy would make, to the bit, so its
own products sum in the same order too (tested on the solver's matrices). That holds for
entries of ``A`` and ``B`` equal to +-1, whose products with ``w`` are exact (the incidence
matrices here; others are refused), and for weights none of which is 0 (SciPy drops a zero
weight's terms; here they add zeros).
"""
import numpy as np
import scipy.sparse as sp


class WeightedProduct:
    """``A diag(w) B`` (CSR, ``(n, m)``) for any weights ``w`` (``(K,)``), ``A`` ``(n, K)`` and
    ``B`` ``(K, m)`` sparse with entries +-1."""

    def __init__(self, a, b):
        a, b = sp.csr_matrix(a), sp.csr_matrix(b)  # b: converted as SciPy's product converts it
        for m in (a, b):
            if not np.all(np.abs(m.data) == 1.0):
                raise ValueError("WeightedProduct: entries of A and B must be +-1 (exact products)")
        # SciPy's two products, with every weight 1: A diag(w) (csr_matmat stores a row's columns
        # in its own order, not A's), then the pattern of the whole in that product's order
        a = a @ sp.diags(np.ones(a.shape[1]))
        self.shape = (a.shape[0], b.shape[1])
        pattern = a @ b
        self.indices, self.indptr = pattern.indices.copy(), pattern.indptr.copy()
        # every product shares them: read-only, so that no in-place change of one corrupts the rest
        self.indices.flags.writeable = self.indptr.flags.writeable = False
        # every term A[i, k] B[k, j] w[k]: A's entry p, B's entry q, its entry (i, j) in the result
        counts = np.diff(b.indptr)[a.indices]
        p = np.repeat(np.arange(a.nnz), counts)
        q = np.repeat(b.indptr[a.indices] - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
        i = np.repeat(np.arange(a.shape[0]), np.diff(a.indptr))[p]
        m = self.shape[1]
        keys = np.repeat(np.arange(self.shape[0]), np.diff(self.indptr)) * m + self.indices
        sorter = np.argsort(keys, kind="stable")
        wanted = i * m + b.indices[q]
        found = np.searchsorted(keys, wanted, sorter=sorter)
        entry = sorter[np.minimum(found, len(keys) - 1)] if len(keys) else found
        if len(wanted) and not (len(keys) and np.array_equal(keys[entry], wanted)):  # terms that cancel
            raise ValueError("WeightedProduct: an entry's terms cancel with unit weights; its pattern "
                             "depends on the weights")
        order = np.lexsort((q, p, entry))  # by entry, then in the order csr_matmat adds them
        indptr = np.concatenate([[0], np.cumsum(np.bincount(entry, minlength=len(keys)))])
        self.terms = sp.csr_matrix(((a.data[p] * b.data[q])[order], a.indices[p][order], indptr),
                                   shape=(len(keys), a.shape[1]))

    def __call__(self, w):
        """The product for weights ``w`` (``(K,)``), a fresh CSR matrix."""
        return sp.csr_matrix((self.terms @ w, self.indices, self.indptr), shape=self.shape)
