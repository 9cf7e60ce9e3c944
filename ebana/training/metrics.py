"""Metrics chosen by the loss, summed over batches into epoch means.

A loss with ``metrics(y, target) -> {name: value}`` picks its own (MSE:
``mae`` in V, and ``accuracy`` only for class targets; CrossEntropy:
``accuracy``); a loss with only ``accuracy(y, target)`` reports that.
Several outputs are averaged; a metric missing from a batch is averaged
over the batches that report it.
"""
import numpy as np

from ..errors import ValidationError


def batch_metrics(model, readouts, targets, loss_fn):
    """Metric values of one batch by name, averaged over the model's outputs."""
    per_output = []
    for o in model.outputs:
        y, t = readouts[o.name], targets[o.name]
        if hasattr(loss_fn, "metrics"):
            per_output.append(loss_fn.metrics(y, t))
        elif hasattr(loss_fn, "accuracy"):
            per_output.append({"accuracy": loss_fn.accuracy(y, t)})
        else:
            per_output.append({})
    names = set.intersection(*(set(m) for m in per_output)) if per_output else set()
    return {n: float(np.mean([m[n] for m in per_output])) for n in sorted(names)}


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
        return {name: s / n for name, (s, n) in self.sums.items() if n}
