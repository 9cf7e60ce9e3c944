"""One safe file for a whole model: config, conductances, optimizer state, loss and beta.

``model.save(path)`` writes a pickle of plain containers and numpy arrays
atomically; :func:`load_model` reads it back with the restricted unpickler
of :mod:`ebana.training._io` (a file naming any other global is refused, so
loading runs no code), rebuilds the layer graph from the config, checks the
conductances (names, shapes, ``[g_min, g_max]``) and the optimizer state
(shapes, finite moments, valid hyperparameters) before returning the model.

Example:
    >>> # model.compile(optimizer="adam", loss="mse"); model.fit(x, y, epochs=5)
    >>> # model.save("run.ebana"); same = ebana.load_model("run.ebana", backend="native")
"""
import os

import numpy as np

from .errors import ShapeError, ValidationError
from .training._io import atomic_pickle, safe_load_pickle

FORMAT = "ebana-saved-model"
VERSION = 1
_KEYS = {"format", "version", "config", "weights", "training"}


def get_weights(model):
    """Copies of the conductances (S), by trainable layer name."""
    from .training.checkpoint import weights_of
    return weights_of(model)


def set_weights(model, weights, source="set_weights"):
    """Assign conductances (S) from a dict by layer name, or a list in layer order.

    Everything is checked first (names, shapes, finite, within ``[g_min, g_max]``);
    a refused call changes nothing.
    """
    from .training.checkpoint import _assign_weights, _trainable_layers, check_weights
    if isinstance(weights, (list, tuple)):
        layers = _trainable_layers(model)
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
    _assign_weights(model, weights)


def _training_state(model):
    compiled = getattr(model, "compiled", None)
    if compiled is None:
        return None
    loss, opt = compiled["loss"], compiled["optimizer"]
    return {"loss": {"class": type(loss).__name__,
                     "config": loss.get_config() if hasattr(loss, "get_config") else {}},
            "optimizer": opt.state_dict(), "beta": compiled["beta"], "symmetric": compiled["symmetric"]}


def _check_plain(config):
    """Refuse a config holding Python objects: the safe loader could not read them back."""
    from .training.run_settings import plain_data
    for entry in config["layers"]:
        if plain_data(entry["config"]) != _listed(entry["config"]):
            raise ValidationError(
                f"{entry['class']} {entry['config'].get('name')!r}: its config holds Python objects (e.g. a "
                "device model) that a safe model file cannot store; save the weights with save_weights and "
                "rebuild the layer in code")


def _listed(value):
    """``value`` with tuples as lists (a plain config compares equal to its plain_data)."""
    if isinstance(value, dict):
        return {k: _listed(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_listed(v) for v in value]
    return value


def save_model(model, path):
    """Write config, conductances and (after compile or fit) loss, beta and optimizer state.

    A layer whose config holds Python objects (MemristorDenseLayer's device model) is refused."""
    from .training._io import check_writable
    check_writable(path, "model file")
    config = model.get_config()
    _check_plain(config)
    atomic_pickle({"format": FORMAT, "version": VERSION, "config": config,
                   "weights": get_weights(model), "training": _training_state(model)}, path)


def load_model(path, backend="ngspice", **model_options):
    """A model from a file written by :meth:`Model.save`, on ``backend``, compiled as it was saved."""
    from .model_config import model_from_config
    from .training import losses
    from .training.optimizers import SGD, Adam
    path = os.fspath(path)
    d = safe_load_pickle(path)
    if not isinstance(d, dict) or set(d) != _KEYS or d.get("format") != FORMAT or d.get("version") != VERSION:
        got = sorted(d) if isinstance(d, dict) else type(d).__name__
        raise ValidationError(f"{path!r} is not an ebana saved model ({FORMAT} v{VERSION}): found {got}")
    model = model_from_config(d["config"], backend=backend, **model_options)
    set_weights(model, d["weights"], f"saved model {path!r}")
    t = d["training"]
    if t is not None:
        known_losses = {"MSE": losses.MSE, "CrossEntropy": losses.CrossEntropy}
        known_opts = {"SGD": SGD, "Adam": Adam}
        if not (isinstance(t, dict) and set(t) == {"loss", "optimizer", "beta", "symmetric"}
                and isinstance(t["loss"], dict) and t["loss"].get("class") in known_losses
                and isinstance(t["optimizer"], dict) and t["optimizer"].get("class") in known_opts):
            raise ValidationError(f"saved model {path!r}: the training state (loss, optimizer, beta) is "
                                  f"malformed or names an unknown loss/optimizer class")
        try:
            loss = known_losses[t["loss"]["class"]](**t["loss"]["config"])
        except (TypeError, ValidationError) as exc:
            raise ValidationError(f"saved model {path!r}: loss settings {t['loss']!r}: {exc}") from None
        optimizer = known_opts[t["optimizer"]["class"]]()
        optimizer.load_state_dict(t["optimizer"], source=path, params=model.parameters())
        model.compile(optimizer=optimizer, loss=loss, beta=t["beta"], symmetric=t["symmetric"])
    return model
