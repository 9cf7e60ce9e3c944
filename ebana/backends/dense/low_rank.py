"""Newton's linear solves when a sample's diodes differ from the batch's usual state in few places.

Each Newton iteration of the dense solver solves, per sample, the block of diode-coupled
unknowns ``J = S + U diag(g_d) U^T`` (``S``: the linear part, shared by the batch;
``U``: ``(K, D)``, each diode's incidence in the block; ``g_d``: the diodes' companion
conductances, S). Done directly, that is one ``K x K`` LU per sample and iteration: at
``K = 128`` (a wired 128 x 128 tile's hidden nets) it was a quarter of the EP step.

A piecewise-linear diode has two conductances, off and on, and a sample usually has few
diodes away from the state most of the batch is in. With that state as the base,
``J0 = S + U diag(g0) U^T`` is shared and inverted once; a sample differs from it by a
rank-``k`` update on its ``k`` diodes away from the base (``delta = g_d - g0``), and
Woodbury's identity needs one ``k x k`` system:

    J^-1 r = J0^-1 r - P_A (diag(1 / delta_A) + Q_AA)^-1 U_A^T J0^-1 r,   P = J0^-1 U, Q = U^T P.

Samples are solved in groups of similar ``k`` (padded to a power of two). Every sample's
residual is checked; one whose residual is above a direct LU's level gets one step of
iterative refinement, and one still above it, or whose ``k`` exceeds half the block, is
solved directly: never a silently worse answer. Units: S, A, V.
"""
import numpy as np

#: blocks smaller than this are solved directly: the bookkeeping costs more than the LUs (an EP
#: step of the 8x8 digits wires study, K = 32 at batch 8: 30.3 ms low-rank, 28.9 ms direct;
#: the 14x14 Fashion-MNIST one, K = 64 at batch 32: 172 against 186 ms)
MIN_BLOCK = 48
#: residual accepted, relative to ``|J|_inf |x|_inf + |r|_inf`` per sample (a direct LU's level)
RELATIVE_RESIDUAL = 1e-12
#: inverses of a base kept per linear system (the base changes while Newton settles)
KEPT_BASES = 4


