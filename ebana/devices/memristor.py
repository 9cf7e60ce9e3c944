"""Memristor pulse-response models: conductance (S) as a function of pulse count.

A device's state is its position ``m`` on one curve ``G(m)``, ``m = 0 ..
n_pulses`` (integer). The models here only describe that curve:

* potentiation (SET pulse): ``m -> min(m + 1, n_pulses)``;
* depression (RESET pulse): the same curve walked backwards,
  ``m -> max(m - reset_step, 0)``. A measured table holds one potentiation
  sweep only, so walking it backwards is the one depression it determines;
  ``reset_step`` > 1 models a RESET stronger than a SET.
* a pulse at the end of the curve (``m = n_pulses`` for SET, ``m = 0`` for
  RESET) leaves the device where it is; :class:`~.memristor_array.MemristorArray`
  counts it as *saturated* rather than raising.
* cycle-to-cycle noise (``c2c``, relative to the span ``max G - min G``): every
  pulse lands at ``G(m) + e`` with a fresh ``e ~ N(0, (c2c * span)^2)``, kept
  until the device's next pulse (a programming error, as the scatter of
  measured reads around a smooth curve).

Two curves are provided: :class:`TabulatedMemristor` (a measured table, see
:mod:`.memristor_data`) and :class:`ExponentialMemristor` (saturating
exponential), with the preset :class:`SP291D1NR100Fit` fitted to the
measured file.

Example:

>>> dev = ExponentialMemristor(g_min=1e-6, g_max=2e-6, n_pulses=10, nonlinearity=3.0)
>>> float(dev.conductance(0)), float(dev.conductance(10))
(1e-06, 2e-06)
"""
from dataclasses import dataclass

import numpy as np

from ..errors import ValidationError
from ..validation import check_number
from .memristor_data import load_pulse_curve


class MemristorModel:
    """Base class: a pulse curve ``G(m)`` (S) plus the pulse rules shared by all models.

    Subclasses provide :meth:`curve`; everything else is defined here.
    """
    n_pulses: int
    c2c: float
    reset_step: int

    def curve(self):
        """Conductance after ``m`` SET pulses from the start, ``m = 0 .. n_pulses`` (S)."""
        raise NotImplementedError

    @property
    def g0(self):
        """Conductance at the start of the curve, ``G(0)`` (S)."""
        return float(self.curve()[0])

    @property
    def span(self):
        """``max G - min G`` over the curve (S): the reach of one device."""
        c = self.curve()
        return float(c.max() - c.min())

    def conductance(self, m):
        """``G(m)`` (S) for integer pulse positions ``m`` (array or scalar), clipped to the curve."""
        m = np.clip(np.asarray(m, dtype=np.int64), 0, self.n_pulses)
        return self.curve()[m]

    def potentiation(self, pulses):
        """Conductance (S) after ``pulses`` SET pulses from ``m = 0`` (the curve, held at its end)."""
        return self.conductance(pulses)

    def depression(self, pulses, start=None):
        """Conductance (S) after ``pulses`` RESET pulses from ``start`` (default: the end of the curve)."""
        start = self.n_pulses if start is None else start
        return self.conductance(np.asarray(start) - self.reset_step * np.asarray(pulses))

    def step(self, m, direction):
        """New positions after one pulse per device: ``direction`` +1 SET, -1 RESET, 0 none.

        Returns ``(m_new, saturated)``: ``saturated`` marks devices that were
        pulsed but could not move (already at the end of the curve).
        """
        m = np.asarray(m, dtype=np.int64)
        d = np.asarray(direction, dtype=np.int64)
        target = np.where(d > 0, m + 1, np.where(d < 0, m - self.reset_step, m))
        m_new = np.clip(target, 0, self.n_pulses)
        saturated = (d != 0) & (m_new == m)
        return m_new, saturated


def _check_common(obj, who):
    check_number(obj.c2c, f"{who}: c2c (relative to the span)", 0.0, 10.0)
    if int(obj.reset_step) != obj.reset_step or obj.reset_step < 1:
        raise ValidationError(f"{who}: reset_step must be an integer >= 1 (pulses walked back per "
                              f"RESET), received {obj.reset_step!r}")


