"""Training feedback: per-epoch lines, validation_data, built-in callbacks, History metadata."""
import csv

import numpy as np
import pytest
from networks import xor_like

import ebana
from ebana import ValidationError
from ebana.training import Adam, History
from ebana.training.callbacks import (Callback, CSVLogger, EarlyStopping, LearningRateScheduler, ModelCheckpoint,
                                      ReduceLROnPlateau, exponential_decay, step_decay)

rng = np.random.default_rng(0)
X, XV = rng.uniform(-1, 1, size=(16, 2)), rng.uniform(-1, 1, size=(8, 2))
Y, YV = (np.where(a[:, :1] * a[:, 1:] > 0, -0.2, 0.2) for a in (X, XV))


def model(seed=1):
    return xor_like("native", seed=seed).compile(optimizer=Adam(lr=3e-6), loss="mse", beta=1e-6)


def test_verbose_prints_one_line_per_epoch_with_validation(capsys):
    h = model().fit(X, Y, epochs=3, batch_size=8, validation_data=(XV, YV), verbose=2)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("Epoch 1/3 - ") and " s - loss: " in lines[0]
    assert "val_loss: " in lines[2] and "val_accuracy: " in lines[2] and "mae: " in lines[2]
    assert len(h["val_loss"]) == 3
    model().fit(X, Y, epochs=1, verbose=0)
    assert capsys.readouterr().out == ""


def test_validation_data_equals_evaluate_after_the_epoch():
    m = model()
    h = m.fit(X, Y, epochs=1, batch_size=8, validation_data={"x": XV, "out": YV}, verbose=0)
    assert h["val_loss"][0] == pytest.approx(m.evaluate(XV, YV)["loss"])


def test_early_stopping_restores_the_best_weights_and_stops():
    m = model()
    snapshots = []
    stopper = EarlyStopping(monitor="val_loss", patience=1, restore_best_weights=True)
    watcher = lambda epoch, metrics, mdl: snapshots.append(mdl.get_weights())  # noqa: E731
    # a huge learning rate makes validation loss jump around so patience runs out
    m.compile(optimizer=Adam(lr=5e-5), loss="mse", beta=1e-6)
    h = m.fit(X, Y, epochs=30, batch_size=8, validation_data=(XV, YV), callbacks=[watcher, stopper], verbose=0)
    assert h.num_epochs < 30 and stopper.stopped_epoch == h.num_epochs - 1
    best = int(np.argmin(h["val_loss"]))
    for k, v in m.get_weights().items():
        np.testing.assert_array_equal(v, snapshots[best][k])
    with pytest.raises(ValidationError, match="monitors 'val_loss'.*validation_data"):
        model().fit(X, Y, epochs=1, callbacks=[EarlyStopping()], verbose=0)


def test_model_checkpoint_saves_only_improvements_with_the_optimizer(tmp_path):
    m = model()
    m.compile(optimizer=Adam(lr=5e-5), loss="mse", beta=1e-6)
    ckpt = ModelCheckpoint(tmp_path / "best-{epoch:02d}.ebana", monitor="loss", save_best_only=True)
    h = m.fit(X, Y, epochs=6, batch_size=8, callbacks=[ckpt], verbose=0)
    losses = h["loss"]
    improved = [e + 1 for e in range(6) if losses[e] < min(losses[:e], default=np.inf)]
    assert [p.split("-")[-1] for p in ckpt.saved] == [f"{e:02d}.ebana" for e in improved]
    best = ebana.load_model(ckpt.saved[-1], backend="native")
    assert best.compiled["optimizer"].steps == 2 * improved[-1]


def test_csv_logger_and_lr_schedule(tmp_path):
    seen = []

    class Spy(Callback):
        def on_epoch_begin(self, epoch):
            seen.append(self.optimizer.lr_scale)

    h = model().fit(X, Y, epochs=4, batch_size=8, verbose=0,
                    callbacks=[LearningRateScheduler(step_decay(0.5, every=2)), Spy(), CSVLogger(tmp_path / "log.csv")])
    assert seen == [1.0, 1.0, 0.5, 0.5] and h["lr_scale"] == seen
    rows = list(csv.DictReader(open(tmp_path / "log.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2", "3", "4"]
    assert [float(r["loss"]) for r in rows] == h["loss"]
    assert exponential_decay(0.5)(3, 1.0) == 0.125
    plateau = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0)
    m = model()
    m.fit(X, Y, epochs=1, verbose=0, callbacks=[plateau])
    with pytest.raises(ValidationError, match="not writable"):
        model().fit(X, Y, epochs=1, verbose=0, callbacks=[CSVLogger(tmp_path / "no" / "log.csv")])


def test_history_file_keeps_config_hyperparameters_and_units(tmp_path):
    m = model()
    h = m.fit(X, Y, epochs=2, batch_size=8, validation_data=(XV, YV), verbose=0)
    h.save(tmp_path / "h.h5")
    back = History.load(tmp_path / "h.h5")
    assert back.info["model_config"]["layers"][3]["config"]["name"] == "d1"
    hyper = back.info["hyperparameters"]
    assert hyper["optimizer"]["class"] == "Adam" and hyper["optimizer"]["lr"] == 3e-6
    assert hyper["beta"] == 1e-6 and hyper["batch_size"] == 8 and hyper["loss"]["class"] == "MeanSquaredError"
    assert back.info["units"]["loss"] == "V^2" and back.info["units"]["val_mae"] == "V"
    assert back.info["units"]["epoch_time_s"] == "s"


def test_cosine_schedule_falls_from_one_to_final():
    from ebana.training import cosine_decay
    f = cosine_decay(10, final=0.02)
    scales = [f(e, 1.0) for e in range(12)]
    assert scales[0] == 1.0 and abs(scales[5] - 0.51) < 1e-12 and abs(scales[10] - 0.02) < 1e-12
    assert all(a > b for a, b in zip(scales[:10], scales[1:11])) and scales[11] == scales[10]
    with pytest.raises(ValidationError):
        cosine_decay(0)
    with pytest.raises(ValidationError):
        cosine_decay(5, final=2.0)
