"""Ready-made networks: the clamped two-layer circuit the examples train."""
from .layers import (AmplificationLayer, BiasVoltageLayer, ConcatenateLayer, CurrentLayer, DenseLayer, DiodeLayer,
                     InputVoltageLayer)
from .model import Model


def clamped_mlp(n_inputs, hidden, n_outputs, clamp=0.1, gain=4.0, g_min=1e-7, g_max=2e-4,
                initializer=("uniform", 1e-6, 1e-4), backend="ngspice", seed=0, **model_options):
    """``n_inputs`` input sources (V) and a +-1 V bias pair -> crossbar -> ``hidden`` nets
    clamped to ``[-clamp - VTH, clamp + VTH]`` by two diode layers -> amplifiers of
    ``gain`` -> crossbar -> ``n_outputs`` differential output pairs (readout V+ - V-).

    Layers are named ``x`` (inputs), ``b``, ``j``, ``d1``, ``c1``, ``c2``, ``a1``,
    ``d2`` and ``out`` (the output, fold=True). Conductance bounds in S;
    ``model_options`` go to :class:`~ebana.Model` (e.g. ``variability``).

    >>> # model = clamped_mlp(8, 16, 3, backend="native")
    """
    x = InputVoltageLayer(units=n_inputs, name="x")
    b = BiasVoltageLayer(units=2, name="b", bias_voltage=[1.0, -1.0])
    h = ConcatenateLayer(name="j")([x, b])
    h = DenseLayer(units=hidden, name="d1", initializer=initializer, g_min=g_min, g_max=g_max)(h)
    h = DiodeLayer(name="c1", direction="down", bias_voltage=clamp)(h)
    h = DiodeLayer(name="c2", direction="up", bias_voltage=-clamp)(h)
    h = AmplificationLayer(name="a1", param={"gain": gain})(h)
    h = DenseLayer(units=2 * n_outputs, name="d2", initializer=initializer, g_min=g_min, g_max=g_max)(h)
    out = CurrentLayer(name="out", fold=True)(h)
    return Model(inputs=[x, b], outputs=[out], backend=backend, seed=seed, **model_options)
