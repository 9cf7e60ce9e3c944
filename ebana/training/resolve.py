"""Keras habits: names for losses and optimizers, and ``fit(x, y)`` data.

``loss='mse'`` (Keras' mean over outputs), ``'mae'``, ``'half_squared_error'``
(EP's classic ``0.5 * sum``, class :class:`MSE`) or ``'cross_entropy'``;
``optimizer='adam'``, ``'sgd'`` or ``'rmsprop'``; ``metrics=['accuracy', 'mae']``
among those the loss reports; data as ``x, y`` arrays (one input, one output),
dicts keyed by layer name, one dict holding inputs and targets, or a
:class:`DataLoader`, and ``validation_split`` of such arrays. Anything else
gets a ValidationError that says what was expected.
"""
import numpy as np

from ..errors import ValidationError
from ..model.inputs import by_layer_name
from .data import DataLoader
from .losses import MSE, CrossEntropy, MeanAbsoluteError, MeanSquaredError
from .optimizers import SGD, Adam, Optimizer
from .rmsprop import RMSprop

LOSSES = {"mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
          "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
          "half_squared_error": MSE, "cross_entropy": CrossEntropy,
          "crossentropy": CrossEntropy, "categorical_crossentropy": CrossEntropy}
OPTIMIZERS = {"adam": Adam, "sgd": SGD, "rmsprop": RMSprop}
#: loss and optimizer classes by class name, for files that name them (saved models)
LOSS_CLASSES = {cls.__name__: cls for cls in set(LOSSES.values())}
OPTIMIZER_CLASSES = {cls.__name__: cls for cls in OPTIMIZERS.values()}
#: Keras' other spellings of the metrics ebana computes
METRIC_ALIASES = {"acc": "accuracy", "mean_absolute_error": "mae", "categorical_accuracy": "accuracy",
                  "binary_accuracy": "accuracy"}


def resolve_loss(loss):
    """A loss object from a name or a loss object (callable ``loss(y, t) -> (loss, dloss_dy)``)."""
    if isinstance(loss, str):
        cls = LOSSES.get(loss.lower())
        if cls is None:
            raise ValidationError(f"unknown loss {loss!r}; use one of {sorted(LOSSES)} or a loss object")
        return cls()
    if loss is None or not callable(loss):
        raise ValidationError(f"loss must be a name ({sorted(LOSSES)}) or a loss object such as MSE(), "
                              f"received {type(loss).__name__}")
    return loss


def resolve_optimizer(optimizer):
    """An optimizer from a name ('adam', 'sgd': default learning rates relative to each
    layer's conductance range) or an :class:`Optimizer` instance (used as given)."""
    if isinstance(optimizer, str):
        cls = OPTIMIZERS.get(optimizer.lower())
        if cls is None:
            raise ValidationError(f"unknown optimizer {optimizer!r}; use one of {sorted(OPTIMIZERS)} "
                                  "or an Optimizer instance")
        return cls()
    if not isinstance(optimizer, Optimizer):
        raise ValidationError(f"optimizer must be 'adam', 'sgd', 'rmsprop' or an Optimizer instance such as "
                              f"Adam(), received {type(optimizer).__name__}")
    return optimizer


def resolve_metrics(metrics, loss):
    """``compile(metrics=...)`` as a tuple of ebana metric names, or None (all the loss reports).

    Accepted: the names in ``loss.METRICS`` (MSE-like losses: 'mae' (V) and
    'accuracy' (class targets); CrossEntropy: 'accuracy'), and Keras' aliases
    ('acc', 'mean_absolute_error'). The loss is always reported as 'loss'.
    """
    if metrics is None:
        return None
    if isinstance(metrics, str) or not isinstance(metrics, (list, tuple)):
        raise ValidationError(f"metrics must be a list of names such as ['accuracy'], received {metrics!r}")
    known = getattr(loss, "METRICS", ())
    out = []
    for m in metrics:
        name = METRIC_ALIASES.get(m.lower(), m.lower()) if isinstance(m, str) else m
        if name not in known:
            raise ValidationError(
                f"unknown metric {m!r} for loss {type(loss).__name__}: it reports {list(known) or 'no metrics'} "
                f"(and 'loss'); ebana computes metrics from the readouts it solves, so other metrics "
                f"or metric objects are not supported")
        if name not in out:
            out.append(name)
    return tuple(out)


def as_training_data(model, x, y=None, batch_size=32, shuffle=True, seed=None, what="x"):
    """A DataLoader from ``x`` (DataLoader, dict or array) and optional targets ``y``."""
    if isinstance(x, DataLoader):
        if y is not None:
            raise ValidationError(f"{what} is a DataLoader, which holds its targets: do not pass y as well")
        return x
    if x is None:
        raise ValidationError(f"no training data: pass {what} (array, dict or DataLoader)")
    data = by_layer_name(x, model.inputs, "input")
    if y is not None:
        targets = by_layer_name(y, model.outputs, "output")
        clash = sorted(set(data) & set(targets))
        if clash:
            raise ValidationError(f"keys {clash} appear in both x and y")
        data.update(targets)
    missing = [o.name for o in model.outputs if o.name not in data]
    if missing:
        raise ValidationError(f"no targets for outputs {missing}: pass y, or add keys {missing} to the dict "
                              f"(keys received: {sorted(data)})")
    return DataLoader(data, batch_size=batch_size, shuffle=shuffle, seed=seed)


def as_validation_data(model, data, batch_size=256):
    """A DataLoader from ``validation_data``: ``(x, y)``, a dict with targets, or a DataLoader."""
    if isinstance(data, tuple):
        if len(data) != 2:
            raise ValidationError(f"validation_data as a tuple must be (x, y), received {len(data)} items")
        return as_training_data(model, data[0], data[1], batch_size, shuffle=False, what="validation_data")
    return as_training_data(model, data, None, batch_size, shuffle=False, what="validation_data")


def split_validation(model, x, y, fraction):
    """Keras' ``validation_split``: the last ``fraction`` of the samples (before any shuffling)
    as validation data. Returns ``(train dict, validation dict)`` of arrays by layer name."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0.0 < fraction < 1.0:
        raise ValidationError(f"validation_split must be a fraction between 0 and 1, received {fraction!r}")
    if isinstance(x, DataLoader) or x is None:
        raise ValidationError("validation_split needs arrays (x, y) or a dict, not a DataLoader: "
                              "pass validation_data=DataLoader(...) instead")
    data = by_layer_name(x, model.inputs, "input")
    if y is not None:
        data.update(by_layer_name(y, model.outputs, "output"))
    n = len(next(iter(data.values())))
    split_at = int(n * (1.0 - fraction))  # Keras' rule
    if split_at < 1 or split_at >= n:
        raise ValidationError(f"validation_split={fraction} of {n} samples leaves "
                              f"{split_at} for training and {n - split_at} for validation; both need one at least")
    return ({k: np.asarray(a)[:split_at] for k, a in data.items()},
            {k: np.asarray(a)[split_at:] for k, a in data.items()})
