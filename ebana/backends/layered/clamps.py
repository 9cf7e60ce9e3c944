"""Exact solve of a group of nets whose only nonlinear elements are piecewise-linear clamps.

Every ``DiodeLayer`` of kind 'behavioral' clamps each net to a known bias node
through a diode that is a conductance ``1/ROFF`` below its threshold and adds
``1/RON - 1/ROFF`` beyond it. With the far ends known, a net's KCL is then

    f(V) = (D + sum_s goff_s) V - C - sum_s goff_s u_s + sum_s m_s gdelta_s (V - bp_s) = 0,

with ``m_s = 1`` when the net is past clamp ``s``'s breakpoint ``bp_s`` (above it
for a clamp from above, below it for one from below), else 0. For a given set
of active clamps that is one division. ``f`` is increasing, so:

* one clamp, or a pair from above and below with the lower breakpoint under the
  upper one (the usual two-sided clamp): solve with every clamp off; if that
  voltage lies past a breakpoint, the root is on that clamp's active segment
  (the other clamp stays off): one pass, exact;
* otherwise re-read which clamps are active at the new voltage and repeat.

The usual two-sided clamp with the same diode on both sides (equal ``gdelta``)
takes fewer passes over memory: on an active segment the voltage is
``V_off - eps (V_off - bp)`` with ``eps = gdelta / (D + goff + gdelta)``, where
``V_off`` is the voltage with every clamp off, so

    V = V_off - eps * (V_off - clip(V_off, bp_low, bp_high)),

and the residual's clamp current is ``gdelta * (V - clip(V, bp_low, bp_high))``:
one compiled pass each for the solve and the check (:mod:`.kernels`). A single
clamp (the rectified networks' one diode per net) is that band with its other
side at -inf or +inf: the same passes (measured: 0.54 -> 0.42 ms per sample for
an EP step of the 1568-1024-10 rectified network, 2.1 -> 1.2 ms for a
rectified locally connected one).

Units: V, A, S.
"""
import numpy as np

from .kernels import assign_with_move, clamp_band, clamp_band_residual, clamp_piece_slopes
from .links import add_drift


def _rows_equal(x):
    """``x`` (B, n) as (1, n) when every sample has the same values (bias nodes do)."""
    return x[:1] if x.shape[0] > 1 and np.all(x == x[:1]) else x


