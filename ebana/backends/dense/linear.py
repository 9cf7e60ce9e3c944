"""The linear part of the native solver's system, assembled once per conductance state.

Resistors, floating sources and amplifiers are linear: their Jacobian, what the
known (source-held) node voltages push into the equations, and every node's
resistor current depend on ``g`` only. For a conductance vector shared by the
batch they are built once and kept while ``g`` stays the same (the free and
nudged phases of an EP step share them). The unknowns that no diode touches
are then eliminated once (Schur complement), so a Newton iteration factors
only the block of diode-coupled unknowns: on the design network 32 of 52.
"""
import numpy as np

from .low_rank import LowRankDiodes, incidence, solve_directly
from .plan import scatter


class LinearSystem:
    """Linear stamps of one conductance state: ``g`` (S), ``(R,)`` or ``(B, R)``."""

    def __init__(self, plan, g):
        self.plan = plan
        self.g = g
        self.shared = g.ndim == 1
        res, M = plan.res, plan.M
        if not self.shared:
            self.J = res.jacobian(g, M) + plan.C
            self._schur = None
            return
        self.J = res.jacobian(g[None, :], M)[0] + plan.C
        fixed, laplacian = plan.shared_products()  # SciPy's products, their patterns found once
        self.fixed = fixed(g[res.fx_elem])   # (M, N): fixed @ diag(g[fx_elem]) @ fx_select
        self.laplacian = laplacian(g)        # (N, N): kcl_res diag(g) kcl_res^T
        self._schur = self._reduce(plan)
        self._low_rank = None  # LowRankDiodes of the diode block, made on the first solve that allows it

    def matches(self, plan, g):
        return self.plan is plan and self.shared and g.ndim == 1 and np.array_equal(self.g, g)

    def _reduce(self, plan):
        nl, lin = plan.dio_unknowns, plan.lin_unknowns
        if not len(nl) or not len(lin):
            return None
        A = self.J
        try:
            inv = np.linalg.inv(A[np.ix_(lin, lin)])
        except np.linalg.LinAlgError:
            return None  # let the full solve report the singular matrix
        W = A[np.ix_(nl, lin)] @ inv                 # (K, L)
        P = inv @ A[np.ix_(lin, nl)]                 # (L, K)
        S = A[np.ix_(nl, nl)] - A[np.ix_(nl, lin)] @ P
        return inv, W, P, S

    # right-hand side and currents ---------------------------------------------
    def fixed_rhs(self, v):
        """What the known node voltages ``v`` (V) push into each equation, ``(B, M)`` (A), to subtract."""
        if self.shared:
            return scatter(self.fixed, v)
        return self.plan.res.fixed_rhs(self.g, v)

    def resistor_currents(self, circuit, v):
        """Resistor current (A) leaving every node, ``(B, N)``."""
        if self.shared:
            return scatter(self.laplacian, v)
        # (R, B) layout throughout: sparse products instead of (B, R) fancy-index gathers
        currents = np.asarray(self.plan.drop_res @ v.T) * self.g.T
        return np.asarray(self.plan.kcl_res @ currents).T

    # solving ------------------------------------------------------------------
    def solve(self, rhs, g_d=None, levels=None):
        """Unknowns ``(B, M)`` of the system plus diode companion conductances ``g_d`` (S, (B, D)).
        ``levels``: every diode's two conductances (off, on; S) when all are piecewise linear,
        which lets the diode block be solved as low-rank updates of a shared one (:mod:`.low_rank`)."""
        plan = self.plan
        if g_d is None:
            if self.J.ndim == 2:
                return np.linalg.solve(self.J, rhs.T).T  # one matrix, B right-hand sides
            return np.linalg.solve(self.J, rhs[..., None])[..., 0]
        if self._schur is None:
            return np.linalg.solve(self.J + plan.dio.jacobian(g_d, plan.M), rhs[..., None])[..., 0]
        inv, W, P, S = self._schur
        nl, lin = plan.dio_unknowns, plan.lin_unknowns
        r_l = rhs[:, lin]
        x = np.empty_like(rhs)
        rhs_n = rhs[:, nl] - r_l @ W.T
        low_rank = self._low_rank_solver(S, levels)
        x_n = low_rank.solve(rhs_n, g_d) if low_rank is not None else solve_directly(S, plan.dio_block_jac, rhs_n, g_d)
        x[:, nl] = x_n
        x[:, lin] = r_l @ inv.T - x_n @ P.T
        return x

    def _low_rank_solver(self, S, levels):
        """The :class:`LowRankDiodes` of this system's diode block, or None where it does not apply."""
        if not LowRankDiodes.applies(len(S), levels):
            return None
        if self._low_rank is None:
            U = incidence(self.plan.dio_block_jac, len(S))
            self._low_rank = False if U is None else LowRankDiodes(S, U, levels, self.plan.dio_block_jac)
        return self._low_rank or None
