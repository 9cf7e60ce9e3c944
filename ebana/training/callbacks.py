"""Built-in callbacks for ``fit``: early stopping, best-model files, CSV logs, learning-rate schedules.

A callback may be a plain function ``f(epoch, metrics, model)`` (True stops
training) or an object with any of the hooks below. Before training, fit
calls ``set_context(model, optimizer)``, so every callback can reach the
optimizer (a schedule changes ``optimizer.lr_scale``, which multiplies every
learning rate, the layers' own included), and sets ``run_metrics``: the
metric names the run will report (:mod:`.run_metrics`), so a callback that
names an unknown metric fails in ``on_train_begin``, before training.
Epochs are counted from 0 in the hooks and from 1 in files and printed
lines. Patience counts as in Keras: ``patience=2`` acts after the second
epoch without improvement. Callback state (patience counters, best values)
is not part of a training checkpoint.

Example:
    ```python
    model.fit(x, y, epochs=50, validation_data=(xv, yv), callbacks=[
        EarlyStopping(patience=5, restore_best_weights=True),
        ModelCheckpoint("best.ebana", save_best_only=True),
        CSVLogger("log.csv"), LearningRateScheduler(step_decay(0.5, every=10))])
    ```
"""
import math
import os
import string

from ..errors import ValidationError
from ..saving.safe_io import check_writable
from ..validation import check_number
from .callback_base import Callback
from .csv_logger import CSVLogger  # noqa: F401  (imported from here by users)


class _Monitor(Callback):
    """Tracks the best value of one metric: ``mode='min'``, ``'max'`` or ``'auto'``
    (max for accuracy-like names, min otherwise)."""

    def __init__(self, monitor, mode, min_delta):
        if mode not in ("auto", "min", "max"):
            raise ValidationError(f"{type(self).__name__} mode must be 'auto', 'min' or 'max', received {mode!r}")
        self.monitor = monitor
        self.sign = -1.0 if mode == "max" or (mode == "auto" and "acc" in monitor) else 1.0
        self.min_delta = check_number(min_delta, f"{type(self).__name__} min_delta", low=0.0)
        self.best = math.inf

    def check_monitor(self, names):
        """Raise ValidationError unless ``names`` (the run's metrics) include ``monitor``."""
        if self.monitor not in names:
            shown = sorted(getattr(names, "names", names))
            raise ValidationError(f"{type(self).__name__} monitors {self.monitor!r}, which this run does not "
                                  f"report; available: {shown} (validation metrics need validation_data)")

    def on_train_begin(self):
        self.best = math.inf
        if self.run_metrics is not None:
            self.check_monitor(self.run_metrics)

    def value(self, metrics):
        self.check_monitor(metrics)
        return self.sign * float(metrics[self.monitor])

    def improved(self, metrics):
        v = self.value(metrics)
        if v < self.best - self.min_delta:
            self.best = v
            return True
        return False


