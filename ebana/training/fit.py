"""The training loop: ``fit`` over a data loader, one EP step and one optimizer update per batch.

A :class:`TrainingRun` is set up and checked before anything is simulated
(its constructor: options, loss, optimizer state, learning rates, the metric
names callbacks refer to), then :meth:`TrainingRun.train` starts it fresh or
resumes it from a checkpoint and runs :meth:`~TrainingRun.train_epoch` and
:meth:`~TrainingRun.end_epoch` once per epoch. :func:`evaluate` lives in
:mod:`.evaluate` and is imported here for older code.
"""
import os
import time
import warnings

import numpy as np

from ..backends.arrays import array_namespace, to_host
from ..errors import SimulatorError, ValidationError
from ..interrupt import check as check_interrupt
from ..interrupt import deferred_sigint
from ..saving.checkpoint import load_checkpoint, save_checkpoint
from ..saving.run_settings import run_settings
from ..saving.safe_io import check_writable
from ..validation import check_number
from .callbacks import CallbackList
from .ep import ep_step, noisy_ep_step, targets_of
from .evaluate import as_loader, evaluate  # noqa: F401  (part of this module's API since the start)
from .evaluate import mean_loss, on_model_device
from .fault_aware import FaultAware
from .history import History
from .learning_rates import learning_rates
from .metrics import MetricSums, batch_metrics, check_loss_fits, classify_outputs
from .progress import progress
from .resolve import resolve_loss, resolve_optimizer
from .run_log import epoch_line, run_info
from .run_metrics import RunMetrics, check_selected, run_metrics, select_metrics


def train_step(model, batch, loss_fn, optimizer, beta, symmetric=False, epoch=0):
    """One EP step and one optimizer update; parameters stay within their bounds.

    With variability (``model.noise.active``) the phases see per-sample
    effective conductances and the update uses the nominal gradient
    (see :mod:`ebana.model.noise`); ``epoch`` feeds multiscale 'cycle_epoch'.
    Learning rates: :func:`~.learning_rates.learning_rates`.
    """
    noise = getattr(model, "noise", None)
    if noise is not None and noise.active:
        result = noisy_ep_step(model, batch, loss_fn, beta, symmetric=symmetric, epoch=epoch)
    else:
        result = ep_step(model, batch, loss_fn, beta, symmetric=symmetric)
    params = model.parameters()
    optimizer.step(params, {k: result.grads[k] for k in params}, learning_rates(model, optimizer))
    for layer in model.layers:
        if layer.parameters():
            layer.clip()
    return result


def fit(model, train_data, epochs, loss_fn, optimizer, beta, test_data=None, callbacks=(),
        symmetric=False, verbose=True, history=None, checkpoint=None, checkpoint_every=None,
        on_failure="stop", record_voltages=False, record_power=False, initial_epoch=0, metrics=None):
    """Train ``model`` with EP for ``epochs`` epochs; return this run's :class:`History`.

    beta (S): nudging strength; the nudge current is ``-beta * dL/dV`` (A).
    callbacks: callables ``f(epoch, metrics, model)`` or :class:`~.callbacks.Callback`
    objects (EarlyStopping, ModelCheckpoint, CSVLogger, LearningRateScheduler, ...),
    which also receive the optimizer; one returning True stops training.
    verbose: 0 silent; 1 a progress bar within the epoch (and over a long
    validation pass) and one line per epoch (loss, metrics, validation,
    seconds); 2 the lines only.
    initial_epoch: index (0-based) of the first epoch, so the epochs run are
    ``initial_epoch .. initial_epoch + epochs - 1`` (callbacks, schedules and
    lines count from it). history: a History to append to (its epochs continue
    its numbering); default a new one, so each call returns its own.
    metrics: the loss's metrics to report (``('accuracy',)``, ...; None: all).
    checkpoint: path of a crash-safe checkpoint (see :mod:`.checkpoint`),
    written atomically after every epoch and, with ``checkpoint_every=N``,
    every N batches; its folder is checked to be writable before training.
    If the file exists, training resumes from it, bit-identically, provided
    it was written by a run with the same model config, loss, optimizer class
    and starting hyperparameters, beta, nudging and batch size (else a
    ValidationError names what differs); the History returned is then the
    whole run's. The same ``epochs`` resumes to where the interrupted run
    would have ended; another ``epochs`` trains the run to ``epochs`` epochs
    in total (counted from the epoch it began at).
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

    A model on a device (``Model(device='cuda')``) gets its training and validation data
    copied there once per call (:func:`~.evaluate.on_model_device`); the steps, updates
    and metric sums stay there, and an epoch's loss and metrics are read back once.
    ``record_power`` and FaultAware are refused there (:mod:`ebana.model.device`).
    """
    with deferred_sigint():
        run = TrainingRun(model, train_data, loss_fn, optimizer, beta, test_data, callbacks, symmetric, verbose,
                          checkpoint, checkpoint_every, on_failure, record_voltages, record_power, metrics)
        return run.train(epochs, initial_epoch, history)


