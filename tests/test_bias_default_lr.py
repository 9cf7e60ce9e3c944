"""Trainable biases train under the default optimizers: a learning rate in V from their range (issue 25)."""
import numpy as np
import pytest
from test_bias_training import BATCH, bias_network

from ebana import ValidationError
from ebana.training import Adam

BIASES = ("b", "c1", "c2")


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "rmsprop"])
def test_trainable_biases_train_with_the_default_optimizer(optimizer):
    model = bias_network("native").compile(optimizer=optimizer, loss="mse")
    before = {n: model.layer(n).bias_voltage.copy() for n in BIASES}
    h = model.fit(BATCH["x"], BATCH["out"], epochs=2, batch_size=2, verbose=0)
    assert np.isfinite(h["loss"]).all()
    for n in BIASES:
        layer = model.layer(n)
        moved = np.abs(layer.bias_voltage - before[n])
        span = layer.bias_max - layer.bias_min
        assert moved.max() > 0, n
        if optimizer != "sgd":  # Adam/RMSprop steps are about lr = 0.5% of the range each (4 steps here)
            assert moved.max() <= 4 * 0.0055 * span, (n, moved)


def test_a_parameter_without_any_learning_rate_is_refused_at_compile():
    model = bias_network("native")
    del model.layer("c1").bias_min  # a layer with no value range, as a user's own layer may be
    with pytest.raises(ValidationError, match=r"DiodeLayer 'c1' has trainable parameters but no lr.*Adam\(lr="):
        model.compile(optimizer="adam", loss="mse")
    model.compile(optimizer=Adam(lr=1e-3), loss="mse")  # an explicit rate covers it
