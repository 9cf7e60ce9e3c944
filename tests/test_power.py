"""Power per layer (W) and energy per inference (J): closed forms, the balance of
delivered and dissipated power on random networks, and agreement of the backends."""
import networks
import numpy as np
import pytest

from ebana import (AmplificationLayer, BiasVoltageLayer, ConcatenateLayer, CurrentLayer, DenseLayer, DiodeLayer,
                   InputVoltageLayer, Model)
from ebana.analysis.power import batch_power, circuit_power
from ebana.backends import get_backend, make_stimulus
from ebana.circuit import CircuitBuilder
from ebana.errors import ValidationError
from ebana.training import MSE, SGD, DataLoader, History


def divider(backend, g1, g2, gain=None, g3=None, shift=0.0):
    """x -- g1 -- node -- g2 -- b (0 V); optionally an amplifier onto a net loaded by g3 to 0 V."""
    x = InputVoltageLayer(units=1, name="x")
    b = BiasVoltageLayer(units=1, name="b", bias_voltage=0.0)
    h = DenseLayer(units=1, name="d1", initializer=np.array([[g1], [g2]]))(ConcatenateLayer(name="j")([x, b]))
    if gain is not None:
        h = AmplificationLayer(name="a1", param={"gain": gain, "shift": shift})(h)
        z = BiasVoltageLayer(units=1, name="z", bias_voltage=0.0)
        h = DenseLayer(units=1, name="d2", initializer=np.array([[g3], [1e-7]]))(ConcatenateLayer(name="k")([h, z]))
    return Model(inputs=[x, b] + ([z] if gain is not None else []), outputs=[CurrentLayer(name="out")(h)],
                 backend=backend)


def test_divider_closed_form(backend_name):
    g1, g2, x = 3e-5, 1e-5, np.array([[0.5], [-1.0], [2.0]])
    report = divider(backend_name, g1, g2).power({"x": x})
    expected = x[:, 0] ** 2 * g1 * g2 / (g1 + g2)
    np.testing.assert_allclose(report.dissipated["d1"], expected, rtol=1e-9)
    np.testing.assert_allclose(report.delivered["x"], expected, rtol=1e-9)
    np.testing.assert_allclose(report.delivered["b"], 0.0, atol=1e-20)
    np.testing.assert_allclose(report.total(), expected, rtol=1e-9)


def test_amplifier_closed_form(backend_name):
    """An ideal amplifier takes V_in * I_out / gain from its input net and gives V_out * I_out."""
    g1, g2, g3, gain, shift, x = 4e-5, 1e-5, 2e-5, 3.0, 0.1, np.array([[0.5], [-0.8]])
    model = divider(backend_name, g1, g2, gain=gain, g3=g3, shift=shift)
    report = model.power({"x": x})
    geff = g3 * 1e-7 / (g3 + 1e-7)  # the amplifier's load: g3 in series with 1e-7 S to the zero source
    # input net: g1 (x - va) = g2 va + I_out / gain with I_out = geff (gain va + shift)
    va = (g1 * x[:, 0] - geff * shift / gain) / (g1 + g2 + geff)
    vout = gain * va + shift
    i_out = vout * geff
    np.testing.assert_allclose(report.dissipated["a1"], va * i_out / gain - vout * i_out, rtol=1e-8)
    np.testing.assert_allclose(report.dissipated["d2"], vout ** 2 * geff, rtol=1e-8)
    np.testing.assert_allclose(report.total_delivered(), report.total(), rtol=1e-10)


def held_crossbar(rows, cols):
    """Rows driven by sources, columns held by sources: every resistor sees a known drop."""
    b = CircuitBuilder()
    r, c = b.nodes("row", rows), b.nodes("col", cols)
    b.vsources("row", r, 0, 0.0)
    b.vsources("col", c, 0, 0.0)
    b.resistors("xbar", r[:, None], c[None, :])
    return b.build()


def test_crossbar_with_held_columns(backend_name, rng):
    circuit = held_crossbar(5, 3)
    g = rng.uniform(1e-6, 1e-4, size=15)
    vs = rng.uniform(-1, 1, size=(4, 8))
    stim = make_stimulus(circuit, g, vs)
    backend = get_backend(backend_name)
    report = circuit_power(circuit, backend.solve(circuit, stim), g, vs, stim.isrc)
    drop = vs[:, :5, None] - vs[:, None, 5:]
    G = g.reshape(5, 3)
    np.testing.assert_allclose(report.dissipated["xbar"], (G * drop ** 2).sum(axis=(1, 2)), rtol=1e-9)
    np.testing.assert_allclose(report.delivered["row"], (vs[:, :5] * (G * drop).sum(axis=2)).sum(axis=1),
                               rtol=1e-8, atol=1e-18)
    np.testing.assert_allclose(report.delivered["col"], -(vs[:, 5:] * (G * drop).sum(axis=1)).sum(axis=1),
                               rtol=1e-8, atol=1e-18)
    backend.close()


