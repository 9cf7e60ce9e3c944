"""The training loop: ``fit`` and ``evaluate`` over data loaders."""
import os
import time
import warnings

import numpy as np

from ..errors import SimulatorError, ValidationError
from ..interrupt import check as check_interrupt
from ..interrupt import deferred_sigint
from ..saving.checkpoint import load_checkpoint, save_checkpoint
from ..saving.run_settings import run_settings
from ..saving.safe_io import check_writable
from ..validation import check_number
from .callbacks import CallbackList
from .data import DataLoader
from .ep import ep_step, evaluate_batch, noisy_ep_step, targets_of
from .history import History
from .metrics import MetricSums, batch_metrics, check_loss_fits, classify_outputs
from .progress import progress
from .resolve import resolve_loss, resolve_optimizer
from .run_log import epoch_line, run_info


def as_loader(data, batch_size=64):
    """A DataLoader from a DataLoader or a dict of arrays."""
    if isinstance(data, DataLoader):
        return data
    if isinstance(data, dict):
        return DataLoader(data, batch_size=batch_size)
    raise ValidationError(f"expected a DataLoader or a dict of arrays, received {type(data).__name__}")


def evaluate(model, data, loss_fn, batch_size=256, power=False):
    """Free-phase mean loss and the loss's metrics over ``data``: ``{'loss': ..., 'accuracy': ...}``
    (MSE on regression targets: ``'mae'`` (V) instead of accuracy; see :mod:`.metrics`).
    ``power=True`` adds the mean power (W) of every layer (see ``PowerReport.metrics``).

    Ctrl-C stops it within one sample's solve (see :mod:`ebana.interrupt`)."""
    with deferred_sigint():
        return _evaluate(model, data, loss_fn, batch_size, power)


def _evaluate(model, data, loss_fn, batch_size, power):
    check_loss_fits(model, loss_fn)
    losses, sums = [], MetricSums()
    reports = [] if power else None
    loader = as_loader(data, batch_size)
    classify = classify_outputs(model, loader, loss_fn)
    for batch in loader:
        check_interrupt()
        loss, readouts, targets = evaluate_batch(model, batch, loss_fn, power=reports)
        losses.append(loss)
        sums.add(batch_metrics(model, readouts, targets, loss_fn, classify), len(loss))
    out = {"loss": float(np.concatenate(losses).mean()), **sums.means()}
    if power:
        from ..analysis.power import PowerReport
        out.update(PowerReport.concatenate(reports).metrics())
    return out


def _learning_rates(model, optimizer):
    """Per layer: its own ``lr``, else the optimizer's, else the optimizer's default
    relative to the layer's conductance range (see :mod:`.optimizers`)."""
    rates = {}
    for layer in model.layers:
        for name in layer.parameters():
            lr = getattr(layer, "lr", None)
            if lr is None and optimizer.lr is None and hasattr(layer, "g_min"):
                lr = optimizer.default_lr(layer.g_min, layer.g_max)
            rates[name] = lr
    return rates


def train_step(model, batch, loss_fn, optimizer, beta, symmetric=False, epoch=0):
    """One EP step and one optimizer update; conductances stay within their bounds.

    With variability (``model.noise.active``) the phases see per-sample
    effective conductances and the update uses the nominal gradient
    (see :mod:`ebana.model.noise`); ``epoch`` feeds multiscale 'cycle_epoch'.
    """
    noise = getattr(model, "noise", None)
    if noise is not None and noise.active:
        result = noisy_ep_step(model, batch, loss_fn, beta, symmetric=symmetric, epoch=epoch)
    else:
        result = ep_step(model, batch, loss_fn, beta, symmetric=symmetric)
    params = model.parameters()
    optimizer.step(params, {k: result.grads[k] for k in params}, _learning_rates(model, optimizer))
    for layer in model.layers:
        if layer.parameters():
            layer.clip()
    return result


