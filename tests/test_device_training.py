"""Training on a device (issue 24), run on the CPU through the strict stand-in for CuPy.

The 'strict' device (tests/strict_device.py) refuses to mix its arrays with NumPy
ones, as CuPy does, so any host array reaching the device code paths (or a device
array leaving them silently) fails these tests. Until the GPU solver is merged,
``HostRoundTripBackend`` solves on the host and hands back device arrays; the
training side sees exactly what a device solver gives it.
"""
import numpy as np
import pytest
from strict_device import StrictArray, register

from ebana import CurrentLayer, DenseLayer, InputVoltageLayer, Model, load_model
from ebana.backends.arrays import on_device, to_host
from ebana.backends.base import Backend, OperatingPoint, Stimulus
from ebana.backends.layered.backend import LayeredBackend
from ebana.devices import StuckAtFaults, Variability
from ebana.errors import ValidationError
from ebana.networks import clamped_mlp, rectified_mlp
from ebana.training import SGD, Adam, DataLoader, FaultAware
from ebana.training.ep import ep_step

xp = register()
DEVICE = "strict"


class HostRoundTripBackend(Backend):
    """The layered CPU solver behind a device interface: the stimulus (which must be all
    device arrays) is copied to the host, solved, and the operating point copied back."""
    name = "host-round-trip"

    def __init__(self):
        self.inner = LayeredBackend()
        self.stimuli = 0  # solves seen, each checked to be all device arrays

    def which(self, circuit):
        return self.inner.which(circuit)

    def solve(self, circuit, stimulus, initial=None, sample_offset=0):
        arrays = (stimulus.g, stimulus.vs, stimulus.isrc) + (() if initial is None else (initial,))
        assert all(isinstance(a, StrictArray) for a in arrays), [type(a).__name__ for a in arrays]
        self.stimuli += 1
        host = Stimulus(to_host(stimulus.g), to_host(stimulus.vs), to_host(stimulus.isrc))
        op = self.inner.solve(circuit, host, None if initial is None else to_host(initial), sample_offset)
        return OperatingPoint(xp.asarray(op.v), branch_currents=lambda: xp.asarray(op.i_vs))


def _data(n=40, inputs=16, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (n, inputs)), rng.integers(0, classes, n)


def _pair(network, **options):
    """The same network on the CPU and on the strict device, from the same seed."""
    cpu = network(backend=LayeredBackend(), seed=3, **options)
    dev = network(backend=HostRoundTripBackend(), seed=3, device=DEVICE, **options)
    return cpu, dev


def _close(a, b, rel=1e-12):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert a.shape == b.shape
    assert np.all(np.abs(a - b) <= rel * np.maximum(np.abs(a), np.abs(b)) + 1e-300), np.max(np.abs(a - b))


def _same_models(cpu, dev):
    wc, wd = cpu.get_weights(), dev.get_weights()
    assert sorted(wc) == sorted(wd)
    for name in wc:
        assert type(wd[name]) is np.ndarray
        _close(wc[name], wd[name])


def _rectified(**kw):
    return rectified_mlp(16, 8, 3, **kw)


def _clamped(**kw):
    return clamped_mlp(16, 8, 3, **kw)


@pytest.mark.parametrize("network, optimizer, loss", [
    (_rectified, "adam", "cross_entropy"),
    (_rectified, "sgd", "mse"),
    (_clamped, "adam", "mse"),
])
def test_training_on_the_device_matches_the_cpu(network, optimizer, loss):
    x, labels = _data()
    y = labels if loss == "cross_entropy" else np.eye(3)[labels] * 0.2
    cpu, dev = _pair(network)
    histories = []
    for model in (cpu, dev):
        model.compile(optimizer=Adam() if optimizer == "adam" else SGD(), loss=loss)
        histories.append(model.fit(x, y, epochs=2, batch_size=8, verbose=0, validation_data=(x[:12], y[:12])))
    assert dev.backend.stimuli > 0
    for layer in dev.layers:  # the parameters stayed on the device
        for attr in layer.array_attributes():
            assert isinstance(getattr(layer, attr), StrictArray), (layer.name, attr)
    _same_models(cpu, dev)
    hc, hd = histories
    for name in ("loss", "val_loss"):
        assert all(type(v) is float for v in hd.metrics[name])
        _close(hc.metrics[name], hd.metrics[name])
    pc, pd = cpu.predict(x), dev.predict(x)
    assert type(pd["out"]) is np.ndarray
    _close(pc["out"], pd["out"])
    ec, ed = cpu.evaluate(x, y, verbose=0), dev.evaluate(x, y, verbose=0)
    assert sorted(ec) == sorted(ed) and all(type(v) is float for v in ed.values())
    _close([ec[k] for k in sorted(ec)], [ed[k] for k in sorted(ed)])


