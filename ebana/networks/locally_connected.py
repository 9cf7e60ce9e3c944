"""Ready-made image networks: locally connected crossbars, diode clamps, amplifiers,
average pooling and a readout crossbar (the companion of :func:`ebana.networks.clamped_mlp`),
and the rectified one (the companion of :func:`ebana.networks.rectified_mlp`)."""
import numpy as np

from ..errors import ValidationError
from ..layers import (AmplificationLayer, AveragePooling2DLayer, BiasVoltageLayer, ConcatenateLayer, CurrentLayer,
                      DenseLayer, DiodeLayer, FlattenLayer, InputVoltageLayer, LocallyConnected2DLayer)
from ..model.functional import Model


def local_network(image_shape, filters, n_outputs, kernel_size=7, strides=3, pool_size=2, clamp=0.1, gain=4.0,
                  g_min=1e-7, g_max=2e-4, initializer=("uniform", 1e-6, 1e-4), pool_conductance=1e-3,
                  backend="ngspice", seed=0, **model_options):
    """An image of input voltages ``image_shape = (rows, cols, channels)`` (V) -> a
    LocallyConnected2D crossbar per ``kernel_size`` window (``filters`` nets each) ->
    nets clamped to ``[-clamp - VTH, clamp + VTH]`` by two diode layers -> amplifiers of
    ``gain`` -> ``pool_size`` average pooling through fixed conductances
    ``pool_conductance`` (S; None: no pooling) -> with a +-1 V bias pair, a crossbar onto
    ``n_outputs`` differential output pairs (readout V+ - V-).

    Layers: ``x`` (inputs), ``l1``, ``c1``, ``c2``, ``a1``, ``p1`` (pooling), ``f``,
    ``b``, ``j``, ``d2``, ``out``. Conductance bounds in S; ``model_options`` go to
    :class:`~ebana.Model`.

    >>> model = local_network((28, 28, 2), 16, 10, backend="native")
    >>> model.get_weights()["l1"].shape   # (windows, pixels per window, filters)
    (64, 98, 16)
    """
    x = InputVoltageLayer(shape=tuple(image_shape), name="x")
    b = BiasVoltageLayer(units=2, name="b", bias_voltage=[1.0, -1.0])
    h = LocallyConnected2DLayer(filters, kernel_size, name="l1", strides=strides, initializer=initializer,
                                g_min=g_min, g_max=g_max)(x)
    h = DiodeLayer(name="c1", direction="down", bias_voltage=clamp)(h)
    h = DiodeLayer(name="c2", direction="up", bias_voltage=-clamp)(h)
    h = AmplificationLayer(name="a1", param={"gain": gain})(h)
    if pool_size is not None:
        h = AveragePooling2DLayer(pool_size, name="p1", conductance=pool_conductance)(h)
    h = FlattenLayer(name="f")(h)
    h = ConcatenateLayer(name="j")([h, b])
    h = DenseLayer(units=2 * n_outputs, name="d2", initializer=initializer, g_min=g_min, g_max=g_max)(h)
    out = CurrentLayer(name="out", fold=True)(h)
    return Model(inputs=[x, b], outputs=[out], backend=backend, seed=seed, **model_options)


def rectified_local_network(image_shape, filters, n_outputs, kernel_size=7, strides=3, bias_voltage=1.0,
                            g_min=1e-12, g_max=1e-6, initializer=("uniform", 1e-12, 2.5e-8), ron=100.0,
                            hidden_lr=None, backend="ngspice", seed=0, **model_options):
    """An image of input voltages ``image_shape = (rows, cols, channels)`` (V) -> two
    LocallyConnected2D crossbars per ``kernel_size`` window (``filters // 2`` nets each)
    -> one diode per net to ground (a rectifier of on-resistance ``ron``, Ohm), holding
    the first crossbar's nets at ``V >= 0`` and the second's at ``V <= 0`` -> with a
    ``+-bias_voltage`` pair, a crossbar onto ``n_outputs`` single output nets (readout:
    their voltages, V).

    The hidden layer of :func:`ebana.networks.rectified_mlp` made local: each window of
    the image owns its rectified nets, and nothing is shared or amplified, so the
    circuit is positively homogeneous like the fully connected one (any voltage scale
    works if the targets scale with it).

    Layers: ``x``, ``b``; ``l1p``/``l1n`` (the windows' crossbars to the two halves),
    ``r1p``/``r1n`` (their diodes), ``f1p``/``f1n`` (flattened), ``h1`` (the halves and
    the bias pair), ``d2``, ``out``. Conductances (S) are bounded by ``g_min``/``g_max``;
    the bias pair's row of ``d2`` starts at ``g_min`` (no bias current at first).
    ``hidden_lr``: the locally connected crossbars' own learning rate (S per step; None:
    the optimizer's). A local net sums a window's conductances, not the whole image's,
    so one step of a given size moves it more than a fully connected net.

    >>> model = rectified_local_network((28, 28, 2), 16, 10, backend="native")
    >>> model.get_weights()["l1p"].shape   # (windows, pixels per window, filters of the half)
    (64, 98, 8)
    """
    if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) or filters < 2 or filters % 2:
        raise ValidationError(f"rectified_local_network: filters must be even and at least 2 (two halves), "
                              f"received {filters}")
    x = InputVoltageLayer(shape=tuple(image_shape), name="x")
    b = BiasVoltageLayer(units=2, name="b", bias_voltage=[bias_voltage, -bias_voltage])
    conductances = dict(initializer=initializer, g_min=g_min, g_max=g_max)
    halves = []
    for half, direction in (("p", "up"), ("n", "down")):
        h = LocallyConnected2DLayer(filters // 2, kernel_size, name=f"l1{half}", strides=strides, lr=hidden_lr,
                                    **conductances)(x)
        h = DiodeLayer(name=f"r1{half}", direction=direction, bias_voltage=0.0, param={"RON": ron})(h)
        halves.append(FlattenLayer(name=f"f1{half}")(h))
    h = ConcatenateLayer(name="h1")(halves + [b])
    h = DenseLayer(units=n_outputs, name="d2", **conductances)(h)
    out = CurrentLayer(name="out")(h)
    model = Model(inputs=[x, b], outputs=[out], backend=backend, seed=seed, **model_options)
    model.layer("d2").g[-2:] = g_min
    return model
