"""Per-unit and trainable bias voltages: shapes, EP gradients against finite differences,
bounds, weights files and configs."""
import numpy as np
import pytest

from ebana import (AmplificationLayer, BiasVoltageLayer, ConcatenateLayer, CurrentLayer, DenseLayer, DiodeLayer, InputVoltageLayer,
                   Model)
from ebana.errors import ShapeError, ValidationError
from ebana.training import MSE, SGD
from ebana.training.ep import ep_step
from ebana.training.fit import train_step

BATCH = {"x": np.array([[0, 0], [0, 1], [1, 0], [1, 1.0]]), "out": np.array([[-0.05], [0.05], [0.05], [-0.05]])}
BIAS_LAYERS = ("b", "c1", "c2")


def bias_network(backend, kind="behavioral", seed=3, gain=None):
    """2 inputs + 2 trainable bias sources -> 4 nets clamped above per net (trainable) and
    below by one shared trainable bias -> 2 differential outputs."""
    x = InputVoltageLayer(units=2, name="x")
    b = BiasVoltageLayer(units=2, name="b", bias_voltage=[0.8, -0.6], trainable=True)
    h = ConcatenateLayer(name="j")([x, b])
    h = DenseLayer(units=4, name="d1", initializer=("uniform", 1e-5, 1e-4))(h)
    h = DiodeLayer(name="c1", direction="down", bias_voltage=[0.35, 0.4, 0.45, 0.5], kind=kind, trainable=True)(h)
    h = DiodeLayer(name="c2", direction="up", bias_voltage=0.3, kind=kind, trainable=True, bias_min=-0.5,
                   bias_max=0.5)(h)
    if gain is not None:
        h = AmplificationLayer(name="a1", param={"gain": gain, "shift": -0.2})(h)
    h = DenseLayer(units=2, name="d2", initializer=("uniform", 1e-5, 1e-4))(h)
    out = CurrentLayer(name="out", fold=True)(h)
    return Model(inputs=[x, b], outputs=[out], backend=backend, seed=seed)


def total_loss(model, loss):
    return loss(model.readouts(model.solve(BATCH).v)["out"], BATCH["out"])[0].sum()


def finite_differences(model, loss, h=1e-4):
    out = []
    for name in BIAS_LAYERS:
        bv = model.layer(name).bias_voltage
        for k in range(bv.size):
            old = bv[k]
            bv[k] = old + h
            up = total_loss(model, loss)
            bv[k] = old - h
            down = total_loss(model, loss)
            bv[k] = old
            out.append((up - down) / (2 * h))
    return np.array(out)


@pytest.mark.parametrize("kind,gain", [("behavioral", None), ("real", None), ("behavioral", 3.0)])
def test_bias_gradient_matches_finite_differences(backend_name, kind, gain):
    """dL/dV of every bias source from its branch currents; upstream of an amplifier
    the same gain**2 factor as for conductances applies."""
    model = bias_network(backend_name, kind, gain=gain)
    loss = MSE()
    fd = finite_differences(model, loss)
    assert np.abs(fd).max() > 0
    r = ep_step(model, BATCH, loss, beta=1e-7, symmetric=True)
    ep = np.concatenate([r.grads[name] for name in BIAS_LAYERS])
    assert [r.grads[n].shape for n in BIAS_LAYERS] == [(2,), (4,), (1,)]
    cos = ep @ fd / np.linalg.norm(ep) / np.linalg.norm(fd)
    assert cos >= 0.99, (cos, ep, fd)
    assert np.linalg.norm(ep - fd) / np.linalg.norm(fd) < 0.05


def test_per_unit_bias_builds_one_source_per_net():
    model = bias_network("native")
    c = model.circuit
    assert c.slice("vs", "c1").stop - c.slice("vs", "c1").start == 4
    assert c.slice("vs", "c2").stop - c.slice("vs", "c2").start == 1
    text = model.netlist({"x": [0.2, 0.4]})
    assert "vc1__3 c1__bias3 0 dc 0.5" in text
    # each net's diode goes to its own bias node
    assert sorted(set(c.d_cathode[c.slice("diode", "c1")])) == sorted(c.vs_pos[c.slice("vs", "c1")])


