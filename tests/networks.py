"""Small networks shared by the tests."""
import numpy as np

from ebana import (AmplificationLayer, BiasVoltageLayer, ConcatenateLayer, CurrentLayer, DenseLayer, DiodeLayer,
                   InputVoltageLayer, Model)


def diode_network(backend="ngspice", seed=0, kind="behavioral", clamps=(0.6, 0.4), gain=None, shift=-0.5):
    """2 inputs + bias -> 4 hidden nets clamped above ``clamps[0]`` and below ``clamps[1]`` (V)
    -> optional amplifier of ``gain`` -> 2 differential outputs."""
    x = InputVoltageLayer(units=2, name="x")
    b = BiasVoltageLayer(units=1, name="b", bias_voltage=1.0)
    h = ConcatenateLayer(name="j")([x, b])
    h = DenseLayer(units=4, name="d1", initializer=("uniform", 1e-5, 1e-4))(h)
    h = DiodeLayer(name="c1", direction="down", bias_voltage=clamps[0], kind=kind)(h)
    h = DiodeLayer(name="c2", direction="up", bias_voltage=clamps[1], kind=kind)(h)
    if gain is not None:
        h = AmplificationLayer(name="a1", param={"gain": gain, "shift": shift})(h)
    h = DenseLayer(units=2, name="d2", initializer=("uniform", 1e-5, 1e-4))(h)
    out = CurrentLayer(name="out", fold=True)(h)
    return Model(inputs=[x], outputs=[out], backend=backend, seed=seed)


def xor_like(backend="ngspice", seed=0, kind="behavioral"):
    """The shared small test network: two-sided clamps and a gain-2 amplifier."""
    return diode_network(backend, seed, kind, gain=2.0)


def mlp_64_32_20(backend="ngspice", seed=0):
    """The design notes' network: 64 differential inputs (128 sources) -> 4096 conductances
    -> 32 clamped hidden nets -> 640 conductances -> 20 outputs."""
    xp = InputVoltageLayer(units=64, name="xp")
    xn = InputVoltageLayer(units=64, name="xn")
    h = ConcatenateLayer(name="j")([xp, xn])
    h = DenseLayer(units=32, name="d1")(h)
    h = DiodeLayer(name="c1", direction="down", bias_voltage=0.7)(h)
    h = DiodeLayer(name="c2", direction="up", bias_voltage=-0.7)(h)
    h = DenseLayer(units=20, name="d2")(h)
    out = CurrentLayer(name="out")(h)
    return Model(inputs=[xp, xn], outputs=[out], backend=backend, seed=seed)


def mlp_inputs(n, rng):
    x = rng.uniform(-1, 1, size=(n, 64))
    return {"xp": x, "xn": -x}


def iris_4_16_3(backend="ngspice", seed=0):
    """Iris: 4 features as 8 differential sources + 2 bias sources -> 16 clamped hidden nets -> 3 outputs."""
    xp, xn = InputVoltageLayer(units=4, name="xp"), InputVoltageLayer(units=4, name="xn")
    b = BiasVoltageLayer(units=2, name="b", bias_voltage=[1.0, -1.0])
    h = ConcatenateLayer(name="j")([xp, xn, b])
    h = DenseLayer(units=16, name="d1", initializer=("uniform", 1e-6, 1e-4), g_min=1e-7, g_max=2e-4)(h)
    h = DiodeLayer(name="c1", direction="down", bias_voltage=0.3)(h)
    h = DiodeLayer(name="c2", direction="up", bias_voltage=-0.3)(h)
    h = DenseLayer(units=6, name="d2", initializer=("uniform", 1e-6, 1e-4), g_min=1e-7, g_max=2e-4)(h)
    out = CurrentLayer(name="out", fold=True)(h)
    return Model(inputs=[xp, xn, b], outputs=[out], backend=backend, seed=seed)


def iris_volts(seed=0):
    """Iris split 80/20: ``(x_train, x_test, t_train, t_test)``, inputs in [-1, 1] V, targets +-0.1 V one-hot."""
    from ebana.datasets import load_iris, one_hot, scale_to_volts, train_test_split
    x, labels = load_iris()
    return train_test_split(scale_to_volts(x, -1.0, 1.0), one_hot(labels, 3, on=0.1, off=-0.1),
                            test_fraction=0.2, seed=seed)


def log_uniform(low, high):
    """An initializer: conductances (S) log-uniform in ``[low, high]``."""
    return lambda shape, rng: np.exp(rng.uniform(np.log(low), np.log(high), size=shape))


