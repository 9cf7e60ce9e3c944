"""Ready-made networks: the clamped layered circuit the examples train, and a rectified one."""
import numpy as np

from ..errors import ValidationError
from ..layers import (AmplificationLayer, BiasVoltageLayer, ConcatenateLayer, CurrentLayer, DenseLayer, DiodeLayer,
                      InputVoltageLayer)
from ..model.functional import Model
from ..validation import check_number


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

    >>> model = clamped_mlp(8, 16, 3, backend="native")
    >>> [layer.name for layer in model.layers]
    ['x', 'b', 'j', 'd1', 'c1', 'c2', 'a1', 'd2', 'out']
    >>> sorted(clamped_mlp(8, [16, 16], 3, backend="native").get_weights())   # two hidden layers
    ['d1', 'd2', 'd3']
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


def _bias_pairs(bias_voltage, hidden_bias_voltage):
    """The input bias pair ``b`` (+-bias_voltage, V) and the pair the layers after the first see:
    ``b`` itself, or ``bh`` at +-hidden_bias_voltage (V, > 0)."""
    b = BiasVoltageLayer(units=2, name="b", bias_voltage=[bias_voltage, -bias_voltage])
    if hidden_bias_voltage is None:
        return b, b
    check_number(hidden_bias_voltage, "rectified_mlp: hidden_bias_voltage (V)", low=0.0, low_open=True)
    return b, BiasVoltageLayer(units=2, name="bh", bias_voltage=[hidden_bias_voltage, -hidden_bias_voltage])


def rectified_mlp(n_inputs, hidden, n_outputs, bias_voltage=1.0, g_min=1e-12, g_max=1e-6,
                  initializer=("uniform", 1e-12, 2.5e-8), ron=100.0, backend="ngspice", seed=0, levels=None,
                  hidden_bias_voltage=None, hidden_lr=None, **model_options):
    """A deep resistive network without amplifiers: ``n_inputs`` sources and a
    ``+-bias_voltage`` pair -> crossbar -> hidden nets, the first half held at
    ``V >= 0`` and the second at ``V <= 0`` by one diode each to ground (a
    rectifier of on-resistance ``ron``, Ohm) -> crossbar -> ... -> ``n_outputs``
    single output nets (readout: their voltages, V).

    The shape of Scellier's deep resistive networks (ideal diodes, "excitatory"
    and "inhibitory" halves; code of arXiv 2312.15063): with diodes to 0 V and no
    amplifier the circuit is positively homogeneous, so any voltage scale works
    if targets scale with it. Every layer after the first also sees a bias pair,
    whose conductances start at ``g_min`` (no bias current): the input pair, or with
    ``hidden_bias_voltage`` (V, > 0) a second pair ``bh`` at ``+-hidden_bias_voltage``,
    closer to the hidden nets' voltages, so that one device of it stuck at ``g_max``
    pulls a net no harder than the other devices can (:mod:`ebana.devices.faults`).

    ``hidden`` is a width or a list of widths (each even). Layers: ``x``, ``b``,
    ``j``; per hidden layer ``k``: ``d{k}p``/``d{k}n`` (crossbars to the two
    halves), ``r{k}p``/``r{k}n`` (their diodes), ``h{k}`` (the halves and the
    bias pair); the last crossbar ``d{len(hidden) + 1}`` and ``out``.
    Conductances (S) are bounded by ``g_min``/``g_max``; keep their sum per net
    well below ``1/ron`` so the diodes act as ideal rectifiers. ``levels``: every
    crossbar's devices take that many evenly spaced conductances (2: binary; trained
    straight-through, see :mod:`ebana.devices.quantize`); None: continuous.
    ``hidden_lr``: the crossbars into the hidden nets get this learning rate (S per
    step) and the last crossbar the optimizer's; None: the optimizer's for all.

    >>> model = rectified_mlp(8, 16, 3, backend="native")
    >>> sorted(model.get_weights())   # crossbars to the two halves, then the output crossbar
    ['d1n', 'd1p', 'd2']
    """
    widths = [hidden] if isinstance(hidden, (int, np.integer)) else list(hidden)
    if any(w < 2 or w % 2 for w in widths):
        raise ValidationError(f"rectified_mlp: hidden widths must be even and at least 2 (two halves), "
                              f"received {widths}")
    x = InputVoltageLayer(units=n_inputs, name="x")
    b, bh = _bias_pairs(bias_voltage, hidden_bias_voltage)
    h = ConcatenateLayer(name="j")([x, b])
    dense = dict(initializer=initializer, g_min=g_min, g_max=g_max, levels=levels)
    for k, width in enumerate(widths, start=1):
        halves = []
        for half, direction in (("p", "up"), ("n", "down")):
            d = DenseLayer(units=width // 2, name=f"d{k}{half}", lr=hidden_lr, **dense)(h)
            halves.append(DiodeLayer(name=f"r{k}{half}", direction=direction, bias_voltage=0.0,
                                     param={"RON": ron})(d))
        h = ConcatenateLayer(name=f"h{k}")(halves + [bh])
    h = DenseLayer(units=n_outputs, name=f"d{len(widths) + 1}", **dense)(h)
    out = CurrentLayer(name="out")(h)
    model = Model(inputs=[x, b] if bh is b else [x, b, bh], outputs=[out], backend=backend, seed=seed,
                  **model_options)
    # The bias pair's rows start at g_min: no bias current at first (the reference starts its
    # biases at 0). Drawn like the others, +-bias_voltage would swamp narrow layers, whose
    # nets carry a fraction of it.
    for layer in model.layers:
        if isinstance(layer, DenseLayer):
            layer.g[-2:] = g_min
    return model
