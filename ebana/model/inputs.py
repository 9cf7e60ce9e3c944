"""A model's inputs: checked once, keyed by layer name, and cut into batches.

Every entry point that takes user data (``predict``, ``evaluate``, ``fit``,
``power``, the probes) goes through these functions, so the checks and the
error messages are the same everywhere.
"""
import warnings

import numpy as np

from ..backends.arrays import on_device, to_device
from ..errors import ShapeError, ValidationError
from ..validation import check_array, real_array


def by_layer_name(value, layers, what):
    """``value`` as a dict keyed by layer name: a dict as given, an array for a single layer.

    ``what`` ('input', 'output') names the layers in errors.

    >>> from ebana import InputVoltageLayer
    >>> sorted(by_layer_name([[0.1, 0.2]], [InputVoltageLayer(2, name="x")], "input"))
    ['x']
    """
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, (np.ndarray, list, tuple)):
        if len(layers) != 1:
            raise ValidationError(f"the model has {len(layers)} {what} layers {[l.name for l in layers]}: "
                                  f"pass a dict keyed by layer name, not one array")
        return {layers[0].name: np.asarray(value)}
    raise ValidationError(f"{what} data must be an array or a dict keyed by layer name, "
                          f"received {type(value).__name__}")


#: integer inputs above this magnitude (V) are probably raw pixel values: a warning says so
RAW_PIXEL_VOLTS = 10.0


def _input_array(layer, value, size):
    """One input layer's voltages (V) as a checked ``(B, units)`` float array.

    Complex and text values are refused. Integer arrays are taken as volts, but
    one holding values beyond ``RAW_PIXEL_VOLTS`` (e.g. uint8 images 0..255 straight
    from :func:`~ebana.datasets.load_fashion_mnist`) gets a warning: they were
    almost certainly meant to be scaled first (warned, not refused, so integer
    volts written on purpose keep working)."""
    a = real_array(value, f"{layer.describe()} input voltages (V)")
    kind = getattr(getattr(value, "dtype", None), "kind", "")
    if kind in ("i", "u") and a.size and np.abs(a).max() > RAW_PIXEL_VOLTS:
        warnings.warn(f"{layer.describe()}: integer inputs ({value.dtype}) up to {np.abs(a).max():g} are taken "
                      f"as volts; scale raw pixels first, e.g. ebana.datasets.scale_to_volts(x, -1, 1, 0, 255)",
                      stacklevel=4)
    if a.ndim == 1 and layer.units == 1 and (size is None or a.shape[0] == size):
        a = a[:, None]
    if a.ndim > 2 and a.shape[1:] == layer.shape:  # images (B, rows, cols, channels): nets in C order
        a = a.reshape(a.shape[0], -1)
    if a.ndim != 2 or a.shape[1] != layer.units:
        image = "" if len(layer.shape) == 1 else f" or (batch, {', '.join(map(str, layer.shape))})"
        raise ShapeError(f"{layer.describe()} expected input voltages of shape (batch, {layer.units})"
                         f"{image}, received {a.shape}")
    bad = ~np.isfinite(a)
    if bad.any():
        s, k = np.argwhere(bad)[0]
        raise ValidationError(f"{layer.describe()}: input voltage of sample {s}, unit {k} is {a[s, k]!r}")
    check_array(a, f"{layer.describe()} input voltages (V)", -1e3, 1e3)
    if size is not None and a.shape[0] != size:
        raise ShapeError(f"{layer.describe()} has {a.shape[0]} samples, other inputs have {size}")
    return a


def _device_input(layer, value, size):
    """A device array of input voltages (V) as ``(B, units)``: shapes only. Its values were
    checked on the host before it was uploaded (:func:`input_batches`, the fit loader); a
    non-finite value would still be refused by the stimulus check."""
    a = value if value.dtype.kind == "f" else value.astype(float)
    if a.ndim == 1 and layer.units == 1 and (size is None or a.shape[0] == size):
        a = a[:, None]
    if a.ndim > 2 and a.shape[1:] == layer.shape:
        a = a.reshape(a.shape[0], -1)
    if a.ndim != 2 or a.shape[1] != layer.units:
        raise ShapeError(f"{layer.describe()} expected input voltages of shape (batch, {layer.units}), "
                         f"received {a.shape}")
    if size is not None and a.shape[0] != size:
        raise ShapeError(f"{layer.describe()} has {a.shape[0]} samples, other inputs have {size}")
    return a


def check_inputs(input_layers, data, xp=np):
    """Validate a dict of input arrays; return ``(batch size, {name: (B, units) array in V})``,
    the arrays in namespace ``xp`` (host arrays are checked on the host, then copied once)."""
    if not isinstance(data, dict):
        raise ValidationError(f"model inputs must be a dict keyed by input layer name, "
                              f"received {type(data).__name__}")
    arrays, size = {}, None
    for layer in input_layers:
        if layer.name not in data:
            raise ShapeError(f"the batch has no key {layer.name!r} for {layer.describe()} "
                             f"(keys received: {sorted(data)})")
        value = data[layer.name]
        if on_device(value):
            if xp is np:
                raise ValidationError(f"{layer.describe()}: the input voltages are a device array and the model "
                                      "runs on the CPU: pass NumPy arrays (or build the model with device=...)")
            a = _device_input(layer, value, size)
        else:
            a = _input_array(layer, value, size)
            a = a if xp is np else to_device(a, xp)
        arrays[layer.name] = a
        size = a.shape[0]
    return size, arrays


def input_batches(input_layers, data, batch_size, xp=np):
    """Batches of checked inputs from ``data``: a dict of arrays (or one array for a
    one-input model), cut into ``batch_size`` rows, or any iterable of batches (a
    DataLoader: its batches in its order, target keys kept). With a device namespace
    ``xp`` the arrays are checked on the host and copied to the device once (a DataLoader:
    its whole data, see ``DataLoader.on_device``); other iterables go batch by batch."""
    if isinstance(data, (np.ndarray, list, tuple)):
        data = by_layer_name(data, input_layers, "input")
    if not isinstance(data, dict):
        if xp is not np and hasattr(data, "on_device"):
            return iter(data.on_device(xp, check=lambda columns: check_inputs(input_layers, columns)))
        return iter(data)
    size, arrays = check_inputs(input_layers, data, xp)
    return ({k: a[s:s + batch_size] for k, a in arrays.items()} for s in range(0, size, batch_size))


def batch_count(data, batch_size):
    """How many batches :func:`input_batches` gives for ``data``, or None when unknown
    (an iterable without a length)."""
    if isinstance(data, dict):
        sizes = [len(v) for v in data.values() if hasattr(v, "__len__")]
        return -(-max(sizes) // batch_size) if sizes else None
    if isinstance(data, (np.ndarray, list, tuple)):
        return -(-len(data) // batch_size)
    try:
        return len(data)
    except TypeError:
        return None