def fit(model, train_data, epochs, loss_fn, optimizer, beta, test_data=None, callbacks=(),
        symmetric=False, verbose=True, history=None, checkpoint=None, checkpoint_every=None,
        on_failure="stop", record_voltages=False, record_power=False):
    """Train ``model`` with EP for ``epochs`` epochs; return the :class:`History`.

    beta (S): nudging strength; the nudge current is ``-beta * dL/dV`` (A).
    callbacks: callables ``f(epoch, metrics, model)`` or :class:`~.callbacks.Callback`
    objects (EarlyStopping, ModelCheckpoint, CSVLogger, LearningRateScheduler, ...),
    which also receive the optimizer; one returning True stops training.
    verbose: 0 silent; 1 a progress bar within the epoch and one line per
    epoch (loss, metrics, validation, seconds); 2 the lines only.
    checkpoint: path of a crash-safe checkpoint (see :mod:`.checkpoint`),
    written atomically after every epoch and, with ``checkpoint_every=N``,
    every N batches; its folder is checked to be writable before training.
    If the file exists, training resumes from it, bit-identically, provided
    it was written by a run with the same model config, loss, optimizer class
    and starting hyperparameters, beta, nudging and batch size (else a
    ValidationError names what differs). The same ``epochs`` resumes to where
    the interrupted run would have ended; another ``epochs`` trains the run
    to ``epochs`` epochs in total (counted from the epoch it began at).
    on_failure: when a batch has no operating point even after retries,
    ``'stop'`` raises the SimulatorError (naming the dataset sample);
    ``'skip'`` warns, leaves the weights as they were and goes on (the epoch's
    ``skipped_batches`` metric counts them). Either way no update is made.
    record_voltages: keep the node voltages (V) of the free and nudged phases
    of each epoch's last batch in the history (saved to its HDF5 file).
    record_power: after each epoch, the mean free-phase power (W) per layer
    (``power_W``, ``power_<layer>``, ``supply_<layer>``; see :mod:`ebana.analysis.power`),
    measured on ``test_data`` (as ``val_...``, during the evaluation pass) or,
    without test data, on the training data (one extra free pass).

    Ctrl-C raises KeyboardInterrupt within one sample's solve; the weights are
    those after the last completed step and the checkpoint is intact.
    """
    with deferred_sigint():
        return _fit(model, train_data, epochs, loss_fn, optimizer, beta, test_data, callbacks, symmetric,
                    verbose, history, checkpoint, checkpoint_every, on_failure, record_voltages, record_power)


