"""Crash-safe training checkpoints and safely loaded weight files.

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

Files are read back with the restricted unpickler of :mod:`._io` and every
part is checked against the model (layer names, shapes, bounds) before any
weight is touched; errors name the file and the layer.
"""
import os

import numpy as np

from ..errors import ShapeError, ValidationError
from ._io import atomic_pickle, safe_load_pickle
from .history import History
from .run_settings import check_same_run

FORMAT = "ebana-checkpoint"
WEIGHTS_FORMAT = "ebana-weights"
VERSION = 1
CHECKPOINT_VERSION = 2  # 2: run settings and the run's first epoch and length


def _stored(layer):
    """The array a weights file keeps for ``layer``: conductances (S) of a crossbar,
    trained bias voltages (V) of a bias layer (issue 12), else None."""
    if layer.conductances() is not None:
        return layer.g
    stored = getattr(layer, "stored_array", None)
    return stored() if stored is not None else None


def _trainable_layers(model):
    return [layer for layer in model.layers if _stored(layer) is not None]


def weights_of(model):
    """Copies of every layer's conductances (S) and trained bias voltages (V), by layer name."""
    return {layer.name: np.array(_stored(layer), dtype=float) for layer in _trainable_layers(model)}


def check_weights(model, weights, source):
    """Raise unless ``weights`` holds, for exactly the model's layers, finite
    conductances of the right shape within each layer's ``[g_min, g_max]`` (S)."""
    if not isinstance(weights, dict):
        raise ValidationError(f"{source}: weights must be a dict layer name -> array, found {type(weights).__name__}")
    layers = {layer.name: layer for layer in _trainable_layers(model)}
    if set(weights) != set(layers):
        raise ShapeError(f"{source} holds weights for layers {sorted(weights)}, the model has "
                         f"{sorted(layers)}: the file belongs to a different model")
    for name, layer in layers.items():
        a = weights[name]
        if not isinstance(a, np.ndarray) or a.dtype.kind != "f":
            raise ValidationError(f"{source}: weights of {layer.describe()} must be a float array")
        if layer.conductances() is None:  # bias voltages (V): the layer checks shape and bounds
            layer.check_stored(a, source)
            continue
        if a.shape != layer.g.shape:
            raise ShapeError(f"{source}: {layer.describe()} has conductances of shape {layer.g.shape}, "
                             f"the file holds {a.shape}: the file belongs to a different model")
        bad = ~np.isfinite(a) | (a < layer.g_min) | (a > layer.g_max)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValidationError(f"{source}: {layer.describe()} conductance {idx} is {a[idx]!r} S, outside "
                                  f"[g_min, g_max] = [{layer.g_min}, {layer.g_max}] S")


def _assign_weights(model, weights):
    for layer in _trainable_layers(model):
        _stored(layer)[...] = weights[layer.name]  # in place: optimizers and layers share the array


def save_weights(model, path):
    """Write the model's conductances (S) by layer name to ``path`` (atomic pickle)."""
    atomic_pickle({"format": WEIGHTS_FORMAT, "version": VERSION, "weights": weights_of(model)}, path)


def load_weights(model, path):
    """Load conductances written by :func:`save_weights` into ``model`` (checked first).

    >>> # save_weights(model, "w.pkl"); load_weights(other_model_same_layers, "w.pkl")
    """
    path = os.fspath(path)
    d = safe_load_pickle(path)
    _check_header(d, path, WEIGHTS_FORMAT, {"format", "version", "weights"})
    check_weights(model, d["weights"], f"weights file {path!r}")
    _assign_weights(model, d["weights"])


def _check_header(d, path, fmt, keys, version=VERSION):
    if not isinstance(d, dict) or set(d) != keys:
        got = sorted(d) if isinstance(d, dict) else type(d).__name__
        raise ValidationError(f"{path!r} is not an ebana {fmt} file: expected keys {sorted(keys)}, found {got}")
    if d["format"] != fmt or d["version"] != version:
        raise ValidationError(f"{path!r}: format {d['format']!r} version {d['version']!r}, "
                              f"expected {fmt!r} {version}")


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
        "weights": weights_of(model),
        "optimizer": optimizer.state_dict(),
        "history": {"metrics": {k: list(v) for k, v in history.metrics.items()},
                    "num_epochs": history.num_epochs,
                    "voltages": dict(history.voltages)},
        "loader": loader_state,
        "position": {k: int(position[k]) for k in _POSITION},
        "partial": {"losses": [np.asarray(a, dtype=float) for a in partial["losses"]],
                    "metrics": {str(k): [float(s), int(n)] for k, (s, n) in partial["metrics"].items()},
                    "count": int(partial["count"]),
                    "skipped": int(partial["skipped"])},
        "noise": noise.state_dict() if hasattr(noise, "state_dict") else None,
        "settings": settings,
    }, path)


def load_checkpoint(path, model, optimizer, loader, settings=None):
    """Restore a checkpoint into ``model``, ``optimizer`` and ``loader``.

    Every part is validated before anything is assigned; with ``settings``
    (this run's :func:`~.run_settings.run_settings`) a checkpoint of another
    run is refused, naming what differs. Returns ``(history, position,
    partial, saved settings)`` for the training loop.
    """
    path = os.fspath(path)
    d = safe_load_pickle(path)
    _check_header(d, path, FORMAT, _KEYS, CHECKPOINT_VERSION)
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
    _assign_weights(model, d["weights"])
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