class EarlyStopping(_Monitor):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs
    (as Keras: ``patience=2`` stops at the 2nd epoch without improvement, 0 at the 1st).

    ``restore_best_weights=True`` puts back the conductances of the best epoch when stopping.
    """

    def __init__(self, monitor="val_loss", patience=0, min_delta=0.0, mode="auto", restore_best_weights=False):
        super().__init__(monitor, mode, min_delta)
        self.patience = int(check_number(patience, "EarlyStopping patience", low=0.0))
        self.restore_best_weights = bool(restore_best_weights)
        self.stopped_epoch = None

    def on_train_begin(self):
        super().on_train_begin()
        self.wait, self.best_weights, self.stopped_epoch = 0, None, None

    def on_epoch_end(self, epoch, metrics, model):
        if self.improved(metrics):
            self.wait = 0
            if self.restore_best_weights:
                self.best_weights = model.get_weights()
            return False
        self.wait += 1
        if self.wait >= self.patience:  # Keras: patience=2 stops at the 2nd epoch without improvement
            self.stopped_epoch = epoch
            if self.best_weights is not None:
                model.set_weights(self.best_weights)
            return True
        return False


class ModelCheckpoint(_Monitor):
    """Save the whole model (:meth:`Model.save`: config, conductances, optimizer state) after each epoch.

    ``filepath`` may hold ``{epoch}`` or metric names, e.g. ``"m-{epoch:03d}-{val_loss:.4f}.ebana"``;
    a name the run does not report is refused before training.
    ``save_best_only=True`` writes only when ``monitor`` improved.
    """

    def __init__(self, filepath, monitor="val_loss", save_best_only=False, mode="auto", min_delta=0.0):
        super().__init__(monitor, mode, min_delta)
        self.filepath = os.fspath(filepath)
        self.save_best_only = bool(save_best_only)
        self.saved = []  # paths written, in order

    def on_train_begin(self):
        self.best = math.inf
        if self.save_best_only and self.run_metrics is not None:
            self.check_monitor(self.run_metrics)
        check_writable(_probe_name(self.filepath, self.run_metrics), "ModelCheckpoint file")

    def on_epoch_end(self, epoch, metrics, model):
        if self.save_best_only and not self.improved(metrics):
            return False
        path = self.filepath.format(epoch=epoch + 1, **metrics)
        model.save(path)
        self.saved.append(path)
        return False


def _probe_name(template, names):
    """The file name ``template`` gives with dummy values (to probe its folder), after checking
    that every field is ``epoch`` or a metric in ``names`` (None: the metrics are not known yet)."""
    who = f"ModelCheckpoint file name {template!r}"
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        raise ValidationError(f"{who} is not a valid format string: {exc}") from None
    values = {}
    for field in fields:
        base = field.split(".")[0].split("[")[0]
        if base == "" or base.isdigit():
            raise ValidationError(f"{who} has a positional field {{{field}}}; name a metric, e.g. "
                                  "{epoch:03d} or {val_loss:.4f}")
        if base != "epoch" and names is not None and base not in names:
            raise ValidationError(f"{who} names {base!r}, which this run does not report; available: "
                                  f"['epoch', {', '.join(repr(n) for n in names.names)}] "
                                  "(validation metrics need validation_data)")
        values[base] = 0.0
    values["epoch"] = 0
    try:
        return template.format(**values)
    except (ValueError, KeyError, IndexError, AttributeError) as exc:
        raise ValidationError(f"{who} cannot be filled with the epoch (int) and metrics (float): "
                              f"{type(exc).__name__}: {exc}") from None


class LearningRateScheduler(Callback):
    """Set ``optimizer.lr_scale = schedule(epoch, lr_scale)`` before each epoch (epoch from 0).

    The scale multiplies every learning rate; see :func:`step_decay`, :func:`exponential_decay`.
    """

    def __init__(self, schedule):
        if not callable(schedule):
            raise ValidationError(f"LearningRateScheduler needs a function (epoch, lr_scale) -> lr_scale, "
                                  f"received {type(schedule).__name__}")
        self.schedule = schedule

    def on_epoch_begin(self, epoch):
        self.optimizer.lr_scale = check_number(self.schedule(epoch, self.optimizer.lr_scale),
                                               f"learning-rate scale of epoch {epoch + 1}", low=0.0)


def step_decay(factor=0.5, every=10):
    """Schedule: scale ``factor ** (epoch // every)``."""
    factor = check_number(factor, "step_decay factor", low=0.0)
    every = int(check_number(every, "step_decay every", low=1.0))
    return lambda epoch, scale: factor ** (epoch // every)


def exponential_decay(rate=0.95):
    """Schedule: scale ``rate ** epoch``."""
    rate = check_number(rate, "exponential_decay rate", low=0.0)
    return lambda epoch, scale: rate ** epoch


def cosine_decay(epochs, final=0.0):
    """Schedule: from 1 at the first epoch down to ``final`` at epoch ``epochs`` along half a
    cosine, ``final + (1 - final) * (1 + cos(pi * epoch / epochs)) / 2``; ``final`` after it.

    >>> [round(cosine_decay(4)(e, 1.0), 3) for e in range(5)]
    [1.0, 0.854, 0.5, 0.146, 0.0]
    """
    epochs = int(check_number(epochs, "cosine_decay epochs", low=1.0))
    final = check_number(final, "cosine_decay final", low=0.0, high=1.0)

    def schedule(epoch, scale):
        return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * min(epoch, epochs) / epochs))
    return schedule


class ReduceLROnPlateau(_Monitor):
    """Multiply ``optimizer.lr_scale`` by ``factor`` when ``monitor`` stalls for ``patience`` epochs
    (as Keras: ``patience=2`` reduces at the 2nd epoch without improvement, then counts again)."""

    def __init__(self, monitor="val_loss", factor=0.5, patience=5, min_scale=0.0, mode="auto", min_delta=0.0):
        super().__init__(monitor, mode, min_delta)
        self.factor = check_number(factor, "ReduceLROnPlateau factor", low=0.0, high=1.0)
        self.patience = int(check_number(patience, "ReduceLROnPlateau patience", low=0.0))
        self.min_scale = check_number(min_scale, "ReduceLROnPlateau min_scale", low=0.0)

    def on_train_begin(self):
        super().on_train_begin()
        self.wait = 0

    def on_epoch_end(self, epoch, metrics, model):
        if self.improved(metrics):
            self.wait = 0
        else:
            self.wait += 1
            if self.wait >= self.patience:  # Keras: patience=2 reduces at the 2nd epoch without improvement
                self.optimizer.lr_scale = max(self.optimizer.lr_scale * self.factor, self.min_scale)
                self.wait = 0
        return False


class CallbackList:
    """Runs the hooks of every callback; plain functions get only ``on_epoch_end``."""

    def __init__(self, callbacks, model, optimizer, run_metrics=None):
        if callable(callbacks) or isinstance(callbacks, Callback):
            callbacks = [callbacks]
        self.callbacks = list(callbacks or ())
        for cb in self.callbacks:
            if not (callable(cb) or hasattr(cb, "on_epoch_end")):
                raise ValidationError(f"a callback must be a Callback or a function (epoch, metrics, model), "
                                      f"received {type(cb).__name__}")
            if hasattr(cb, "set_context"):
                cb.set_context(model, optimizer)
            if isinstance(cb, Callback):
                cb.run_metrics = run_metrics

    def _each(self, hook, *args):
        for cb in self.callbacks:
            if hasattr(cb, hook):
                getattr(cb, hook)(*args)

    def train_begin(self):
        self._each("on_train_begin")

    def epoch_begin(self, epoch):
        self._each("on_epoch_begin", epoch)

    def epoch_end(self, epoch, metrics, model):
        stop = False
        for cb in self.callbacks:
            hook = getattr(cb, "on_epoch_end", cb)
            stop = bool(hook(epoch, metrics, model)) or stop
        return stop

    def train_end(self):
        self._each("on_train_end")

