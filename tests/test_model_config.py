"""A model saved as layer configs plus edges comes back equal, and with its weights, equal in Ngspice."""
import json

import numpy as np
import pytest

from ebana import GraphError, Model, ValidationError
from ebana.networks import clamped_mlp
from networks import xor_like


def test_round_trip_through_json_rebuilds_the_same_circuit(tmp_path):
    model = xor_like("ngspice", seed=4)
    config = json.loads(json.dumps(model.get_config()))  # plain data
    clone = Model.from_config(config, backend="ngspice")
    assert clone.get_config() == config
    assert [l.name for l in clone.layers] == [l.name for l in model.layers]
    assert clone.circuit.node_names == model.circuit.node_names
    np.testing.assert_array_equal(clone.conductances(), model.conductances())  # same seed, same draw
    for layer in model.layers:
        if layer.parameters():
            layer.g *= 0.9  # trained weights differ from the initial draw
    model.save_weights(tmp_path / "w.pkl")
    clone.load_weights(tmp_path / "w.pkl")
    x = {"x": np.array([[1.0, 0.0], [0.0, 1.0]])}
    np.testing.assert_array_equal(clone.solve(x).v, model.solve(x).v)


def test_bias_inputs_and_noise_options_survive():
    model = clamped_mlp(4, 3, 2, backend="native", seed=1)
    config = model.get_config()
    assert config["inputs"] == ["x", "b"] and config["outputs"] == ["out"]
    clone = Model.from_config(config, backend="native")
    assert clone.netlist({"x": [0.1, 0.2, 0.3, 0.4]}) == model.netlist({"x": [0.1, 0.2, 0.3, 0.4]})


@pytest.mark.parametrize("mutate, error", [
    (lambda c: c.update(format="other"), ValidationError),
    (lambda c: c["layers"][3].update(parents=["nowhere"]), GraphError),
    (lambda c: c["layers"][3].update({"class": "EvilLayer"}), ValidationError),
    (lambda c: c.update(outputs=["ghost"]), GraphError),
    (lambda c: c["layers"][3]["config"].update(name="bad\nname"), ValidationError),
])
def test_bad_configs_are_refused(mutate, error):
    config = xor_like("native").get_config()
    mutate(config)
    with pytest.raises(error):
        Model.from_config(config, backend="native")
