"""Junction models as the native solvers evaluate them: currents, conductances and
SPICE's junction limiting, vectorised over every diode of a circuit.

Shared by the dense and the layered native solvers so that both solve the same
equations as Ngspice (dioload.c): Shockley junctions with SPICE's reverse-bias
form and ``gmin`` across every junction, or the piecewise-linear behavioral
diode. Units: V, A, S.
"""
import numpy as np

from ..circuit.elements import BehavioralDiode, ShockleyDiode

# Ngspice 39's constants (const.h): VT = k T / q at 27 C.
BOLTZMANN = 1.38064852e-23
CHARGE = 1.6021766208e-19
T_NOMINAL = 300.15
VT_NOMINAL = BOLTZMANN * T_NOMINAL / CHARGE


class DiodeParams:
    """Per-diode parameter arrays gathered from the circuit's diode blocks."""

    def __init__(self, circuit, gmin):
        D = len(circuit.d_anode)
        self.pwl = np.zeros(D, dtype=bool)
        self.vth, self.g_off, self.g_delta = np.zeros(D), np.zeros(D), np.zeros(D)
        self.is_, self.vt, self.vcrit = np.zeros(D), np.ones(D), np.zeros(D)
        for block in circuit.diode_blocks:
            sl, m = block.index, block.model
            if isinstance(m, BehavioralDiode):
                self.pwl[sl] = True
                self.vth[sl], self.g_off[sl] = m.vth, 1.0 / m.roff
                self.g_delta[sl] = 1.0 / m.ron - 1.0 / m.roff
            elif isinstance(m, ShockleyDiode):
                vt = m.n * VT_NOMINAL
                self.is_[sl], self.vt[sl] = m.is_, vt
                self.vcrit[sl] = vt * np.log(vt / (np.sqrt(2.0) * m.is_))
        self.gmin = gmin
        self.any_shockley = bool((~self.pwl).any())

    def evaluate(self, vd):
        """Current (A) and conductance (S) at junction voltages ``vd`` (V)."""
        on = vd > self.vth
        i = np.where(self.pwl, vd * self.g_off + (vd - self.vth) * on * self.g_delta, 0.0)
        g = np.where(self.pwl, self.g_off + on * self.g_delta, 0.0)
        if self.any_shockley:
            vt = self.vt
            fwd = vd >= -3.0 * vt
            e = np.exp(np.where(self.pwl | ~fwd, 0.0, vd / vt))
            i_f, g_f = self.is_ * (e - 1.0), self.is_ / vt * e
            # SPICE's reverse-bias form (dioload.c): -IS * (1 + (3 VT / (e vd))^3)
            with np.errstate(divide="ignore", invalid="ignore"):
                arg = np.where(fwd, 0.0, (3.0 * vt / (np.where(fwd, 1.0, vd) * np.e)) ** 3)
                i_r, g_r = -self.is_ * (1.0 + arg), self.is_ * 3.0 * arg / np.where(fwd, 1.0, vd)
            i = np.where(self.pwl, i, np.where(fwd, i_f, i_r) + self.gmin * vd)
            g = np.where(self.pwl, g, np.where(fwd, g_f, g_r) + self.gmin)
        return i, g

    def limit(self, vnew, vold):
        """SPICE's pnjlim: keep exponential junctions from overshooting."""
        if not self.any_shockley:
            return vnew
        vt, vcrit = self.vt, self.vcrit
        big = (~self.pwl) & (vnew > vcrit) & (np.abs(vnew - vold) > 2 * vt)
        if not big.any():
            return vnew
        arg = 1.0 + (vnew - vold) / vt
        with np.errstate(invalid="ignore", divide="ignore"):
            from_pos = np.where(arg > 0, vold + vt * np.log(np.maximum(arg, 1e-300)), vcrit)
            from_neg = vt * np.log(np.maximum(vnew / vt, 1e-300))
        lim = np.where(vold > 0, from_pos, from_neg)
        return np.where(big, lim, vnew)
