"""Anderson mixing of the sweeps, per sample, with the array namespace of the device.

The method of the CPU's :mod:`ebana.backends.layered.anderson` (type II, Walker & Ni
2011): keep the last ``depth`` differences of the sweep's residuals ``dF`` and
images ``dG``, and move to ``g - dG^T gamma`` with ``gamma`` minimising
``|f - dF^T gamma|`` for each sample (a ``(B, m, m)`` batched solve). Acceleration
changes only how many sweeps a solve takes: the sweeps decide convergence and
the KCL check judges the result.
"""


class DeviceAnderson:
    """Mixing history for ``(B, n)`` iterates; ``depth`` past steps (>= 1)."""

    def __init__(self, xp, kernels, depth=4, regularization=1e-12):
        self.xp, self.kernels, self.depth, self.regularization = xp, kernels, depth, regularization
        self.count = 0
        self.last_f = self.last_g = self.dF = self.dG = None

    def mix(self, f, g):
        """``g`` (B, n), a sweep's image (V), becomes the mixed next iterate in place; ``f`` is its
        residual (image minus iterate). Returns whether it mixed (not on the history's first step)."""
        xp = self.xp
        if self.last_f is None:
            self.last_f, self.last_g = f.copy(), g.copy()
            return False
        if self.dF is None:
            B, n = f.shape
            self.dF = xp.zeros((B, self.depth, n))
            self.dG = xp.zeros((B, self.depth, n))
        slot = self.count % self.depth
        self.count += 1
        m = min(self.count, self.depth)
        self.kernels.record(f, g, self.dF[:, slot], self.dG[:, slot], self.last_f, self.last_g)
        dF, dG = self.dF[:, :m], self.dG[:, :m]
        # a degenerate history (a sample already converged) mixes nothing for that sample
        gamma = self.kernels.small_solve(dF @ dF.transpose(0, 2, 1), dF @ f[:, :, None], self.regularization)
        g -= (dG.transpose(0, 2, 1) @ gamma)[:, :, 0]
        return True
