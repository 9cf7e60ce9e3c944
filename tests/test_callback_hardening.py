"""Callbacks fail before training, not after it, and count patience as Keras does (issue 25)."""
import csv
import errno

import numpy as np
import pytest
from networks import xor_like

from ebana import EbanaError, ValidationError
from ebana.training import Adam
from ebana.training import csv_logger as callbacks_module
from ebana.training.callbacks import CSVLogger, EarlyStopping, ModelCheckpoint, ReduceLROnPlateau

rng = np.random.default_rng(0)
X = rng.uniform(-1, 1, size=(8, 2))
Y = np.where(X[:, :1] * X[:, 1:] > 0, -0.2, 0.2)


def frozen(seed=1):
    """A model whose loss never changes (learning rate 0): every epoch after the first is a plateau."""
    return xor_like("native", seed=seed).compile(optimizer=Adam(lr=0.0), loss="mse", beta=1e-6)


def test_early_stopping_stops_after_patience_epochs_without_improvement():
    """Keras: with patience=2, the two epochs after the best one are the last."""
    stopper = EarlyStopping(monitor="loss", patience=2)
    h = frozen().fit(X, Y, epochs=10, batch_size=4, shuffle=False, verbose=0, callbacks=[stopper])
    assert h.num_epochs == 3 and stopper.stopped_epoch == 2
    h = frozen().fit(X, Y, epochs=10, batch_size=4, shuffle=False, verbose=0, callbacks=[EarlyStopping(monitor="loss")])
    assert h.num_epochs == 2  # patience=0: the first epoch without improvement stops


def test_reduce_lr_on_plateau_reduces_after_patience_epochs_without_improvement():
    plateau = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=2)
    h = frozen().fit(X, Y, epochs=6, batch_size=4, shuffle=False, verbose=0, callbacks=[plateau])
    # reduced after epochs 3 and 5 (0-based 2 and 4): the scale each epoch trained with
    assert h["lr_scale"] == [1.0, 1.0, 1.0, 0.5, 0.5, 0.25]


@pytest.mark.parametrize("template, with_val, pattern", [
    ("m-{val_acc:.3f}.ebana", True, r"ModelCheckpoint file name .*'val_acc'.*available: .*'val_accuracy'"),
    ("m-{val_loss:.3f}.ebana", False, r"'val_loss'.*validation_data"),  # no validation data this run
    ("m-{epoch:03d}-{}.ebana", False, r"ModelCheckpoint file name .*positional"),
    ("m-{loss:03d}.ebana", False, r"cannot be filled.*ValueError"),  # an int format for a float metric
])
def test_model_checkpoint_with_an_unknown_metric_fails_before_training(tmp_path, template, with_val, pattern):
    model = frozen()
    model.compile(optimizer=Adam(lr=1e-6), loss="mse", beta=1e-6)
    before = model.get_weights()
    val = (X, Y) if with_val else None
    with pytest.raises(ValidationError, match=pattern):
        model.fit(X, Y, epochs=1, batch_size=4, verbose=0, validation_data=val,
                  callbacks=[ModelCheckpoint(tmp_path / template)])
    assert model.compiled["optimizer"].steps == 0
    for k, v in model.get_weights().items():
        np.testing.assert_array_equal(v, before[k])


def test_model_checkpoint_with_known_metrics_writes_them(tmp_path):
    cb = ModelCheckpoint(tmp_path / "m-{epoch:02d}-{val_accuracy:.3f}-{mae:.2f}.ebana", monitor="loss")
    frozen().fit(X, Y, epochs=1, batch_size=4, shuffle=False, verbose=0, validation_data=(X, Y), callbacks=[cb])
    assert len(cb.saved) == 1 and cb.saved[0].split("/")[-1].startswith("m-01-")


def test_early_stopping_with_an_unknown_monitor_fails_before_training():
    model = frozen()
    with pytest.raises(ValidationError, match="monitors 'val_loss'.*validation_data"):
        model.fit(X, Y, epochs=1, batch_size=4, verbose=0, callbacks=[EarlyStopping()])
    assert model.compiled["optimizer"].steps == 0


def _full_disk_after(calls):
    """A stand-in for the CSV writer that fills the disk after ``calls`` successful writes."""
    real = callbacks_module._append_text
    done = []

    def write(path, text):
        if len(done) >= calls:
            raise OSError(errno.ENOSPC, "No space left on device")
        done.append(text)
        real(path, text)
    return write


def test_csv_logger_on_a_full_disk_fails_before_training_naming_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(callbacks_module, "_append_text", _full_disk_after(0))
    model = frozen()
    with pytest.raises(EbanaError, match=r"CSVLogger file '.*log\.csv'.*disk is full.*nothing was trained"):
        model.fit(X, Y, epochs=2, batch_size=4, verbose=0, callbacks=[CSVLogger(tmp_path / "log.csv")])
    assert model.compiled["optimizer"].steps == 0


def test_csv_logger_disk_full_mid_run_is_an_ebana_error_naming_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(callbacks_module, "_append_text", _full_disk_after(2))  # header and epoch 1
    with pytest.raises(EbanaError, match=r"CSVLogger file '.*log\.csv'.*disk is full.*epoch 2"):
        frozen().fit(X, Y, epochs=3, batch_size=4, shuffle=False, verbose=0, callbacks=[CSVLogger(tmp_path / "log.csv")])
    rows = list(csv.DictReader(open(tmp_path / "log.csv")))
    assert [r["epoch"] for r in rows] == ["1"]


def test_csv_logger_header_is_written_before_training_with_the_run_metrics(tmp_path):
    h = frozen().fit(X, Y, epochs=2, batch_size=4, shuffle=False, verbose=0, validation_data=(X, Y),
                     callbacks=[CSVLogger(tmp_path / "log.csv")])
    rows = list(csv.DictReader(open(tmp_path / "log.csv")))
    assert set(rows[0]) == {"epoch", *h.metrics}
    assert [float(r["val_loss"]) for r in rows] == h["val_loss"]
