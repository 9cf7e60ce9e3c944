"""A set of memristors sharing one pulse curve: state, device-to-device variation, pulses.

The conductance a circuit sees for device ``d`` at curve position ``m`` is::

    G_d = K * (a_d * (G(m) - G(0)) + s_d + e_d)          (S)

* ``K`` (``k_scale``, dimensionless): scale of the whole array, e.g. devices
  of another area or ``K`` devices in parallel. ``K = 1`` is the measured device.
* ``s_d`` (S): device-to-device *shift*, the device's own starting conductance,
  ``s_d = G(0) * M_shift``.
* ``a_d`` (dimensionless): device-to-device *scale* of the swing,
  ``a_d = M_scale``.
* ``e_d`` (S): cycle-to-cycle programming error of the last pulse (see
  :mod:`.memristor`).

The masks ``M`` have mean 1 and relative standard deviation ``*_d2d``:
``exponential`` ``M = 1 + d2d (E - 1)``, ``E ~ Exp(1)`` (a skewed spread with
a hard floor ``1 - d2d``, as the exponential shifts of the 4x4 reference
model); ``lognormal`` ``M = exp(sigma z - sigma^2 / 2)`` with
``sigma^2 = ln(1 + d2d^2)``. ``d2d = 0`` gives masks of exactly 1.

Example:

>>> from ebana.devices import SP291D1NR100Fit
>>> arr = MemristorArray(SP291D1NR100Fit(c2c=0.0), (4, 4), DeviceVariation(shift_d2d=0.0), rng=0)
>>> arr.pulse(np.eye(4, dtype=int))          # one SET pulse on the diagonal
0
>>> bool(arr.conductance[0, 0] > arr.conductance[0, 1])
True
"""
from dataclasses import dataclass

import numpy as np

from ..errors import ShapeError, ValidationError
from ..validation import check_number
from .memristor import MemristorModel

DISTRIBUTIONS = ("exponential", "lognormal")


def _generator(rng):
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer, np.random.SeedSequence)):
        return np.random.default_rng(rng)
    raise ValidationError(f"rng must be a numpy Generator, a SeedSequence or an int seed, "
                          f"received {type(rng).__name__}")


def sample_mask(distribution, d2d, shape, rng):
    """A unit-mean mask of relative standard deviation ``d2d`` (dimensionless), shape ``shape``.

    >>> sample_mask("lognormal", 0.0, (2,), 0)
    array([1., 1.])
    """
    if distribution not in DISTRIBUTIONS:
        raise ValidationError(f"unknown d2d distribution {distribution!r}; choose one of {DISTRIBUTIONS}")
    high = 1.0 if distribution == "exponential" else 10.0
    d2d = check_number(d2d, f"{distribution} d2d spread (relative std)", 0.0, high, low_open=False)
    if distribution == "exponential" and d2d >= 1.0:
        raise ValidationError("exponential d2d spread must be < 1 (the mask 1 + d2d (E - 1) would reach 0)")
    rng = _generator(rng)
    if d2d == 0.0:
        return np.ones(shape)
    if distribution == "exponential":
        return 1.0 + d2d * (rng.exponential(1.0, shape) - 1.0)
    s2 = np.log1p(d2d ** 2)
    return np.exp(np.sqrt(s2) * rng.standard_normal(shape) - s2 / 2)


def device_bounds(model, k_scale=1.0):
    """``(floor, ceiling)`` (S): every conductance a device on ``model``'s curve shows, times ``K``.

    A large c2c error or device-to-device shift could push a device below 0 S, which no device
    can be, so every device keeps at least 1 % of the curve's lowest conductance. The ceiling,
    twice the curve's highest plus half its swing, is a guard against the far tails of the
    spreads (an exponential shift would need a draw above 20). Fixed numbers, so a crossbar's
    bounds (:class:`~ebana.layers.MemristorDenseLayer`) hold every conductance its devices show.

    >>> from ebana.devices import ExponentialMemristor
    >>> [float(b) for b in device_bounds(ExponentialMemristor(g_min=1e-6, g_max=2e-6))]
    [1e-08, 4.5e-06]
    """
    curve = model.curve()
    lo, hi = float(curve.min()), float(curve.max())
    return 0.01 * k_scale * lo, k_scale * (2 * hi + 0.5 * model.span)


