"""Keras habits: compile/fit(x, y), names for losses and optimizers, save/load_model, weights, to()."""
import numpy as np
import pytest
from networks import xor_like

import ebana
from ebana import ShapeError, ValidationError
from ebana.training import MSE, SGD, Adam, DataLoader, MeanSquaredError
from ebana.training.ep import ep_step

X = np.random.default_rng(0).uniform(-1, 1, size=(12, 2))
Y = np.where(X[:, :1] * X[:, 1:] > 0, -0.2, 0.2)


def test_fit_x_y_equals_fit_dict_equals_fit_loader():
    runs = []
    for how in ("xy", "dict", "loader"):
        model = xor_like("native", seed=1).compile(optimizer=Adam(lr=2e-6), loss="mse", beta=1e-6)
        if how == "xy":
            h = model.fit(X, Y, epochs=2, batch_size=4, verbose=0)
        elif how == "dict":
            h = model.fit({"x": X, "out": Y}, epochs=2, batch_size=4, verbose=0)
        else:
            h = model.fit(DataLoader({"x": X, "out": Y}, batch_size=4, shuffle=True, seed=1), epochs=2, verbose=0)
        runs.append((h["loss"], model.get_weights()))
    for loss, weights in runs[1:]:
        assert loss == runs[0][0]
        for k in weights:
            np.testing.assert_array_equal(weights[k], runs[0][1][k])


def test_string_names_for_loss_and_optimizer():
    model = xor_like("native").compile(optimizer="sgd", loss="mse")
    assert isinstance(model.compiled["optimizer"], SGD) and isinstance(model.compiled["loss"], MSE)
    assert model.compiled["beta"] == pytest.approx(1e-6)  # 1% of g_max = 1e-4 S
    with pytest.raises(ValidationError, match="unknown optimizer 'adamw'"):
        model.compile(optimizer="adamw")
    with pytest.raises(ValidationError, match="unknown loss 'hinge'"):
        model.compile(loss="hinge")
    with pytest.raises(ValidationError, match="optimizer must be 'adam', 'sgd', 'rmsprop' or an Optimizer.*float"):
        model.compile(optimizer=0.01)
    with pytest.raises(ValidationError, match="loss must be a name.*received int"):
        model.compile(loss=3)


@pytest.mark.parametrize("call, pattern", [
    (lambda m: m.fit("x.csv", epochs=1), "input data must be an array or a dict.*received str"),
    (lambda m: m.fit({"x": X}, epochs=1), r"no targets for outputs \['out'\]"),
    (lambda m: m.fit(X, Y, epochs=1, batch_size=0), "batch_size must be a positive int"),
    (lambda m: m.fit(X, Y, epochs=1, learning_rate=1e-3), "unexpected argument 'learning_rate'"),
    (lambda m: m.fit(X, Y, epochs=1, validation_data=(X,)), r"validation_data as a tuple must be \(x, y\)"),
    (lambda m: m.set_weights(3.0), "expected a dict layer name -> conductances"),
    (lambda m: m.set_weights([np.zeros(1)]), "1 arrays for 2 trainable layers"),
    (lambda m: m.set_weights({"d1": "a", "d2": "b"}), "conductances must be numeric arrays"),
    (lambda m: m.save("/"), "is a folder"),
    (lambda m: m.fit(X, Y, epochs=1, seed="a"), "seed must be a non-negative int"),
    (lambda m: m.fit(X, Y, epochs=1, shuffle="yes"), "shuffle must be True or False"),
    (lambda m: m.fit(X, Y, epochs=1, callbacks=[3]), "a callback must be a Callback or a function"),
    (lambda m: m.to(3), "unknown backend 3"),
])
def test_wrong_types_get_errors_that_say_what_was_expected(call, pattern):
    model = xor_like("native").compile(loss="mse")
    with pytest.raises((ValidationError, ShapeError), match=pattern):
        call(model)


