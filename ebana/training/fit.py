"""The training loop: ``fit`` and ``evaluate`` over data loaders."""
import os
import time
import warnings

import numpy as np

from ..errors import SimulatorError, ValidationError
from .checkpoint import load_checkpoint, save_checkpoint
from .data import DataLoader
from .ep import accuracy, ep_step, evaluate_batch, noisy_ep_step
from .history import History
from .progress import progress


def as_loader(data, batch_size=64):
    """A DataLoader from a DataLoader or a dict of arrays."""
    if isinstance(data, DataLoader):
        return data
    if isinstance(data, dict):
        return DataLoader(data, batch_size=batch_size)
    raise ValidationError(f"expected a DataLoader or a dict of arrays, received {type(data).__name__}")


def evaluate(model, data, loss_fn, batch_size=256, power=False):
    """Free-phase mean loss and accuracy over ``data``: ``{'loss': ..., 'accuracy': ...}``.
    ``power=True`` adds the mean power (W) of every layer (see ``PowerReport.metrics``)."""
    losses, correct, count = [], 0.0, 0
    reports = [] if power else None
    for batch in as_loader(data, batch_size):
        loss, readouts, targets = evaluate_batch(model, batch, loss_fn, power=reports)
        n = len(loss)
        losses.append(loss)
        correct += accuracy(model, readouts, targets, loss_fn) * n
        count += n
    out = {"loss": float(np.concatenate(losses).mean()), "accuracy": correct / count}
    if power:
        from ..power import PowerReport
        out.update(PowerReport.concatenate(reports).metrics())
    return out


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
        symmetric=False, verbose=True, history=None, checkpoint=None, checkpoint_every=None,
        on_failure="stop", record_voltages=False, record_power=False):
    """Train ``model`` with EP for ``epochs`` epochs; return the :class:`History`.

    beta (S): nudging strength; the nudge current is ``-beta * dL/dV`` (A).
    callbacks: callables ``f(epoch, metrics, model)`` or objects with
    ``on_epoch_end(epoch, metrics, model)``; one returning True stops training.
    checkpoint: path of a crash-safe checkpoint (see :mod:`.checkpoint`),
    written atomically after every epoch and, with ``checkpoint_every=N``,
    every N batches. If the file exists, training resumes from it, to the
    epoch the interrupted run would have reached, bit-identically.
    on_failure: when a batch has no operating point even after retries,
    ``'stop'`` raises the SimulatorError (naming the dataset sample);
    ``'skip'`` warns, leaves the weights as they were and goes on (the epoch's
    ``skipped_batches`` metric counts them). Either way no update is made.
    record_voltages: keep the node voltages (V) of the free and nudged phases
    of each epoch's last batch in the history (saved to its HDF5 file).
    record_power: after each epoch, the mean free-phase power (W) per layer
    (``power_W``, ``power_<layer>``, ``supply_<layer>``; see :mod:`ebana.power`),
    measured on ``test_data`` (as ``val_...``, during the evaluation pass) or,
    without test data, on the training data (one extra free pass).
    """
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValidationError(f"epochs must be a non-negative integer, received {epochs!r}")
    if on_failure not in ("stop", "skip"):
        raise ValidationError(f"on_failure must be 'stop' or 'skip', received {on_failure!r}")
    if checkpoint_every is not None and (isinstance(checkpoint_every, bool) or
                                         not isinstance(checkpoint_every, (int, np.integer)) or checkpoint_every < 1):
        raise ValidationError(f"checkpoint_every must be a positive int or None, received {checkpoint_every!r}")
    loader = as_loader(train_data)
    if record_power:
        from ..power import check_metric_names
        check_metric_names(model, "val_" if test_data is not None else "")
    # An optimizer state loaded for another model is refused before anything is simulated.
    optimizer.check_parameters(model.parameters())
    if checkpoint is not None and os.path.exists(checkpoint):
        history, position, partial = load_checkpoint(checkpoint, model, optimizer, loader)
        epoch, done, end = position["epoch"], position["batch"], position["end_epoch"]
    else:
        history = history if history is not None else History()
        epoch, done, end, partial = history.num_epochs, 0, history.num_epochs + int(epochs), _fresh()
    while epoch < end:
        start = time.perf_counter()
        loader_state = loader.rng_state()  # before this epoch's permutation is drawn
        batches = iter(loader)
        for _ in range(done):  # replay the order; these batches were trained before the crash
            next(batches)
        bar = progress(batches, total=len(loader) - done, desc=f"epoch {epoch + 1}", enabled=verbose)
        last = None
        for k, batch in enumerate(bar, start=done):
            try:
                result = train_step(model, batch, loss_fn, optimizer, beta, symmetric, epoch=epoch)
            except SimulatorError as e:
                e = _located(e, batch, epoch, k)
                if on_failure == "stop":
                    raise e from None
                warnings.warn(f"skipped batch {k} of epoch {epoch + 1}: {e}", RuntimeWarning, stacklevel=2)
                partial["skipped"] += 1
            else:
                last = result
                targets = {o.name: batch[o.name] for o in model.outputs}
                n = len(result.loss)
                partial["losses"].append(result.loss)
                partial["correct"] += accuracy(model, result.readouts, targets, loss_fn) * n
                partial["count"] += n
                if hasattr(bar, "set_postfix"):
                    bar.set_postfix(loss=f"{np.mean(result.loss):.4g}")
            if checkpoint is not None and checkpoint_every and (k + 1) % checkpoint_every == 0 \
                    and k + 1 < len(loader):
                save_checkpoint(checkpoint, model, optimizer, history, loader_state,
                                {"epoch": epoch, "batch": k + 1, "end_epoch": end}, partial)
        count = partial["count"]
        metrics = {"loss": float(np.concatenate(partial["losses"]).mean()) if count else float("nan"),
                   "accuracy": partial["correct"] / count if count else float("nan")}
        if on_failure == "skip":
            metrics["skipped_batches"] = partial["skipped"]
        if test_data is not None:
            test = evaluate(model, test_data, loss_fn, power=record_power)
            metrics.update({"val_" + k: value for k, value in test.items()})
        if record_power and test_data is None:  # issue 12: one more free pass, over the training data
            metrics.update(model.power(loader).metrics())
        metrics["epoch_time_s"] = time.perf_counter() - start
        history.append(metrics)
        if record_voltages and last is not None:
            history.add_voltages(epoch, "free", last.v_free)
            history.add_voltages(epoch, "nudged", last.v_nudged)
        stop = False
        for cb in callbacks:
            hook = getattr(cb, "on_epoch_end", cb)
            stop = bool(hook(epoch, metrics, model)) or stop
        epoch, done, partial = epoch + 1, 0, _fresh()
        if stop:
            end = epoch  # a resumed run stops here too
        if checkpoint is not None:
            save_checkpoint(checkpoint, model, optimizer, history, loader.rng_state(),
                            {"epoch": epoch, "batch": 0, "end_epoch": end}, partial)
    return history


def _fresh():
    """Running sums of an epoch: per-batch losses, correct count, samples, skipped batches."""
    return {"losses": [], "correct": 0.0, "count": 0, "skipped": 0}


def _located(error, batch, epoch, k):
    """The error again, naming the dataset sample (via ``batch.indices``), batch and epoch."""
    row = error.sample
    indices = getattr(batch, "indices", None)
    sample = int(indices[row]) if indices is not None and row is not None and 0 <= row < len(indices) else row
    reason = str(error).split("\n--- simulator output")[0]
    if row is not None and reason.startswith(f"sample {row}: "):
        reason = reason[len(f"sample {row}: "):]
    where = f"epoch {epoch + 1}, batch {k}" + ("" if row is None else f", row {row} = dataset sample {sample}")
    return SimulatorError(f"{where}: {reason}; no weight was changed by this batch",
                          sample=sample, output=error.output)
