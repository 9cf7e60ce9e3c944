"""Exact solve of a group's nets whose only nonlinear elements are behavioral clamps to known nodes, on the device.

The same method as the CPU's :mod:`ebana.backends.layered.clamps`: with the far
ends known, each net's KCL is piecewise linear and increasing,

    f(V) = (D + sum_s goff_s) V - C - K - sum_s goff_s u_s + sum_s m_s gdelta_s (V - bp_s) = 0,

with ``m_s = 1`` past clamp ``s``'s breakpoint ``bp_s = u_s + sign_s vth_s``. For one
clamp, or a pair from above and below whose lower breakpoint lies under the upper
one, solving with every clamp off and then on the segment of the clamp whose
breakpoint that voltage passed is exact in one pass (elementwise work only).
Units: V, A, S.
"""
from ...errors import SimulatorError


class DeviceClamps:
    """The clamp sets of one group (``sets``, :class:`~ebana.backends.layered.plan.DiodeSet`)
    with far-end voltages ``far`` (V, ``(B or 1, n)`` each), diagonal ``D`` (S) and known-node current ``K`` (A)."""

    def __init__(self, sets, far, D, K, xp):
        self.xp = xp
        self.parts = []
        self.off = []  # (goff (S), far-end voltage u (V)) per set
        g_off_total, c_off = 0.0, 0.0
        for s, u in zip(sets, far):
            m = s.behavioral
            g_off, g_delta = 1.0 / m.roff, 1.0 / m.ron - 1.0 / m.roff
            sign = float(s.sign[0])
            bp = u + sign * m.vth
            g_off_total += g_off
            c_off = c_off + g_off * u
            self.parts.append((sign, bp, g_delta, g_delta * bp))
            self.off.append((g_off, u))
        self.D = D + g_off_total        # slope with every clamp off (S)
        self.K = K + c_off              # current from known nodes, the clamps' off part included (A)
        self.inv_off = 1.0 / self.D
        self.inv_on = [1.0 / (self.D + gd) for _, _, gd, _ in self.parts]
        self.ordered = None  # a pair's lower breakpoints below its upper ones (a device bool), which the one pass needs
        if len(self.parts) == 2:
            low = next(p[1] for p in self.parts if p[0] < 0)
            high = next(p[1] for p in self.parts if p[0] > 0)
            self.ordered = xp.all(low <= high)

    def require_ordered(self):
        """Raise SimulatorError unless the one-pass solve holds (a host round trip)."""
        if self.ordered is not None and not bool(self.ordered):
            raise SimulatorError("device solver: a two-sided clamp whose lower breakpoint lies above its upper "
                                 "one (the CPU solver handles it: device='cpu')")

    def solve(self, C):
        """The nets' voltages (V) for the current ``C`` (A) from the other groups and injections."""
        xp = self.xp
        c0 = C + self.K
        v = c0 * self.inv_off
        for (sign, bp, _, gdbp), inv in zip(self.parts, self.inv_on):
            # after the upper clamp's update v stays above the lower breakpoint, so each clamp
            # may test the voltage the previous one left
            past = v > bp if sign > 0 else v < bp
            v = xp.where(past, (c0 + gdbp) * inv, v)
        return v

    def residual(self, v, C):
        """KCL of every net at ``v`` (V): current out minus in (A), and the slope (S)."""
        xp = self.xp
        f = self.D * v - C - self.K
        fp = self.D + 0.0 * v
        for sign, bp, gd, _ in self.parts:
            beyond = xp.maximum(v - bp, 0.0) if sign > 0 else xp.minimum(v - bp, 0.0)
            f = f + gd * beyond
            fp = fp + gd * (beyond != 0.0)
        return f, fp

    def currents(self, v):
        """Current (A) each clamp set carries from the nets at ``v`` (V) to its far ends, ``[(B, n), ...]``."""
        xp = self.xp
        out = []
        for (sign, bp, gd, _), (g_off, u) in zip(self.parts, self.off):
            beyond = xp.maximum(v - bp, 0.0) if sign > 0 else xp.minimum(v - bp, 0.0)
            out.append(g_off * (v - u) + gd * beyond)
        return out
