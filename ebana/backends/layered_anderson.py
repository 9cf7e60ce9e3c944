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
    """Mixing history for ``B`` samples of ``n`` unknowns; ``depth`` past steps (>= 1)."""

    def __init__(self, depth=5, regularization=1e-12):
        self.depth = depth
        self.regularization = regularization
        self.count = 0
        self.last = None  # (f, G(x)) of the previous step
        self.dF = self.dG = None

    def mix(self, x, gx):
        """The next iterate from the current ``x`` and its sweep ``gx``, both ``(B, n)``."""
        f = gx - x
        if self.last is not None:
            if self.dF is None:
                self.dF = np.zeros((x.shape[0], self.depth, x.shape[1]))
                self.dG = np.zeros_like(self.dF)
            slot = self.count % self.depth
            np.subtract(f, self.last[0], out=self.dF[:, slot])
            np.subtract(gx, self.last[1], out=self.dG[:, slot])
            self.count += 1
        self.last = (f, gx)
        m = min(self.count, self.depth)
        if m == 0:
            return gx
        dF, dG = self.dF[:, :m], self.dG[:, :m]
        gram = dF @ dF.transpose(0, 2, 1)                       # (B, m, m)
        rhs = (dF @ f[:, :, None])[:, :, 0]                       # (B, m)
        scale = np.trace(gram, axis1=1, axis2=2)[:, None, None] / m
        gram = gram + (self.regularization * scale + 1e-300) * np.eye(m)
        try:
            gamma = np.linalg.solve(gram, rhs[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:
            self.count, self.last = 0, None  # degenerate history: start again from plain sweeps
            return gx
        return gx - (gamma[:, None, :] @ dG)[:, 0, :]
