"""What a memristor crossbar's training costs the devices: pulses per device (endurance), the
pulses logged as integers in the History, and the energy of the pulses from a measured file."""
from pathlib import Path

import numpy as np
import pytest

from ebana.devices.memristor_data import load_pulse_curve, parse_dat
from ebana.training import MSE, Adam, DataLoader
from ebana.training.history import History
from test_memristor_layer import memristor_xor, xor_data

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "SP291D1NR100.dat"


def test_pulses_per_device_are_counted_and_logged_as_integers(tmp_path):
    x, y = xor_data()
    model = memristor_xor(seed=2, backend="native")
    layer = model.layer("m1")
    assert layer.training_pulses().sum() == 0  # the initial states' pulses are programming, not training
    history = model.fit(DataLoader({"x": x, "out": y}, batch_size=4), epochs=3, loss_fn=MSE(),
                        optimizer=Adam(lr=2e-6), beta=1e-6, symmetric=True, verbose=False)
    pulses = history.metrics["m1_pulses"]
    assert all(isinstance(p, int) for p in pulses) and pulses == sorted(pulses) and pulses[-1] > 0
    assert pulses[-1] == int(layer.training_pulses().sum())
    # every update is at most max_pulses per device, 3 epochs of one batch each
    assert layer.training_pulses().max() <= 3 * layer.max_pulses
    e = layer.endurance()
    assert e["total"] == pulses[-1] and isinstance(e["median"], int) and e["max"] == layer.training_pulses().max()
    assert all(isinstance(s, int) for s in history.metrics["m1_saturated"])
    history.save(tmp_path / "h.h5")
    again = History.load(tmp_path / "h.h5")
    assert again.metrics["m1_pulses"] == pulses and isinstance(again.metrics["m1_pulses"][0], int)
    assert isinstance(again.metrics["loss"][0], float)


def test_the_energy_of_a_pulse_comes_from_the_measured_pulse_rows():
    text = ("ON Voltage (V):2.0\ntON (ms):1\nTime, V, I, V, I, R\n"
            "0.0,2.0,1.0E-03,,,0\n0.1,0.0,0.0,,,0\n0.2,0.05,1e-8,-0.05,-1e-8,2.0E+6\n"
            "0.3,2.0,3.0E-03,,,0\n0.4,0.05,1e-8,-0.05,-1e-8,1.9E+6\n")
    curve = parse_dat(text, "t.dat")
    assert curve.pulse_energy == pytest.approx(2.0 * 2.0e-3 * 1e-3)  # mean V*I of the pulses, times 1 ms
    assert parse_dat(text.replace("tON (ms):1\n", ""), "t.dat").pulse_energy is None
    model = memristor_xor(seed=3, backend="native")
    layer = model.layer("m1")
    layer.g += 1e-3
    layer.clip()
    e = layer.endurance(curve.pulse_energy)
    assert e["energy_J"] == pytest.approx(e["total"] * curve.pulse_energy * layer.k_scale)


@pytest.mark.skipif(not DATA.is_file(), reason=f"measured device file absent ({DATA})")
def test_the_measured_device_pulse_energy():
    # 2 V pulses of 1 ms drawing about 1.9 mA: about 3.8 uJ per pulse
    assert load_pulse_curve(DATA).pulse_energy == pytest.approx(3.82e-6, rel=0.01)


def _one_device_layer(accumulate):
    from ebana import CurrentLayer, InputVoltageLayer, Model
    from ebana.devices import ExponentialMemristor
    from ebana.layers import MemristorDenseLayer
    x = InputVoltageLayer(units=1, name="x")
    layer = MemristorDenseLayer(units=1, name="m", device=ExponentialMemristor(1e-7, 2e-7, 10, nonlinearity=0.0),
                                initial_pulses=5, accumulate=accumulate)
    Model(inputs=[x], outputs=[CurrentLayer(name="out")(layer(x))], backend="native")
    return layer


def test_accumulated_sub_pulse_changes_become_pulses_and_dropped_ones_do_not():
    """A pulse moves this device by 10 nS; ten requests of +2 nS each move it only when they add up."""
    for accumulate, expected in ((False, 0), (True, 2)):
        layer = _one_device_layer(accumulate)
        for _ in range(10):
            layer.g += 2e-9  # what an optimizer step asks: a fifth of a pulse
            layer.clip()
        assert int(layer.training_pulses().sum()) == expected, accumulate
        np.testing.assert_array_equal(layer.g, layer.array.conductance)  # the circuit sees the device


def test_a_device_at_the_end_of_its_curve_gets_no_pulse_when_verified():
    layer = _one_device_layer(True)
    for _ in range(20):
        layer.g += 5e-8  # far past the curve's end (2e-7 S)
        layer.clip()
    assert int(layer.array.m.max()) == layer.device.n_pulses  # saturated, never extrapolated
    assert float(layer.g.max()) <= 2e-7 * (1 + 1e-12) + 0.05 * 1e-7  # within the curve's reach (d2d aside)
    assert layer.array.saturated - layer.initial_saturated == 0  # no pulse was wasted on it
    assert int(layer.training_pulses().sum()) == layer.device.n_pulses - 5
