"""Crash-safe training checkpoints.

A checkpoint is one pickle written atomically (temporary file, fsync,
rename), so a crash at any instant leaves either the previous checkpoint or
the new one, never a torn mix. It holds everything a resumed run needs to
be bit-identical to an uninterrupted one:

* ``weights``: conductances (S) by layer name;
* ``optimizer``: the optimizer's ``state_dict`` (moments, step count);
* ``history``: per-epoch metrics so far;
* ``loader``: the data loader's generator state *before* the current
  epoch's permutation was drawn, so the epoch is replayed in the same order;
* ``position``: epoch, batches done in it, and the epoch the run ends at;
* ``partial``: the running loss/accuracy sums of the unfinished epoch;
* ``noise``: ``model.noise.state_dict()`` when the model has one;
* ``settings``: the run's model config, loss, optimizer class and starting
  hyperparameters, beta, nudging and batch size (:mod:`.run_settings`); a
  call that differs in any of them is refused rather than resumed.

Files are read back with the restricted unpickler of :mod:`.safe_io` and every
part is checked against the model (layer names, shapes, bounds) before any
weight is touched; errors name the file and the layer.
"""
import os

import numpy as np

from ..backends.arrays import to_host
from ..errors import ValidationError
from ..training.history import History
from .run_settings import check_same_run
from .safe_io import atomic_pickle, check_header, safe_load_pickle
from .weights import assign_weights, check_weights, get_weights

FORMAT = "ebana-checkpoint"
CHECKPOINT_VERSION = 2  # 2: run settings and the run's first epoch and length


_KEYS = {"format", "version", "weights", "optimizer", "history", "loader", "position", "partial", "noise",
         "settings"}
_POSITION = ("epoch", "batch", "end_epoch", "start_epoch", "epochs")


def save_checkpoint(path, model, optimizer, history, loader_state, position, partial, settings=None):
    """Write one checkpoint atomically.

    position: ``{'epoch', 'batch', 'end_epoch', 'start_epoch', 'epochs'}``
    (ints; ``batch`` batches of ``epoch`` are done; the run began at
    ``start_epoch`` and was asked for ``epochs``). settings: the run's
    :func:`~.run_settings.run_settings`. partial: ``{'losses': [arrays], 'metrics': {name: [sum, samples]},
    'count', 'skipped'}`` of the unfinished epoch.
    """
    noise = getattr(model, "noise", None)
    atomic_pickle({
        "format": FORMAT, "version": CHECKPOINT_VERSION,
        "weights": get_weights(model),
        "optimizer": optimizer.state_dict(),
        "history": {"metrics": {k: list(v) for k, v in history.metrics.items()},
                    "num_epochs": history.num_epochs,
                    "voltages": dict(history.voltages)},
        "loader": loader_state,
        "position": {k: int(position[k]) for k in _POSITION},
        "partial": {"losses": [np.asarray(to_host(a), dtype=float) for a in partial["losses"]],
                    "metrics": {str(k): [float(s), int(n)] for k, (s, n) in partial["metrics"].items()},
                    "count": int(partial["count"]),
                    "skipped": int(partial["skipped"])},
        "noise": noise.state_dict() if hasattr(noise, "state_dict") else None,
        "settings": settings,
    }, path, "checkpoint")


def load_checkpoint(path, model, optimizer, loader, settings=None):
    """Restore a checkpoint into ``model``, ``optimizer`` and ``loader``.

    Every part is validated before anything is assigned; with ``settings``
    (this run's :func:`~.run_settings.run_settings`) a checkpoint of another
    run is refused, naming what differs. Returns ``(history, position,
    partial, saved settings)`` for the training loop.
    """
    path = os.fspath(path)
    d = safe_load_pickle(path)
    check_header(d, path, FORMAT, _KEYS, CHECKPOINT_VERSION)
    source = f"checkpoint {path!r}"
    if settings is not None:
        check_same_run(d["settings"], settings, source)
    check_weights(model, d["weights"], source)
    history = _history(d["history"], source)
    position, partial = _position(d["position"], d["partial"], source)
    # The optimizer validates its part against the model before changing
    # itself; it goes after the pure checks and before the assignments, so a
    # refused file changes nothing.
    optimizer.load_state_dict(d["optimizer"], source=path, params=model.parameters())
    loader.set_rng_state(d["loader"], source)
    noise = getattr(model, "noise", None)
    if d["noise"] is not None and hasattr(noise, "load_state_dict"):
        noise.load_state_dict(d["noise"])
    assign_weights(model, d["weights"])
    return history, position, partial, d["settings"]


def _history(h, source):
    if not (isinstance(h, dict) and set(h) == {"metrics", "num_epochs", "voltages"}
            and isinstance(h["metrics"], dict) and isinstance(h["num_epochs"], int)):
        raise ValidationError(f"{source}: history must hold metrics, num_epochs and voltages")
    history = History()
    history.num_epochs = h["num_epochs"]
    for name, series in h["metrics"].items():
        if not isinstance(series, list) or len(series) != history.num_epochs:
            raise ValidationError(f"{source}: metric {name!r} must list {history.num_epochs} epochs")
        history.metrics[name] = [float(x) for x in series]
    history.voltages = dict(h["voltages"]) if isinstance(h["voltages"], dict) else {}
    return history


def _position(pos, partial, source):
    ok = (isinstance(pos, dict) and set(pos) == set(_POSITION)
          and all(isinstance(v, int) and v >= 0 for v in pos.values())
          and pos["start_epoch"] <= pos["epoch"] <= pos["end_epoch"])
    if not ok:
        raise ValidationError(f"{source}: position must hold ints >= 0 {list(_POSITION)} with "
                              f"start_epoch <= epoch <= end_epoch, found {pos!r}")
    ok = (isinstance(partial, dict) and set(partial) == {"losses", "metrics", "count", "skipped"}
          and isinstance(partial["losses"], list) and isinstance(partial["metrics"], dict)
          and all(isinstance(v, list) and len(v) == 2 and isinstance(v[0], float) and np.isfinite(v[0])
              and isinstance(v[1], int) for v in partial["metrics"].values())
          and all(isinstance(a, np.ndarray) and np.isfinite(a).all() for a in partial["losses"]))
    if not ok:
        raise ValidationError(f"{source}: the running sums of the unfinished epoch are malformed")
    return pos, partial
