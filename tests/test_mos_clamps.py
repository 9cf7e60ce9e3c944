"""Diode-connected MOSFET clamps (SPICE level 1): equations, Ngspice against the native
solver on random networks, EP gradients, XOR training, and parameter validation."""
import numpy as np
import pytest
from networks import finite_differences

from ebana import (AmplificationLayer, BiasVoltageLayer, ConcatenateLayer, CurrentLayer, DenseLayer, DiodeLayer,
                   InputVoltageLayer, Model)
from ebana.backends import get_backend, make_stimulus
from ebana.backends.junctions import VT_NOMINAL
from ebana.circuit import CircuitBuilder, MosDiode
from ebana.errors import ValidationError
from ebana.training import MSE, Adam, DataLoader
from ebana.training.ep import ep_step

GMIN = 1e-12


def level1(v, m):
    """Anode-to-cathode current (A) of a diode-connected level-1 MOSFET, written from the
    SPICE equations independently of ebana's native code."""
    vgst = np.maximum(v - m.vto, 0.0)
    channel = 0.5 * m.beta * vgst ** 2 * (1 + m.lambda_ * v)
    u = -v  # bulk-drain junction voltage
    junction = np.where(u > -3 * VT_NOMINAL, m.is_ * np.expm1(u / VT_NOMINAL), -m.is_) + GMIN * u
    return channel - junction


@pytest.mark.parametrize("polarity", ["nmos", "pmos"])
def test_single_device_follows_level1(backend_name, polarity):
    """A source drives a resistor into one device whose other end is grounded; both backends'
    node voltage satisfies Kirchhoff's law with the closed-form level-1 current."""
    m = MosDiode(polarity=polarity, vto=0.4, kp=2e-4, lambda_=0.05, w=4e-6, l=1e-6, name="m1")
    b = CircuitBuilder()
    s, n = b.nodes("s", 1), b.nodes("n", 1)
    b.vsources("s", s, 0, 0.0)
    b.resistors("r", s, n)
    b.diodes("m", n, 0, m)
    circuit = b.build()
    g = 1e-4
    vs = np.array([[-2.0], [-0.5], [0.1], [0.45], [1.0], [3.0]])
    backend = get_backend(backend_name)
    v = backend.solve(circuit, make_stimulus(circuit, np.array([g]), vs)).v[:, n[0]]
    np.testing.assert_allclose(g * (vs[:, 0] - v), level1(v, m), rtol=1e-7, atol=1e-14)
    on = v > m.vto
    assert on.sum() >= 2 and (v < -0.5).sum() >= 1  # saturation and the body diode both exercised
    backend.close()


def mos_network(backend, seed, gain=2.0):
    """Random inputs, crossbars, MOS clamps (one shared and per-net biases) and an amplifier."""
    rng = np.random.default_rng(seed)
    x = InputVoltageLayer(units=3, name="x")
    b = BiasVoltageLayer(units=1, name="b", bias_voltage=float(rng.uniform(0.2, 1.0)))
    h = ConcatenateLayer(name="j")([x, b])
    h = DenseLayer(units=5, name="d1", initializer=("uniform", 1e-6, 1e-4))(h)
    p = {"VTO": float(rng.uniform(0.1, 0.5)), "KP": float(rng.uniform(2e-5, 2e-4)),
         "LAMBDA": float(rng.uniform(0, 0.1)), "W": float(rng.uniform(1e-6, 2e-5)), "L": 1e-6}
    h = DiodeLayer(name="c1", direction="down", bias_voltage=float(rng.uniform(-0.2, 0.3)), kind="mos", param=p)(h)
    h = DiodeLayer(name="c2", direction="up", bias_voltage=rng.uniform(-0.4, 0.0, 5), kind="mos", param=p)(h)
    h = AmplificationLayer(name="a1", param={"gain": gain, "shift": -0.1})(h)
    h = DenseLayer(units=2, name="d2", initializer=("uniform", 1e-6, 1e-4))(h)
    return Model(inputs=[x], outputs=[CurrentLayer(name="out", fold=True)(h)], backend=backend, seed=seed)


def test_native_matches_ngspice_on_random_networks():
    states = []
    for seed in range(6):
        spice, native = mos_network("ngspice", seed), mos_network("native", seed)
        x = {"x": np.random.default_rng(100 + seed).uniform(-1.5, 1.5, size=(12, 3))}
        a, b = spice.solve(x), native.solve(x)
        assert np.abs(a.v - b.v).max() < 1e-6  # 1 uV
        np.testing.assert_allclose(b.i_vs, a.i_vs, rtol=1e-6, atol=1e-12)
        c = native.circuit
        for name in ("c1", "c2"):
            sl = c.slice("diode", name)
            vd = b.v[:, c.d_anode[sl]] - b.v[:, c.d_cathode[sl]]
            states.append(vd > native.layer(name).model.vto)
        spice.backend.close()
    on = np.concatenate([s.ravel() for s in states])
    assert 0.1 < on.mean() < 0.9  # both saturated and cut-off devices were compared