def random_layered_network(rng, backend):
    """A random layered circuit: 1-3 hidden layers of random width, each with diode clamps of a
    random kind (behavioral, Shockley or diode-connected MOSFET; one or both directions) and usually an amplifier of gain
    0.5-5; conductances log-uniform in [1e-9, 1e-2] S. Returns (model, number of inputs)."""
    n_in = int(rng.integers(2, 9))
    x = InputVoltageLayer(units=n_in, name="x")
    b = BiasVoltageLayer(units=1, name="b", bias_voltage=float(rng.uniform(0.2, 1.0)))
    h = ConcatenateLayer(name="j")([x, b])
    init = log_uniform(1e-9, 1e-2)
    for k in range(1, int(rng.integers(1, 4)) + 1):
        h = DenseLayer(units=int(rng.integers(2, 12)), name=f"d{k}", g_min=1e-9, g_max=1e-2, initializer=init)(h)
        kind = ("behavioral", "real", "mos")[int(rng.integers(3))]
        vb = float(rng.uniform(-0.2, 0.2))
        param = {"VTH": float(rng.uniform(0, 0.3)), "RON": float(rng.uniform(50, 500))} if kind == "behavioral" else {}
        sides = [("down", 0.3), ("up", -0.3)] if rng.random() < 0.7 else [("down", 0.3)]
        for direction, offset in sides:
            h = DiodeLayer(name=f"c{k}{direction}", direction=direction, bias_voltage=vb + offset,
                           kind=kind, param=param)(h)
        if rng.random() < 0.8:
            h = AmplificationLayer(name=f"a{k}", param={"gain": float(rng.uniform(0.5, 5.0)),
                                                         "shift": float(rng.uniform(-0.3, 0.3))})(h)
    h = DenseLayer(units=2 * int(rng.integers(1, 4)), name="dout", g_min=1e-9, g_max=1e-2, initializer=init)(h)
    out = CurrentLayer(name="out", fold=True)(h)
    return Model(inputs=[x], outputs=[out], backend=backend, seed=int(rng.integers(1 << 30))), n_in


def image_network(backend="ngspice", seed=0, rows=6, cols=6, filters=3, kernel=3, strides=1, pool=None, gain=2.0,
                  clamp=0.1, padding="valid"):
    """A (rows, cols, 2) differential image -> LocallyConnected2D -> two-sided diode clamps ->
    amplifiers -> average pooling (``pool``; None: 2x2, or 3x3 where 2 does not divide the
    local layer's output) -> flatten -> 2 differential outputs."""
    from ebana import AveragePooling2DLayer, FlattenLayer, LocallyConnected2DLayer
    if pool is None:
        out = -(-rows // strides) if padding == "same" else (rows - kernel) // strides + 1
        pool = 2 if out % 2 == 0 else 3
    x = InputVoltageLayer(shape=(rows, cols, 2), name="x")
    h = LocallyConnected2DLayer(filters, kernel_size=kernel, strides=strides, name="l1", padding=padding,
                                initializer=("uniform", 1e-5, 1e-4))(x)
    h = DiodeLayer(name="c1", direction="down", bias_voltage=clamp)(h)
    h = DiodeLayer(name="c2", direction="up", bias_voltage=-clamp)(h)
    h = AmplificationLayer(name="a1", param={"gain": gain})(h)
    h = AveragePooling2DLayer(pool, name="p1", conductance=1e-4)(h)
    h = FlattenLayer(name="f")(h)
    h = DenseLayer(units=4, name="d2", initializer=("uniform", 1e-5, 1e-4))(h)
    out = CurrentLayer(name="out", fold=True)(h)
    return Model(inputs=[x], outputs=[out], backend=backend, seed=seed)


def image_inputs(n, rng, rows=6, cols=6):
    """``n`` random images (rows, cols) in [0, 1] as differential pairs, (n, rows, cols, 2) V."""
    v = rng.uniform(0, 1, size=(n, rows, cols))
    return np.stack([v, -v], axis=-1)


def finite_differences(model, batch, loss, names, picks=None, solve=None):
    """Central finite differences of the batch's summed loss with respect to the parameters of
    the layers ``names`` (conductances: step 1e-4 relative; bias voltages: 1e-4 V), flattened
    in order: the reference the EP gradient tests compare against. ``picks``: per layer name,
    the indices to differentiate (default: every parameter). ``solve(model, batch)``: the node
    voltages (V) the loss is read from (default ``model.solve(batch).v``)."""
    def total():
        v = model.solve(batch).v if solve is None else solve(model, batch)
        return loss(model.readouts(v)["out"], batch["out"])[0].sum()
    out = []
    for name in names:
        layer = model.layer(name)
        p = layer.g if layer.conductances() is not None else layer.bias_voltage
        for idx in (np.ndindex(p.shape) if picks is None else picks[name]):
            old = p[idx]
            h = 1e-4 * old if layer.conductances() is not None else 1e-4
            p[idx] = old + h
            up = total()
            p[idx] = old - h
            down = total()
            p[idx] = old
            out.append((up - down) / (2 * h))
    return np.array(out)
