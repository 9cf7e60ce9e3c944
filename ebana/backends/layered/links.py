"""The links of a layered circuit with one batch's conductances bound to them.

A bound link answers one question fast: the conductance-weighted sum of the
voltages on one side, seen from each node of the other side (``sum_j G_ij u_j``,
A/V * V = A), for every sample. A crossbar does it with one matrix product; a
sparse link with a sparse product (a crossbar per window: :mod:`.windows`). Conductances (S) are ``(R,)`` shared by the
batch (one matrix for all samples) or ``(B, R)`` per sample (variability masks).
"""
import numpy as np
import scipy.sparse as sp

from .kernels import fold_crossbar
from .plan import FIXED
from .windows import WindowLink


def bind(link, g):
    """``link`` bound to conductances ``g`` (S): a :class:`~.windows.WindowLink` for a crossbar per
    window with conductances shared by the batch, else a :class:`BoundLink`."""
    if link.windows is not None and g.ndim == 1:
        return WindowLink(link, g)
    return BoundLink(link, g)


class BoundLink:
    """``link`` (a :class:`~ebana.backends.layered.plan.Link`) with conductances ``g`` (S)."""

    def __init__(self, link, g):
        self.link = link
        self.per_sample = g.ndim == 2
        na, nb = len(link.a.nodes), len(link.b.nodes)
        self.scaled = None
        self._single = {}  # side -> scaled[side] in float32, made when first asked
        self._bounds = {}  # side -> coupling_bound, computed when first asked
        if link.dense:
            if self.per_sample:
                self.W = g[:, link.res].reshape(g.shape[0], na, nb)
                self.sums = {"a": self.W.sum(axis=2), "b": self.W.sum(axis=1)}
            else:
                self.W = g[link.res].reshape(na, nb)
                if link.a.full and link.b.full and link.a.group != FIXED and link.b.group != FIXED:
                    self._fold()
                else:
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
            self.M = sp.csr_matrix((link.csr_sum @ gr, link.csr_indices, link.csr_indptr), shape=(na, nb))
            self.MT = self.M.T.tocsr()
            self.sums = {"a": np.asarray(self.M.sum(axis=1)).ravel(), "b": np.asarray(self.M.sum(axis=0)).ravel()}

    def _fold(self):
        """Between two groups whose nodes are their nets in order (amplifier outputs included):
        fold the amplifier gains into the matrix, so a sweep needs one product per direction.
        ``scaled[side]`` maps the other group's net voltages to currents into ``side``'s nets
        (already divided by their alpha); ``offset[side]`` is the part from the other side's beta.
        One pass over W (:func:`~.kernels.fold_crossbar`) also gives the sums and the
        coupling bounds."""
        a, b, W = self.link.a, self.link.b, self.W
        unit = np.all(a.alpha == 1.0) and np.all(b.alpha == 1.0)
        scaled = (None, None) if unit else (np.empty_like(W), np.empty_like(W))
        sums_a, sums_b, bound_a, bound_b, offset_a, offset_b = fold_crossbar(
            W, *(np.ascontiguousarray(x, dtype=float) for x in (a.alpha, b.alpha, a.beta, b.beta)), *scaled)
        self.scaled = {"a": W, "b": W} if unit else {"a": scaled[0], "b": scaled[1]}
        self.sums = {"a": sums_a, "b": sums_b}
        self._bounds = {"a": bound_a, "b": bound_b}
        self.offset = {"a": offset_a, "b": offset_b}

    @property
    def folded(self):
        """True when the sweeps take this link's currents from the nets (:meth:`from_nets`, ``offset``)."""
        return self.scaled is not None

    def coupling_bound(self, side):
        """``sum_j |G_ij alpha_j / alpha_i|`` for each net of ``side`` (S), ``(n,)`` or ``(B, n)``:
        how much a move of 1 V of every net on the other side can change the current into it.
        Kept with the conductances: every phase's residual check asks for it."""
        bounds = self._bounds  # scaled crossbars: made with the matrices (_fold)
        if side not in bounds:
            mine, other = (self.link.a, self.link.b) if side == "a" else (self.link.b, self.link.a)
            bounds[side] = self.sums[side] * np.abs(other.alpha).max() / np.abs(mine.alpha)
        return bounds[side]

    def scaled_single(self, side):
        """``scaled[side]`` rounded to float32 (for :mod:`.precision`)."""
        if side not in self._single:
            other = "b" if side == "a" else "a"
            same = other in self._single and self.scaled[other] is self.scaled[side]
            self._single[side] = self._single[other] if same else self.scaled[side].astype(np.float32)
        return self._single[side]

    def from_nets(self, side, v_other):
        """Currents (A) into ``side``'s nets, divided by their alpha, from the other group's net
        voltages ``v_other`` (V), without ``offset`` (only when :attr:`scaled` is set)."""
        return v_other @ self.scaled["a"].T if side == "a" else v_other @ self.scaled["b"]

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


def add_drift(target, side, coupling, uncertain):
    """Add to ``target`` (A, ``(B, nets)``) the bound ``coupling * uncertain`` on how far the currents
    into ``side``'s nodes may be off: ``coupling`` (S, per node, ``(n,)`` or ``(B, n)``, as from
    :meth:`BoundLink.coupling_bound`) times ``uncertain`` (V, per sample, or a scalar)."""
    drift = coupling * np.reshape(uncertain, (-1, 1))
    side.add_to(target, np.broadcast_to(drift, (len(target), len(side.nodes))))
