"""Defaults that fit SI units: the nudging strength beta from the model's conductances.

``beta`` (S) sets the nudge current ``-beta * dL/dV`` (A). It should be small
against the conductances the outputs see, so the nudged phase stays close to
the free one (EP's gradient estimate), yet large enough that the voltage
differences stand above the solver's tolerance. The default is 1% of the
smallest ``g_max`` of the trainable layers: 1e-6 S for the default range
``[1e-7, 1e-4]`` S, the value the examples use.
"""
BETA_FRACTION = 0.01
FALLBACK_BETA = 1e-6  # S, for a model without conductance bounds


def default_beta(model):
    """``0.01 * min(g_max)`` (S) over the model's trainable layers."""
    tops = [layer.g_max for layer in model.layers if layer.parameters() and hasattr(layer, "g_max")]
    return BETA_FRACTION * min(tops) if tops else FALLBACK_BETA
