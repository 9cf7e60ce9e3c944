"""Losses refuse what they cannot handle; metrics follow the loss (MAE for regression)."""
import numpy as np
import pytest

from ebana import (BiasVoltageLayer, ConcatenateLayer, CurrentLayer, DenseLayer, InputVoltageLayer, Model,
                   ValidationError)
from ebana.training import MSE, Adam, CrossEntropy
from ebana.training.fit import evaluate, fit


def one_output_model():
    x = InputVoltageLayer(units=2, name="x")
    b = BiasVoltageLayer(units=1, name="b")
    h = DenseLayer(units=1, name="d")(ConcatenateLayer(name="j")([x, b]))
    return Model(inputs=[x, b], outputs=[CurrentLayer(name="out")(h)], backend="native")


X = np.random.default_rng(0).uniform(-1, 1, size=(8, 2))


def test_cross_entropy_on_one_output_is_refused_before_any_solve():
    model = one_output_model()
    before = model.conductances().copy()
    solves = model.backend.inner.solves if hasattr(model.backend.inner, "solves") else None
    with pytest.raises(ValidationError, match="CrossEntropy needs at least 2 readouts.*'out' has 1"):
        fit(model, {"x": X, "out": np.zeros(8, dtype=int)}, 1, CrossEntropy(), Adam(), 1e-6, verbose=False)
    np.testing.assert_array_equal(model.conductances(), before)
    if solves is not None:
        assert model.backend.inner.solves == solves
    with pytest.raises(ValidationError, match="at least 2 readouts"):
        CrossEntropy()(np.zeros((3, 1)), np.zeros(3, dtype=int))


def test_regression_targets_report_mae_not_accuracy():
    model = one_output_model()
    y = 0.05 * X[:, :1] + 0.01 * X[:, 1:]  # continuous targets (V)
    h = fit(model, {"x": X, "out": y}, 1, MSE(), Adam(lr=1e-6), 1e-6, verbose=False)
    assert "accuracy" not in h.metrics and "mae" in h.metrics
    readout = model.predict({"x": X})["out"]
    assert h["mae"][0] > 0
    result = evaluate(model, {"x": X, "out": y}, MSE())
    assert set(result) == {"loss", "mae"}
    assert result["mae"] == pytest.approx(np.mean(np.abs(readout - y)))
    with pytest.raises(ValidationError, match="not classes.*mae"):
        MSE().accuracy(readout, y)


def test_class_targets_keep_accuracy_and_task_pins_the_choice():
    t = np.where(X[:, :1] > 0, 0.1, -0.1)
    y = np.full_like(t, 0.05)
    assert MSE().metrics(y, t)["accuracy"] == np.mean(t > 0)
    assert "accuracy" not in MSE(task="regression").metrics(y, t)
    onehot = np.eye(3)[[0, 1, 2, 1]] * 0.2 - 0.1
    assert "accuracy" in MSE().metrics(np.zeros((4, 3)), onehot)
    with pytest.raises(ValidationError, match="task"):
        MSE(task="regress")


def test_regression_in_batches_of_one_sample_reports_no_accuracy():
    model = one_output_model()
    from ebana.training import DataLoader
    y = 0.05 * X[:, :1] + 0.01 * X[:, 1:]  # continuous targets: each batch of one has one level
    h = fit(model, DataLoader({"x": X, "out": y}, batch_size=1), 1, MSE(), Adam(lr=1e-6), 1e-6, verbose=False)
    assert "accuracy" not in h.metrics
    assert "accuracy" not in evaluate(model, DataLoader({"x": X, "out": y}, batch_size=1), MSE())
