"""Variability masks for noise-aware training: settings and the numpy pipeline.

A mask ``M`` (dimensionless) multiplies a layer's conductances ``G`` (S)::

    G_eff[b] = max(G * M[b], floor * g_min)         b = 0 .. batch-1

Kinds (see :mod:`ebana.devices.masks`): ``gaussian`` ``M = 1 + s z``;
``folded`` ``M = |1 + s z|`` (A-Connect); ``lognormal``
``M = exp(s z - s^2/2)`` (unit mean); ``additive`` ``G_eff = G + s g_max z``
written as ``M = 1 + s g_max z / G``; ``z ~ N(0, 1)`` independent per device.

The EP rule gives ``dL/dG_eff`` per sample; the nominal gradient is
``M * dL/dG_eff`` (``gradient='mask'``, A-Connect, the chain rule of
``G_eff = G M``) or ``dL/dG_eff`` (``gradient='straight_through'``). The
floor clip is ignored by both rules (straight-through on the clip).

Randomness comes only from generators or seeds passed in; nothing touches
numpy's global RNG. Zero sigma gives masks of exactly 1 and returns the
conductances unchanged.

Example:

>>> import numpy as np
>>> vm = VariabilityModel(Variability(kind="folded", sigma=0.2))
>>> g = np.full((3, 2), 1e-4)
>>> masks = vm.sample_masks(g.shape, batch=4, rng=0)
>>> vm.apply(g, masks, g_min=1e-6).shape
(4, 3, 2)
"""
import zlib
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from ..errors import ShapeError, ValidationError
from ..validation import check_array, check_number
from .masks import KINDS

SCOPES = ("sample", "chip", "read")
GRADIENTS = ("mask", "straight_through")
MULTISCALE = ("per_sample", "cycle_epoch")


def _choice(value, field, allowed):
    if value not in allowed:
        raise ValidationError(f"Variability.{field} must be one of {list(allowed)}, received {value!r}")
    return value


@dataclass(frozen=True)
class Variability:
    """Settings of a variability mask (no state, no randomness).

    Example: ``Variability(kind="folded", sigmas=(0.1, 0.2, 0.3))``.
    """

    kind: str = "gaussian"
    """Mask kind: 'gaussian', 'folded', 'lognormal' or 'additive' (see module docstring)."""

    sigma: float = 0.0
    """Relative spread s >= 0 (dimensionless): std of M for 'gaussian', std of
    log M for 'lognormal', std of G_eff - G in units of g_max for 'additive'."""

    sigmas: Optional[Tuple[float, ...]] = None
    """Multi-scale training: several spreads (each >= 0, dimensionless); use
    instead of ``sigma``. Which one applies is set by ``multiscale``."""

    multiscale: str = "per_sample"
    """With ``sigmas``: 'per_sample' draws one sigma per sample uniformly from
    ``sigmas`` (per chip for scope 'chip'); 'cycle_epoch' uses
    ``sigmas[epoch % len(sigmas)]`` for the whole epoch."""

    scope: str = "sample"
    """'sample': fresh mask per training example, the same in every EP phase
    of that example; 'chip': device-to-device, fixed by a chip seed;
    'read': cycle-to-cycle, fresh at every solve (differs between phases)."""

    gradient: str = "mask"
    """Map to the nominal G: 'mask' (dL/dG = M * dL/dG_eff, A-Connect) or
    'straight_through' (dL/dG = dL/dG_eff). Scope 'read' needs
    'straight_through' (its phases see different masks)."""

    floor: float = 1e-3
    """Smallest conductance sent to the netlist, as a fraction of g_min
    (dimensionless, in (0, 1]): G_eff is clipped to >= floor * g_min (S)."""

    masks_per_batch: Optional[int] = None
    """Scope 'sample': how many distinct masks a training step draws (None: one per
    sample). The batch is split into that many contiguous groups of samples, each
    sharing one mask, and each group is solved with one conductance vector, so the
    products stay matrix products (per-sample masks of an image-sized network cost
    ``batch x conductances`` memory and one matrix-vector product per sample)."""

    def __post_init__(self):
        _choice(self.kind, "kind", tuple(KINDS))
        _choice(self.scope, "scope", SCOPES)
        _choice(self.gradient, "gradient", GRADIENTS)
        _choice(self.multiscale, "multiscale", MULTISCALE)
        sigma = check_number(self.sigma, "Variability.sigma", low=0.0)
        object.__setattr__(self, "sigma", sigma)
        if self.sigmas is not None:
            if isinstance(self.sigmas, (str, bytes)) or not hasattr(self.sigmas, "__len__"):
                raise ValidationError(
                    f"Variability.sigmas must be a sequence of numbers, received {self.sigmas!r}")
            if len(self.sigmas) == 0:
                raise ValidationError("Variability.sigmas must hold at least one sigma, received an empty sequence")
            if sigma != 0.0:
                raise ValidationError(
                    f"Variability: give either sigma ({sigma!r}) or sigmas ({tuple(self.sigmas)!r}), not both")
            values = tuple(check_number(s, f"Variability.sigmas[{i}]", low=0.0)
                           for i, s in enumerate(self.sigmas))
            object.__setattr__(self, "sigmas", values)
        object.__setattr__(self, "floor", check_number(self.floor, "Variability.floor",
                                                       low=0.0, high=1.0, low_open=True))
        if self.masks_per_batch is not None:
            n = self.masks_per_batch
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
                raise ValidationError(f"Variability.masks_per_batch must be a positive int or None, received {n!r}")
            if self.scope != "sample":
                raise ValidationError(f"Variability.masks_per_batch applies to scope='sample' only (scope "
                                      f"{self.scope!r} draws {'one mask per chip' if self.scope == 'chip' else 'fresh masks at every solve'})")
            object.__setattr__(self, "masks_per_batch", int(n))
        if self.scope == "read" and self.gradient == "mask":
            raise ValidationError(
                "Variability: gradient='mask' is undefined for scope='read' (the free and nudged "
                "phases see different masks); use gradient='straight_through'")

    @property
    def levels(self):
        """The spreads in use: ``sigmas`` or ``(sigma,)``."""
        return self.sigmas if self.sigmas is not None else (self.sigma,)

    @property
    def is_zero(self):
        """True when every spread is 0 (masks are exactly 1)."""
        return max(self.levels) == 0.0