def _fit(model, train_data, epochs, loss_fn, optimizer, beta, test_data, callbacks, symmetric, verbose,
         history, checkpoint, checkpoint_every, on_failure, record_voltages, record_power):
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValidationError(f"epochs must be a non-negative integer, received {epochs!r}")
    if on_failure not in ("stop", "skip"):
        raise ValidationError(f"on_failure must be 'stop' or 'skip', received {on_failure!r}")
    if checkpoint_every is not None and (isinstance(checkpoint_every, bool) or
                                         not isinstance(checkpoint_every, (int, np.integer)) or checkpoint_every < 1):
        raise ValidationError(f"checkpoint_every must be a positive int or None, received {checkpoint_every!r}")
    if verbose not in (0, 1, 2):  # True/False are 1/0
        raise ValidationError(f"verbose must be 0, 1 or 2, received {verbose!r}")
    verbose = int(verbose)
    beta = check_number(beta, "beta (S)", 0, low_open=True)
    loader = as_loader(train_data)
    loss_fn, optimizer = resolve_loss(loss_fn), resolve_optimizer(optimizer)
    check_loss_fits(model, loss_fn)
    if record_power:
        from ..analysis.power import check_metric_names
        check_metric_names(model, "val_" if test_data is not None else "")
    # An optimizer state loaded for another model is refused before anything is simulated.
    optimizer.check_parameters(model.parameters())
    settings = run_settings(model, loss_fn, optimizer, beta, symmetric, loader)
    classify = classify_outputs(model, loader, loss_fn)
    hooks = CallbackList(callbacks, model, optimizer)
    hooks.train_begin()  # callbacks check their files before any state changes
    if checkpoint is not None and os.path.exists(checkpoint):
        history, position, partial, settings = load_checkpoint(checkpoint, model, optimizer, loader, settings)
        epoch, done, first = position["epoch"], position["batch"], position["start_epoch"]
        # The same call resumes to where the interrupted (or stopped) run would have ended;
        # a call for another number of epochs trains the run to that length.
        end = position["end_epoch"] if int(epochs) == position["epochs"] else max(first + int(epochs), epoch)
    else:
        if checkpoint is not None:
            check_writable(checkpoint, "checkpoint")
        history = history if history is not None else History()
        first = history.num_epochs
        epoch, done, end, partial = first, 0, first + int(epochs), _fresh()

    def where(epoch, batch, end):
        return {"epoch": epoch, "batch": batch, "end_epoch": end, "start_epoch": first, "epochs": int(epochs)}

    # The model remembers how it is trained, so model.save() / ModelCheckpoint keep the optimizer state.
    model.compiled = {"optimizer": optimizer, "loss": loss_fn, "beta": float(beta), "symmetric": bool(symmetric)}
    model.loss_fn = loss_fn
    while epoch < end:
        hooks.epoch_begin(epoch)
        start = time.perf_counter()
        loader_state = loader.rng_state()  # before this epoch's permutation is drawn
        batches = iter(loader)
        for _ in range(done):  # replay the order; these batches were trained before the crash
            next(batches)
        bar = progress(batches, total=len(loader) - done, desc=f"epoch {epoch + 1}", enabled=verbose == 1)
        last = None
        for k, batch in enumerate(bar, start=done):
            check_interrupt()  # after the previous step and its checkpoint, before this one
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
                n = len(result.loss)
                targets = targets_of(model, batch, n)
                partial["losses"].append(result.loss)
                sums = MetricSums(partial["metrics"])
                sums.add(batch_metrics(model, result.readouts, targets, loss_fn, classify), n)
                partial["metrics"] = sums.sums
                partial["count"] += n
                if hasattr(bar, "set_postfix"):
                    bar.set_postfix(loss=f"{np.mean(result.loss):.4g}")
            if checkpoint is not None and checkpoint_every and (k + 1) % checkpoint_every == 0 \
                    and k + 1 < len(loader):
                save_checkpoint(checkpoint, model, optimizer, history, loader_state, where(epoch, k + 1, end),
                                partial, settings)
        count = partial["count"]
        metrics = {"loss": float(np.concatenate(partial["losses"]).mean()) if count else float("nan"),
                   **MetricSums(partial["metrics"]).means()}
        if on_failure == "skip":
            metrics["skipped_batches"] = partial["skipped"]
        if test_data is not None:
            test = evaluate(model, test_data, loss_fn, power=record_power)
            metrics.update({"val_" + k: v for k, v in test.items()})
        if record_power and test_data is None:  # one more free pass, over the training data
            metrics.update(model.power(loader).metrics())
        metrics["lr_scale"] = getattr(optimizer, "lr_scale", 1.0)
        metrics["epoch_time_s"] = time.perf_counter() - start
        history.append(metrics)
        history.info = run_info(model, settings, loss_fn, history.metrics)
        if record_voltages and last is not None:
            history.add_voltages(epoch, "free", last.v_free)
            history.add_voltages(epoch, "nudged", last.v_nudged)
        if verbose:
            epoch_line(epoch, end, metrics)
        stop = hooks.epoch_end(epoch, metrics, model)
        epoch, done, partial = epoch + 1, 0, _fresh()
        if stop:
            end = epoch  # a resumed run stops here too
        if checkpoint is not None:
            save_checkpoint(checkpoint, model, optimizer, history, loader.rng_state(), where(epoch, 0, end),
                            partial, settings)
    hooks.train_end()
    return history


def _fresh():
    """Running sums of an epoch: per-batch losses, metric sums, samples, skipped batches."""
    return {"losses": [], "metrics": {}, "count": 0, "skipped": 0}


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
