"""The native Newton solver and Ngspice agree on random networks (within 1 uV)."""
import numpy as np
import pytest
from networks import mlp_64_32_20, mlp_inputs

from ebana import (AmplificationLayer, BiasVoltageLayer, ConcatenateLayer, CurrentLayer, DenseLayer, DiodeLayer,
                   InputVoltageLayer, Model)


def random_network(rng, backend, kind):
    n_in, n_h, n_out = rng.integers(2, 9), rng.integers(2, 12), 2 * rng.integers(1, 4)
    x = InputVoltageLayer(units=int(n_in), name="x")
    b = BiasVoltageLayer(units=1, name="b", bias_voltage=float(rng.uniform(0.2, 1.0)))
    h = ConcatenateLayer(name="j")([x, b])
    h = DenseLayer(units=int(n_h), name="d1", g_min=1e-7, g_max=1e-3, initializer=("uniform", 1e-6, 1e-3))(h)
    vb = float(rng.uniform(-0.2, 0.2))
    param = {"VTH": float(rng.uniform(0, 0.3)), "RON": float(rng.uniform(50, 500))} if kind == "behavioral" else {}
    h = DiodeLayer(name="c1", direction="down", bias_voltage=vb + 0.3, kind=kind, param=param)(h)
    h = DiodeLayer(name="c2", direction="up", bias_voltage=vb - 0.3, kind=kind, param=param)(h)
    if rng.random() < 0.5:
        h = AmplificationLayer(name="a1", param={"gain": float(rng.uniform(0.5, 4)),
                                                  "shift": float(rng.uniform(-0.3, 0.3))})(h)
    h = DenseLayer(units=int(n_out), name="d2", g_min=1e-7, g_max=1e-3, initializer=("uniform", 1e-6, 1e-3))(h)
    out = CurrentLayer(name="out", fold=True)(h)
    return Model(inputs=[x], outputs=[out], backend=backend, seed=int(rng.integers(1 << 30))), int(n_in)


@pytest.mark.parametrize("kind", ["behavioral", "real"])
@pytest.mark.parametrize("trial", range(4))
def test_random_networks_agree(kind, trial):
    native, n_in = random_network(np.random.default_rng(100 + trial), "native", kind)
    ref, _ = random_network(np.random.default_rng(100 + trial), "ngspice", kind)
    np.testing.assert_array_equal(native.conductances(), ref.conductances())
    data = {"x": np.random.default_rng(trial).uniform(-1.5, 1.5, size=(8, n_in))}
    currents = {"out": np.random.default_rng(trial).normal(0, 1e-5, size=(8, native.outputs[0].units * 2))}
    a = native.solve(data, currents)
    b = ref.solve(data, currents)
    assert np.abs(a.v - b.v).max() < 1e-6
    assert np.abs(a.i_vs - b.i_vs).max() < 1e-9


def test_design_network_agrees(rng):
    native = mlp_64_32_20("native")
    ngspice = mlp_64_32_20("ngspice")
    data = mlp_inputs(16, rng)
    assert np.abs(native.solve(data).v - ngspice.solve(data).v).max() < 1e-6


def test_native_refuses_opaque_blocks():
    from ebana.backends import make_stimulus
    from ebana.backends.dense.backend import DenseBackend
    from ebana.circuit import CircuitBuilder
    from ebana.errors import UnsupportedElementError
    b = CircuitBuilder()
    n = b.nodes("n", 1)
    b.vsources("n", n, 0, 1.0)
    b.spice_block("userblock", "rload n__0 0 1k")
    c = b.build()
    with pytest.raises(UnsupportedElementError, match="userblock"):
        DenseBackend().solve(c, make_stimulus(c, np.ones(0)))