def incidence(block_jacobian, K):
    """``U`` (K, D) with ``U diag(g) U^T`` equal to ``block_jacobian @ g`` reshaped ``(K, K)``, or
    None when a diode's stamp is not of that form. ``block_jacobian``: sparse ``(K*K, D)``."""
    jac = block_jacobian.tocsc()
    U = np.zeros((K, jac.shape[1]))
    for d in range(jac.shape[1]):
        entries = jac.indices[jac.indptr[d]:jac.indptr[d + 1]]
        signs = jac.data[jac.indptr[d]:jac.indptr[d + 1]]
        diag = sorted(int(e // K) for e, s in zip(entries, signs) if e // K == e % K and s == 1)
        if diag:
            U[diag[0], d] = 1.0
        if len(diag) == 2:
            U[diag[1], d] = -1.0
    probe = np.random.default_rng(0).uniform(1.0, 2.0, jac.shape[1])
    # sums of a few probes each, added in another order: equal to rounding
    if not np.allclose((U * probe) @ U.T, np.asarray(block_jacobian @ probe).reshape(K, K), rtol=1e-12, atol=0):
        return None
    return U


class LowRankDiodes:
    """Solves of ``S + U diag(g_d) U^T`` for a batch (see the module docstring): ``S`` ``(K, K)``
    (S), ``U`` from :func:`incidence`; ``levels``: each diode's off and on conductance (S)."""

    def __init__(self, S, U, levels, block_jacobian):
        self.S, self.U, self.block_jacobian = S, U, block_jacobian
        self.norm = float(np.abs(S).sum(axis=1).max(initial=0.0))  # |S|_inf (S)
        self.g_off, self.g_on = levels
        # groups of samples by active diodes: up to 1, 2, 4, ... (at most half the block)
        self.widths = [1 << p for p in range(max(len(S) // 2, 1).bit_length()) if 1 << p <= len(S) // 2]
        self._bases = {}  # base state (bytes) -> (J0^-1, P, Q) or None when J0 is not invertible

    @staticmethod
    def applies(K, levels):
        return K >= MIN_BLOCK and levels is not None

    def solve(self, rhs, g_d):
        """The unknowns ``(B, K)`` for right-hand sides ``rhs`` (A) and conductances ``g_d`` (S, ``(B, D)``)."""
        on = g_d != self.g_off
        usual = 2 * on.sum(axis=0) > len(g_d)  # the state most samples are in, per diode
        base = self._base(usual)
        if base is None:
            return self._direct(rhs, g_d)
        delta = g_d - np.where(usual, self.g_on, self.g_off)
        active = on != usual
        x = self._woodbury(base, rhs, delta, active)
        residual = self._residual(rhs, g_d, x)
        refine = self._too_large(residual, rhs, g_d, x)
        if refine.any():  # one step of iterative refinement where the first solve fell short
            x[refine] += self._woodbury(base, residual[refine], delta[refine], active[refine])
            refine[refine] = self._too_large(self._residual(rhs[refine], g_d[refine], x[refine]),
                                             rhs[refine], g_d[refine], x[refine])
        direct = refine | (active.sum(axis=1) > max(self.widths, default=0))
        if direct.any():
            x[direct] = self._direct(rhs[direct], g_d[direct])
        return x

    def _base(self, usual):
        key = usual.tobytes()
        if key not in self._bases:
            if len(self._bases) >= KEPT_BASES:
                self._bases.pop(next(iter(self._bases)))
            J0 = self.S + (self.U * np.where(usual, self.g_on, self.g_off)) @ self.U.T
            try:
                inv = np.linalg.inv(J0)
            except np.linalg.LinAlgError:
                inv = None
            # an ill-conditioned base (a node held by diodes alone, all off) would lose digits
            if inv is not None and np.abs(J0 @ inv - np.eye(len(J0))).max() > 1e-9:
                inv = None
            self._bases[key] = None if inv is None else (inv, inv @ self.U, self.U.T @ inv @ self.U)
        return self._bases[key]

    def _woodbury(self, base, rhs, delta, active):
        """``J^-1 rhs`` per sample by Woodbury's identity (samples with more active diodes than
        the widest group get ``J0^-1 rhs`` only: the caller solves them directly)."""
        inv, P, Q = base
        x = rhs @ inv.T
        counts = active.sum(axis=1)
        for width in self.widths:
            rows = np.flatnonzero((counts > width // 2) & (counts <= width))
            if len(rows):
                x[rows] -= self._correction(P, Q, x[rows] @ self.U, delta[rows], active[rows], width)
        return x

    @staticmethod
    def _correction(P, Q, projected, delta, active, width):
        """``P_A (diag(1/delta_A) + Q_AA)^-1 (U^T y)_A`` for samples with at most ``width`` active
        diodes; ``projected``: ``U^T y`` ``(n, D)``. Padded slots solve ``1 z = 0``."""
        n = len(active)
        order = np.argsort(~active, axis=1, kind="stable")[:, :width]  # active diodes first
        valid = np.take_along_axis(active, order, axis=1)
        C = Q[order[:, :, None], order[:, None, :]] * (valid[:, :, None] & valid[:, None, :])
        with np.errstate(divide="ignore"):
            C[:, np.arange(width), np.arange(width)] += np.where(valid, 1.0 / np.take_along_axis(delta, order, 1), 1.0)
        w = np.where(valid, np.take_along_axis(projected, order, axis=1), 0.0)
        try:
            z = np.linalg.solve(C, w[..., None])[..., 0]
        except np.linalg.LinAlgError:  # a singular capacitance matrix: NaN, so the residual check sends them direct
            z = np.full(w.shape, np.nan)
        return np.einsum("kni,ni->nk", P[:, order], z) if n else np.zeros((0, len(P)))

    def _residual(self, rhs, g_d, x):
        return rhs - x @ self.S.T - ((x @ self.U) * g_d) @ self.U.T

    def _too_large(self, residual, rhs, g_d, x):
        """Samples whose residual exceeds a direct LU's level: RELATIVE_RESIDUAL times
        ``(|S|_inf + 2 max g_d) max|x| + max|rhs|`` (a diode's stamp has row sums of 2 |g_d|)."""
        scale = (self.norm + 2.0 * g_d.max(axis=1, initial=0.0)) * np.abs(x).max(axis=1) + np.abs(rhs).max(axis=1)
        return ~(np.abs(residual).max(axis=1) <= RELATIVE_RESIDUAL * scale)

    def _direct(self, rhs, g_d):
        return solve_directly(self.S, self.block_jacobian, rhs, g_d)


def solve_directly(S, block_jacobian, rhs, g_d):
    """``(S + U diag(g_d) U^T)^-1 rhs`` per sample by one LU each: ``S`` ``(K, K)`` (S), the
    diodes' stamps ``block_jacobian`` (sparse ``(K*K, D)``), ``rhs`` ``(B, K)`` (A), ``g_d`` (S, ``(B, D)``)."""
    J = S + np.asarray(block_jacobian @ g_d.T).T.reshape(-1, *S.shape)
    return np.linalg.solve(J, rhs[..., None])[..., 0]
