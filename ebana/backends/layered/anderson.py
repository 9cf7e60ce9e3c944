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

from .kernels import anderson_mix, anderson_step


class Anderson:
    """Mixing history for ``B`` samples of ``n`` unknowns; ``depth`` past steps (>= 1).

    The history's Gram matrix is kept and grown by one row per step; the new row, the
    right-hand side and the history itself are made in one pass over memory
    (:func:`~.kernels.anderson_step`), and the mixed iterate in another.
    """

    def __init__(self, depth=4, regularization=1e-12):
        self.depth = depth
        self.regularization = regularization
        self.count = 0
        self.last_f = self.last_g = None  # residual and image of the previous step
        self.dF = self.dG = self.gram = None

    def mix(self, f, g):
        """Mix in place: ``g`` (B, n), a sweep's image ``G(x)`` (V), becomes the next iterate;
        ``f`` is its residual ``G(x) - x``. Returns whether it mixed (not on the history's first step)."""
        if self.last_f is None:
            self.last_f, self.last_g = f.copy(), g.copy()
            return False
        B, n = f.shape
        if self.dF is None:  # empty, not zeros: only written slots are read, and zeroing 2 x 20 MB costs
            self.dF = np.empty((B, self.depth, n))
            self.dG = np.empty_like(self.dF)
            self.gram = np.empty((B, self.depth, self.depth))
            self.row, self.rhs = np.empty((B, self.depth)), np.empty((B, self.depth))
        slot = self.count % self.depth
        self.count += 1
        m = min(self.count, self.depth)
        anderson_step(f, g, self.last_f, self.last_g, self.dF, self.dG, slot, m, self.row, self.rhs)
        row = self.row[:, :m]
        self.gram[:, slot, :m] = row
        self.gram[:, :m, slot] = row
        gram = self.gram[:, :m, :m]
        scale = np.trace(gram, axis1=1, axis2=2)[:, None, None] / m
        gram = gram + (self.regularization * scale + 1e-300) * np.eye(m)
        try:
            gamma = np.linalg.solve(gram, self.rhs[:, :m, None])[:, :, 0]   # (B, m)
        except np.linalg.LinAlgError:
            self.count, self.last_f = 0, None  # degenerate history: start again from plain sweeps
            return False
        anderson_mix(g, self.dG, np.ascontiguousarray(gamma), m, g)
        return True