def test_a_trained_bias_learns_on_the_device_as_on_the_cpu():
    from ebana import BiasVoltageLayer, ConcatenateLayer, DiodeLayer

    def network(backend, seed, device="cpu"):
        x = InputVoltageLayer(units=4, name="x")
        b = BiasVoltageLayer(units=2, name="b", bias_voltage=[0.5, -0.5], trainable=True)
        h = DenseLayer(units=6, name="d1")(ConcatenateLayer(name="j")([x, b]))
        h = DiodeLayer(name="c", direction="down", bias_voltage=0.2)(h)
        out = CurrentLayer(name="out", fold=True)(DenseLayer(units=4, name="d2")(h))
        return Model(inputs=[x, b], outputs=[out], backend=backend, seed=seed, device=device)

    x, labels = _data(n=24, inputs=4, classes=2)
    y = np.where(labels[:, None] == 1, 0.1, -0.1) * np.ones((1, 2))
    cpu, dev = _pair(network)
    for model in (cpu, dev):
        model.compile(optimizer="adam", loss="mse")
        model.fit(x, y, epochs=2, batch_size=6, verbose=0, shuffle=True)
    assert isinstance(dev.layer("b").bias_voltage, StrictArray)
    _same_models(cpu, dev)
    assert not np.array_equal(cpu.get_weights()["b"], [0.5, -0.5])  # the bias did train


def test_a_dataloader_feeds_the_device_once_and_shuffles_as_on_the_cpu():
    x, labels = _data()
    cpu, dev = _pair(_rectified)
    for model in (cpu, dev):
        model.compile(optimizer="adam", loss="cross_entropy")
        model.fit(DataLoader({"x": x, "out": labels}, batch_size=16, shuffle=True, seed=5), epochs=2, verbose=0)
    _same_models(cpu, dev)
    loader = DataLoader({"x": x}, batch_size=16)
    _close(cpu.predict(loader)["out"], dev.predict(loader)["out"])
    batches = list(loader.on_device(xp))
    assert all(isinstance(b["x"], StrictArray) for b in batches) and isinstance(batches[0].indices, np.ndarray)


def test_optimizer_state_goes_from_the_device_to_the_cpu_and_back(tmp_path):
    x, labels = _data()
    dev = _rectified(backend=HostRoundTripBackend(), seed=3, device=DEVICE)
    dev.compile(optimizer="adam", loss="cross_entropy")
    dev.fit(x, labels, epochs=1, batch_size=8, verbose=0)
    state = dev.compiled["optimizer"].state_dict()
    assert all(type(a) is np.ndarray for slot in state["state"].values() for a in slot.values())
    path = tmp_path / "run.ebana"
    dev.save(path)
    on_cpu = load_model(path, backend=LayeredBackend())
    back = load_model(path, backend=HostRoundTripBackend(), device=DEVICE)
    assert on_cpu.device == "cpu" and back.device == DEVICE
    assert all(isinstance(a, StrictArray) for slot in back.compiled["optimizer"]._state.values()
               for a in slot.values())
    for model in (on_cpu, back, dev):  # the moments carry on: one more epoch agrees everywhere
        model.fit(x, labels, epochs=1, batch_size=8, verbose=0)
    _same_models(on_cpu, back)
    _same_models(on_cpu, dev)
    # and a state saved on the CPU goes onto the device at the first step there
    opt = Adam()
    opt.load_state_dict(on_cpu.compiled["optimizer"].state_dict(), source="cpu state")
    back.compile(optimizer=opt, loss="cross_entropy")
    back.fit(x, labels, epochs=1, batch_size=8, verbose=0)
    on_cpu.fit(x, labels, epochs=1, batch_size=8, verbose=0)
    _same_models(on_cpu, back)


def test_weights_config_and_files_of_a_device_model_are_host_data(tmp_path):
    x, _ = _data(n=5)
    dev = _rectified(backend=HostRoundTripBackend(), seed=3, device=DEVICE)
    assert dev.device == DEVICE and dev.xp is xp
    weights = dev.get_weights()
    assert all(type(w) is np.ndarray for w in weights.values())
    twin = Model.from_config(dev.get_config(), backend="native")  # the CPU copy used for checks
    twin.set_weights(weights)
    _close(twin.predict(x)["out"], dev.predict(x)["out"])
    weights["d2"] = np.full_like(weights["d2"], 1e-8)
    dev.set_weights(weights)
    assert isinstance(dev.layer("d2").g, StrictArray) and float(dev.layer("d2").g[0, 0]) == 1e-8
    twin.set_weights(weights)
    assert dev.netlist({"x": x[0]}) == twin.netlist({"x": x[0]})
    dev.save(tmp_path / "m.ebana")
    loaded = load_model(tmp_path / "m.ebana", backend="native")
    assert loaded.device == "cpu"
    _close(loaded.predict(x)["out"], dev.predict(x)["out"])
    dev.to(LayeredBackend(), device="cpu")  # to the host and back, weights kept
    assert type(dev.layer("d2").g) is np.ndarray and dev.xp is np
    dev.to(HostRoundTripBackend(), device=DEVICE)
    assert isinstance(dev.layer("d2").g, StrictArray)
    _same_models(loaded, dev)


