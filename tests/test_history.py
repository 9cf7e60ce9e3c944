"""History: metric bookkeeping, HDF5 round trip, layout checks, plotting."""
import math
import os

import h5py
import numpy as np
import pytest

from ebana.errors import ShapeError, ValidationError
from ebana.training import History


def filled(n=5):
    h = History()
    for e in range(n):
        h.append({"loss": 1.0 / (e + 1), "accuracy": min(1.0, 0.5 + 0.1 * e),
                  "val_loss": 1.2 / (e + 1), "val_accuracy": min(1.0, 0.4 + 0.1 * e),
                  "epoch_time_s": 0.25})
    return h


def test_append_aligns_late_and_missing_metrics():
    h = History()
    h.append({"loss": 1.0})
    h.append({"loss": 0.5, "val_loss": 0.7})
    h.append({"val_loss": 0.6})
    assert h.num_epochs == 3
    assert h["loss"][:2] == [1.0, 0.5] and math.isnan(h["loss"][2])
    assert math.isnan(h["val_loss"][0]) and h["val_loss"][1:] == [0.7, 0.6]
    with pytest.raises(ValidationError, match="'loss'"):
        h.append({"loss": "high"})


def test_hdf5_round_trip_with_voltages(tmp_path):
    h = filled()
    h.add_voltages(0, "free", np.linspace(-1, 1, 6).reshape(2, 3))
    h.add_voltages(4, "nudged", np.ones((2, 3)) * 0.3)
    path = tmp_path / "hist.h5"
    h.save(path)
    assert os.listdir(tmp_path) == ["hist.h5"]  # temp file renamed away
    back = History.load(path)
    assert back.num_epochs == 5
    assert back.metrics == h.metrics
    assert set(back.voltages) == {(0, "free"), (4, "nudged")}
    np.testing.assert_array_equal(back.voltages[(0, "free")], h.voltages[(0, "free")])
    with h5py.File(path, "r") as f:
        assert f.attrs["format"] == "ebana-history" and f.attrs["version"] == 1


def test_nan_padding_survives_round_trip(tmp_path):
    h = History()
    h.append({"loss": 1.0})
    h.append({"loss": 0.5, "val_loss": 0.6})
    h.save(tmp_path / "h.h5")
    back = History.load(tmp_path / "h.h5")
    assert math.isnan(back["val_loss"][0]) and back["val_loss"][1] == 0.6


def test_load_refuses_foreign_hdf5(tmp_path):
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f.create_dataset("loss", data=np.ones(3))
    with pytest.raises(ValidationError, match=r"foreign\.h5.*format"):
        History.load(foreign)


def tamper(path, edit):
    with h5py.File(path, "a") as f:
        edit(f)


@pytest.mark.parametrize("edit, why", [
    (lambda f: f["metrics"].create_dataset("bad", data=np.ones((5, 2))), "1-D float"),
    (lambda f: f["metrics"].create_dataset("text", data=np.array([b"a"] * 5)), "1-D float"),
    (lambda f: f["metrics"].create_dataset("short", data=np.ones(3)), "3 epochs"),
    (lambda f: f.attrs.__setitem__("version", 2), "version"),
    (lambda f: f.create_group("extra"), "top-level"),
])
def test_load_refuses_broken_layout(tmp_path, edit, why):
    path = tmp_path / "h.h5"
    filled().save(path)
    tamper(path, edit)
    with pytest.raises(ValidationError, match=rf"h\.h5.*{why}"):
        History.load(path)


def test_load_refuses_missing_and_non_hdf5(tmp_path):
    with pytest.raises(ValidationError, match="does not exist"):
        History.load(tmp_path / "nope.h5")
    text = tmp_path / "text.h5"
    text.write_text("hello")
    with pytest.raises(ValidationError, match=r"text\.h5.*not an HDF5"):
        History.load(text)


def test_plot_writes_png(tmp_path):
    path = tmp_path / "curves.png"
    filled(8).plot(path, title="XOR")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    with pytest.raises(ShapeError):
        History().plot(tmp_path / "empty.png")


def test_add_voltages_validation():
    with pytest.raises(ValidationError):
        History().add_voltages(-1, "free", np.zeros(2))
    with pytest.raises(ValidationError):
        History().add_voltages(0, "free phase", np.zeros(2))
