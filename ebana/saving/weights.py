"""Conductances by layer name: read, checked, assigned, and written to a weights file.

A weights file is one pickle written atomically and read back with the
restricted unpickler of :mod:`.safe_io`; everything is checked against the
model (layer names, shapes, ``[g_min, g_max]``) before a weight is touched.
"""
import os

import numpy as np

from ..backends.arrays import array_namespace, to_device, to_host
from ..errors import ShapeError, ValidationError
from .safe_io import atomic_pickle, check_header, check_writable, safe_load_pickle

WEIGHTS_FORMAT = "ebana-weights"
VERSION = 1


def _stored(layer):
    """The array a weights file keeps for ``layer``: conductances (S) of a crossbar,
    trained bias voltages (V) of a bias layer (issue 12), else None."""
    if layer.conductances() is not None:
        return layer.g
    stored = getattr(layer, "stored_array", None)
    return stored() if stored is not None else None


def trainable_layers(model):
    """The layers a weights file stores, in the model's order."""
    return [layer for layer in model.layers if _stored(layer) is not None]


def get_weights(model):
    """Copies of every layer's conductances (S) and trained bias voltages (V), by layer name:
    NumPy arrays, also for a model on a device (copied to the host)."""
    return {layer.name: np.array(to_host(_stored(layer)), dtype=float) for layer in trainable_layers(model)}


def check_weights(model, weights, source):
    """Raise unless ``weights`` holds, for exactly the model's layers, finite
    conductances of the right shape within each layer's ``[g_min, g_max]`` (S)."""
    if not isinstance(weights, dict):
        raise ValidationError(f"{source}: weights must be a dict layer name -> array, found {type(weights).__name__}")
    layers = {layer.name: layer for layer in trainable_layers(model)}
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


def assign_weights(model, weights):
    """Write checked ``weights`` into the model's arrays in place (see :func:`check_weights`),
    copied onto the device those arrays live on."""
    for layer in trainable_layers(model):
        target = _stored(layer)
        xp = array_namespace(target)
        # in place: optimizers and layers share the array
        target[...] = weights[layer.name] if xp is np else to_device(weights[layer.name], xp)


def set_weights(model, weights, source="set_weights"):
    """Assign conductances (S) from a dict by layer name, or a list in layer order.

    Everything is checked first (names, shapes, finite, within ``[g_min, g_max]``);
    a refused call changes nothing.
    """
    if isinstance(weights, (list, tuple)):
        layers = trainable_layers(model)
        if len(weights) != len(layers):
            raise ShapeError(f"{source}: received {len(weights)} arrays for {len(layers)} trainable layers "
                             f"{[l.name for l in layers]}")
        weights = {l.name: w for l, w in zip(layers, weights)}
    if not isinstance(weights, dict):
        raise ValidationError(f"{source}: expected a dict layer name -> conductances (S) or a list in layer "
                              f"order, received {type(weights).__name__}")
    try:
        weights = {k: np.array(v, dtype=float) for k, v in weights.items()}
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{source}: conductances must be numeric arrays (S): {exc}") from None
    check_weights(model, weights, source)
    assign_weights(model, weights)


def save_weights(model, path):
    """Write the model's conductances (S) by layer name to ``path`` (atomic pickle with a checksum)."""
    check_writable(path, "weights file")
    atomic_pickle({"format": WEIGHTS_FORMAT, "version": VERSION, "weights": get_weights(model)}, path,
                  "weights file")


def load_weights(model, path):
    """Load conductances written by :func:`save_weights` into ``model`` (checked first).

    >>> import os, tempfile
    >>> import numpy as np
    >>> from ebana.networks import clamped_mlp
    >>> model, other = clamped_mlp(2, 4, 1, seed=0), clamped_mlp(2, 4, 1, seed=1)
    >>> path = os.path.join(tempfile.mkdtemp(), "w.pkl")
    >>> save_weights(model, path)
    >>> load_weights(other, path)
    >>> np.array_equal(other.get_weights()["d2"], model.get_weights()["d2"])
    True
    """
    path = os.fspath(path)
    d = safe_load_pickle(path)
    check_header(d, path, WEIGHTS_FORMAT, {"format", "version", "weights"}, VERSION)
    check_weights(model, d["weights"], f"weights file {path!r}")
    assign_weights(model, d["weights"])