class TabulatedMemristor(MemristorModel):
    """A measured pulse curve used as is (noise and non-monotonic steps included).

    conductances: ``G`` after ``0, 1, ..., n`` SET pulses (S).
    c2c: cycle-to-cycle programming noise, relative to the span (0 = none).
    reset_step: pulses walked back along the curve by one RESET pulse.

    >>> dev = TabulatedMemristor([1e-6, 1.5e-6, 1.7e-6])
    >>> dev.n_pulses, float(dev.potentiation(5))
    (2, 1.7e-06)
    """

    def __init__(self, conductances, c2c=0.0, reset_step=1, source=""):
        g = np.asarray(conductances, dtype=float)
        if g.ndim != 1 or len(g) < 2 or not np.all(np.isfinite(g)) or np.any(g <= 0):
            raise ValidationError("TabulatedMemristor: conductances must be a 1-D array of at least 2 "
                                  f"finite values > 0 S, received shape {g.shape}")
        self._g = g.copy()
        self._g.setflags(write=False)
        self.n_pulses = len(g) - 1
        self.c2c = c2c
        self.reset_step = reset_step
        self.source = source
        _check_common(self, "TabulatedMemristor")

    @classmethod
    def from_file(cls, path, **kwargs):
        """Load a ``.dat`` pulse measurement or a ``pulse, conductance`` CSV (see :mod:`.memristor_data`)."""
        curve = load_pulse_curve(path)
        return cls(curve.conductance, source=curve.source, **kwargs)

    def curve(self):
        return self._g

    def __repr__(self):
        return (f"TabulatedMemristor(n_pulses={self.n_pulses}, G {self._g[0]:.4g} -> {self._g[-1]:.4g} S, "
                f"c2c={self.c2c}, source={self.source!r})")


@dataclass(frozen=True)
class ExponentialMemristor(MemristorModel):
    """Saturating-exponential pulse curve.

    ``G(m) = g_min + (g_max - g_min) * (1 - exp(-nu m / N)) / (1 - exp(-nu))``
    with ``N = n_pulses`` and ``nu = nonlinearity`` (``nu -> 0`` is linear;
    large ``nu`` puts most of the swing in the first pulses).
    """
    g_min: float = 1e-6
    """Conductance before any SET pulse (S)."""
    g_max: float = 2e-6
    """Conductance after ``n_pulses`` SET pulses (S)."""
    n_pulses: int = 50
    """Pulses from ``g_min`` to ``g_max`` (saturation)."""
    nonlinearity: float = 3.0
    """Shape factor ``nu`` (dimensionless, >= 0)."""
    c2c: float = 0.0
    """Cycle-to-cycle programming noise, standard deviation relative to ``g_max - g_min``."""
    reset_step: int = 1
    """Pulses walked back along the curve by one RESET pulse."""

    def __post_init__(self):
        who = type(self).__name__
        check_number(self.g_min, f"{who}: g_min (S)", 0.0, 1.0, low_open=True)
        check_number(self.g_max, f"{who}: g_max (S)", self.g_min, 1.0, low_open=True)
        if int(self.n_pulses) != self.n_pulses or self.n_pulses < 1:
            raise ValidationError(f"{who}: n_pulses must be an integer >= 1, received {self.n_pulses!r}")
        check_number(self.nonlinearity, f"{who}: nonlinearity", 0.0, 200.0)
        _check_common(self, who)

    def curve(self):
        m = np.arange(self.n_pulses + 1) / self.n_pulses
        nu = self.nonlinearity
        # expm1 keeps the ratio exact as nu -> 0, where the curve becomes linear.
        frac = m if nu < 1e-9 else np.expm1(-nu * m) / np.expm1(-nu)
        return self.g_min + (self.g_max - self.g_min) * frac


@dataclass(frozen=True)
class SP291D1NR100Fit(ExponentialMemristor):
    """Preset fitted to the read curve of ``SP291D1NR100.dat`` (50 SET pulses
    of 2 V / 1 ms, reads at +-50 mV, 449 K): ``R`` 2.20 -> ~1.90 MOhm.

    ``g_min`` is the first read (454.5 nS); ``g_max`` and ``nonlinearity`` are
    a least-squares fit of the other 50 reads; ``c2c`` is the standard
    deviation of the residuals (6.1 nS) relative to the span (65.8 nS).
    """
    g_min: float = 4.545e-7
    g_max: float = 5.202e-7
    n_pulses: int = 50
    nonlinearity: float = 16.5
    c2c: float = 0.09
