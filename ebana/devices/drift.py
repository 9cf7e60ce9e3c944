"""Conductance drift over time: a per-device power law.

Model (per device ``i``, chip scope)::

    G_i(t) = G_i(t0) * (t / t0) ** (-nu_i)                 t >= t0 (s), G in S
    nu_i   ~ N(mu(G_i), sigma(G_i)**2), clipped to nu_i >= 0

``t0`` (s) is the time after programming at which the programmed value
``G(t0)`` is read (the trained conductance); ``t`` (s) is the time of use.
With ``dependence='constant'`` the exponent statistics are ``nu_mean`` and
``nu_std`` for every device. With ``dependence='pcm'`` they depend on the
programmed conductance relative to ``g_max``, ``g_T = G / g_max`` (clipped to
``[1e-6, 1]``), as fitted to a million-device phase-change memory array
(Nandakumar et al., ICECS 2019; Joshi et al., Nature Communications 11,
2473, 2020; the PCM statistical model of IBM's aihwkit, ``log`` natural)::

    mu(g_T)    = min(max(-0.0155 log g_T + 0.0244, 0.049), 0.1)
    sigma(g_T) = min(max(-0.0125 log g_T - 0.0059, 0.008), 0.045)

aihwkit reads the programmed value at ``t0 = 20 s``; the exponent of a power
law does not depend on which point of the curve is the reference, so ebana's
default ``t0 = 1 s`` (the trained value is what the chip holds one second
after programming) keeps the same exponents.

The exponents are drawn once per chip from its seed
(:func:`~ebana.devices.variability.chip_generator`, a stream per layer
separate from the chip's variability and fault streams), so a chip drifts
the same way in every run and at every ``t``.

Example:

>>> import numpy as np
>>> drift = PowerLawDrift(nu_mean=0.05, nu_std=0.01)
>>> g0 = np.full((3, 2), 1e-6)
>>> nu = drift.draw_nu(g0, g_max=1e-6, seed=1, key="d1p")
>>> g_day = drift.apply(g0, nu, t=86400.0)
>>> bool(np.all(g_day < g0))
True
"""
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import ShapeError, ValidationError
from ..validation import check_array, check_number
from .variability import chip_generator

DEPENDENCES = ("constant", "pcm")
_DRIFT_KEY = "/drift"  # appended to the layer name: independent of the chip's other streams
_G_T_FLOOR = 1e-6      # g_T below this is treated as this (the PCM fit is clipped long before)


@dataclass(frozen=True)
class PowerLawDrift:
    """Settings of the power-law drift (no state, no randomness).

    Example: ``PowerLawDrift(dependence="pcm")`` (the PCM fit) or
    ``PowerLawDrift(nu_mean=0.05, nu_std=0.0)`` (a uniform drift).
    """

    nu_mean: float = 0.05
    """Mean drift exponent (dimensionless, >= 0); used by dependence 'constant'."""

    nu_std: float = 0.01
    """Device-to-device spread of the exponent (dimensionless, >= 0); used by 'constant'."""

    t0: float = 1.0
    """Time after programming at which G(t0) is the programmed value (s, > 0)."""

    dependence: str = "constant"
    """'constant': N(nu_mean, nu_std^2) for every device; 'pcm': mean and spread
    from the programmed conductance (the PCM fit in the module docstring)."""

    def __post_init__(self):
        object.__setattr__(self, "nu_mean", check_number(self.nu_mean, "PowerLawDrift.nu_mean (drift exponent)",
                                                         low=0.0))
        object.__setattr__(self, "nu_std", check_number(self.nu_std, "PowerLawDrift.nu_std (drift exponent spread)",
                                                        low=0.0))
        object.__setattr__(self, "t0", check_number(self.t0, "PowerLawDrift.t0 (s)", low=0.0, low_open=True))
        if self.dependence not in DEPENDENCES:
            raise ValidationError(f"PowerLawDrift.dependence must be one of {list(DEPENDENCES)}, "
                                  f"received {self.dependence!r}")

    def nu_statistics(self, g, g_max):
        """Mean and spread of the exponent (dimensionless arrays, shape of ``g``) for conductances ``g`` (S)."""
        g = check_array(g, "g (S)", low=0.0)
        if self.dependence == "constant":
            return np.full(g.shape, self.nu_mean), np.full(g.shape, self.nu_std)
        g_max = check_number(g_max, "g_max (S)", low=0.0, low_open=True)
        log_gt = np.log(np.clip(g / g_max, _G_T_FLOOR, 1.0))
        return (np.clip(-0.0155 * log_gt + 0.0244, 0.049, 0.1),
                np.clip(-0.0125 * log_gt - 0.0059, 0.008, 0.045))

    def draw_nu(self, g, g_max, seed, key=0):
        """Exponents (dimensionless, >= 0) of chip ``seed``'s layer ``key``, shape of ``g`` (S).

        Deterministic in ``(seed, key)`` and, for 'pcm', in ``g``. The
        standard normal draws do not depend on ``g`` or the settings, so one
        chip compared over settings keeps its devices' ranks.
        """
        mean, std = self.nu_statistics(g, g_max)
        key = key + _DRIFT_KEY if isinstance(key, str) else f"{key}{_DRIFT_KEY}"
        z = chip_generator(seed, key).standard_normal(mean.shape)
        return np.maximum(mean + std * z, 0.0)  # a negative exponent (growth) is not part of the model

    def factor(self, nu, t):
        """Drift factor ``(t / t0) ** (-nu)`` (dimensionless) at time ``t`` (s, >= t0)."""
        t = check_number(t, "t (s, time after programming)", low=0.0)
        if t < self.t0:
            raise ValidationError(f"t (s, time after programming) must be >= t0 = {self.t0!r} s, the time at "
                                  f"which the programmed conductance is read; received {t!r}")
        nu = check_array(nu, "nu (drift exponent)", low=0.0)
        return (t / self.t0) ** (-nu)

    def apply(self, g0, nu, t):
        """Conductances (S) at time ``t`` (s) from ``g0`` (S) at ``t0`` and the exponents ``nu``."""
        g0 = check_array(g0, "g0 (S)", low=0.0)
        nu = np.asarray(nu)
        if nu.shape != g0.shape:
            raise ShapeError(f"nu has shape {nu.shape}, the conductances {g0.shape}; they must match")
        return g0 * self.factor(nu, t)

    def get_config(self):
        """The constructor's keyword arguments (plain values)."""
        return asdict(self)


def global_compensation(g0_parts, gt_parts):
    """The chip's global drift compensation factor ``sum G(t0) / sum G(t)`` (dimensionless).

    A chip measures it by reading the summed current of its crossbars at a
    constant voltage right after programming and again at ``t`` (Le Gallo et
    al., Adv. Electron. Mater. 4, 1700627, 2018; aihwkit's
    GlobalDriftCompensation); multiplying every conductance (or the readout
    gain) by it undoes the mean drift. ``g0_parts`` and ``gt_parts`` are
    sequences of conductance arrays (S), one per layer.
    """
    total0 = float(sum(np.sum(g) for g in g0_parts))
    total_t = float(sum(np.sum(g) for g in gt_parts))
    if total0 <= 0 or total_t <= 0:
        raise ValidationError(f"global_compensation: summed conductances must be positive, received "
                              f"{total0!r} S at t0 and {total_t!r} S at t")
    return total0 / total_t
