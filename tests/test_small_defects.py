"""Small defects a new user met: predict(batch_size=0), warnings for bias layers, (N,) targets."""
import warnings

import numpy as np
import pytest

from ebana import (AmplificationLayer, BiasVoltageLayer, ConcatenateLayer, CurrentLayer, DenseLayer,
                   InputVoltageLayer, Model, ValidationError)
from ebana.training import MSE, Adam
from ebana.training.fit import evaluate, fit
from networks import xor_like

X = np.random.default_rng(0).uniform(-1, 1, size=(6, 2))


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "8"])
def test_predict_batch_size_must_be_a_positive_int(bad):
    with pytest.raises(ValidationError, match="predict: batch_size must be a positive int"):
        xor_like("native").predict({"x": X}, batch_size=bad)


def test_no_gain_warning_for_a_bias_layer_without_conductances():
    x = InputVoltageLayer(units=2, name="x")
    b = BiasVoltageLayer(units=1, name="b")
    h = DenseLayer(units=2, name="d1")(ConcatenateLayer(name="j1")([x, b]))
    h = AmplificationLayer(name="a1", param={"gain": 2.0, "shift": 0.0})(h)
    h = DenseLayer(units=1, name="d2")(ConcatenateLayer(name="j2")([h, b]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Model(inputs=[x, b], outputs=[CurrentLayer(name="out")(h)], backend="native")


def test_targets_of_shape_n_are_accepted_for_one_unit_outputs():
    x = InputVoltageLayer(units=2, name="x")
    b = BiasVoltageLayer(units=1, name="b")
    h = DenseLayer(units=1, name="d")(ConcatenateLayer(name="j")([x, b]))
    model = Model(inputs=[x, b], outputs=[CurrentLayer(name="out")(h)], backend="native")
    y = np.where(X[:, 0] > 0, 0.1, -0.1)  # shape (N,), like the inputs a one-unit layer accepts
    h = fit(model, {"x": X, "out": y}, 1, MSE(), Adam(lr=1e-6), 1e-6, verbose=False)
    assert np.isfinite(h["loss"][0])
    assert evaluate(model, {"x": X, "out": y}, MSE())["loss"] == pytest.approx(
        evaluate(model, {"x": X, "out": y[:, None]}, MSE())["loss"])
