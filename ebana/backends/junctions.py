"""Junction models as the native solvers evaluate them: currents, conductances and
SPICE's junction limiting, vectorised over every diode of a circuit.

Shared by the dense and the layered native solvers so that both solve the same
equations as Ngspice (dioload.c, mos1load.c): Shockley junctions with SPICE's
reverse-bias form and ``gmin`` across every junction, diode-connected level-1
MOSFETs, or the piecewise-linear behavioral diode. Units: V, A, S.
"""
import copy

import numpy as np

from ..circuit.elements import BehavioralDiode, MosDiode, ShockleyDiode

# Ngspice 39's constants (const.h): VT = k T / q at 27 C.
BOLTZMANN = 1.38064852e-23
CHARGE = 1.6021766208e-19
T_NOMINAL = 300.15
VT_NOMINAL = BOLTZMANN * T_NOMINAL / CHARGE


class DiodeParams:
    """Per-diode parameter arrays gathered from the circuit's diode blocks.

    Three kinds, selected per diode by masks: piecewise linear (``pwl``),
    Shockley (``shockley``) and diode-connected level-1 MOSFETs (``mos``, see
    :class:`~ebana.circuit.elements.MosDiode`). Each exponential junction sits
    at ``sign * vd`` (+1: the Shockley diode itself; -1: a MOSFET's
    bulk-drain junction), which is what :meth:`limit` keeps from overshooting.
    """

    def __init__(self, circuit, gmin):
        D = len(circuit.d_anode)
        self.pwl, self.shockley, self.mos = (np.zeros(D, dtype=bool) for _ in range(3))
        self.vth, self.g_off, self.g_delta = np.zeros(D), np.zeros(D), np.zeros(D)
        self.is_, self.vt, self.vcrit, self.sign = np.zeros(D), np.ones(D), np.zeros(D), np.ones(D)
        self.beta, self.vto, self.lam = np.zeros(D), np.zeros(D), np.zeros(D)
        for block in circuit.diode_blocks:
            sl, m = block.index, block.model
            if isinstance(m, BehavioralDiode):
                self.pwl[sl] = True
                self.vth[sl], self.g_off[sl] = m.vth, 1.0 / m.roff
                self.g_delta[sl] = 1.0 / m.ron - 1.0 / m.roff
            elif isinstance(m, (ShockleyDiode, MosDiode)):
                mos = isinstance(m, MosDiode)
                vt = VT_NOMINAL if mos else m.n * VT_NOMINAL
                (self.mos if mos else self.shockley)[sl] = True
                self.is_[sl], self.vt[sl] = m.is_, vt
                self.vcrit[sl] = vt * np.log(vt / (np.sqrt(2.0) * m.is_))
                if mos:
                    self.sign[sl] = -1.0
                    self.beta[sl], self.vto[sl], self.lam[sl] = m.beta, m.vto, m.lambda_
        self.gmin = gmin
        self._summarise()

    def _summarise(self):
        self.any_mos, self.has_shockley = bool(self.mos.any()), bool(self.shockley.any())
        self.junction = self.shockley | self.mos
        self.any_exponential = bool(self.junction.any())
        # Solvers read ``any_shockley`` as "some junction is smooth and nonlinear": Newton must
        # then iterate to tolerance (piecewise-linear diodes only need their regions to settle).
        self.any_shockley = self.any_exponential

    def subset(self, idx):
        """The parameters of the diodes at ``idx`` only (a solver evaluating part of the circuit)."""
        sub = copy.copy(self)
        D = len(self.pwl)
        for key, value in vars(self).items():
            if isinstance(value, np.ndarray) and value.shape[:1] == (D,):
                setattr(sub, key, value[idx])
        sub._summarise()
        return sub

    def evaluate(self, vd):
        """Current (A, anode to cathode) and conductance di/dvd (S) at junction voltages ``vd`` (V)."""
        on = vd > self.vth
        i = np.where(self.pwl, vd * self.g_off + (vd - self.vth) * on * self.g_delta, 0.0)
        g = np.where(self.pwl, self.g_off + on * self.g_delta, 0.0)
        if self.has_shockley:
            vt, sh = self.vt, self.shockley
            fwd = vd >= -3.0 * vt
            with np.errstate(over="ignore"):  # a trial point far up the exponential: inf, which solvers reject
                e = np.exp(np.where(sh & fwd, vd / vt, 0.0))
            i_f, g_f = self.is_ * (e - 1.0), self.is_ / vt * e
            # SPICE's reverse-bias form (dioload.c): -IS * (1 + (3 VT / (e vd))^3)
            with np.errstate(divide="ignore", invalid="ignore"):
                arg = np.where(fwd, 0.0, (3.0 * vt / (np.where(fwd, 1.0, vd) * np.e)) ** 3)
                i_r, g_r = -self.is_ * (1.0 + arg), self.is_ * 3.0 * arg / np.where(fwd, 1.0, vd)
            i = np.where(sh, np.where(fwd, i_f, i_r) + self.gmin * vd, i)
            g = np.where(sh, np.where(fwd, g_f, g_r) + self.gmin, g)
        if self.any_mos:
            i_m, g_m = self._mos(vd)
            i, g = np.where(self.mos, i_m, i), np.where(self.mos, g_m, g)
        return i, g

    def _mos(self, vd):
        """Level-1 diode-connected MOSFET (mos1load.c): channel in saturation above VTO,
        cut off below (and in reverse, where the gate sits at the new source), minus
        the bulk-drain junction at ``-vd`` with ``gmin`` across it."""
        vgst = np.where(self.mos & (vd > self.vto), vd - self.vto, 0.0)
        i_ch = 0.5 * self.beta * vgst * vgst * (1.0 + self.lam * vd)
        g_ch = self.beta * vgst * (1.0 + self.lam * vd) + 0.5 * self.lam * self.beta * vgst * vgst
        u, vt = -vd, self.vt
        rev = u <= -3.0 * vt
        e = np.exp(np.where(self.mos & ~rev, np.minimum(u / vt, 709.0), 0.0))
        i_bd = np.where(rev, -self.is_, self.is_ * (e - 1.0)) + self.gmin * u
        g_bd = np.where(rev, 0.0, self.is_ * e / vt) + self.gmin
        return i_ch - i_bd, g_ch + g_bd

    def limit(self, vnew, vold):
        """SPICE's pnjlim on every exponential junction (at ``sign * vd``): keep it from overshooting."""
        if not self.any_exponential:
            return vnew
        s, vt, vcrit = self.sign, self.vt, self.vcrit
        unew, uold = s * vnew, s * vold
        big = self.junction & (unew > vcrit) & (np.abs(unew - uold) > 2 * vt)
        if not big.any():
            return vnew
        arg = 1.0 + (unew - uold) / vt
        with np.errstate(invalid="ignore", divide="ignore"):
            from_pos = np.where(arg > 0, uold + vt * np.log(np.maximum(arg, 1e-300)), vcrit)
            from_neg = vt * np.log(np.maximum(unew / vt, 1e-300))
        lim = np.where(uold > 0, from_pos, from_neg)
        return np.where(big, s * lim, vnew)
