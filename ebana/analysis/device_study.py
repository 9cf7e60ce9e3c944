"""Accuracy over simulated chips with stuck-at faults and drift.

Each chip ``c`` of a study seeded with ``seed`` is a
:class:`~ebana.devices.chip.ChipDevices` with seed
:func:`~ebana.analysis.chips.chip_seed` ``(seed, c)``: its fault maps
and drift exponents are fixed by that seed, so chip ``c`` is the same chip
at every fault fraction (a larger ``p`` keeps the devices stuck at a smaller
one) and at every time. Evaluating a chip is one free-phase solve per test
batch with its effective conductances (S).

Example:

>>> import numpy as np
>>> from ebana import MSE
>>> from ebana.networks import rectified_mlp
>>> model = rectified_mlp(4, 4, 2, backend="native")
>>> data = {"x": np.random.default_rng(0).uniform(-1, 1, (8, 4)), "out": np.eye(2)[[0, 1] * 4] / 300}
>>> acc = fault_study(model, data, ps=[0.0, 0.1], chips=3, loss_fn=MSE())
>>> acc.shape
(2, 3)
"""
import numpy as np

from ..backends import Backend
from ..backends.factory import backend_with_retries
from ..devices.chip import ChipDevices
from ..devices.drift import PowerLawDrift
from ..devices.faults import StuckAtFaults
from ..errors import ValidationError
from ..validation import check_number
from .chips import chip_accuracy, chip_seed, prepare_batches


def _chips(chips):
    if isinstance(chips, bool) or not isinstance(chips, (int, np.integer)) or chips < 1:
        raise ValidationError(f"chips must be a positive int, received {chips!r}")
    return int(chips)


def _same_on_every_chip(faults, drift, t):
    """True when no device is changed: no stuck device and no drift time past t0."""
    no_faults = faults is None or faults.p == 0.0
    no_drift = drift is None or t is None or t == drift.t0
    return no_faults and no_drift


def _run(model, dataset, settings, chips, seed, loss_fn, backend, batch_size, verbose):
    """accuracy[i, c] for ``settings[i] = (ChipDevices factory args, conductances kwargs)``."""
    if loss_fn is None:
        raise ValidationError("a device study needs loss_fn= (the loss whose accuracy is reported)")
    if getattr(model, "device", "cpu") != "cpu":  # the chips' fault and drift maps are host arrays
        raise ValidationError(f"fault_study / drift_study run on the CPU: the model is on device={model.device!r}; "
                              "study a CPU copy (model.to('native', device='cpu'))")
    chips = _chips(chips)
    own = backend is not None and not isinstance(backend, Backend)
    backend = model.backend if backend is None else backend_with_retries(backend)
    try:
        from ..training.progress import progress
        batches = prepare_batches(model, dataset, batch_size)
        acc = np.zeros((len(settings), chips))
        jobs = [(i, c) for i in range(len(settings)) for c in range(chips)]
        for i, c in progress(jobs, total=len(jobs), desc="chips", enabled=verbose):
            (faults, drift), kwargs = settings[i]
            if c > 0 and _same_on_every_chip(faults, drift, kwargs.get("t")):
                acc[i, c] = acc[i, 0]  # p = 0 and t = t0 leave the trained conductances: one solve is enough
                continue
            chip = ChipDevices(faults, drift, chip_seed(seed, c))
            acc[i, c] = chip_accuracy(model, backend, batches, chip.conductances(model, **kwargs), loss_fn)
        return acc
    finally:
        if own:
            backend.close()


def fault_study(model, dataset, ps, chips=100, seed=0, high_fraction=0.5, loss_fn=None, backend=None,
                batch_size=256, verbose=False):
    """Accuracy (fraction), shape ``(len(ps), chips)``, with a fraction ``p`` of stuck devices.

    Args:
        ps: fractions of stuck devices (each in [0, 1]).
        high_fraction: share of the stuck devices at g_max (the rest at g_min).
        chips, seed: chip ``c`` has seed ``chip_seed(seed, c)``.
        loss_fn: the loss with ``accuracy``; backend: None (the model's) or a name.
    """
    settings = [((StuckAtFaults(p=p, high_fraction=high_fraction), None), {}) for p in ps]
    return _run(model, dataset, settings, chips, seed, loss_fn, backend, batch_size, verbose)


def drift_study(model, dataset, times, drift=None, compensate=False, chips=100, seed=0, loss_fn=None,
                backend=None, batch_size=256, verbose=False):
    """Accuracy (fraction), shape ``(len(times), chips)``, at ``times`` (s) after programming.

    Args:
        times: times after programming (s, each >= ``drift.t0``).
        drift: a PowerLawDrift (default: the PCM fit, ``PowerLawDrift(dependence='pcm')``).
        compensate: apply the chip's global drift compensation factor.
    """
    drift = PowerLawDrift(dependence="pcm") if drift is None else drift
    for i, t in enumerate(times):
        check_number(t, f"times[{i}] (s)", low=drift.t0)
    settings = [((None, drift), {"t": float(t), "compensate": compensate}) for t in times]
    return _run(model, dataset, settings, chips, seed, loss_fn, backend, batch_size, verbose)


def summarize(acc):
    """Per row of ``acc`` (fractions): ``{'median', 'q25', 'q75', 'min', 'max'}`` in percent."""
    out = []
    for row in np.atleast_2d(acc):
        q25, med, q75 = np.percentile(row, [25, 50, 75])
        out.append({"median": 100 * med, "q25": 100 * q25, "q75": 100 * q75,
                    "min": 100 * row.min(), "max": 100 * row.max()})
    return out
