"""Programming a trained network onto the full conductance range of its devices.

A resistive network with ideal diodes to 0 V and no amplifier is positively
homogeneous: multiplying every conductance by one factor ``k > 0`` changes
no node voltage (the nodal equations are homogeneous in G). Training leaves
the conductances wherever EP put them, often far below ``g_max`` (the
Fashion-MNIST network starts at ``g_max / 40``). Before programming a chip,
scaling them up by the largest common factor that keeps every layer within
``g_max`` costs nothing in accuracy and makes device defects that do not
scale with the weights relatively smaller: a device stuck at ``g_max`` (S) is
then no stronger than the strongest trained weight instead of 40 times it,
and drift with conductance-dependent exponents (PCM: high conductances
drift less) spreads less.

With non-ideal diodes (on-resistance ``ron``) the invariance is approximate:
keep the summed conductance of a net well below ``1/ron``.

Trained conductances have a long tail (on Fashion-MNIST the largest is about 10
times the median, the 99.9th percentile 4 times): mapping the largest to
``g_max`` leaves most devices low in their range, where one stuck at ``g_max``
is far stronger than they are. ``percentile=99.9`` maps that percentile of all
the network's conductances to ``g_max`` instead and clips the few above it;
the clipping changes the circuit (measure the accuracy after it).

Example:

>>> from ebana.networks import rectified_mlp
>>> model = rectified_mlp(6, 4, 2, backend="native", initializer=("uniform", 1e-9, 2.5e-8))
>>> k = scale_to_range(model)
>>> round(max(float(l.circuit_g().max() / l.g_max) for l in model.resistive_layers), 12)
1.0
"""
import numpy as np

from ..errors import ValidationError
from ..validation import check_number


def range_factor(model, fraction=1.0, percentile=100.0):
    """The common factor ``k`` (dimensionless) that puts the largest conductance of the fullest layer
    at ``fraction * g_max``; every layer is scaled by the same ``k`` so the circuit's ratios stay.
    ``percentile`` (in (0, 100]) below 100: the factor that puts that percentile of all the network's
    conductances, pooled, at ``fraction`` of the smallest layer ``g_max`` instead."""
    fraction = check_number(fraction, "fraction (of g_max)", low=0.0, high=1.0, low_open=True)
    percentile = check_number(percentile, "percentile", low=0.0, high=100.0, low_open=True)
    weights = model.get_weights()
    for layer in model.resistive_layers:
        if layer.name not in weights:
            raise ValidationError(f"scale_to_range: layer {layer.name!r} holds fixed conductances; scaling the "
                                  "trained ones alone would change the circuit's ratios")
    if percentile < 100.0:
        pooled = np.concatenate([np.ravel(weights[layer.name]) for layer in model.resistive_layers])
        g_max = min(layer.g_max for layer in model.resistive_layers)
        return fraction * g_max / float(np.percentile(pooled, percentile))
    return min(fraction * layer.g_max / float(np.max(weights[layer.name])) for layer in model.resistive_layers)


def scale_to_range(model, fraction=1.0, percentile=100.0):
    """Multiply every conductance of ``model`` by :func:`range_factor`; returns the factor ``k``.

    Conductances that would fall below a layer's ``g_min`` (S) after a factor
    below 1 are clipped to it (only possible with ``fraction`` small); with
    ``percentile`` below 100, those above ``g_max`` are clipped to it."""
    k = range_factor(model, fraction, percentile)
    by_name = {l.name: l for l in model.resistive_layers}
    model.set_weights({name: np.clip(w * k, by_name[name].g_min, by_name[name].g_max) if name in by_name else w
                       for name, w in model.get_weights().items()})
    return k