def test_issue_example_and_errors():
    x = InputVoltageLayer(units=7, name="x")
    h = DenseLayer(units=7, name="d")(x)
    layer = DiodeLayer(name="c", bias_voltage=np.full(7, 0.1))
    layer(h)
    np.testing.assert_array_equal(layer.bias_voltage, np.full(7, 0.1))
    with pytest.raises(ShapeError, match="DiodeLayer 'c2' has 3 bias voltages but 7 input nets"):
        DiodeLayer(name="c2", bias_voltage=[0.1, 0.2, 0.3])(h)
    with pytest.raises(ValidationError, match="outside .bias_min, bias_max"):
        DiodeLayer(name="c3", bias_voltage=2.0, trainable=True)
    with pytest.raises(ValidationError, match="bias_max"):
        BiasVoltageLayer(units=1, name="b", bias_min=0.5, bias_max=0.1)
    with pytest.raises(ShapeError, match="expected a scalar or 2 bias voltages"):
        BiasVoltageLayer(units=2, name="b", bias_voltage=[1.0, 2.0, 3.0])
    # not trainable: any voltage, and no parameter
    assert DiodeLayer(name="c4", bias_voltage=5.0).parameters() == {}


def test_training_moves_biases_within_bounds_and_lowers_the_loss():
    model = bias_network("native")
    loss = MSE()
    before = total_loss(model, loss)
    start = {n: model.layer(n).bias_voltage.copy() for n in BIAS_LAYERS}
    for layer in (model.layer("d1"), model.layer("d2")):
        layer.trainable = False  # only the biases learn here
    opt = SGD(lr=0.05)
    for _ in range(30):
        train_step(model, BATCH, loss, opt, beta=1e-7, symmetric=True)
    assert total_loss(model, loss) < before
    for n in BIAS_LAYERS:
        layer = model.layer(n)
        assert not np.array_equal(layer.bias_voltage, start[n])
        assert np.all(layer.bias_voltage >= layer.bias_min) and np.all(layer.bias_voltage <= layer.bias_max)
    # a step far past the bounds is clipped
    model.layer("c2").bias_voltage[:] = 3.0
    model.layer("c2").clip()
    assert model.layer("c2").bias_voltage[0] == 0.5


def test_weights_files_and_configs_carry_biases(tmp_path):
    model = bias_network("native")
    model.layer("c1").bias_voltage[:] = [0.1, 0.2, 0.3, 0.4]
    model.layer("b").bias_voltage[:] = [0.9, -0.9]
    path = tmp_path / "w.pkl"
    model.save_weights(path)
    other = bias_network("native", seed=5)
    other.load_weights(path)
    np.testing.assert_array_equal(other.layer("c1").bias_voltage, [0.1, 0.2, 0.3, 0.4])
    np.testing.assert_array_equal(other.layer("b").bias_voltage, [0.9, -0.9])
    np.testing.assert_allclose(other.solve(BATCH).v, model.solve(BATCH).v, atol=1e-12)
    # a file whose bias lies outside the bounds is refused before anything is assigned
    model.layer("c2").bias_voltage[:] = 0.9
    model.save_weights(path)
    with pytest.raises(ValidationError, match="DiodeLayer 'c2' is 0.9 V, outside"):
        other.load_weights(path)
    np.testing.assert_array_equal(other.layer("c1").bias_voltage, [0.1, 0.2, 0.3, 0.4])
    model.layer("c2").bias_voltage[:] = 0.25
    cfg = model.get_config()
    rebuilt = Model.from_config(cfg, backend="native")
    layer = rebuilt.layer("c1")
    assert layer.trainable and layer.bias_voltage.tolist() == [0.1, 0.2, 0.3, 0.4]
    assert rebuilt.layer("c2").bias_max == 0.5 and rebuilt.layer("c2").scalar_bias
    assert rebuilt.get_config() == cfg


def test_checkpoints_carry_trained_biases(tmp_path):
    """Resuming from a checkpoint restores the trained bias voltages and their Adam moments."""
    from ebana.training import Adam, DataLoader
    data = dict(BATCH)
    path = tmp_path / "ckpt.pkl"
    model = bias_network("native")
    loader = DataLoader(data, batch_size=2, shuffle=True, seed=0)
    model.fit(loader, epochs=3, loss_fn=MSE(), optimizer=Adam(lr=1e-2), beta=1e-7, symmetric=True,
              verbose=False, checkpoint=path)
    assert not np.allclose(model.layer("c1").bias_voltage, [0.35, 0.4, 0.45, 0.5])
    fresh = bias_network("native")
    fresh.fit(DataLoader(data, batch_size=2, shuffle=True, seed=0), epochs=3, loss_fn=MSE(),
              optimizer=Adam(lr=1e-2), beta=1e-7, symmetric=True, verbose=False, checkpoint=path)
    for name in BIAS_LAYERS + ("d1", "d2"):
        np.testing.assert_array_equal(fresh.parameters()[name], model.parameters()[name])