def as_generator(rng, what="rng"):
    """Return a ``np.random.Generator`` from a Generator or an int seed (never the global RNG)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) and rng >= 0:
        return np.random.default_rng(int(rng))
    raise ValidationError(
        f"{what} must be a numpy Generator or a non-negative int seed, received {rng!r} "
        "(ebana never uses the global RNG: pass a seed)")


def chip_generator(seed, key=0):
    """Generator for chip ``seed`` and a per-layer ``key`` (int or layer name).

    The same ``(seed, key)`` always gives the same stream; different layers
    of one chip (different keys) get independent streams.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValidationError(f"chip seed must be a non-negative int, received {seed!r}")
    if isinstance(key, str):
        key = zlib.crc32(key.encode("utf-8"))
    if not isinstance(key, (int, np.integer)) or isinstance(key, bool) or key < 0:
        raise ValidationError(f"chip key must be a layer name or a non-negative int, received {key!r}")
    return np.random.default_rng([int(seed), int(key)])


def check_shape(shape, what="shape"):
    """``shape`` as a tuple of positive ints; ``what`` names it in the error."""
    try:
        shape = tuple(int(n) for n in shape)
    except TypeError:
        raise ShapeError(f"{what} must be a tuple of ints, received {shape!r}") from None
    if any(n < 1 for n in shape):
        raise ShapeError(f"{what} must have positive sizes, received {shape!r}")
    return shape


def _check_batch(batch):
    if not isinstance(batch, (int, np.integer)) or isinstance(batch, bool) or batch < 1:
        raise ValidationError(f"batch must be a positive int, received {batch!r}")
    return int(batch)


