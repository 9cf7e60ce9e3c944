"""Small networks shared by the tests."""
import numpy as np

from ebana import (AmplificationLayer, BiasVoltageLayer, ConcatenateLayer, CurrentLayer, DenseLayer, DiodeLayer,
                   InputVoltageLayer, Model)


def xor_like(backend="ngspice", seed=0, kind="behavioral", amplify=True):
    """2 inputs + bias -> 4 hidden with two-sided diode clamps -> amplifier -> 2 differential outputs."""
    x = InputVoltageLayer(units=2, name="x")
    b = BiasVoltageLayer(units=1, name="b", bias_voltage=1.0)
    h = ConcatenateLayer(name="j")([x, b])
    h = DenseLayer(units=4, name="d1", initializer=("uniform", 1e-5, 1e-4))(h)
    param = {} if kind == "behavioral" else {}
    h = DiodeLayer(name="c1", direction="down", bias_voltage=0.6, kind=kind, param=param)(h)
    h = DiodeLayer(name="c2", direction="up", bias_voltage=0.4, kind=kind, param=param)(h)
    if amplify:
        h = AmplificationLayer(name="a1", param={"gain": 2.0, "shift": -0.5})(h)
    h = DenseLayer(units=2, name="d2", initializer=("uniform", 1e-5, 1e-4))(h)
    out = CurrentLayer(name="out", fold=True)(h)
    return Model(inputs=[x], outputs=[out], backend=backend, seed=seed)


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
