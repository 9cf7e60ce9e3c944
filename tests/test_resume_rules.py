"""Checkpoints resume only the run that wrote them; a finished run asked for more epochs trains them."""
import numpy as np
import pytest

from ebana import ValidationError
from ebana.training import MSE, Adam, DataLoader
from ebana.training.fit import fit
from networks import xor_like

X = np.random.default_rng(0).uniform(-1, 1, size=(6, 2))
Y = np.where(X[:, :1] * X[:, 1:] > 0, -0.2, 0.2)


def loader():
    return DataLoader({"x": X, "out": Y}, batch_size=3, shuffle=True, seed=2)


def test_finished_run_asked_for_more_epochs_trains_them(tmp_path):
    ckpt = tmp_path / "c.pkl"
    fit(xor_like("native", seed=1), loader(), 3, MSE(), Adam(lr=1e-6), 1e-6, verbose=False, checkpoint=ckpt)
    fresh = xor_like("native", seed=1)
    h = fit(fresh, loader(), 10, MSE(), Adam(lr=1e-6), 1e-6, verbose=False, checkpoint=ckpt)
    assert h.num_epochs == 10
    # and the longer run equals a straight 10-epoch run
    straight = xor_like("native", seed=1)
    h_straight = fit(straight, loader(), 10, MSE(), Adam(lr=1e-6), 1e-6, verbose=False)
    assert h["loss"] == h_straight["loss"]
    for k, v in straight.parameters().items():
        np.testing.assert_array_equal(v, fresh.parameters()[k])


def test_same_call_after_a_finished_run_trains_nothing_more(tmp_path):
    ckpt = tmp_path / "c.pkl"
    fit(xor_like("native", seed=1), loader(), 2, MSE(), Adam(lr=1e-6), 1e-6, verbose=False, checkpoint=ckpt)
    h = fit(xor_like("native", seed=1), loader(), 2, MSE(), Adam(lr=1e-6), 1e-6, verbose=False, checkpoint=ckpt)
    assert h.num_epochs == 2


@pytest.mark.parametrize("change, pattern", [
    ({"lr": 2e-6}, r"optimizer\.lr: 1e-06 in the file, 2e-06 now"),
    ({"beta": 2e-6}, r"beta: 1e-06 in the file, 2e-06 now"),
    ({"loss": MSE(midpoint=0.1)}, r"loss\.midpoint"),
    ({"seed": 5}, r"model\.seed: 1 in the file, 5 now"),
    ({"batch_size": 2}, r"batch_size: 3 in the file, 2 now"),
])
def test_checkpoint_of_another_run_is_refused_naming_the_difference(tmp_path, change, pattern):
    ckpt = tmp_path / "c.pkl"
    fit(xor_like("native", seed=1), loader(), 1, MSE(), Adam(lr=1e-6), 1e-6, verbose=False, checkpoint=ckpt)
    before = ckpt.read_bytes()
    model = xor_like("native", seed=change.get("seed", 1))
    weights = {k: v.copy() for k, v in model.parameters().items()}
    data = DataLoader({"x": X, "out": Y}, batch_size=change.get("batch_size", 3), shuffle=True, seed=2)
    with pytest.raises(ValidationError, match=pattern):
        fit(model, data, 1, change.get("loss", MSE()), Adam(lr=change.get("lr", 1e-6)),
            change.get("beta", 1e-6), verbose=False, checkpoint=ckpt)
    assert ckpt.read_bytes() == before
    for k, v in model.parameters().items():
        np.testing.assert_array_equal(v, weights[k])


@pytest.mark.parametrize("where", ["missing_folder", "under_a_file"])
def test_unwritable_checkpoint_path_fails_before_training(tmp_path, where):
    (tmp_path / "f.txt").write_text("")
    path = tmp_path / ("nope" if where == "missing_folder" else "f.txt") / "c.pkl"
    model = xor_like("native", seed=1)
    weights = {k: v.copy() for k, v in model.parameters().items()}
    with pytest.raises(ValidationError, match="not writable.*nothing was trained"):
        fit(model, loader(), 2, MSE(), Adam(lr=1e-6), 1e-6, verbose=False, checkpoint=path)
    for k, v in model.parameters().items():
        np.testing.assert_array_equal(v, weights[k])


def test_checkpoint_of_a_memristor_model_resumes_and_whole_model_save_is_refused_clearly(tmp_path):
    from ebana import (BiasVoltageLayer, ConcatenateLayer, CurrentLayer, InputVoltageLayer, MemristorDenseLayer,
                       Model)
    from ebana.training import SGD

    def build():
        x, b = InputVoltageLayer(units=2, name="x"), BiasVoltageLayer(units=1, name="b")
        h = MemristorDenseLayer(units=2, name="m1")(ConcatenateLayer(name="j")([x, b]))
        return Model(inputs=[x, b], outputs=[CurrentLayer(name="out", fold=True)(h)], backend="native")

    y = np.where(X[:, :1] > 0, 0.1, -0.1)
    ckpt = tmp_path / "c.pkl"
    fit(build(), {"x": X, "out": y}, 1, MSE(), SGD(lr=1e-9), 1e-6, verbose=False, checkpoint=ckpt)
    h = fit(build(), {"x": X, "out": y}, 2, MSE(), SGD(lr=1e-9), 1e-6, verbose=False, checkpoint=ckpt)
    assert h.num_epochs == 2
    with pytest.raises(ValidationError, match="MemristorDenseLayer 'm1'.*save_weights"):
        build().save(tmp_path / "m.ebana")