class ClampSolver:
    """The clamps of one group with their far-end voltages ``far`` (V, one ``(B, n)`` per set),
    the group's diagonal ``D`` (S) and current from known nodes ``K`` (A)."""

    def __init__(self, sets, far, D, K):
        self.parts = []
        extra_g, extra_c = 0.0, 0.0
        for s, u in zip(sets, far):
            m = s.behavioral
            g_off, g_delta = 1.0 / m.roff, 1.0 / m.ron - 1.0 / m.roff
            sign = float(s.sign[0])
            u = _rows_equal(u)  # bias nodes: one row for the batch, and so is everything made from it
            bp = u + sign * m.vth   # breakpoint voltage (V)
            extra_g += g_off
            extra_c = extra_c + g_off * u
            self.parts.append((sign, bp, g_delta, g_delta * bp))
        self.D = D + extra_g          # conductance with every clamp off (S)
        # current from known nodes (A) and the clamps' off part (A, one row or one per sample)
        self.known, self.extra_c = K, np.atleast_2d(extra_c)
        self._K = None
        self.inv_off = 1.0 / self.D   # multiplications are cheaper than divisions in the sweeps
        self.inv_on = [1.0 / (self.D + p[2]) for p in self.parts]
        signs = sorted(p[0] for p in self.parts)
        self.one_pass = len(self.parts) == 1 or (
            signs == [-1.0, 1.0] and np.all(self._part(-1.0)[1] <= self._part(1.0)[1]))
        self._wide_cache = None
        #: the slope products of the last Newton matrix made on this group's clamps, with the
        #: slopes they were made for (:mod:`.clamp_newton`: a chunk's phases share them); None before
        self.newton_products = None
        self.band = None  # (bp_low, bp_high, gdelta, eps) for a two-sided clamp of one diode
        if self.one_pass and len(self.parts) == 2 and self.parts[0][2] == self.parts[1][2]:
            gd = self.parts[0][2]
            self.band = (self._part(-1.0)[1], self._part(1.0)[1], gd, gd / (self.D + gd))
        elif len(self.parts) == 1:  # a rectifier: a band whose other side lies at infinity
            sign, bp, gd, _ = self.parts[0]
            beyond = np.full_like(bp, -sign * np.inf)
            low, high = (beyond, bp) if sign > 0 else (bp, beyond)
            self.band = (low, high, gd, gd / (self.D + gd))

    @property
    def K(self):
        """Current from known nodes, the clamps' off part included (A), made when first asked: a
        pooled block (:mod:`.pooled`) reads ``known`` and ``extra_c`` apart and never needs the
        sum, a (B, n) array per batch (8 MB at 64 samples of the local image network)."""
        if self._K is None:
            self._K = self.known + self.extra_c
        return self._K

    def update(self, C, v, change=None):
        """The nets' voltages for the current ``C`` (A; K excluded), written into ``v`` (V) in
        place; ``change`` (or None) receives new minus old (V). Returns every sample's largest
        move (V). The two-sided clamp of one diode (``band``) is one compiled pass."""
        if self.band is not None:
            K, inv_off, low, high, eps, _ = self._wide(v.shape)
            return clamp_band(C, K, inv_off, low, high, eps, v, change)
        return assign_with_move(v, self._solve(C, v), change)

    def piece_slopes(self, v):
        """Each net's voltage per ampere of the current into it, on the piece of its band clamp
        its voltage ``v`` (V, ``(B, n)``) lies on (V/A): ``1 / D`` inside the band, ``1 / (D +
        g_on)`` past it (the band case only: :mod:`.clamp_newton`)."""
        _, inv_off, low, high, eps, _ = self._wide(v.shape)
        return clamp_piece_slopes(v, inv_off, low, high, eps)

    def _wide(self, shape):
        """``K, inv_off, low, high, eps, D`` of the band case broadcast to ``shape`` (stride-0
        views for the kernels), made once per shape: each broadcast_to costs ~15 us of Python."""
        if self._wide_cache is None or self._wide_cache[0] != shape:
            low, high, _, eps = self.band
            constants = (self.K, self.inv_off, low, high, eps, self.D)
            self._wide_cache = (shape, [np.broadcast_to(x, shape) for x in constants])
        return self._wide_cache[1]

    def _part(self, sign):
        return next(p for p in self.parts if p[0] == sign)

    @staticmethod
    def eligible(sets, far):
        """Whether every set is behavioral, uniform in direction, on the nets themselves, with known far ends."""
        return bool(sets) and all(s.behavioral is not None and s.end.identity and u is not None
                                  and np.all(s.sign == s.sign[0]) for s, u in zip(sets, far))

    def _solve(self, C, v_guess):
        """Net voltages (V) for the current ``C`` (A) from the rest of the circuit (K excluded),
        for clamp sets other than ``band``."""
        c0 = C + self.K
        if self.one_pass:
            v = c0 * self.inv_off
            on = np.empty_like(v)
            for (sign, bp, gd, gdbp), inv in zip(self.parts, self.inv_on):
                # after the upper clamp's update v stays above the lower breakpoint, so each
                # clamp may test the voltage the previous one left
                past = np.greater(v, bp) if sign > 0 else np.less(v, bp)
                if past.any():
                    np.add(c0, gdbp, out=on)
                    on *= inv
                    np.copyto(v, on, where=past)
            return v
        active = self._active(v_guess)
        for _ in range(len(self.parts) + 2):
            num, den = c0.copy(), np.broadcast_to(self.D, c0.shape).copy()
            for m, (_, _, gd, gdbp) in zip(active, self.parts):
                num += np.where(m, gdbp, 0.0)
                den += np.where(m, gd, 0.0)
            v = num / den
            again = self._active(v)
            if all(np.array_equal(a, b) for a, b in zip(active, again)):
                return v
            active = again
        return v  # the sweep's convergence test and the residual check judge it

    def _active(self, v):
        return [(v > bp) if sign > 0 else (v < bp) for sign, bp, _, _ in self.parts]

    def check(self, v, C, drifts):
        """The KCL check of every net at ``v`` (V) with currents ``C`` (A) that may be off by
        ``coupling * uncertain`` for each ``(side, coupling (S), uncertain (V, per sample))`` of
        ``drifts``: the largest residual per sample as a Newton step (V) and as a current (A)."""
        B, n = v.shape
        rows = [(c, u) for side, c, u in drifts if side.full and np.ndim(c) == 1]
        extra = None
        for side, c, u in drifts:
            if not (side.full and np.ndim(c) == 1):
                extra = np.zeros((B, n)) if extra is None else extra
                add_drift(extra, side, c, u)
        coupling = np.array([c for c, _ in rows]).reshape(len(rows), n)
        uncertain = np.array([np.broadcast_to(u, (B,)) for _, u in rows]).reshape(len(rows), B)
        if self.band is not None:
            K, _, low, high, _, D = self._wide(v.shape)
            return clamp_band_residual(v, C, D, K, low, high, self.band[2], coupling, uncertain, extra)
        f, fp = self._residual(v, C)
        f = np.abs(f)
        f += uncertain.T @ coupling
        if extra is not None:
            f += extra
        return (f / fp).max(axis=1, initial=0.0), f.max(axis=1, initial=0.0)

    def _residual(self, v, C):
        """KCL of every net at ``v`` (V): current out minus in (A), and the slope (S)."""
        f = self.D * v
        f -= C
        f -= self.K
        fp = np.broadcast_to(self.D, v.shape).copy()
        past = np.empty_like(v)
        for sign, bp, gd, _ in self.parts:
            # an active clamp adds gd * (v - bp): past its breakpoint, above it for sign > 0
            np.subtract(v, bp, out=past)
            (np.maximum if sign > 0 else np.minimum)(past, 0.0, out=past)
            past *= gd
            f += past
            fp += gd * (past != 0.0)
        return f, fp