def test_ep_gradient_matches_finite_differences(backend_name):
    model = mos_network(backend_name, seed=3)
    for name in ("c1", "c2"):
        model.layer(name).trainable = True
    rng = np.random.default_rng(0)
    batch = {"x": rng.uniform(-1, 1, size=(4, 3)), "out": rng.uniform(-0.1, 0.1, size=(4, 1))}
    names = ("d1", "d2", "c1", "c2")
    fd = finite_differences(model, batch, MSE(), names)
    r = ep_step(model, batch, MSE(), beta=1e-7, symmetric=True)
    ep = np.concatenate([np.ravel(r.grads[n]) for n in names])
    cos = ep @ fd / np.linalg.norm(ep) / np.linalg.norm(fd)
    assert cos >= 0.99 and np.linalg.norm(ep - fd) / np.linalg.norm(fd) < 0.05, cos


def xor_mos(backend, seed):
    """XOR network of the examples with diode-connected MOSFET clamps instead of ideal diodes."""
    x = InputVoltageLayer(units=2, name="x")
    b = BiasVoltageLayer(units=2, name="b", bias_voltage=[1.0, -1.0])
    h = ConcatenateLayer(name="j")([x, b])
    h = DenseLayer(units=8, name="d1", initializer=("uniform", 1e-6, 1e-4), g_min=1e-7, g_max=2e-4)(h)
    h = DiodeLayer(name="c1", direction="down", bias_voltage=0.0, kind="mos", param={"VTO": 0.3})(h)
    h = DiodeLayer(name="c2", direction="up", bias_voltage=0.0, kind="mos", param={"VTO": 0.3})(h)
    h = AmplificationLayer(name="a1", param={"gain": 4.0})(h)
    h = DenseLayer(units=2, name="d2", initializer=("uniform", 1e-6, 1e-4), g_min=1e-7, g_max=2e-4)(h)
    return Model(inputs=[x, b], outputs=[CurrentLayer(name="out", fold=True)(h)], backend=backend, seed=seed)


def test_xor_trains_in_ngspice_with_mos_clamps():
    x = np.array([[-1, -1], [-1, 1], [1, -1], [1, 1.0]])
    y = np.array([[-0.2], [0.2], [0.2], [-0.2]])
    model = xor_mos("ngspice", seed=2)
    loader = DataLoader({"x": x, "out": y}, batch_size=4, shuffle=True, seed=2)
    history = model.fit(loader, epochs=200, loss_fn=MSE(), optimizer=Adam(lr=2e-6), beta=1e-6, symmetric=True,
                        verbose=False)
    pred = model.predict({"x": x})["out"]
    assert np.all(np.sign(pred) == np.sign(y)), pred
    assert history["loss"][-1] < history["loss"][0] / 10
    assert "NMOS(LEVEL=1" in model.netlist({"x": x[0]}) and "PMOS(LEVEL=1 VTO=-0.3" in model.netlist({"x": x[0]})


def test_netlist_lines_and_validation():
    layer = DiodeLayer(name="c", direction="up", bias_voltage=0.1, kind="mos",
                       param={"VTO": 0.45, "KP": 3e-5, "LAMBDA": 0.02, "W": 2e-6, "L": 5e-7, "IS": 1e-15})
    m = layer.model
    assert m.polarity == "pmos" and m.beta == pytest.approx(3e-5 * 4)
    assert m.model_line() == (f".model {m.name} PMOS(LEVEL=1 VTO=-0.45 KP=3e-05 LAMBDA=0.02 IS=1e-15)")
    # PMOS: drain and gate at the net (cathode), source and bulk at the bias (anode)
    assert m.element_line("mc__0", "bias", "net") == f"mc__0 net net bias bias {m.name} W=2e-06 L=5e-07"
    assert DiodeLayer.from_config(layer.get_config()).model == m
    for param, match in (({"VTO": 0.0}, "VTO"), ({"KP": -1.0}, "KP"), ({"W": float("nan")}, "W"),
                         ({"LAMBDA": 20.0}, "LAMBDA"), ({"VTH": 0.1}, "unknown param")):
        with pytest.raises(ValidationError, match=f"DiodeLayer 'c2' \\(mos\\).*{match}"):
            DiodeLayer(name="c2", kind="mos", param=param)