@dataclass(frozen=True)
class DeviceVariation:
    """Device-to-device variation of an array (drawn once per chip)."""
    shift_d2d: float = 0.04
    """Relative std of the shift ``s_d`` around ``G(0)`` (dimensionless)."""
    shift_distribution: str = "exponential"
    """``exponential`` or ``lognormal``."""
    scale_d2d: float = 0.0
    """Relative std of the swing scale ``a_d`` around 1 (dimensionless)."""
    scale_distribution: str = "lognormal"
    """``exponential`` or ``lognormal``."""

    def sample(self, g0, shape, rng):
        """Return ``(shift (S), scale (1))`` arrays of ``shape`` for a curve starting at ``g0`` (S)."""
        rng = _generator(rng)
        shift = g0 * sample_mask(self.shift_distribution, self.shift_d2d, shape, rng)
        scale = sample_mask(self.scale_distribution, self.scale_d2d, shape, rng)
        return shift, scale


class MemristorArray:
    """The state of ``shape`` devices: curve positions, d2d masks, c2c errors, saturation count.

    model: a :class:`~.memristor.MemristorModel` (the shared pulse curve).
    shape: array shape, e.g. ``(4, 4)`` rows x columns of a crossbar.
    variation: :class:`DeviceVariation` (``None``: identical devices).
    k_scale: ``K``, multiplies every conductance (dimensionless, > 0).
    rng: numpy Generator or int seed; draws the d2d masks now, c2c errors later.
    """

    def __init__(self, model, shape, variation=None, k_scale=1.0, rng=None):
        if not isinstance(model, MemristorModel):
            raise ValidationError(f"model must be a MemristorModel, received {type(model).__name__}")
        self.model = model
        self.shape = tuple(int(s) for s in np.atleast_1d(shape))
        self.k_scale = check_number(k_scale, "k_scale K", 0.0, 1e9, low_open=True)
        self._rng = _generator(rng)
        variation = DeviceVariation(shift_d2d=0.0) if variation is None else variation
        if not isinstance(variation, DeviceVariation):
            raise ValidationError(f"variation must be a DeviceVariation, received {type(variation).__name__}")
        self.variation = variation
        self._curve = model.curve()
        self.shift, self.scale = variation.sample(float(self._curve[0]), self.shape, self._rng)
        self.m = np.zeros(self.shape, dtype=np.int64)
        self.c2c_error = np.zeros(self.shape)
        self.pulses_sent = 0
        self.pulse_count = np.zeros(self.shape, dtype=np.int64)
        """Pulses each device has received (SET and RESET, saturated ones too): its endurance use."""
        self.saturated = 0
        """Pulses that found their device at the end of the curve (cumulative)."""

    @property
    def conductance(self):
        """Conductances the circuit sees (S), shape ``self.shape``; always within :func:`device_bounds`."""
        g = self.k_scale * (self.scale * (self._curve[self.m] - self._curve[0]) + self.shift + self.c2c_error)
        return np.clip(g, *device_bounds(self.model, self.k_scale))

    def pulse(self, direction):
        """Send one pulse per device: ``direction`` +1 SET, -1 RESET, 0 none (int array of ``shape``).

        Returns the number of pulses that were *saturated* (the device was
        already at the end of its curve and stays there).
        """
        d = np.asarray(direction)
        if d.shape != self.shape:
            raise ShapeError(f"MemristorArray expected pulse directions of shape {self.shape}, "
                             f"received {d.shape}")
        # min/max, not np.isin (10 times slower on a 1.6 M-device crossbar, at every pulse)
        if d.size and (d.min() < -1 or d.max() > 1 or (d.dtype.kind == "f" and np.any(d != np.round(d)))):
            raise ValidationError("pulse directions must be -1 (RESET), 0 or +1 (SET)")
        m_new, sat = self.model.step(self.m, d)
        moved = d != 0
        if self.model.c2c > 0 and moved.any():
            # A fresh programming error for every device that received a pulse.
            err = self._rng.normal(0.0, self.model.c2c * self.model.span, self.shape)
            self.c2c_error = np.where(moved, err, self.c2c_error)
        self.m = m_new
        n_sat = int(sat.sum())
        self.pulses_sent += int(moved.sum())
        self.pulse_count += moved
        self.saturated += n_sat
        return n_sat
