"""A batched Newton-Raphson solver for the same circuits Ngspice solves.

Each iteration replaces every diode by its companion model (conductance
``gd`` and current ``ieq`` linearised at its junction voltage) and solves the
reduced modified-nodal system of the whole batch with one stacked LU. Shockley
junction voltages are limited as SPICE does (``pnjlim``), and ``gmin`` sits
across every junction, so the converged point is Ngspice's.
"""
import numpy as np

from ...circuit.netlist import DEFAULT_OPTIONS
from ...errors import SimulatorError
from ..base import Backend, OperatingPoint
from ..heap import keep_freed_memory
from ..junctions import DiodeParams
from .linear import LinearSystem
from .plan import Plan, scatter


class DenseBackend(Backend):
    """Vectorised Newton solver (numpy), checked against Ngspice in the tests.

    max_iterations: Newton iterations before giving up on a sample.
    vtol: convergence when no node voltage moves by more than this (V).
    """
    name = "native-dense"

    def __init__(self, max_iterations=200, vtol=1e-13, gmin=DEFAULT_OPTIONS["gmin"]):
        keep_freed_memory()
        self.max_iterations = max_iterations
        self.vtol = vtol
        self.gmin = gmin
        self._cache = None  # (circuit, plan, diode params)
        self._linear_cache = None  # LinearSystem of the last shared g
        self.solves = 0

    def _prepare(self, circuit):
        if self._cache is None or self._cache[0] is not circuit:
            self._cache = (circuit, Plan(circuit), DiodeParams(circuit, self.gmin))
            self._linear_cache = None
        return self._cache[1], self._cache[2]

    def _linear(self, plan, g):
        """The :class:`LinearSystem` of ``g``, reused while a shared ``g`` is unchanged."""
        if self._linear_cache is None or not self._linear_cache.matches(plan, g):
            system = LinearSystem(plan, g)
            if not system.shared:
                return system
            self._linear_cache = system
        return self._linear_cache

    def solve(self, circuit, stimulus, initial=None, sample_offset=0):
        """The :class:`OperatingPoint` of every sample of ``stimulus``, from ``initial`` node
        voltages (V, (B, N)) when given (a warm start, e.g. the nudged phase from the free one)."""
        plan, dp = self._prepare(circuit)
        g = np.asarray(stimulus.g, dtype=float)
        v = self._known_voltages(circuit, plan, stimulus)
        lin = self._linear(plan, g)
        rhs_lin = self._linear_rhs(plan, lin, stimulus, v)
        if initial is not None:
            v[:, plan.free] = np.asarray(initial)[:, plan.free]
        x = self._newton(circuit, plan, dp, lin, rhs_lin, v, sample_offset)
        if not np.all(np.isfinite(v)):
            raise SimulatorError("native solve produced non-finite voltages",
                                 sample=sample_offset + int(np.argmax(~np.isfinite(v).all(axis=1))))
        i_vs = self._branch_currents(circuit, plan, dp, stimulus, lin, v, x)
        self.solves += stimulus.batch_size
        return OperatingPoint(v, i_vs)

    @staticmethod
    def _known_voltages(circuit, plan, stimulus):
        """Node voltages ``(B, N)`` (V): the nodes that sources hold set, every other node 0."""
        v = np.zeros((stimulus.batch_size, circuit.n_nodes))
        fx = plan.fixed_nodes
        v[:, fx] = stimulus.vs[:, plan.fix_src[fx]] * plan.fix_sign[fx]
        return v

    @staticmethod
    def _linear_rhs(plan, lin, stimulus, v):
        """The right-hand side ``(B, M)`` (A, or V in constraint rows) of the part of the system
        that no Newton iteration changes: current sources, the resistors' currents from the
        known nodes ``v``, and the constraint rows of floating sources and amplifiers."""
        rhs_lin = scatter(plan.is_rows, stimulus.isrc) - lin.fixed_rhs(v)
        for r, node, coef in plan.const_fixed:
            rhs_lin[:, r] -= coef * v[:, node]
        for r, k in plan.const_rhs_vs:
            rhs_lin[:, r] += stimulus.vs[:, k]
        rhs_lin += plan.const_rhs_amp
        return rhs_lin

    def _newton(self, circuit, plan, dp, lin, rhs_lin, v, sample_offset):
        """Newton's method from the voltages ``v`` (V), whose free nodes it updates in place;
        returns the unknowns ``(B, M)`` of the last solve (free node voltages, then branch currents).

        Stops when every diode is piecewise linear and none changed region (the linear solve
        was then exact), or, from the second iteration, when no junction voltage needed
        limiting, no diode changed region and no node moved by more than
        ``vtol * (1 + largest |V|)``; a circuit without diodes takes one solve."""
        da, dc = circuit.d_anode, circuit.d_cathode
        F = plan.F
        vd = v[:, da] - v[:, dc]
        x = np.zeros((v.shape[0], plan.M))
        x[:, :F] = v[:, plan.free]
        for it in range(self.max_iterations):
            x_new = self._linearised_solve(plan, dp, lin, rhs_lin, v, vd, len(da), sample_offset)
            step = np.abs(x_new[:, :F] - x[:, :F]).max(axis=1, initial=0.0)  # per sample (V)
            dv = step.max(initial=0.0)
            x = x_new
            v[:, plan.free] = x[:, :F]
            if not len(da):
                break
            vd_new = v[:, da] - v[:, dc]
            vd_lim = dp.limit(vd_new, vd)
            limited = np.any(vd_lim != vd_new)
            flipped = ((vd_new > dp.vth) != (vd > dp.vth)).any(axis=1)  # samples whose diodes changed region
            region_same = not flipped.any()
            vd = vd_lim
            if region_same and not dp.any_shockley:
                break  # piecewise-linear diodes kept their regions: the linear solve was exact
            if it > 0 and not limited and dv <= self.vtol * (1 + np.abs(x[:, :F]).max(initial=0.0)) and region_same:
                break
        else:
            # the sample furthest from settling: a diode still changing region, else the largest step
            bad = int(np.argmax(step + flipped * (1.0 + step.max(initial=0.0))))
            raise SimulatorError(f"native Newton did not converge in {self.max_iterations} iterations",
                                 sample=sample_offset + bad)
        return x

    @staticmethod
    def _linearised_solve(plan, dp, lin, rhs_lin, v, vd, n_diodes, sample_offset):
        """One Newton iteration's linear solve, every diode replaced by its companion model
        (conductance and current) linearised at junction voltages ``vd`` (V): the unknowns
        ``(B, M)``. A singular matrix means a node without a DC path: a SimulatorError."""
        try:
            if n_diodes:
                i_d, g_d = dp.evaluate(vd)
                rhs = rhs_lin - plan.dio.fixed_rhs(g_d, v) - scatter(plan.dio_rows, i_d - g_d * vd)
                return lin.solve(rhs, g_d, None if dp.any_exponential else (dp.g_off, dp.g_off + dp.g_delta))
            return lin.solve(rhs_lin)
        except np.linalg.LinAlgError:
            raise SimulatorError("singular circuit matrix (a node with no DC path to a source?)",
                                 sample=sample_offset) from None

    @staticmethod
    def _branch_currents(circuit, plan, dp, stimulus, lin, v, x):
        """Source currents from KCL at the nodes they hold (SPICE sign)."""
        B = v.shape[0]
        leave = lin.resistor_currents(circuit, v)
        leave -= scatter(plan.kcl_is, stimulus.isrc)
        if len(circuit.d_anode):
            i_d, _ = dp.evaluate(v[:, circuit.d_anode] - v[:, circuit.d_cathode])
            leave += scatter(plan.kcl_dio, i_d)
        F, nf = plan.F, len(plan.floating)
        if len(circuit.amp_in):
            leave += scatter(plan.kcl_amp, x[:, F + nf:])
        i_vs = np.zeros((B, circuit.n_vs))
        if nf:
            j_fl = x[:, F:F + nf]
            i_vs[:, plan.floating] = j_fl
            leave += scatter(plan.kcl_float, j_fl)
        fx = plan.fixed_nodes
        # source k holds node fx: the current it takes from the node balances KCL there
        i_vs[:, plan.fix_src[fx]] = -leave[:, fx] * plan.fix_sign[fx]
        return i_vs


NativeBackend = DenseBackend  # its name before the solvers were split into dense/ and layered/
