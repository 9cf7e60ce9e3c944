"""Crossbar products between two groups of nets, in float32 where a bound shows it is enough.

A sweep of a deep network is mostly products ``V (B, n) @ S (n, m)`` through the
crossbars between hidden layers, and a float32 product runs about 2.5 times as
fast as a float64 one here. Rounding the voltages to float32 would cost the
solution its last digits, so each crossbar direction (:class:`MixedProduct`)
keeps an *anchor*, an exact float64 product ``S V_a`` from an earlier sweep,
and makes the next products as

    S V = S V_a + S (V - V_a),   the change multiplied in float32,

whose error scales with ``|V - V_a|``: near the solution, and through the nudged
phases of EP (which move the nets little from the free solution), it is far
below the tolerance. When the change is too large for that, the product is
made in float64 and becomes the new anchor. While a cold solve is still far
from its solution, a sweep may round by up to ``1e-5`` of the previous sweep's
largest move (fewer float64 products, and the moves dwarf the rounding); the
solve ends only on a sweep whose products were all held to the tolerance.

A product is not made at all when its input has not moved enough to matter
since the last one: the solver tells each product how far its source group
moved (:meth:`MixedProduct.moved`, a bound per sample), and while that can change
the currents by at most ``reuse_tol`` as a Newton step the last currents are
reused, their error bound grown by the move. In a nudged phase the layers far
from the outputs move by ~1e-14 V, and most of their products are skipped.

The rounding error is bounded a priori (Higham's ``gamma_n`` for a float32 sum
of ``n`` terms, plus rounding the matrix and the change to float32):
``|C - C_exact|_i <= gamma * sum_j |S_ij| * max_j |V_j - V_a,j|``. A float32 product
is used only while that bound, as the Newton step it can cause, is within the
backend's ``product_tol``; the solver adds the bound to the KCL residual it
checks, so rounding can never pass a wrong solution. Units: V, A, S.
"""
import numpy as np

from .kernels import add_single, single_change

UNIT_ROUNDOFF_32 = 2.0 ** -24


class MixedProduct:
    """Currents (A, divided by the nets' alpha) into one side of a scaled crossbar from the nets
    of the other side, for one chunk of the batch.

    ``link`` is a :class:`~.links.BoundLink` with ``scaled`` set, ``side`` ('a' or 'b')
    the receiving side and ``diagonal`` the receiving group's diagonal conductance (S), so that
    a current error becomes the largest Newton step (V) it can cause; ``tol`` is the largest
    such step a float32 product may cause (V), ``reuse_tol`` the largest one reusing the last
    product's currents may cause (V).
    """

    def __init__(self, link, side, diagonal, tol, reuse_tol=0.0):
        self.link, self.side, self.tol, self.reuse_tol = link, side, tol, reuse_tol
        matrix = link.scaled[side]
        n_terms = matrix.shape[1] if side == "a" else matrix.shape[0]
        # a float32 sum of n terms, plus rounding the matrix and the change to float32
        self.gamma = 1.01 * (n_terms + 2) * UNIT_ROUNDOFF_32
        coupling = link.coupling_bound(side)                              # sum_j |S_ij| (S)
        self.reuse_per_volt = float(np.max(coupling / np.min(diagonal, axis=0)))  # V of step per V moved
        self.step_per_volt = self.gamma * self.reuse_per_volt
        self.anchor = None     # (voltages V_a, currents S V_a), float64
        self.error = None      # per sample: the currents last added are within coupling_bound * error (A)
        self.last = None       # (currents, their error or None) of the last product made
        self.drift = None      # per sample: how far (V) the input may have moved since, None: unknown
        self.reused = 0        # products skipped so far (diagnostics)

    def moved(self, distance):
        """The source group moved by at most ``distance`` (V, per sample) since the last call."""
        if self.drift is not None:
            self.drift = self.drift + distance

    def lost(self):
        """The source group moved by an unknown amount (Anderson mixing, a new batch)."""
        self.drift = None

    def _times(self, x, matrix):
        return x @ matrix.T if self.side == "a" else x @ matrix

    def currents(self, v_other, allowed=0.0):
        """``S v_other`` (A; the caller must not change the array: it may be kept for reuse),
        recording the bound :attr:`error` (V) of its rounding.

        ``allowed``: a Newton step (V) the rounding may cause in this sweep, if more than ``tol``
        (the sweeps allow a little of their last move while they are far from the solution)."""
        if self.drift is not None and self.last is not None and self.last[0].shape[0] == len(v_other) \
                and self.reuse_per_volt * float(self.drift.max(initial=0.0)) <= self.reuse_tol:
            self.reused += 1
            self.error = self.drift if self.last[1] is None else self.last[1] + self.drift
            return self.last[0]
        self.drift = np.zeros(len(v_other))
        if self.anchor is not None and self.anchor[0].shape == v_other.shape:
            # subtracted in float64, then rounded (rounding the operands first would lose the change)
            change = np.empty(v_other.shape, np.float32)
            size = single_change(v_other, self.anchor[0], change)
            step = self.step_per_volt * float(size.max(initial=0.0))
            if step <= max(allowed, self.tol):
                self.error = self.gamma * size
                # float32 product added to the float64 anchor currents
                currents = np.empty(self.anchor[1].shape)
                add_single(self.anchor[1], self._times(change, self.link.scaled_single(self.side)), currents)
                # reusable only if held to tol: a looser sweep's rounding must not outlive it
                self.last = (currents, self.error) if step <= self.tol else None
                return currents
        exact = self._times(v_other, self.link.scaled[self.side])
        self.anchor = (np.array(v_other, copy=True), exact)
        self.error = None  # float64 products are taken as exact, as everywhere in the solver
        self.last = (exact, None)
        return exact
