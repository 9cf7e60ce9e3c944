"""Metrics chosen by the loss, summed over batches into epoch means.

A loss with ``metrics(y, target) -> {name: value}`` picks its own (MSE:
``mae`` in V, and ``accuracy`` only for class targets; CrossEntropy:
``accuracy``); a loss with only ``accuracy(y, target)`` reports that.
Several outputs are averaged; a metric missing from a batch is averaged
over the batches that report it. On a device (a GPU) the values stay 0-d
device arrays until an epoch's means are read: one read per metric and epoch.
"""
import numpy as np

from ..backends.arrays import array_namespace

from ..errors import ValidationError


def classify_outputs(model, loader, loss_fn):
    """Per output name, whether the loss should report accuracy, decided once on all
    of ``loader``'s targets (None where the loss decides per batch or the data is not at hand)."""
    out = {}
    for o in model.outputs:
        t = loader.column(o.name) if hasattr(loader, "column") and o.name in loader.keys else None
        if t is not None and hasattr(loss_fn, "is_classification"):
            out[o.name] = bool(loss_fn.is_classification(t if t.ndim == 2 else t.reshape(len(t), -1)))
    return out


def batch_metrics(model, readouts, targets, loss_fn, classify=None):
    """Metric values of one batch by name, averaged over the model's outputs.

    ``classify``: :func:`classify_outputs` of the whole data set, for losses that take it."""
    per_output = []
    for o in model.outputs:
        y, t = readouts[o.name], targets[o.name]
        decided = (classify or {}).get(o.name)
        if decided is not None:
            per_output.append(loss_fn.metrics(y, t, classify=decided))
        elif hasattr(loss_fn, "metrics"):
            per_output.append(loss_fn.metrics(y, t))
        elif hasattr(loss_fn, "accuracy"):
            per_output.append({"accuracy": loss_fn.accuracy(y, t)})
        else:
            per_output.append({})
    names = set.intersection(*(set(m) for m in per_output)) if per_output else set()
    return {n: _mean([m[n] for m in per_output]) for n in sorted(names)}


def _mean(values):
    """Mean of one metric over the outputs: a float, or a 0-d device array when they are."""
    xp = array_namespace(*values)
    if xp is np:
        return float(np.mean(values))
    return xp.mean(xp.stack([xp.asarray(v, dtype=float) for v in values]))


def check_loss_fits(model, loss_fn):
    """Before any solve: the loss accepts the model's readout widths (e.g. CrossEntropy needs 2+)."""
    if not callable(loss_fn):
        raise ValidationError(f"loss must be callable as loss(y, target) -> (loss, dloss_dy) or a name "
                              f"('mse', 'cross_entropy'), received {type(loss_fn).__name__}")
    if hasattr(loss_fn, "check_outputs"):
        loss_fn.check_outputs({o.name: o.units for o in model.outputs})


class MetricSums:
    """Sample-weighted running sums of per-batch metrics."""

    def __init__(self, sums=None):
        self.sums = dict(sums or {})  # name -> [weighted sum, samples]

    def add(self, values, n):
        for name, v in values.items():
            s = self.sums.setdefault(name, [0.0, 0])
            s[0] += v * n
            s[1] += n

    def means(self):
        """Sample-weighted means by name, Python floats (a device's sums are read here)."""
        return {name: float(s / n) for name, (s, n) in self.sums.items() if n}
