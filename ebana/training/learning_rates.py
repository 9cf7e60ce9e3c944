"""Which learning rate each trained parameter gets, decided (and checked) before training.

Per layer: its own ``lr``, else the optimizer's ``lr``, else the optimizer's
default relative to the range the layer's parameters live in
(:meth:`~.optimizers.Optimizer.default_lr`):

* conductances: ``[g_min, g_max]`` (S); Adam's default step is 0.5% of it (S),
  SGD's ``lr`` is ``(g_max - g_min)**2`` (S^2 per loss unit);
* bias voltages (trainable ``BiasVoltageLayer`` / ``DiodeLayer``): ``[bias_min,
  bias_max]`` (V); Adam's default step is 0.5% of it (V), SGD's ``lr`` is
  ``(bias_max - bias_min)**2`` (V^2 per loss unit). On the bias test network
  this moves a bias by 0.3-0.6% of its range per SGD step (conductances: under 0.1%).

A parameter left without any rate (a custom layer with no range, under an
optimizer without ``lr``) is refused at ``compile`` and before ``fit`` trains,
naming the layer.
"""
from ..errors import ValidationError

#: attribute pairs that bound a layer's parameters, with their unit
RANGES = (("g_min", "g_max", "S"), ("bias_min", "bias_max", "V"))


def parameter_range(layer):
    """``(low, high, unit)`` of the values ``layer``'s parameters may take, or None."""
    for low, high, unit in RANGES:
        if hasattr(layer, low) and hasattr(layer, high):
            return getattr(layer, low), getattr(layer, high), unit
    return None


def learning_rates(model, optimizer):
    """Per parameter name: the learning rate to use (None: the optimizer's own ``lr``).

    Raises ValidationError naming the layer when a parameter would have none.
    """
    rates = {}
    for layer in model.layers:
        for name in layer.parameters():
            lr = getattr(layer, "lr", None)
            if lr is None and optimizer.lr is None:
                bounds = parameter_range(layer)
                if bounds is None:
                    raise ValidationError(
                        f"{layer.describe()} has trainable parameters but no lr and no value range "
                        f"(g_min/g_max or bias_min/bias_max) to derive one from, and "
                        f"{type(optimizer).__name__} has lr=None: give the layer lr=... or the optimizer "
                        f"lr=..., e.g. {type(optimizer).__name__}(lr=1e-3)")
                lr = optimizer.default_lr(bounds[0], bounds[1])
            rates[name] = lr
    return rates
