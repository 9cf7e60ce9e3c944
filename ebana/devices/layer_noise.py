"""Per-layer bookkeeping of variability scopes across the phases of one EP step.

A layer owns one :class:`LayerNoise`. Per EP step (one batch of ``B``
samples, free phase then one or more nudged phases)::

    noise.begin_step(g, batch=B, epoch=e)   # once, before the free phase
    g_eff = noise.effective()                # before every solve, (B, *shape) in S
    ...                                      # solve free / nudged with g_eff
    grad_g = noise.nominal_gradient(grad_eff, reduce="sum")   # (*shape)

Scope 'sample': ``begin_step`` draws ``B`` fresh masks and every
``effective()`` call of that step returns the same ``G_eff``. Scope 'chip':
the chip's mask (fixed by ``chip_seed`` and the layer ``key``) is used for
every sample and every step. Scope 'read': each ``effective()`` call draws
fresh masks, so the free and nudged phases differ (gradient must be
'straight_through').

Example:

>>> import numpy as np
>>> from ebana.devices import Variability
>>> noise = LayerNoise(Variability(kind="folded", sigma=0.1), (3, 2),
...                    g_min=1e-6, g_max=1e-4, seed=0)
>>> noise.begin_step(np.full((3, 2), 5e-5), batch=8)
>>> noise.effective().shape
(8, 3, 2)
"""
import numpy as np

from ..errors import EbanaError, ShapeError
from ..validation import check_array, check_number
from .variability import VariabilityModel, _check_batch, as_generator, check_shape, chip_generator


class LayerNoise:
    """Masks of one layer, kept consistent across the EP phases of a step.

    Args:
        variability: a :class:`Variability`.
        shape: the layer's conductance shape.
        g_min, g_max: the layer's conductance range (S), ``0 < g_min < g_max``.
        seed: int seed or ``np.random.Generator`` for 'sample'/'read' draws.
        chip_seed: int identifying the simulated chip (scope 'chip').
        key: the layer's name or index, so layers of one chip differ.
    """

    def __init__(self, variability, shape, g_min, g_max, seed=0, chip_seed=0, key=0):
        self.model = VariabilityModel(variability)
        self.variability = variability
        self.shape = check_shape(shape)
        self.g_min = check_number(g_min, "g_min (S)", low=0.0, low_open=True)
        self.g_max = check_number(g_max, "g_max (S)", low=self.g_min, low_open=True)
        self.rng = as_generator(seed, "seed")
        chip_generator(chip_seed, key)  # validates both now rather than at the first step
        self.chip_seed, self.key = chip_seed, key
        self._g = None
        self._masks = None

    def set_chip(self, chip_seed):
        """Switch to another simulated chip (scope 'chip'); takes effect at the next step."""
        chip_generator(chip_seed, self.key)
        self.chip_seed = chip_seed

    def begin_step(self, g, batch, epoch=0):
        """Start an EP step with nominal conductances ``g`` (S) for ``batch`` samples."""
        g = check_array(g, "g (S)", low=0.0)
        if g.shape != self.shape:
            raise ShapeError(f"LayerNoise expected conductances of shape {self.shape}, received {g.shape}")
        self._g, self._batch, self._epoch = g, _check_batch(batch), epoch
        scope = self.variability.scope
        if scope == "sample":
            self._masks = self.model.sample_masks(self.shape, self._batch, self.rng, self.g_max, g, epoch)
        elif scope == "chip":
            self._masks = self.model.chip_masks(self.shape, self.chip_seed, self.key, self.g_max, g, epoch)
        else:
            self._masks = None

    def effective(self):
        """Return ``G_eff`` (S), shape ``(batch, *shape)``, for the next solve of this step."""
        if self._g is None:
            raise EbanaError("LayerNoise.effective() called before begin_step(g, batch)")
        masks = self._masks
        if self.variability.scope == "read":
            masks = self.model.sample_masks(self.shape, self._batch, self.rng, self.g_max, self._g, self._epoch)
        g_eff = self.model.apply_drawn(self._g, masks, self.g_min)
        if g_eff.shape == (self._batch,) + self.shape:
            return g_eff
        return np.broadcast_to(g_eff, (self._batch,) + self.shape).copy()

    @property
    def masks(self):
        """Masks of the current step: ``(batch, *shape)`` ('sample'), ``shape`` ('chip'), None ('read')."""
        return self._masks

    def nominal_gradient(self, grad_eff, reduce="sum"):
        """Map ``dL/dG_eff`` of shape ``(batch, *shape)`` to ``dL/dG`` (see VariabilityModel)."""
        if self._g is None:
            raise EbanaError("LayerNoise.nominal_gradient() called before begin_step(g, batch)")
        grad = np.asarray(grad_eff)
        if grad.shape != (self._batch,) + self.shape:
            raise ShapeError(f"grad_eff has shape {grad.shape}, expected {(self._batch,) + self.shape}")
        return self.model.nominal_gradient(grad, self._masks, reduce)
