"""Ready-made networks: the clamped layered circuit the examples train."""
import numpy as np

from .layers import (AmplificationLayer, BiasVoltageLayer, ConcatenateLayer, CurrentLayer, DenseLayer, DiodeLayer,
                     InputVoltageLayer)
from .model import Model


def clamped_mlp(n_inputs, hidden, n_outputs, clamp=0.1, gain=4.0, g_min=1e-7, g_max=2e-4,
                initializer=("uniform", 1e-6, 1e-4), backend="ngspice", seed=0, **model_options):
    """``n_inputs`` input sources (V) and a +-1 V bias pair -> crossbar -> ``hidden`` nets
    clamped to ``[-clamp - VTH, clamp + VTH]`` by two diode layers -> amplifiers of
    ``gain`` -> crossbar -> ``n_outputs`` differential output pairs (readout V+ - V-).

    ``hidden`` is a width, or a list of widths for several hidden layers (each
    clamped and amplified, then the next crossbar). Layers are named ``x``
    (inputs), ``b``, ``j``, then per hidden layer ``d1``, ``c1``, ``c2``, ``a1``
    (``d2``, ``c3``, ``c4``, ``a2`` for the second, ...), the last crossbar
    ``d{len(hidden) + 1}`` and ``out`` (the output, fold=True). Conductance
    bounds in S; ``model_options`` go to :class:`~ebana.Model` (e.g. ``variability``).

    >>> # model = clamped_mlp(8, 16, 3, backend="native"); deep = clamped_mlp(8, [16, 16], 3)
    """
    widths = [hidden] if isinstance(hidden, (int, np.integer)) else list(hidden)
    x = InputVoltageLayer(units=n_inputs, name="x")
    b = BiasVoltageLayer(units=2, name="b", bias_voltage=[1.0, -1.0])
    h = ConcatenateLayer(name="j")([x, b])
    for k, width in enumerate(widths, start=1):
        h = DenseLayer(units=width, name=f"d{k}", initializer=initializer, g_min=g_min, g_max=g_max)(h)
        h = DiodeLayer(name=f"c{2 * k - 1}", direction="down", bias_voltage=clamp)(h)
        h = DiodeLayer(name=f"c{2 * k}", direction="up", bias_voltage=-clamp)(h)
        h = AmplificationLayer(name=f"a{k}", param={"gain": gain})(h)
    h = DenseLayer(units=2 * n_outputs, name=f"d{len(widths) + 1}", initializer=initializer,
                   g_min=g_min, g_max=g_max)(h)
    out = CurrentLayer(name="out", fold=True)(h)
    return Model(inputs=[x, b], outputs=[out], backend=backend, seed=seed, **model_options)