def _count(value, what, low):
    """``value`` as an int >= ``low``, or a ValidationError (bools are refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        kind = "a positive" if low == 1 else "a non-negative"
        raise ValidationError(f"{what} must be {kind} integer, received {value!r}")
    return int(value)


class TrainingRun:
    """One ``fit`` call: everything checked at construction, before any solve."""

    def __init__(self, model, train_data, loss_fn, optimizer, beta, test_data, callbacks, symmetric, verbose,
                 checkpoint, checkpoint_every, on_failure, record_voltages, record_power, metrics):
        if on_failure not in ("stop", "skip"):
            raise ValidationError(f"on_failure must be 'stop' or 'skip', received {on_failure!r}")
        if checkpoint_every is not None:
            checkpoint_every = _count(checkpoint_every, "checkpoint_every (or None)", 1)
        if verbose not in (0, 1, 2):  # True/False are 1/0
            raise ValidationError(f"verbose must be 0, 1 or 2, received {verbose!r}")
        self.model, self.verbose, self.symmetric = model, int(verbose), symmetric
        self.checkpoint, self.checkpoint_every, self.on_failure = checkpoint, checkpoint_every, on_failure
        self.record_voltages, self.record_power, self.metrics = record_voltages, record_power, metrics
        self.beta = check_number(beta, "beta (S)", 0, low_open=True)
        self.loss_fn, self.optimizer = resolve_loss(loss_fn), resolve_optimizer(optimizer)
        _check_device_run(model, self.optimizer, record_power)
        self.loader = on_model_device(model, as_loader(train_data))
        self.val = None if test_data is None else on_model_device(model, as_loader(test_data, 256))
        check_loss_fits(model, self.loss_fn)
        if record_power:
            from ..analysis.power import check_metric_names
            check_metric_names(model, "val_" if self.val is not None else "")
        # An optimizer state loaded for another model is refused before anything is simulated,
        # and so is a parameter that would have no learning rate.
        self.optimizer.check_parameters(model.parameters())
        learning_rates(model, self.optimizer)
        self.settings = run_settings(model, self.loss_fn, self.optimizer, self.beta, symmetric, self.loader)
        self.classify = classify_outputs(model, self.loader, self.loss_fn)
        self.hooks = CallbackList(callbacks, model, self.optimizer, self._run_metrics())

    def _run_metrics(self):
        """The metric names each epoch will report (for callbacks to check), or None if unknown."""
        names = run_metrics(self.model, self.loader, self.loss_fn, self.val, self.on_failure, self.record_power)
        check_selected(self.metrics, names, self.loss_fn)
        if names is None or self.metrics is None:
            return names
        return RunMetrics(select_metrics(dict.fromkeys(names.names), self.metrics, self.loss_fn), names.prefixes)

    # -- start or resume ------------------------------------------------------
    def train(self, epochs, initial_epoch=0, history=None):
        """Run the epochs (see :func:`fit`); return the History."""
        self.epochs = _count(epochs, "epochs", 0)
        initial_epoch = _count(initial_epoch, "initial_epoch", 0)
        self.hooks.train_begin()  # callbacks check their files before any state changes
        history, epoch, done, end, partial = self.start(initial_epoch, history)
        # The model remembers how it is trained, so model.save() / ModelCheckpoint keep the optimizer state.
        self.model.compiled = {"optimizer": self.optimizer, "loss": self.loss_fn, "beta": float(self.beta),
                               "symmetric": bool(self.symmetric), "metrics": self.metrics}
        self.model.loss_fn = self.loss_fn
        while epoch < end:
            self.hooks.epoch_begin(epoch)
            start = time.perf_counter()
            loader_state, last = self.train_epoch(history, epoch, done, end, partial)
            stop = self.end_epoch(history, epoch, end, partial, last, start)
            epoch, done, partial = epoch + 1, 0, _fresh()
            if stop:
                end = epoch  # a resumed run stops here too
            if self.checkpoint is not None:
                save_checkpoint(self.checkpoint, self.model, self.optimizer, history, self.loader.rng_state(),
                                self.where(epoch, 0, end), partial, self.settings)
        self.hooks.train_end()
        return history

    def start(self, initial_epoch, history):
        """``(history, epoch, batches done, end epoch, running sums)``: from the checkpoint if
        there is one, else fresh at ``initial_epoch`` (or after the epochs of ``history``)."""
        if self.checkpoint is not None and os.path.exists(self.checkpoint):
            history, position, partial, self.settings = load_checkpoint(
                self.checkpoint, self.model, self.optimizer, self.loader, self.settings)
            epoch, done, self.first = position["epoch"], position["batch"], position["start_epoch"]
            history.first_epoch = self.first
            # The same call resumes to where the interrupted (or stopped) run would have ended;
            # a call for another number of epochs trains the run to that length.
            same = self.epochs == position["epochs"]
            end = position["end_epoch"] if same else max(self.first + self.epochs, epoch)
            return history, epoch, done, end, partial
        if self.checkpoint is not None:
            check_writable(self.checkpoint, "checkpoint")
        if history is None:
            history = History(first_epoch=initial_epoch)
        elif not initial_epoch:
            initial_epoch = history.first_epoch + history.num_epochs
        self.first = initial_epoch
        return history, initial_epoch, 0, initial_epoch + self.epochs, _fresh()

    def where(self, epoch, batch, end):
        """The position a checkpoint stores."""
        return {"epoch": epoch, "batch": batch, "end_epoch": end, "start_epoch": self.first, "epochs": self.epochs}

    # -- one epoch --------------------------------------------------------------
    def train_epoch(self, history, epoch, done, end, partial):
        """Train the batches of ``epoch`` after the first ``done``; update ``partial`` in place.
        Returns the loader state the epoch began with and the last step's result (or None)."""
        loader = self.loader
        loader_state = loader.rng_state()  # before this epoch's permutation is drawn
        batches = iter(loader)
        for _ in range(done):  # replay the order; these batches were trained before the crash
            next(batches)
        bar = progress(batches, total=len(loader) - done, desc=f"epoch {epoch + 1}", enabled=self.verbose == 1)
        last = None
        for k, batch in enumerate(bar, start=done):
            check_interrupt()  # after the previous step and its checkpoint, before this one
            result = self.step(batch, epoch, k, partial)
            if result is not None:
                if self.record_voltages:  # else the step's node voltages are not kept through the next one
                    last = result
                if hasattr(bar, "set_postfix"):  # a bar on a terminal: one read per batch
                    bar.set_postfix(loss=f"{float(array_namespace(result.loss).mean(result.loss)):.4g}")
            result = None
            if self.checkpoint is not None and self.checkpoint_every and (k + 1) % self.checkpoint_every == 0 \
                    and k + 1 < len(loader):
                save_checkpoint(self.checkpoint, self.model, self.optimizer, history, loader_state,
                                self.where(epoch, k + 1, end), partial, self.settings)
        return loader_state, last

    def step(self, batch, epoch, k, partial):
        """One training step on batch ``k``, its loss and metrics added to ``partial``;
        None when the batch was skipped (``on_failure='skip'``)."""
        model = self.model
        try:
            result = train_step(model, batch, self.loss_fn, self.optimizer, self.beta, self.symmetric, epoch=epoch)
            if self.record_voltages:  # kept through the next steps: made (and checked) here, where a
                result.v_free  # failure names this batch, not the solve's factors kept for later
        except SimulatorError as e:
            e = _located(e, batch, epoch, k)
            if self.on_failure == "stop":
                raise e from None
            warnings.warn(f"skipped batch {k} of epoch {epoch + 1}: {e}", RuntimeWarning, stacklevel=4)
            partial["skipped"] += 1
            return None
        n = len(result.loss)
        partial["losses"].append(result.loss)
        sums = MetricSums(partial["metrics"])
        sums.add(batch_metrics(model, result.readouts, targets_of(model, batch, n), self.loss_fn, self.classify), n)
        partial["metrics"] = sums.sums
        partial["count"] += n
        return result

    def end_epoch(self, history, epoch, end, partial, last, start):
        """Validation, the epoch's metrics into ``history``, its line, the callbacks.
        Returns True when a callback stops training."""
        metrics = {"loss": mean_loss(partial["losses"]) if partial["count"] else float("nan"),
                   **MetricSums(partial["metrics"]).means()}
        metrics = select_metrics(metrics, self.metrics, self.loss_fn)
        if self.on_failure == "skip":
            metrics["skipped_batches"] = partial["skipped"]
        if self.val is not None:
            test = evaluate(self.model, self.val, self.loss_fn, power=self.record_power, verbose=self.verbose == 1,
                            desc=f"epoch {epoch + 1} validation", metrics=self.metrics)
            metrics.update({"val_" + k: v for k, v in test.items()})
        if self.record_power and self.val is None:  # one more free pass, over the training data
            metrics.update(self.model.power(self.loader).metrics())
        metrics["lr_scale"] = getattr(self.optimizer, "lr_scale", 1.0)
        metrics["epoch_time_s"] = time.perf_counter() - start
        for layer in self.model.layers:  # e.g. the pulses a memristor crossbar has been sent
            metrics.update(layer.epoch_metrics())
        history.append(metrics)
        history.info = run_info(self.model, self.settings, self.loss_fn, history.metrics)
        if self.record_voltages and last is not None:
            history.add_voltages(epoch, "free", to_host(last.v_free))  # once per epoch from a device
            history.add_voltages(epoch, "nudged", to_host(last.v_nudged))
        if self.verbose:
            epoch_line(epoch, end, metrics)
        return self.hooks.epoch_end(epoch, metrics, self.model)


def _check_device_run(model, optimizer, record_power):
    """Before anything is simulated: what a model on a device cannot train with yet."""
    if getattr(model, "device", "cpu") == "cpu":
        return
    from ..model.device import refuse_on_device  # ebana.model imports this package
    if record_power:
        refuse_on_device(model, "fit(record_power=True)")
    if isinstance(optimizer, FaultAware):
        refuse_on_device(model, "FaultAware (stuck-at faults during training)")


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
