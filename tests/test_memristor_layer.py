"""EP networks on memristors: reachable states only, pulse-quantised updates, real training."""
import numpy as np

from ebana import (AmplificationLayer, BiasVoltageLayer, ConcatenateLayer, CurrentLayer, DiodeLayer,
                   InputVoltageLayer, Model)
from ebana.datasets import load_gate
from ebana.devices import DeviceVariation
from ebana.layers import MemristorDenseLayer
from ebana.training import MSE, Adam, DataLoader


def memristor_xor(seed, backend="ngspice"):
    x = InputVoltageLayer(units=2, name="x")
    b = BiasVoltageLayer(units=2, name="b", bias_voltage=[1.0, -1.0])
    h = ConcatenateLayer(name="j")([x, b])
    h = MemristorDenseLayer(units=8, name="m1", variation=DeviceVariation(shift_d2d=0.05))(h)
    h = DiodeLayer(name="c1", direction="down", bias_voltage=0.3)(h)
    h = DiodeLayer(name="c2", direction="up", bias_voltage=-0.3)(h)
    h = AmplificationLayer(name="a1", param={"gain": 4.0})(h)
    h = MemristorDenseLayer(units=2, name="m2", variation=DeviceVariation(shift_d2d=0.05))(h)
    out = CurrentLayer(name="out", fold=True)(h)
    return Model(inputs=[x, b], outputs=[out], backend=backend, seed=seed)


def xor_data():
    bits, labels = load_gate("xor")
    return 2 * bits - 1, np.where(labels > 0.5, 0.2, -0.2)


def test_memristor_network_trains_xor_in_ngspice():
    x, y = xor_data()
    model = memristor_xor(seed=0)
    history = model.fit(DataLoader({"x": x, "out": y}, batch_size=4, shuffle=True, seed=0), epochs=400,
                        loss_fn=MSE(), optimizer=Adam(lr=2e-6), beta=1e-6, symmetric=True, verbose=False)
    assert history["accuracy"][-1] == 1.0
    assert history["loss"][-1] < history["loss"][0] / 100
    for name in ("m1", "m2"):
        layer = model.layer(name)
        # what the circuit sees is exactly what the devices are
        np.testing.assert_array_equal(layer.g, layer.array.conductance)
        assert layer.array.pulses_sent > 0


def test_updates_are_pulses_on_the_curve():
    model = memristor_xor(seed=1, backend="native")
    layer = model.layer("m1")
    m_before = layer.array.m.copy()
    layer.g += 1e-3  # far above the curve: every device is asked to rise
    layer.clip()
    moved = layer.array.m - m_before
    assert np.all(moved <= layer.max_pulses) and np.all(moved >= 0)
    assert np.all((moved == layer.max_pulses) | (layer.array.m == layer.device.n_pulses))
    np.testing.assert_array_equal(layer.g, layer.array.conductance)
    # the curve's end is not an error: further pulses are counted as saturated
    for _ in range(30):
        layer.g += 1e-3
        layer.clip()
    assert np.all(layer.array.m == layer.device.n_pulses)
    assert layer.array.saturated > 0


def test_small_requests_send_no_pulse():
    model = memristor_xor(seed=2, backend="native")
    layer = model.layer("m2")
    sent = layer.array.pulses_sent
    layer.g += 1e-12  # far below half a pulse step
    layer.clip()
    assert layer.array.pulses_sent == sent
