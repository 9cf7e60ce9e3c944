"""Where a model's arrays live, and what a model on a device (a GPU) refuses.

The rule: a model built with ``device='cuda'`` (or another device of
:mod:`ebana.backends.arrays`) keeps every value array its layers hold on that
device, for its whole life: the conductances ``g`` (S), the bias voltages (V)
(the names each layer lists in ``array_attributes()``). Optimizers update them in place there, and the EP
phases, gradients, losses and metrics are computed there. Everything that
leaves the model is a host (NumPy) array: ``get_weights``, saved files, the
config, the netlist, ``predict``'s readouts; ``set_weights`` and loaded files
are copied onto the device.

What the device path does not do (yet) is refused, naming the layer or the
option, before anything is simulated: the layer kinds here (:func:`device_problem`:
variability, memristor layers, quantised conductances, wire resistance), the
options where they are used (:func:`refuse_on_device`: per-sample conductances,
power reports, FaultAware training), and circuits the device solver does not
cover at their first solve (:class:`~ebana.backends.gpu.support.NotOnDevice`:
locally connected and pooling layers, Shockley diodes).

Example:
    >>> from ebana.networks import clamped_mlp
    >>> model = clamped_mlp(2, 4, 1, backend="native")
    >>> model.device, model.xp.__name__
    ('cpu', 'numpy')
"""
from ..backends.arrays import to_device
from ..errors import ValidationError


def move_arrays(model, xp):
    """Put every value array of ``model``'s layers into namespace ``xp`` (numpy: the host), in place
    of the old ones (optimizers find the new arrays through ``model.parameters()``)."""
    for layer in model.layers:
        for attr in layer.array_attributes():
            value = getattr(layer, attr, None)
            if value is not None:
                setattr(layer, attr, to_device(value, xp))


def device_problem(model):
    """Why ``model``'s layers cannot run on a device, or '' (checked when the model is built or moved)."""
    for layer in model.layers:
        who = layer.describe()
        if getattr(layer, "noise", None) is not None:
            return (f"{who} has variability (noise-aware training: Model(variability=...) or the layer's "
                    "variability=); the device path draws no noise masks yet: train it with device='cpu'")
        if type(layer).__name__ == "MemristorDenseLayer":
            return f"{who} is a memristor layer (its pulse model runs on the host): use device='cpu'"
        if getattr(layer, "quantizer", None) is not None:
            return f"{who} has quantised conductances (levels={layer.quantizer.levels}): use device='cpu'"
        if getattr(layer, "has_wires", False):
            return f"{who} has wire resistance, which only the CPU solvers handle: use device='cpu'"
    return ""


def check_device_model(model, device):
    """Raise a ValidationError unless ``model`` can run on ``device`` (anything runs on 'cpu')."""
    if device == "cpu":
        return
    problem = device_problem(model)
    if problem:
        raise ValidationError(f"device={device!r}: {problem}")


def refuse_on_device(model, what):
    """Raise a ValidationError naming ``what`` (an option or a feature) when ``model`` is on a device."""
    device = getattr(model, "device", "cpu")
    if device != "cpu":
        raise ValidationError(f"{what} is not supported on device={device!r} yet; run it on a CPU copy: "
                              "model.to('native', device='cpu'), or Model.from_config(model.get_config()) "
                              "with set_weights(model.get_weights())")
