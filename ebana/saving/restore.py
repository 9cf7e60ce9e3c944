"""A model rebuilt from its saved file: graph, conductances, and how it was compiled.

The file is read and checked by :func:`~.model_file.read_model_file`; the
conductances (names, shapes, ``[g_min, g_max]``) and the optimizer state
(shapes, finite moments, valid hyperparameters) are checked before the model
is returned.

Example:
    >>> import os, tempfile
    >>> import numpy as np, ebana
    >>> from ebana.networks import clamped_mlp
    >>> model = clamped_mlp(2, 4, 1, backend="native")
    >>> model = model.compile(optimizer="adam", loss="mse")   # returns the model
    >>> history = model.fit(np.zeros((8, 2)), np.zeros((8, 1)), epochs=1, batch_size=4, verbose=0)
    >>> path = os.path.join(tempfile.mkdtemp(), "run.ebana")
    >>> model.save(path)
    >>> same = ebana.load_model(path, backend="native")   # training goes on from here
    >>> np.array_equal(same.get_weights()["d1"], model.get_weights()["d1"])
    True
"""
import os

from ..errors import GraphError, ShapeError, ValidationError
from ..model.config import layers_from_config
from ..model.functional import Model
from ..model.graph import topological_order
from ..training.resolve import LOSS_CLASSES, OPTIMIZER_CLASSES
from .model_file import read_model_file
from .weights import set_weights

_announced = set()  # backends load_model has announced choosing (one line each per process)


def check_declared_sizes(outputs, weights, source):
    """Refuse a graph whose layers would allocate arrays other than the stored ones.

    Each layer's :meth:`~ebana.layers.base.Layer.stored_shape` is computed from the
    declared sizes alone (nothing allocated) and compared with the file's array, so a
    config declaring ``filters=10**7`` fails here, before any layer is built."""
    if not isinstance(weights, dict):
        raise ValidationError(f"{source}: weights must be a dict layer name -> array")
    for layer in topological_order(outputs):
        shape = layer.stored_shape(sum(p.units for p in layer.parents))
        if shape is None:
            continue
        stored = weights.get(layer.name)
        if getattr(stored, "shape", None) != tuple(shape):
            found = "no array" if stored is None else f"an array of shape {getattr(stored, 'shape', None)}"
            raise ShapeError(f"{source}: {layer.describe()} declares sizes that need an array of shape "
                             f"{tuple(shape)}, the file holds {found}: the config and the weights disagree "
                             "(the file is damaged or was edited)")


def _choose_backend(backend, saved):
    """``backend`` if given, else the backend the model was saved with, else 'ngspice';
    the choice made for the user is printed once per backend name and process."""
    if backend is not None:
        return backend
    chosen = saved if isinstance(saved, str) else "ngspice"
    if chosen not in _announced:
        _announced.add(chosen)
        why = "the backend it was saved with" if isinstance(saved, str) else "the default; the file names none"
        print(f"ebana.load_model: running on backend {chosen!r} ({why}); pass backend=... to choose another")
    return chosen


def load_model(path, backend=None, device="cpu", **model_options):
    """A model from a file written by :meth:`Model.save`, compiled as it was saved.

    ``backend``: a name or Backend; None (default) takes the backend name the model
    was built with when the file stores one ('native', 'ngspice:2', ...), else 'ngspice'.
    ``device``: where the loaded model's arrays live ('cpu' by default, whatever device the
    model was saved from; 'cuda' puts the weights and the optimizer's moments on the GPU).
    Declared layer sizes are checked against the stored arrays and
    :data:`~ebana.model.config.MAX_LAYER_NETS` before anything is built."""
    path = os.fspath(path)
    d = read_model_file(path)
    source = f"saved model {path!r}"
    inputs, outputs, seed = layers_from_config(d["config"], source)
    check_declared_sizes(outputs, d["weights"], source)
    try:
        model = Model(inputs=inputs, outputs=outputs, backend=_choose_backend(backend, d.get("backend")),
                      seed=seed, device=device, **model_options)
    except (ValidationError, ShapeError, GraphError) as exc:
        raise type(exc)(f"{source}: {exc}") from None
    except (TypeError, ValueError, KeyError, AttributeError, IndexError) as exc:
        # a value of a kind the field checks did not foresee (e.g. an initializer that is a dict)
        raise ValidationError(f"{source}: building the model failed: {type(exc).__name__}: {exc}") from None
    set_weights(model, d["weights"], source)
    if d.get("devices") is not None:
        model.devices = chip_devices(d["devices"], model, source)
    t = d["training"]
    if t is not None:
        known_losses, known_opts = LOSS_CLASSES, OPTIMIZER_CLASSES  # every class a name resolves to
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


def chip_devices(d, model, source):
    """The saved :class:`~ebana.devices.chip.ChipDevices`, its fault maps checked against the model's layers."""
    from ..devices.chip import ChipDevices
    chip = ChipDevices.from_dict(d, source)
    params = model.parameters()
    for name, fmap in chip.fault_maps.items():
        if name not in params or params[name].shape != fmap.shape:
            got = params[name].shape if name in params else "no such layer"
            raise ValidationError(f"{source}: fault map of layer {name!r} has shape {fmap.shape}; the model: {got}")
    return chip
