"""The training loop: ``fit`` and ``evaluate`` over data loaders."""
import time

import numpy as np

from ..errors import ValidationError
from ..noise import noisy_ep_step
from .data import DataLoader
from .ep import accuracy, ep_step, evaluate_batch
from .history import History
from .progress import progress


def as_loader(data, batch_size=64):
    """A DataLoader from a DataLoader or a dict of arrays."""
    if isinstance(data, DataLoader):
        return data
    if isinstance(data, dict):
        return DataLoader(data, batch_size=batch_size)
    raise ValidationError(f"expected a DataLoader or a dict of arrays, received {type(data).__name__}")


def evaluate(model, data, loss_fn, batch_size=256):
    """Free-phase mean loss and accuracy over ``data``: ``{'loss': ..., 'accuracy': ...}``."""
    losses, correct, count = [], 0.0, 0
    for batch in as_loader(data, batch_size):
        loss, readouts, targets = evaluate_batch(model, batch, loss_fn)
        n = len(loss)
        losses.append(loss)
        correct += accuracy(model, readouts, targets, loss_fn) * n
        count += n
    return {"loss": float(np.concatenate(losses).mean()), "accuracy": correct / count}


def _learning_rates(model):
    return {l.name: getattr(l, "lr", None) for l in model.layers if l.parameters()}


def train_step(model, batch, loss_fn, optimizer, beta, symmetric=False, epoch=0):
    """One EP step and one optimizer update; conductances stay within their bounds.

    With variability (``model.noise.active``) the phases see per-sample
    effective conductances and the update uses the nominal gradient
    (see :mod:`ebana.noise`); ``epoch`` feeds multiscale 'cycle_epoch'.
    """
    noise = getattr(model, "noise", None)
    if noise is not None and noise.active:
        result = noisy_ep_step(model, batch, loss_fn, beta, symmetric=symmetric, epoch=epoch)
    else:
        result = ep_step(model, batch, loss_fn, beta, symmetric=symmetric)
    params = model.parameters()
    optimizer.step(params, {k: result.grads[k] for k in params}, _learning_rates(model))
    for layer in model.layers:
        if layer.parameters():
            layer.clip()
    return result


def fit(model, train_data, epochs, loss_fn, optimizer, beta, test_data=None, callbacks=(),
        symmetric=False, verbose=True, history=None):
    """Train ``model`` with EP for ``epochs`` epochs; return the :class:`History`.

    beta (S): nudging strength; the nudge current is ``-beta * dL/dV`` (A).
    callbacks: callables ``f(epoch, metrics, model)`` or objects with
    ``on_epoch_end(epoch, metrics, model)``; one returning True stops training.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValidationError(f"epochs must be a non-negative integer, received {epochs!r}")
    loader = as_loader(train_data)
    history = history if history is not None else History()
    first = history.num_epochs
    for epoch in range(first, first + epochs):
        start = time.perf_counter()
        losses, correct, count = [], 0.0, 0
        bar = progress(loader, total=len(loader), desc=f"epoch {epoch + 1}", enabled=verbose)
        for batch in bar:
            result = train_step(model, batch, loss_fn, optimizer, beta, symmetric, epoch=epoch)
            targets = {o.name: batch[o.name] for o in model.outputs}
            n = len(result.loss)
            losses.append(result.loss)
            correct += accuracy(model, result.readouts, targets, loss_fn) * n
            count += n
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{np.mean(result.loss):.4g}")
        metrics = {"loss": float(np.concatenate(losses).mean()), "accuracy": correct / count}
        if test_data is not None:
            test = evaluate(model, test_data, loss_fn)
            metrics.update({"val_loss": test["loss"], "val_accuracy": test["accuracy"]})
        metrics["epoch_time_s"] = time.perf_counter() - start
        history.append(metrics)
        stop = False
        for cb in callbacks:
            hook = getattr(cb, "on_epoch_end", cb)
            stop = bool(hook(epoch, metrics, model)) or stop
        if stop:
            break
    return history
