"""Anderson acceleration of the layered solver's sweeps, per sample.

A Gauss-Seidel sweep is a fixed-point map ``x -> G(x)`` of the net voltages
(V). Through amplifiers of gain 4 and 1024-wide crossbars the layers of a deep
network pull on each other strongly, so plain sweeps shrink the error by only
about 0.4 each (60 sweeps for three hidden layers). Anderson's method (type II,
Walker & Ni 2011) keeps the last ``depth`` steps and moves to the combination
of their images whose residual ``G(x) - x`` is least in the 2-norm, sample by
sample; on a linear map it is equivalent to GMRES. The sweeps still decide
convergence, and the final KCL check judges the result, so acceleration can
only change how fast a solve ends, not where.
"""
import numpy as np


class Anderson:
    """Mixing history for ``B`` samples of ``n`` unknowns; ``depth`` past steps (>= 1).

    The history's Gram matrix is kept and updated by one row per step: a stacked
    ``(B, m, n) @ (B, n, m)`` product is several times slower here than the two stacked
    matrix-vector products that give the new row and the right-hand side.
    """

    def __init__(self, depth=4, regularization=1e-12):
        self.depth = depth
        self.regularization = regularization
        self.count = 0
        self.last = None  # (f, G(x)) of the previous step
        self.dF = self.dG = self.gram = None

    def mix(self, x, gx):
        """The next iterate from the current ``x`` and its sweep ``gx``, both ``(B, n)``."""
        f = gx - x
        if self.last is None:
            self.last = (f, gx)
            return gx
        if self.dF is None:  # empty, not zeros: only written slots are read, and zeroing 2 x 20 MB costs
            self.dF = np.empty((x.shape[0], self.depth, x.shape[1]))
            self.dG = np.empty_like(self.dF)
            self.gram = np.empty((x.shape[0], self.depth, self.depth))
        slot = self.count % self.depth
        np.subtract(f, self.last[0], out=self.dF[:, slot])
        np.subtract(gx, self.last[1], out=self.dG[:, slot])
        self.count += 1
        self.last = (f, gx)
        m = min(self.count, self.depth)
        dF, dG = self.dF[:, :m], self.dG[:, :m]
        row = (dF @ self.dF[:, slot, :, None])[:, :, 0]             # (B, m)
        rhs = dF @ f[:, :, None]                                     # (B, m, 1)
        self.gram[:, slot, :m] = row
        self.gram[:, :m, slot] = row
        gram = self.gram[:, :m, :m]
        scale = np.trace(gram, axis1=1, axis2=2)[:, None, None] / m
        gram = gram + (self.regularization * scale + 1e-300) * np.eye(m)
        try:
            gamma = np.linalg.solve(gram, rhs)                        # (B, m, 1)
        except np.linalg.LinAlgError:
            self.count, self.last = 0, None  # degenerate history: start again from plain sweeps
            return gx
        return gx - (gamma.transpose(0, 2, 1) @ dG)[:, 0, :]
