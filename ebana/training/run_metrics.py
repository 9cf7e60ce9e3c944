"""The metric names a ``fit`` run will report each epoch, known before it trains.

Callbacks that name metrics (``ModelCheckpoint("m-{val_acc:.3f}.ebana")``,
``EarlyStopping(monitor=...)``, ``CSVLogger``'s header) are checked against
them in ``on_train_begin``, so a typo fails before the first weight changes
instead of after an epoch of simulation.

The loss's own metrics are found by calling it on a few targets of the data
(the same call the epoch makes, with zero readouts); a loss whose metrics
cannot be found that way leaves the names unknown and the checks wait for
the first epoch, as before.
"""
import numpy as np

from ..errors import ValidationError
from .metrics import batch_metrics, classify_outputs

#: reported by every epoch after the loss's metrics, in this order
TRAILING = ("lr_scale", "epoch_time_s")
#: metric names with a layer name in them (``record_power``): known by prefix only
POWER_PREFIXES = ("power_", "supply_")


class RunMetrics:
    """Metric names in the order an epoch reports them, plus name prefixes that
    ``record_power`` adds per layer. ``exact`` is False when power names are open."""

    def __init__(self, names, prefixes=()):
        self.names = list(names)
        self.prefixes = tuple(prefixes)
        self.exact = not self.prefixes

    def __contains__(self, name):
        return name in self.names or (bool(self.prefixes) and name.startswith(self.prefixes))

    def __repr__(self):
        return f"RunMetrics({self.names}{', ' + repr(self.prefixes) if self.prefixes else ''})"


def loss_metric_names(model, loader, loss_fn):
    """Sorted names of the loss's metrics on ``loader``'s targets, or None if they cannot be told."""
    if not hasattr(loader, "column"):
        return None
    try:
        targets, readouts = {}, {}
        for out in model.outputs:
            t = np.asarray(loader.column(out.name))[:2]
            targets[out.name] = t[:, None] if t.ndim == 1 and out.units == 1 else t
            readouts[out.name] = np.zeros((len(t), out.units))
        return list(batch_metrics(model, readouts, targets, loss_fn, classify_outputs(model, loader, loss_fn)))
    except Exception:  # a user loss that wants other readouts: its names show after the first epoch
        return None


def run_metrics(model, loader, loss_fn, validation=None, on_failure="stop", record_power=False):
    """The :class:`RunMetrics` of a fit run, or None when the loss's metrics cannot be told.

    ``validation``: the validation DataLoader (its targets decide the ``val_`` metrics) or None.
    """
    train = loss_metric_names(model, loader, loss_fn)
    if train is None:
        return None
    names = ["loss", *train] + (["skipped_batches"] if on_failure == "skip" else [])
    prefixes = ()
    if validation is not None:
        val = loss_metric_names(model, validation, loss_fn)
        if val is None:
            return None
        names += ["val_loss", *("val_" + n for n in val)]
    if record_power:
        lead = "val_" if validation is not None else ""
        names.append(lead + "power_W")
        prefixes = tuple(lead + p for p in POWER_PREFIXES)
    return RunMetrics(names + list(TRAILING), prefixes)



def select_metrics(values, selected, loss_fn):
    """``values`` (name -> number) without the loss's metrics (``loss_fn.METRICS``) that
    ``compile(metrics=...)`` left out; ``selected``: a tuple of names, or None to keep all.
    The loss itself and the run's own numbers (``lr_scale``, ``epoch_time_s``, power) stay."""
    if selected is None:
        return values
    optional = set(getattr(loss_fn, "METRICS", ())) - set(selected)
    return {k: v for k, v in values.items() if (k[4:] if k.startswith("val_") else k) not in optional}


def check_selected(selected, names, loss_fn):
    """Before training: every metric of ``compile(metrics=...)`` is one this run reports."""
    for m in selected or ():
        if names is not None and m not in names:
            raise ValidationError(
                f"compile(metrics=[{m!r}]): {type(loss_fn).__name__} does not report {m!r} on this data "
                f"(it reports {[n for n in names.names if n in getattr(loss_fn, 'METRICS', ())]}); "
                "accuracy needs class targets (two levels, or one-hot rows)")