def test_save_and_load_model_round_trip_continues_training_identically(tmp_path):
    a = xor_like("native", seed=3).compile(optimizer=Adam(lr=2e-6), loss=MSE(midpoint=0.0), beta=1e-6)
    a.fit(X, Y, epochs=1, batch_size=4, verbose=0, shuffle=False)
    a.save(tmp_path / "m.ebana")
    b = ebana.load_model(tmp_path / "m.ebana", backend="native")
    assert b.get_config() == a.get_config()
    assert b.compiled["optimizer"].steps == a.compiled["optimizer"].steps == 3
    a.fit(X, Y, epochs=1, batch_size=4, verbose=0, shuffle=False)
    b.fit(X, Y, epochs=1, batch_size=4, verbose=0, shuffle=False)
    for k, v in a.get_weights().items():
        np.testing.assert_array_equal(v, b.get_weights()[k])


def test_load_model_refuses_a_malicious_or_foreign_file(tmp_path):
    import os
    import pickle

    class Exploit:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    (tmp_path / "evil.ebana").write_bytes(pickle.dumps({"format": "ebana-saved-model", "x": Exploit()}))
    with pytest.raises(ValidationError, match="refusing to load.*posix.system"):
        ebana.load_model(tmp_path / "evil.ebana")
    assert not (tmp_path / "pwned").exists()
    model = xor_like("native")
    model.save_weights(tmp_path / "w.pkl")
    with pytest.raises(ValidationError, match="not an ebana saved model"):
        ebana.load_model(tmp_path / "w.pkl")


def test_get_set_weights_checked_and_to_moves_backend():
    model = xor_like("native", seed=1)
    w = model.get_weights()
    other = xor_like("native", seed=2)
    other.set_weights(w)
    other.set_weights(list(w.values()))
    np.testing.assert_array_equal(other.conductances(), model.conductances())
    bad = {k: v.copy() for k, v in w.items()}
    bad["d1"][0, 0] = 1.0  # 1 S, far above g_max
    with pytest.raises(ValidationError, match="DenseLayer 'd1' conductance"):
        other.set_weights(bad)
    np.testing.assert_array_equal(other.conductances(), model.conductances())
    native = model.predict(X)["out"]
    assert model.to("ngspice") is model and type(model.backend.inner).__name__ == "NgspiceBackend"
    np.testing.assert_allclose(model.predict(X)["out"], native, atol=1e-6)


def test_public_gradients_equal_the_ep_step_and_voltages_are_by_layer():
    model = xor_like("native", seed=1)
    grads = model.gradients((X, Y), loss="mse", beta=1e-6)
    want = ep_step(model, {"x": X, "out": Y}, MeanSquaredError(), 1e-6, symmetric=True).grads  # loss="mse"
    assert set(grads) == {"d1", "d2"}
    for k in want:
        np.testing.assert_array_equal(grads[k], want[k])
    v = model.node_voltages(X)
    assert set(v) == {l.name for l in model.layers}
    np.testing.assert_array_equal(v["x"], X)  # input nets sit at the input voltages
    assert v["d1"].shape == (12, 4)
    out = model.layer("out")
    assert out.fold  # differential pairs: the readout is V+ - V-
    np.testing.assert_allclose(v["out"][:, 0::2] - v["out"][:, 1::2], model.predict(X)["out"])


def test_default_learning_rates_do_not_drive_conductances_to_their_bounds_in_one_epoch():
    rng = np.random.default_rng(5)
    x = rng.uniform(-1, 1, size=(64, 2))
    y = np.where(x[:, :1] * x[:, 1:] > 0, -0.2, 0.2)
    for name in ("adam", "sgd"):
        model = xor_like("native", seed=1).compile(optimizer=name, loss="mse")
        model.fit(x, y, epochs=1, batch_size=4, verbose=0)  # 16 steps
        for layer in (model.layer("d1"), model.layer("d2")):
            at_bound = np.isclose(layer.g, layer.g_min) | np.isclose(layer.g, layer.g_max)
            assert at_bound.mean() < 0.1, (name, layer.name, at_bound.mean())
