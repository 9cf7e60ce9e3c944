"""Stuck-at faults: a fraction of a chip's devices frozen at ``g_min`` or ``g_max``.

Model (chip scope, per device independently)::

    stuck ~ Bernoulli(p)                 a device is stuck with probability p
    high  ~ Bernoulli(high_fraction)     a stuck device sits at g_max, else at g_min
    G_eff = g_max   if stuck and high
            g_min   if stuck and not high
            G       otherwise                                        (S)

A stuck device cannot be programmed: :meth:`FaultMap.freeze` zeroes its
gradient and :meth:`FaultMap.apply` puts it back at its stuck value, so no
optimizer step moves it. Maps are drawn from the chip seed with
:func:`~ebana.devices.variability.chip_generator` and a key derived from the
layer name (a stream separate from the variability masks of the same chip),
so a chip's faults are the same in every run.

How stuck devices split between the two states depends on the technology
(stuck-at-low from broken filaments or failed forming, stuck-at-high from
devices that do not reset); ``high_fraction`` sets it.

Example:

>>> import numpy as np
>>> faults = StuckAtFaults(p=0.1, high_fraction=0.5)
>>> fmap = faults.draw((100, 10), seed=3, key="d1p")
>>> g = np.full((100, 10), 5e-7)
>>> g_eff = fmap.apply(g, g_min=1e-12, g_max=1e-6)
>>> bool(np.all(g_eff[~fmap.stuck] == 5e-7))
True
"""
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import ShapeError, ValidationError
from ..validation import check_array, check_number
from .variability import check_shape, chip_generator

_FAULT_KEY = "/stuck-at"  # appended to the layer name: independent of the chip's variability stream


@dataclass(frozen=True)
class StuckAtFaults:
    """Settings of the stuck-at fault model (no state, no randomness).

    Example: ``StuckAtFaults(p=0.05, high_fraction=0.5)``.
    """

    p: float = 0.0
    """Fraction of devices stuck (dimensionless, in [0, 1])."""

    high_fraction: float = 0.5
    """Fraction of the stuck devices stuck at g_max (the rest at g_min); dimensionless, in [0, 1]."""

    def __post_init__(self):
        object.__setattr__(self, "p", check_number(self.p, "StuckAtFaults.p (fraction of stuck devices)",
                                                   low=0.0, high=1.0))
        object.__setattr__(self, "high_fraction", check_number(
            self.high_fraction, "StuckAtFaults.high_fraction (fraction of stuck devices at g_max)",
            low=0.0, high=1.0))

    def draw(self, shape, seed, key=0):
        """The :class:`FaultMap` of chip ``seed`` for the layer ``key`` (its name), shape ``shape``.

        Deterministic in ``(seed, key)``; a larger ``p`` on the same chip
        keeps every device stuck at a smaller ``p`` (the uniform draws are
        shared), so studies over ``p`` compare like with like.
        """
        shape = check_shape(shape, "fault map shape")
        key = key + _FAULT_KEY if isinstance(key, str) else f"{key}{_FAULT_KEY}"
        rng = chip_generator(seed, key)
        u = rng.random(shape)
        v = rng.random(shape)
        return FaultMap(stuck=u < self.p, high=v < self.high_fraction)

    def draw_from(self, shape, rng):
        """A :class:`FaultMap` from a numpy Generator (fault-aware training draws a fresh one per step)."""
        shape = check_shape(shape, "fault map shape")
        return FaultMap(stuck=rng.random(shape) < self.p, high=rng.random(shape) < self.high_fraction)

    def get_config(self):
        """The constructor's keyword arguments (plain floats)."""
        return asdict(self)


class FaultMap:
    """Which devices of one layer are stuck, and where.

    Attributes:
        stuck: bool array, True where the device is stuck.
        high: bool array of the same shape, True where a stuck device sits
            at g_max (ignored where ``stuck`` is False).
    """

    def __init__(self, stuck, high):
        stuck, high = np.asarray(stuck), np.asarray(high)
        if stuck.dtype != bool or high.dtype != bool:
            raise ValidationError(f"FaultMap: stuck and high must be bool arrays, received {stuck.dtype} "
                                  f"and {high.dtype}")
        if stuck.shape != high.shape:
            raise ShapeError(f"FaultMap: stuck has shape {stuck.shape}, high {high.shape}; they must match")
        self.stuck, self.high = stuck, high & stuck

    @property
    def shape(self):
        return self.stuck.shape

    @property
    def fraction(self):
        """Fraction of stuck devices (dimensionless)."""
        return float(self.stuck.mean())

    def _check(self, a, what):
        a = check_array(a, what)
        if a.shape[a.ndim - len(self.shape):] != self.shape:
            raise ShapeError(f"{what} has shape {a.shape}, expected one ending with the fault map's {self.shape}")
        return a

    def apply(self, g, g_min, g_max):
        """``g`` (S) with stuck devices at ``g_max`` or ``g_min`` (S); a new array."""
        g = self._check(g, "g (S)")
        g_min = check_number(g_min, "g_min (S)", low=0.0)
        g_max = check_number(g_max, "g_max (S)", low=g_min)
        return np.where(self.stuck, np.where(self.high, g_max, g_min), g)

    def freeze(self, grad):
        """``grad`` with the stuck devices' entries set to 0 (a new array): they cannot be programmed."""
        grad = self._check(grad, "gradient")
        return np.where(self.stuck, 0.0, grad)

    def to_dict(self):
        """Plain arrays ``{'stuck', 'high'}`` for saving."""
        return {"stuck": self.stuck.copy(), "high": self.high.copy()}

    @classmethod
    def from_dict(cls, d, source="fault map"):
        """Rebuild a map written by :meth:`to_dict` (``source`` names the file in errors)."""
        if not isinstance(d, dict) or set(d) != {"stuck", "high"}:
            got = sorted(d) if isinstance(d, dict) else type(d).__name__
            raise ValidationError(f"{source}: a fault map holds 'stuck' and 'high', found {got}")
        return cls(np.asarray(d["stuck"]), np.asarray(d["high"]))

    def __eq__(self, other):
        return (isinstance(other, FaultMap) and self.shape == other.shape
                and np.array_equal(self.stuck, other.stuck) and np.array_equal(self.high, other.high))

    def __repr__(self):
        return f"FaultMap(shape={self.shape}, stuck={self.fraction:.4f})"
