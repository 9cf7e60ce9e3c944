"""Few-level and binary conductances: quantise latent parameters to allowed levels.

The allowed conductances are ``levels`` values evenly spaced in conductance::

    G_k = g_min + k * (g_max - g_min) / (levels - 1),   k = 0 .. levels-1   (S)

``levels = 2`` is binary: ``{g_min, g_max}``. A latent value ``w`` (S) is
first clipped to ``[g_min, g_max]`` and then sent to the nearest level,
``k = floor((w - g_min) / step + 1/2)`` (a tie goes to the upper level).

Straight-through training rule: the circuit is solved with the quantised
conductances ``Q(w)``; the EP gradient ``dL/dG`` computed there is applied to
the latent parameters as if ``Q`` were the identity, and the latents are kept
in range::

    w <- clip(w - lr * dL/dG |_{G = Q(w)}, g_min, g_max)

Small updates accumulate in ``w`` until they cross a level boundary.

Example:

>>> q = Quantizer(levels=2, g_min=1e-6, g_max=1e-4)
>>> q([0.0, 4e-5, 6e-5, 1.0]).tolist()
[1e-06, 1e-06, 0.0001, 0.0001]
"""
from dataclasses import dataclass

import numpy as np

from ..errors import ShapeError, ValidationError
from ..validation import check_array, check_number


@dataclass(frozen=True)
class Quantizer:
    """Nearest-level quantiser to ``levels`` evenly spaced conductances."""

    levels: int
    """Number of allowed conductances (>= 2); 2 means binary ``{g_min, g_max}``."""

    g_min: float
    """Lowest allowed conductance (S), > 0."""

    g_max: float
    """Highest allowed conductance (S), > g_min."""

    def __post_init__(self):
        if isinstance(self.levels, bool) or not isinstance(self.levels, (int, np.integer)):
            raise ValidationError(f"Quantizer.levels must be an int >= 2, received {self.levels!r}")
        if self.levels < 2:
            raise ValidationError(
                f"Quantizer.levels must be >= 2 (2 is binary {{g_min, g_max}}), received {self.levels!r}")
        object.__setattr__(self, "levels", int(self.levels))
        g_min = check_number(self.g_min, "Quantizer.g_min (S)", low=0.0, low_open=True)
        g_max = check_number(self.g_max, "Quantizer.g_max (S)", low=0.0, low_open=True)
        if g_max <= g_min:
            raise ValidationError(
                f"Quantizer needs g_min < g_max, received g_min={g_min!r} S, g_max={g_max!r} S")
        object.__setattr__(self, "g_min", g_min)
        object.__setattr__(self, "g_max", g_max)

    @property
    def step(self):
        """Spacing between adjacent levels (S)."""
        return (self.g_max - self.g_min) / (self.levels - 1)

    @property
    def levels_array(self):
        """The allowed conductances (S), ascending, shape ``(levels,)``; ends are exactly g_min, g_max."""
        return np.linspace(self.g_min, self.g_max, self.levels)

    def clip(self, latent):
        """Return ``latent`` (S) clipped to ``[g_min, g_max]`` (the latent update's last step)."""
        return np.clip(check_array(latent, "Quantizer latent (S)"), self.g_min, self.g_max)

    def index(self, latent):
        """Return the level index ``k`` (int array) nearest to each clipped latent value."""
        w = self.clip(latent)
        k = np.floor((w - self.g_min) / self.step + 0.5).astype(np.int64)
        return np.clip(k, 0, self.levels - 1)

    def __call__(self, latent):
        """Return the allowed conductance (S) nearest to each latent value, same shape."""
        return self.levels_array[self.index(latent)]

    def straight_through_step(self, latent, grad, lr):
        """One latent update: ``clip(latent - lr * grad, g_min, g_max)``.

        ``grad`` is ``dL/dG`` (loss per S) from the EP rule evaluated at the
        quantised ``self(latent)``, same shape as ``latent``; ``lr`` >= 0
        (S^2 per unit of loss).
        """
        latent = check_array(latent, "Quantizer latent (S)")
        grad = check_array(grad, "grad")
        if grad.shape != latent.shape:
            raise ShapeError(f"grad has shape {grad.shape}, expected the latent shape {latent.shape}")
        lr = check_number(lr, "lr", low=0.0)
        return self.clip(latent - lr * grad)