def random_models(backend):
    """Random small networks: ideal and exponential diodes, amplifiers, per-unit biases."""
    from test_bias_training import bias_network
    yield networks.diode_network(backend, seed=11, kind="real", gain=2.5, shift=-0.2)
    yield networks.xor_like(backend, seed=4)
    yield bias_network(backend, "real", seed=7, gain=0.5)
    yield networks.iris_4_16_3(backend, seed=2)


def random_inputs(model, rng, n=6):
    return {x.name: rng.uniform(-1, 1, size=(n, x.units)) for x in model.inputs}


def test_delivered_equals_dissipated_and_backends_agree(rng):
    for spice, native in zip(random_models("ngspice"), random_models("native")):
        data = random_inputs(spice, rng)
        a, b = spice.power(data), native.power(data)
        for r in (a, b):
            assert np.all(r.total() > 0)
            np.testing.assert_allclose(r.total_delivered(), r.total(), rtol=1e-9)
        assert set(a.dissipated) == set(b.dissipated) and set(a.delivered) == set(b.delivered)
        for part in ("dissipated", "delivered"):
            for name, p in getattr(a, part).items():
                scale = np.abs(a.total())
                np.testing.assert_allclose(getattr(b, part)[name], p, rtol=0, atol=1e-9 * scale.max(),
                                           err_msg=f"{part} {name}")
        spice.backend.close()


def test_balance_holds_with_nudging_currents(backend_name, rng):
    """With output currents injected (the nudged phase) the current sources deliver too."""
    model = networks.xor_like(backend_name, seed=5)
    size, arrays = model.check_inputs(random_inputs(model, rng))
    sl = model.circuit.slice("is", "out")
    currents = {"out": rng.uniform(-1e-6, 1e-6, size=(size, sl.stop - sl.start))}
    report = batch_power(model, model.solve(arrays, currents), arrays, size, currents)
    assert np.abs(report.delivered["out"]).min() > 0
    np.testing.assert_allclose(report.total_delivered(), report.total(), rtol=1e-9)


def test_energy_per_inference_and_errors():
    model = divider("native", 3e-5, 1e-5)
    x = {"x": np.array([[1.0], [2.0]])}
    np.testing.assert_allclose(model.energy_per_inference(x, settle_time=1e-6), model.power(x).total() * 1e-6)
    with pytest.raises(ValidationError, match="settle_time"):
        model.energy_per_inference(x, settle_time=0.0)
    with pytest.raises(ValidationError, match="settle_time"):
        model.energy_per_inference(x, settle_time=float("nan"))


def test_fit_and_evaluate_record_power(tmp_path):
    model = networks.xor_like("native", seed=1)
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1.0]])
    data = {"x": x, "out": np.array([[-0.05], [0.05], [0.05], [-0.05]])}
    loader = DataLoader(data, batch_size=2, shuffle=True, seed=0)
    history = model.fit(loader, epochs=2, loss_fn=MSE(), optimizer=SGD(lr=1e-6), beta=1e-7,
                        verbose=False, record_power=True)
    expected = model.power({"x": x})
    assert len(history["power_W"]) == 2 and history["power_W"][-1] == pytest.approx(expected.total().mean())
    assert history["power_c1"][-1] == pytest.approx(expected.dissipated["c1"].mean())
    assert history["supply_b"][-1] == pytest.approx(expected.delivered["b"].mean())
    path = tmp_path / "h.h5"
    history.save(path)
    assert History.load(path).metrics["power_a1"] == history.metrics["power_a1"]
    # with test data, the evaluation pass measures it (val_ prefix)
    h2 = model.fit(loader, epochs=1, loss_fn=MSE(), optimizer=SGD(lr=0.0), beta=1e-7, test_dataloader=data,
                   verbose=False, record_power=True)
    assert h2["val_power_W"][-1] == pytest.approx(model.power({"x": x}).total().mean())
    ev = model.evaluate(data, power=True)
    assert ev["power_W"] == pytest.approx(h2["val_power_W"][-1]) and "power_d1" in ev


def test_long_layer_names_are_refused_before_training():
    x = InputVoltageLayer(units=1, name="x")
    long = "d" * 35
    h = DenseLayer(units=2, name=long)(x)
    model = Model(inputs=[x], outputs=[CurrentLayer(name="out")(DiodeLayer(name="c")(h))], backend="native")
    with pytest.raises(ValidationError, match="record_power"):
        model.fit({"x": np.zeros((2, 1)), "out": np.zeros((2, 2))}, epochs=1, loss_fn=MSE(), optimizer=SGD(lr=0),
                  beta=1e-7, verbose=False, record_power=True)


def test_slabs_of_samples_give_the_same_power(monkeypatch, rng):
    """Large crossbars are summed a few samples at a time; the result does not depend on it."""
    import ebana.analysis.power
    model = networks.iris_4_16_3("native", seed=3)
    data = random_inputs(model, rng, n=9)
    whole = model.power(data)
    monkeypatch.setattr(ebana.analysis.power, "CHUNK_ELEMENTS", 50)  # fewer than one sample's resistors: one per slab
    sliced = model.power(data)
    for name, p in whole.dissipated.items():
        np.testing.assert_allclose(sliced.dissipated[name], p, rtol=1e-13)
