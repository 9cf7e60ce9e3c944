"""The links of a layered circuit with one batch's conductances bound to them.

A bound link answers one question fast: the conductance-weighted sum of the
voltages on one side, seen from each node of the other side (``sum_j G_ij u_j``,
A/V * V = A), for every sample. A crossbar does it with one matrix product; a
sparse link with a sparse product. Conductances (S) are ``(R,)`` shared by the
batch (one matrix for all samples) or ``(B, R)`` per sample (variability masks).
"""
import numpy as np
import scipy.sparse as sp


class BoundLink:
    """``link`` (a :class:`~ebana.backends.layered_plan.Link`) with conductances ``g`` (S)."""

    def __init__(self, link, g):
        self.link = link
        self.per_sample = g.ndim == 2
        na, nb = len(link.a.nodes), len(link.b.nodes)
        if link.dense:
            if self.per_sample:
                self.W = g[:, link.res].reshape(g.shape[0], na, nb)
                self.sums = {"a": self.W.sum(axis=2), "b": self.W.sum(axis=1)}
            else:
                self.W = g[link.res].reshape(na, nb)
                self.sums = {"a": self.W.sum(axis=1), "b": self.W.sum(axis=0)}
            return
        gr = g[..., link.res]
        if self.per_sample:
            n = len(link.rows)
            self.gr = gr
            self.inc = {"a": sp.csr_matrix((np.ones(n), (link.rows, np.arange(n))), shape=(na, n)),
                        "b": sp.csr_matrix((np.ones(n), (link.cols, np.arange(n))), shape=(nb, n))}
            self.sums = {s: np.asarray(m @ gr.T).T for s, m in self.inc.items()}
        else:
            self.M = sp.csr_matrix((gr[link.csr_order], link.csr_indices, link.csr_indptr), shape=(na, nb))
            self.MT = self.M.T.tocsr()
            self.sums = {"a": np.asarray(self.M.sum(axis=1)).ravel(), "b": np.asarray(self.M.sum(axis=0)).ravel()}

    def toward(self, side, u_other):
        """``(B, n_side)``: for each node of ``side`` ('a' or 'b'), ``sum_j G_ij u_j`` over the
        other side's node voltages ``u_other`` (V, ``(B, n_other)``), in A."""
        link = self.link
        if link.dense:
            if self.per_sample:
                return np.einsum("bij,bj->bi", self.W, u_other) if side == "a" else \
                    np.einsum("bij,bi->bj", self.W, u_other)
            return u_other @ self.W.T if side == "a" else u_other @ self.W
        if self.per_sample:
            far = link.cols if side == "a" else link.rows
            return np.asarray(self.inc[side] @ (self.gr * u_other[:, far]).T).T
        m = self.M if side == "a" else self.MT
        return np.asarray(m @ u_other.T).T

    def leaving(self, side, u_side, u_other):
        """Current (A) leaving each node of ``side`` through the link, ``(B, n_side)``."""
        return u_side * self.sums[side] - self.toward(side, u_other)
