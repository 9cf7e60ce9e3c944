"""What a Keras user types first works as in Keras (issue 25): one History per fit, initial_epoch,
validation_split, compile(metrics=), learning_rate=, loss='mse' as Keras' mean, loss='mae',
RMSprop, progress over long evaluations, and fit split into named pieces."""
import csv

import networks
import numpy as np
import pytest
from networks import xor_like

import ebana
from ebana import ValidationError
from ebana.training import SGD, Adam, MeanAbsoluteError, MeanSquaredError, RMSprop
from ebana.training import evaluate as evaluate_module
from ebana.training.callbacks import CSVLogger, LearningRateScheduler
from ebana.training.ep import ep_step

rng = np.random.default_rng(0)
X, XV = rng.uniform(-1, 1, size=(16, 2)), rng.uniform(-1, 1, size=(8, 2))
Y, YV = (np.where(a[:, :1] * a[:, 1:] > 0, -0.2, 0.2) for a in (X, XV))


def model(seed=1, **compile_args):
    compile_args.setdefault("optimizer", Adam(lr=3e-6))
    return xor_like("native", seed=seed).compile(loss="mse", beta=1e-6, **compile_args)


def test_each_fit_returns_its_own_history_and_csv_numbering_restarts(tmp_path):
    m = model()
    first = m.fit(X, Y, epochs=3, batch_size=8, verbose=0)
    second = m.fit(X, Y, epochs=2, batch_size=8, verbose=0, callbacks=[CSVLogger(tmp_path / "log.csv")])
    assert first.num_epochs == 3 and second.num_epochs == 2 and m.history is second
    assert second.history is second.metrics and list(second.history["loss"]) == second["loss"]
    assert second.epoch == [0, 1]
    assert [r["epoch"] for r in csv.DictReader(open(tmp_path / "log.csv"))] == ["1", "2"]


def test_initial_epoch_counts_epochs_as_keras(capsys):
    seen = []
    m = model()
    h = m.fit(X, Y, epochs=5, initial_epoch=3, batch_size=8, verbose=2,
              callbacks=[LearningRateScheduler(lambda epoch, scale: seen.append(epoch) or 1.0)])
    assert h.num_epochs == 2 and h.epoch == [3, 4] and seen == [3, 4]
    lines = capsys.readouterr().out.splitlines()
    assert [l.split(" - ")[0] for l in lines] == ["Epoch 4/5", "Epoch 5/5"]
    assert m.fit(X, Y, epochs=3, initial_epoch=3, verbose=0).num_epochs == 0
    with pytest.raises(ValidationError, match="initial_epoch must be a non-negative integer"):
        m.fit(X, Y, epochs=3, initial_epoch=-1, verbose=0)


def test_validation_split_holds_out_the_last_samples():
    m = model()
    h = m.fit(X, Y, epochs=1, batch_size=4, validation_split=0.25, verbose=0, shuffle=False)
    assert h["val_loss"][0] == pytest.approx(m.evaluate(X[12:], Y[12:])["loss"])
    same = model()  # trained on the first 12 samples only
    same.fit(X[:12], Y[:12], epochs=1, batch_size=4, verbose=0, shuffle=False)
    for k, v in same.get_weights().items():
        np.testing.assert_array_equal(v, m.get_weights()[k])
    with pytest.raises(ValidationError, match="validation_split must be a fraction"):
        m.fit(X, Y, epochs=1, validation_split=1.5, verbose=0)
    with pytest.raises(ValidationError, match="pass validation data once"):
        m.fit(X, Y, epochs=1, validation_split=0.2, validation_data=(XV, YV), verbose=0)
    with pytest.raises(ValidationError, match="validation_split needs arrays"):
        m.fit(ebana.DataLoader({"x": X, "out": Y}), epochs=1, validation_split=0.2, verbose=0)


def test_compile_metrics_choose_what_is_reported_and_unknown_ones_are_refused():
    m = model(metrics=["acc"])
    h = m.fit(X, Y, epochs=1, batch_size=8, validation_data=(XV, YV), verbose=0)
    assert set(h.metrics) == {"loss", "accuracy", "val_loss", "val_accuracy", "lr_scale", "epoch_time_s"}
    assert set(m.evaluate(XV, YV)) == {"loss", "accuracy"}
    assert "mae" in model().fit(X, Y, epochs=1, verbose=0).metrics  # default: all the loss reports
    with pytest.raises(ValidationError, match="unknown metric 'f1' for loss MeanSquaredError.*'mae', 'accuracy'"):
        model(metrics=["f1"])
    with pytest.raises(ValidationError, match="metrics must be a list"):
        model(metrics="accuracy")
    regression = model(metrics=["accuracy"])
    with pytest.raises(ValidationError, match=r"metrics=\['accuracy'\].*class targets"):
        regression.fit(X, np.linspace(-0.2, 0.2, 16)[:, None], epochs=1, verbose=0)
    assert regression.compiled["optimizer"].steps == 0


@pytest.mark.parametrize("cls", [SGD, Adam, RMSprop])
def test_learning_rate_is_an_alias_of_lr(cls):
    assert cls(learning_rate=1e-3).lr == 1e-3
    with pytest.raises(ValidationError, match="learning rate once"):
        cls(lr=1e-3, learning_rate=1e-3)
    with pytest.raises(ValidationError, match="lr must lie in"):
        cls(learning_rate=-1.0)


