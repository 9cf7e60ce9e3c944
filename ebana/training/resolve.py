"""Keras habits: names for losses and optimizers, and ``fit(x, y)`` data.

``loss='mse'`` or ``'cross_entropy'``, ``optimizer='adam'`` or ``'sgd'``;
data as ``x, y`` arrays (one input, one output), dicts keyed by layer
name, one dict holding inputs and targets, or a :class:`DataLoader`.
Anything else gets a ValidationError that says what was expected.
"""
from ..errors import ValidationError
from ..model.inputs import by_layer_name
from .data import DataLoader
from .losses import MSE, CrossEntropy
from .optimizers import SGD, Adam, Optimizer

LOSSES = {"mse": MSE, "mean_squared_error": MSE, "cross_entropy": CrossEntropy,
          "crossentropy": CrossEntropy, "categorical_crossentropy": CrossEntropy}
OPTIMIZERS = {"adam": Adam, "sgd": SGD}


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
        raise ValidationError(f"optimizer must be 'adam', 'sgd' or an Optimizer instance such as Adam(), "
                              f"received {type(optimizer).__name__}")
    return optimizer


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