class VariabilityModel:
    """Stateless noise pipeline for one :class:`Variability` setting (template).

    The pipeline is fixed here; the kind's ``mask`` method is the only part
    that varies. Randomness comes from the ``rng``/``seed`` arguments.
    """

    def __init__(self, variability):
        if not isinstance(variability, Variability):
            raise ValidationError(f"VariabilityModel needs a Variability, received {variability!r}")
        self.variability = variability
        self.kind = KINDS[variability.kind]

    def __repr__(self):
        return f"VariabilityModel({self.variability!r})"

    def draw_sigmas(self, n, rng, epoch=0):
        """Return ``n`` spreads (dimensionless), shape ``(n,)``.

        Single ``sigma``: all equal. ``sigmas`` + 'per_sample': uniform draws
        from ``sigmas``. ``sigmas`` + 'cycle_epoch': ``sigmas[epoch % len]``.
        """
        v = self.variability
        n = _check_batch(n)
        levels = np.asarray(v.levels, dtype=float)
        if v.sigmas is not None and v.multiscale == "per_sample" and len(levels) > 1:
            return levels[as_generator(rng).integers(0, len(levels), size=n)]
        if v.multiscale == "cycle_epoch":
            if not isinstance(epoch, (int, np.integer)) or epoch < 0:
                raise ValidationError(f"epoch must be a non-negative int, received {epoch!r}")
            return np.full(n, levels[int(epoch) % len(levels)])
        return np.full(n, levels[0])

    def _masks(self, z, sigma, g, g_max, shape):
        if self.kind.needs_conductance:
            if g is None or g_max is None:
                self.kind.mask(z, sigma, g, g_max)  # raises the explanatory error
            g_max = check_number(g_max, "g_max (S)", low=0.0, low_open=True)
            g = check_array(g, "g (S)")
            if g.shape != shape:
                raise ShapeError(f"g (S) has shape {g.shape}, expected the conductance shape {shape}")
        return self.kind.mask(z, sigma, g, g_max)

    def sample_masks(self, shape, batch, rng, g_max=None, g=None, epoch=0):
        """Draw ``batch`` independent masks, shape ``(batch, *shape)``.

        Args:
            shape: the layer's conductance shape, e.g. ``(n_in, n_out)``.
            batch: number of samples ``B``.
            rng: ``np.random.Generator`` or int seed.
            g_max: the layer's largest conductance (S); needed by 'additive'.
            g: nominal conductances (S), shape ``shape``; needed by 'additive'.
            epoch: epoch index, used by multiscale 'cycle_epoch'.

        Example: ``vm.sample_masks((4, 3), 32, rng)``.
        """
        shape, batch = check_shape(shape), _check_batch(batch)
        if self.variability.is_zero:
            return np.ones((batch,) + shape)
        rng = as_generator(rng)
        sigma = self.draw_sigmas(batch, rng, epoch).reshape((batch,) + (1,) * len(shape))
        z = rng.standard_normal((batch,) + shape)
        return self._masks(z, sigma, g, g_max, shape)

    def chip_masks(self, shape, seed, key=0, g_max=None, g=None, epoch=0):
        """Mask of one chip, shape ``shape``; deterministic in ``(seed, key)``.

        ``seed`` identifies the chip, ``key`` the layer (its name or index).
        With ``sigmas`` + 'per_sample' the chip's sigma is drawn from the same
        seed; the device draws ``z`` do not depend on ``epoch`` or ``g``, so
        an 'additive' chip keeps its offsets ``s g_max z`` (S) as G changes.

        Example: ``vm.chip_masks((4, 3), seed=7, key="dense_1")``.
        """
        shape = check_shape(shape)
        rng = chip_generator(seed, key)
        if self.variability.is_zero:
            return np.ones(shape)
        z = rng.standard_normal(shape)
        sigma = self.draw_sigmas(1, rng, epoch)[0]
        return self._masks(z, sigma, g, g_max, shape)

    def apply(self, g, masks, g_min):
        """Return ``G_eff = max(G * M, floor * g_min)`` (S), shape of ``masks`` broadcast with ``g``.

        ``g`` (S) has the layer's shape; ``masks`` has shape ``(batch, *shape)``
        or ``shape``. Values below ``floor * g_min`` are clipped up to it, so
        no zero or negative conductance reaches a netlist.
        """
        g_min = check_number(g_min, "g_min (S)", low=0.0, low_open=True)
        g = check_array(g, "g (S)", low=0.0)
        masks = check_array(masks, "masks")
        if masks.ndim < g.ndim or masks.shape[masks.ndim - g.ndim:] != g.shape:
            raise ShapeError(f"masks of shape {masks.shape} do not end with the conductance shape {g.shape}")
        return self.apply_drawn(g, masks, g_min)

    def apply_drawn(self, g, masks, g_min):
        """:meth:`apply` for masks this model drew (finite, shapes matching; unchecked: a batch
        of image-sized masks is hundreds of MB to scan) and checked ``g`` (S), ``g_min`` (S)."""
        out = np.multiply(g, masks)
        return np.maximum(out, self.variability.floor * g_min, out=out)

    def nominal_gradient(self, grad_eff, masks, reduce=None):
        """Map ``dL/dG_eff`` (per sample) to ``dL/dG`` of the nominal conductances.

        'mask': ``M * grad_eff``; 'straight_through': ``grad_eff``. ``reduce``:
        None keeps the batch axis, 'sum' or 'mean' reduces over axis 0.
        ``masks`` may have the shape of ``grad_eff`` or one sample's shape
        (chip scope); it is ignored by 'straight_through' (pass None).
        """
        grad = check_array(grad_eff, "grad_eff")
        if self.variability.gradient == "mask":
            m = check_array(masks, "masks")
            if m.shape != grad.shape and m.shape != grad.shape[1:]:
                raise ShapeError(f"grad_eff has shape {grad.shape}, masks {m.shape}: expected the same "
                                 "shape or masks of one sample's shape")
            if reduce == "sum" and m.shape == grad.shape:  # one pass, no product array of the batch's size
                return np.einsum("i...,i...->...", m, grad)
            grad = m * grad
        else:
            grad = np.array(grad)  # a copy, never the caller's array
        if reduce is None:
            return grad
        if reduce == "sum":
            return grad.sum(axis=0)
        if reduce == "mean":
            return grad.mean(axis=0)
        raise ValidationError(f"reduce must be None, 'sum' or 'mean', received {reduce!r}")
