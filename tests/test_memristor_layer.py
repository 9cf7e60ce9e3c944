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


def test_every_conductance_a_device_shows_is_within_the_layer_bounds_and_saves(tmp_path):
    """Device spread and large programming errors push devices below their curve: the layer's bounds
    still hold them (device_bounds: down to 1 % of the curve's lowest), so the trained weights save and load."""
    from ebana.devices import TabulatedMemristor
    from ebana.devices.memristor_array import device_bounds
    x = InputVoltageLayer(units=4, name="x")
    device = TabulatedMemristor([1e-6, 1.5e-6, 1.7e-6], c2c=0.5)
    layer = MemristorDenseLayer(units=64, name="m1", device=device, variation=DeviceVariation(shift_d2d=0.3))
    model = Model(inputs=[x], outputs=[CurrentLayer(name="out")(layer(x))], backend="native", seed=3)
    low = []
    for k in range(20):  # down and up again: every pulse draws a fresh programming error
        layer.g += -1e-3 if k % 2 == 0 else 1e-3
        layer.clip()
        low.append(layer.g.min())
    assert min(low) < device.curve().min() - 0.5 * device.span  # beyond the range the pulses aim at
    assert layer.g.min() >= layer.g_min > 0 and layer.g.max() <= layer.g_max
    assert (layer.g_min, layer.g_max) == device_bounds(device)
    model.save_weights(tmp_path / "w.pkl")
    saved = layer.g.copy()
    layer.g[...] = layer.g_min
    model.load_weights(tmp_path / "w.pkl")  # checked against the bounds, then written back
    np.testing.assert_array_equal(layer.g, saved)
