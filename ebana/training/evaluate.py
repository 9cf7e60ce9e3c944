"""Free-phase evaluation over a data set: mean loss and the loss's metrics."""
import numpy as np

from ..backends.arrays import array_namespace, to_device
from ..errors import ValidationError
from ..interrupt import check as check_interrupt
from ..interrupt import deferred_sigint
from .data import DataLoader
from .ep import evaluate_batch, targets_of
from .metrics import MetricSums, batch_metrics, check_loss_fits, classify_outputs
from .progress import progress
from .run_metrics import select_metrics

#: from this many batches on, an evaluation shows a progress bar (when verbose, on a terminal)
BAR_FROM_BATCHES = 10


def as_loader(data, batch_size=64):
    """A DataLoader from a DataLoader or a dict of arrays."""
    if isinstance(data, DataLoader):
        return data
    if isinstance(data, dict):
        return DataLoader(data, batch_size=batch_size)
    raise ValidationError(f"expected a DataLoader or a dict of arrays, received {type(data).__name__}")


def on_model_device(model, loader):
    """``loader`` as ``model`` reads it: unchanged on the CPU; for a model on a device, a
    :class:`~.data.DeviceLoader` whose inputs and targets were checked on the host, all
    samples at once, and copied to the device once (not once per batch)."""
    xp = getattr(model, "xp", np)
    if xp is np:
        return loader

    def check(columns):
        from ..model.inputs import check_inputs  # ebana.model imports this package
        size, _ = check_inputs(model.inputs, columns)
        targets_of(model, columns, size)
    return loader.on_device(xp, check)


def mean_loss(losses):
    """Mean of the per-sample losses of every batch, a float (one read from a device)."""
    xp = array_namespace(*losses)
    if xp is np:
        return float(np.concatenate(losses).mean())
    return float(xp.concatenate([to_device(a, xp) for a in losses]).mean())  # host ones: a resumed epoch's


def evaluate(model, data, loss_fn, batch_size=256, power=False, verbose=True, desc="evaluate", metrics=None):
    """Free-phase mean loss and the loss's metrics over ``data``: ``{'loss': ..., 'accuracy': ...}``
    (MSE on regression targets: ``'mae'`` (V) instead of accuracy; see :mod:`.metrics`).
    ``power=True`` adds the mean power (W) of every layer (see ``PowerReport.metrics``).
    ``verbose``: a progress bar over the batches when there are :data:`BAR_FROM_BATCHES` or
    more (never in logs or CI: see :func:`~.progress.progress`). ``metrics``: names to keep
    (``compile(metrics=...)``), None for all.

    Ctrl-C stops it within one sample's solve (see :mod:`ebana.interrupt`)."""
    with deferred_sigint():
        return _evaluate(model, data, loss_fn, batch_size, power, verbose, desc, metrics)


def _evaluate(model, data, loss_fn, batch_size, power, verbose, desc, metrics):
    check_loss_fits(model, loss_fn)
    if power:
        from ..model.device import refuse_on_device
        refuse_on_device(model, "evaluate(power=True) (record_power)")
    losses, sums = [], MetricSums()
    reports = [] if power else None
    loader = on_model_device(model, as_loader(data, batch_size))
    classify = classify_outputs(model, loader, loss_fn)
    bar = progress(loader, total=len(loader), desc=desc, enabled=bool(verbose) and len(loader) >= BAR_FROM_BATCHES)
    for batch in bar:
        check_interrupt()
        loss, readouts, targets = evaluate_batch(model, batch, loss_fn, power=reports)
        losses.append(loss)
        sums.add(batch_metrics(model, readouts, targets, loss_fn, classify), len(loss))
    out = select_metrics({"loss": mean_loss(losses), **sums.means()}, metrics, loss_fn)
    if power:
        from ..analysis.power import PowerReport
        out.update(PowerReport.concatenate(reports).metrics())
    return out
