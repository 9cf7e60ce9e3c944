"""Public views into a model's circuit: EP gradients and node voltages by layer name."""
import numpy as np

from ..backends.arrays import to_host
from ..training.defaults import default_beta
from ..training.ep import ep_step
from ..training.resolve import as_training_data, resolve_loss
from .inputs import by_layer_name


def gradients(model, batch, loss="mse", beta=None, symmetric=True):
    """EP estimate of ``dL/dG`` by trainable layer name, summed over the batch.

    Units: loss units per siemens (V^2/S for MSE). ``batch``: dict of input
    and target arrays by layer name (or ``(x, y)``). ``beta`` (S): the
    nudging strength, by default :func:`~ebana.training.defaults.default_beta`.
    Symmetric nudging (default) removes the first-order bias of a finite beta.
    No weight changes. NumPy arrays, also for a model on a device.

    >>> import numpy as np
    >>> from ebana.networks import clamped_mlp
    >>> model = clamped_mlp(8, 16, 3, backend="native")
    >>> g = model.gradients({"x": np.zeros((5, 8)), "out": np.zeros((5, 3))}, loss="mse", beta=1e-6)
    >>> g["d1"].shape   # 8 inputs and the bias pair, onto 16 nets
    (10, 16)
    """
    x, y = batch if isinstance(batch, tuple) else (batch, None)
    loader = as_training_data(model, x, y, batch_size=10**9, shuffle=False, what="batch")
    (data,) = list(loader)
    beta = default_beta(model) if beta is None else beta
    result = ep_step(model, data, resolve_loss(loss), beta, symmetric=symmetric)
    return {name: np.array(to_host(g)) for name, g in result.grads.items()}


def node_voltages(model, data):
    """Free-phase voltages (V) of every layer's output nets, by layer name: (B, nets) arrays.

    ``data``: dict of input arrays by input layer name (targets are ignored),
    or one array for a one-input model. NumPy arrays, also for a model on a device.

    >>> import numpy as np
    >>> from ebana.networks import clamped_mlp
    >>> v = clamped_mlp(8, 16, 3, backend="native").node_voltages({"x": np.zeros((5, 8))})
    >>> v["c1"].shape   # (samples, hidden nets)
    (5, 16)
    """
    arrays = by_layer_name(data, model.inputs, "input")
    v = to_host(model.solve({l.name: arrays[l.name] for l in model.inputs if l.name in arrays}).v)
    return {layer.name: v[:, np.asarray(model.nodes[id(layer)], dtype=int)] for layer in model.layers}
