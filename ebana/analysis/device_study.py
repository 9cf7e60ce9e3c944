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
from contextlib import closing
from dataclasses import dataclass

import numpy as np

from ..backends import Backend
from ..backends.factory import backend_with_retries
from ..devices.chip import ChipDevices
from ..devices.drift import PowerLawDrift
from ..devices.faults import StuckAtFaults
from ..errors import ValidationError
from ..validation import check_number
from .chip_tasks import ONE_BLAS_THREAD, build_payload, run_chips
from .chips import chip_accuracy, chip_seed, prepare_batches
from .robustness import check_scaleout


def _chips(chips):
    if isinstance(chips, bool) or not isinstance(chips, (int, np.integer)) or chips < 1:
        raise ValidationError(f"chips must be a positive int, received {chips!r}")
    return int(chips)


@dataclass(frozen=True)
class DeviceChipStudy:
    """What fixes every chip of a fault or drift study, as a task (the interface of
    :class:`~ebana.analysis.chip_tasks.ChipStudy`, so the chips run here or on any executor).

    settings: one ``(faults, drift, t, compensate)`` per row (a StuckAtFaults or None, a
    PowerLawDrift or None, the time after programming in s or None, the compensation flag);
    chips: chips per row; seed: the study seed (chip ``c`` has seed ``chip_seed(seed, c)``).
    """
    settings: tuple
    chips: int
    seed: int

    def _nominal(self, i):
        """True when row ``i`` changes no device: no stuck device and no time past t0."""
        faults, drift, t, _ = self.settings[i]
        no_faults = faults is None or faults.p == 0.0
        no_drift = drift is None or t is None or t == drift.t0
        return no_faults and no_drift

    def jobs(self):
        """The ``(row, chip)`` pairs to solve: a nominal row is the trained network on every chip,
        so only its chip 0 is solved (:meth:`fill` copies it)."""
        return [(i, c) for i in range(len(self.settings)) for c in range(1 if self._nominal(i) else self.chips)]

    def fill(self, acc):
        """Copy chip 0's accuracy to every chip of the nominal rows of ``acc`` (rows x chips), in place."""
        for i in range(len(self.settings)):
            if self._nominal(i):
                acc[i, 1:] = acc[i, 0]

    def accuracy(self, model, backend, batches, loss_fn, i, c):
        """Accuracy (fraction) of chip ``c`` in row ``i``: its effective conductances, then a
        free-phase solve of ``batches`` with ``backend`` (BLAS on one thread, as in every chip task)."""
        faults, drift, t, compensate = self.settings[i]
        with ONE_BLAS_THREAD:
            chip = ChipDevices(faults, drift, chip_seed(self.seed, c))
            return chip_accuracy(model, backend, batches, chip.conductances(model, t=t, compensate=compensate),
                                 loss_fn)


def _run(model, dataset, study, loss_fn, backend, batch_size, verbose, executor):
    """accuracy[i, c] of the :class:`DeviceChipStudy` ``study``, here or on ``executor``."""
    if loss_fn is None:
        raise ValidationError("a device study needs loss_fn= (the loss whose accuracy is reported)")
    if getattr(model, "device", "cpu") != "cpu":  # the chips' fault and drift maps are host arrays
        raise ValidationError(f"fault_study / drift_study run on the CPU: the model is on device={model.device!r}; "
                              "study a CPU copy (model.to('native', device='cpu'))")
    spec = check_scaleout(model, backend, executor, None)
    own = backend is not None and not isinstance(backend, Backend)
    backend = model.backend if backend is None else backend_with_retries(backend)
    try:
        from ..training.progress import progress
        batches = prepare_batches(model, dataset, batch_size)
        payload = None if executor is None else build_payload(model, spec, loss_fn, batches)
        acc = np.zeros((len(study.settings), study.chips))
        todo = study.jobs()
        with closing(run_chips(model, backend, batches, loss_fn, study, todo, executor, payload)) as chips:
            for i, c, accuracy in progress(chips, total=len(todo), desc="chips", enabled=verbose):
                acc[i, c] = accuracy
        study.fill(acc)
        return acc
    finally:
        if own:
            backend.close()


def fault_study(model, dataset, ps, chips=100, seed=0, high_fraction=0.5, loss_fn=None, backend=None,
                batch_size=256, verbose=False, executor=None):
    """Accuracy (fraction), shape ``(len(ps), chips)``, with a fraction ``p`` of stuck devices.

    Args:
        ps: fractions of stuck devices (each in [0, 1]).
        high_fraction: share of the stuck devices at g_max (the rest at g_min).
        chips, seed: chip ``c`` has seed ``chip_seed(seed, c)``.
        loss_fn: the loss with ``accuracy``; backend: None (the model's) or a name.
        executor: where the chips run, as in :func:`~ebana.analysis.robustness.evaluate_robustness`
            (None: here; a process pool or a Dask client: one task per chip, the backend by name);
            the result is bit for bit the same.
    """
    settings = tuple((StuckAtFaults(p=p, high_fraction=high_fraction), None, None, False) for p in ps)
    study = DeviceChipStudy(settings, _chips(chips), int(seed))
    return _run(model, dataset, study, loss_fn, backend, batch_size, verbose, executor)


def drift_study(model, dataset, times, drift=None, compensate=False, chips=100, seed=0, loss_fn=None,
                backend=None, batch_size=256, verbose=False, executor=None):
    """Accuracy (fraction), shape ``(len(times), chips)``, at ``times`` (s) after programming.

    Args:
        times: times after programming (s, each >= ``drift.t0``).
        drift: a PowerLawDrift (default: the PCM fit, ``PowerLawDrift(dependence='pcm')``).
        compensate: apply the chip's global drift compensation factor.
        executor: as in :func:`fault_study`.
    """
    drift = PowerLawDrift(dependence="pcm") if drift is None else drift
    for i, t in enumerate(times):
        check_number(t, f"times[{i}] (s)", low=drift.t0)
    settings = tuple((None, drift, float(t), bool(compensate)) for t in times)
    study = DeviceChipStudy(settings, _chips(chips), int(seed))
    return _run(model, dataset, study, loss_fn, backend, batch_size, verbose, executor)


def summarize(acc):
    """Per row of ``acc`` (fractions): ``{'median', 'q25', 'q75', 'min', 'max'}`` in percent."""
    out = []
    for row in np.atleast_2d(acc):
        q25, med, q75 = np.percentile(row, [25, 50, 75])
        out.append({"median": 100 * med, "q25": 100 * q25, "q75": 100 * q75,
                    "min": 100 * row.min(), "max": 100 * row.max()})
    return out