def iris_batch(seed=0):
    r = np.random.default_rng(seed)
    x = r.uniform(-1, 1, size=(4, 4))
    return {"xp": x, "xn": -x, "b": np.tile([1.0, -1.0], (4, 1)), "out": r.uniform(-0.1, 0.1, size=(4, 3))}


@pytest.mark.parametrize("loss", [MeanSquaredError(), MeanAbsoluteError()])
def test_keras_mse_and_mae_nudges_are_the_gradient_of_the_reported_loss(loss):
    """Three readouts (K = 3): the mean over outputs, and the EP gradient of exactly that."""
    m = networks.iris_4_16_3("native", seed=2)
    batch = iris_batch()
    batch = {k: v for k, v in batch.items() if k != "b"}
    y = m.readouts(m.solve(batch).v)["out"]
    value, grad = loss(y, batch["out"])
    diff = y - batch["out"]
    want = np.mean(diff ** 2, axis=1) if isinstance(loss, MeanSquaredError) else np.mean(np.abs(diff), axis=1)
    np.testing.assert_allclose(value, want)
    np.testing.assert_allclose(grad, 2 * diff / 3 if isinstance(loss, MeanSquaredError) else np.sign(diff) / 3)
    fd = networks.finite_differences(m, batch, loss, ("d1", "d2"))
    r = ep_step(m, batch, loss, beta=1e-7, symmetric=True)
    ep = np.concatenate([r.grads[k].ravel() for k in ("d1", "d2")])
    assert ep @ fd / np.linalg.norm(ep) / np.linalg.norm(fd) >= 0.99
    assert np.linalg.norm(ep - fd) / np.linalg.norm(fd) <= 0.05


def test_loss_names_report_what_they_train():
    m = model()
    assert isinstance(m.compiled["loss"], MeanSquaredError)
    h = m.fit(X, Y, epochs=1, batch_size=16, verbose=0, shuffle=False)
    y = m.predict(X)["out"]
    assert m.evaluate(X, Y)["loss"] == pytest.approx(np.mean((y - Y) ** 2))
    assert h.info["units"]["loss"] == "V^2"
    mae = xor_like("native", seed=1).compile(optimizer=Adam(lr=3e-6), loss="mae")
    assert isinstance(mae.compiled["loss"], MeanAbsoluteError)
    h = mae.fit(X, Y, epochs=1, verbose=0)
    assert h.info["units"]["loss"] == "V" and np.isfinite(h["loss"]).all()
    half = xor_like("native", seed=1).compile(loss="half_squared_error")
    assert type(half.compiled["loss"]) is ebana.MSE


def test_rmsprop_state_saves_loads_and_continues_identically(tmp_path):
    a = xor_like("native", seed=3).compile(optimizer="rmsprop", loss="mse")
    a.fit(X, Y, epochs=1, batch_size=4, verbose=0, shuffle=False)
    a.compiled["optimizer"].save_state(tmp_path / "rms.pkl")
    back = RMSprop()
    back.load_state(tmp_path / "rms.pkl")
    assert back.steps == 4 and set(back.state_dict()["state"]) == {"v"}
    a.save(tmp_path / "m.ebana")
    b = ebana.load_model(tmp_path / "m.ebana", backend="native")
    assert isinstance(b.compiled["optimizer"], RMSprop)
    for mdl in (a, b):
        mdl.fit(X, Y, epochs=1, batch_size=4, verbose=0, shuffle=False)
    for k, v in a.get_weights().items():
        np.testing.assert_array_equal(v, b.get_weights()[k])
    bad = back.state_dict()
    bad["state"]["v"]["d1"][0, 0] = -1.0
    with pytest.raises(ValidationError, match="'v' of parameter 'd1'.*>= 0"):
        RMSprop().load_state_dict(bad, source="rms.pkl")


def test_long_evaluations_and_validation_passes_show_a_progress_bar(monkeypatch):
    calls = []

    def spy(iterable, total=None, desc=None, enabled=True):
        calls.append((desc, total, enabled))
        return iterable
    monkeypatch.setattr(evaluate_module, "progress", spy)
    m = model()
    m.evaluate(np.tile(X, (2, 1)), np.tile(Y, (2, 1)), batch_size=2)  # 16 batches
    m.evaluate(X, Y, batch_size=8)  # 2 batches: no bar
    m.evaluate(np.tile(X, (2, 1)), np.tile(Y, (2, 1)), batch_size=2, verbose=0)
    assert calls == [("evaluate", 16, True), ("evaluate", 2, False), ("evaluate", 16, False)]
    calls.clear()
    m.fit(X, Y, epochs=1, batch_size=8, validation_data=(np.tile(XV, (2, 1)), np.tile(YV, (2, 1))), verbose=1)
    m.fit(X, Y, epochs=1, batch_size=8, validation_data=(XV, YV), verbose=2)
    assert [c[2] for c in calls] == [False, False]  # 16 validation samples fit in one batch of 256
    calls.clear()
    from ebana.training.fit import fit
    fit(m, {"x": X, "out": Y}, 1, "mse", Adam(lr=3e-6), 1e-6, verbose=1,
        test_data=ebana.DataLoader({"x": np.tile(XV, (2, 1)), "out": np.tile(YV, (2, 1))}, batch_size=1))
    assert calls == [("epoch 1 validation", 16, True)]
