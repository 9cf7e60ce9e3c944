"""One safe file for a whole model: config, conductances, optimizer state, loss and beta.

``model.save(path)`` writes a pickle of plain containers and numpy arrays
atomically; :func:`read_model_file` reads it back with the restricted
unpickler of :mod:`.safe_io` (a file naming any other global is refused, so
loading runs no code) and :func:`~ebana.saving.restore.load_model` rebuilds
the model from it.
"""
import os

from ..errors import ValidationError
from .run_settings import plain_data
from .safe_io import atomic_pickle, check_writable, safe_load_pickle
from .weights import get_weights

FORMAT = "ebana-saved-model"
VERSION = 1
_KEYS = {"format", "version", "config", "weights", "training"}
# the backend name the model was built with; the chip's fault maps and drift settings
# (model.devices, a ChipDevices); the array device it trained on ('cuda'; the file's arrays
# are host arrays all the same); files before them lack the keys
_OPTIONAL = {"backend", "devices", "device"}


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


def read_model_file(path):
    """The checked contents of a saved model file: ``{'config', 'weights', 'training'}``."""
    path = os.fspath(path)
    d = safe_load_pickle(path)
    if (not isinstance(d, dict) or not _KEYS <= set(d) <= _KEYS | _OPTIONAL or d.get("format") != FORMAT
            or d.get("version") != VERSION):
        got = sorted(d) if isinstance(d, dict) else type(d).__name__
        raise ValidationError(f"{path!r} is not an ebana saved model ({FORMAT} v{VERSION}): found {got}")
    backend = d.get("backend")
    if backend is not None and not (isinstance(backend, str) and len(backend) < 100):
        raise ValidationError(f"{path!r}: field 'backend' must be a backend name, found {backend!r:.60}")
    device = d.get("device")
    if device is not None and not (isinstance(device, str) and device.isidentifier() and len(device) < 40):
        raise ValidationError(f"{path!r}: field 'device' must be a device name, found {device!r:.60}")
    return d


def save_model(model, path):
    """Write config, conductances and (after compile or fit) loss, beta and optimizer state;
    ``model.devices`` (a :class:`~ebana.devices.chip.ChipDevices`: fault maps, drift settings) when set.

    A layer whose config holds Python objects (MemristorDenseLayer's device model) is refused."""
    check_writable(path, "model file")
    config = model.get_config()
    _check_plain(config)
    contents = {"format": FORMAT, "version": VERSION, "config": config,
                "weights": get_weights(model), "training": _training_state(model)}
    devices = getattr(model, "devices", None)
    if devices is not None:  # a faulty / drifting chip: its maps belong to the model
        contents["devices"] = devices.to_dict()
    name = getattr(model, "backend_name", None)
    if isinstance(name, str):  # load_model runs it there again unless told otherwise
        contents["backend"] = name
    device = getattr(model, "device", "cpu")
    if device != "cpu":  # a record only: load_model loads on the CPU unless told device=...
        contents["device"] = device
    atomic_pickle(contents, path, "model file")