def _dense_model(device=DEVICE, variability=None, **dense):
    x = InputVoltageLayer(units=3, name="x")
    out = CurrentLayer(name="out", fold=True)(DenseLayer(units=2, name="d1", **dense)(x))
    return Model(inputs=[x], outputs=[out], backend=HostRoundTripBackend(), device=device, variability=variability)


@pytest.mark.parametrize("options, named", [
    ({"variability": Variability(sigma=0.1)}, "variability"),
    ({"levels": 2}, "levels=2"),
    ({"wires": {"tile": [3, 2], "r_segment": 1.0}}, "wire resistance"),
])
def test_what_a_device_cannot_do_is_refused_before_training(options, named):
    with pytest.raises(ValidationError, match=f"DenseLayer 'd1'.*{named}|{named}.*DenseLayer 'd1'"):
        _dense_model(**options)


def test_memristor_layers_are_refused_on_a_device():
    from ebana import MemristorDenseLayer
    x = InputVoltageLayer(units=3, name="x")
    out = CurrentLayer(name="out", fold=True)(MemristorDenseLayer(units=2, name="m1")(x))
    with pytest.raises(ValidationError, match="MemristorDenseLayer 'm1'.*memristor"):
        Model(inputs=[x], outputs=[out], backend=HostRoundTripBackend(), device=DEVICE)


def test_options_a_device_cannot_run_are_refused_naming_them():
    x, labels = _data(n=8, inputs=3, classes=2)
    y = np.where(labels[:, None] == 1, 0.1, -0.1)
    model = _dense_model().compile(optimizer="adam", loss="mse")
    g = model.conductances()
    with pytest.raises(ValidationError, match="per-sample conductances"):
        ep_step(model, {"x": x, "out": y}, model.loss_fn, 1e-6, g=xp.stack([g] * len(x)))
    with pytest.raises(ValidationError, match="record_power"):
        model.fit(x, y, epochs=1, verbose=0, record_power=True)
    with pytest.raises(ValidationError, match="power"):
        model.evaluate(x, y, power=True, verbose=0)
    with pytest.raises(ValidationError, match="model.power"):
        model.power(x)
    with pytest.raises(ValidationError, match="FaultAware"):
        FaultAware(Adam(), model, StuckAtFaults(p=0.1))
    with pytest.raises(ValidationError, match="transform"):
        model.fit(DataLoader({"x": x, "out": y}, batch_size=4, transform=lambda b, rng: b), epochs=1, verbose=0)
    with pytest.raises(ValidationError, match="device array"):  # a device array given to a CPU model
        _dense_model(device="cpu").predict({"x": xp.asarray(x)})
    assert model.history is None  # nothing trained


def test_record_voltages_and_checkpoints_work_on_a_device(tmp_path):
    x, labels = _data(n=16)
    cpu, dev = _pair(_rectified)
    for model, name in ((cpu, "c.ckpt"), (dev, "d.ckpt")):
        model.compile(optimizer="adam", loss="cross_entropy")
        history = model.fit(x, labels, epochs=2, batch_size=4, verbose=0, record_voltages=True,
                            checkpoint=str(tmp_path / name), checkpoint_every=2)
        assert all(type(v) is np.ndarray for v in history.voltages.values())
    _same_models(cpu, dev)
    # resuming a finished run from its checkpoint trains it on: the same on both
    for model, name in ((cpu, "c.ckpt"), (dev, "d.ckpt")):
        model.fit(x, labels, epochs=3, batch_size=4, verbose=0, checkpoint=str(tmp_path / name))
    _same_models(cpu, dev)


def test_host_arrays_given_to_a_device_model_are_checked_then_uploaded():
    model = _dense_model()
    op = model.solve({"x": np.zeros((2, 3))})
    assert on_device(op.v)
    with pytest.raises(ValidationError, match="input voltage of sample 1"):
        model.solve({"x": np.array([[0.0, 0.0, 0.0], [np.nan, 0.0, 0.0]])})


def test_probes_of_a_device_model_give_host_arrays():
    x, labels = _data(n=6)
    cpu, dev = _pair(_rectified)
    y = np.eye(3)[labels] * 0.2
    gc, gd = cpu.gradients({"x": x, "out": y}, beta=1e-6), dev.gradients({"x": x, "out": y}, beta=1e-6)
    for name in gc:
        assert type(gd[name]) is np.ndarray
        _close(gc[name], gd[name])
    vc, vd = cpu.node_voltages(x), dev.node_voltages(x)
    assert all(type(v) is np.ndarray for v in vd.values())
    _close(vc["h1"], vd["h1"])


def test_device_studies_and_robustness_ask_for_a_cpu_copy():
    from ebana.analysis import fault_study
    from ebana.training import CrossEntropy
    x, labels = _data(n=4)
    model = _rectified(backend=HostRoundTripBackend(), seed=3, device=DEVICE)
    with pytest.raises(ValidationError, match="device='strict'"):
        fault_study(model, {"x": x, "out": labels}, [0.1], chips=1, loss_fn=CrossEntropy())
    with pytest.raises(ValidationError, match="evaluate_robustness"):
        model.evaluate_robustness({"x": x, "out": labels}, [0.1], chips=1, loss_fn=CrossEntropy())
