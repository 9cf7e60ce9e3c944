"""Every layer round-trips through get_config / from_config."""
import numpy as np
import pytest

from ebana.devices import DeviceVariation
from ebana.layers import (AmplificationLayer, AveragePooling2DLayer, BiasVoltageLayer, ConcatenateLayer, CurrentLayer,
                          DenseLayer, DiodeLayer, FlattenLayer, InputVoltageLayer, LAYER_CLASSES,
                          LocallyConnected2DLayer, MemristorDenseLayer, ReshapeLayer)

LAYERS = [
    InputVoltageLayer(units=3, name="x"),
    BiasVoltageLayer(units=2, name="b", bias_voltage=[0.5, -0.5]),
    BiasVoltageLayer(units=2, name="b2", bias_voltage=1.0),
    ConcatenateLayer(name="j"),
    DenseLayer(units=4, name="d", initializer=("uniform", 1e-6, 1e-5), lr=0.5, g_min=1e-8, g_max=1e-3),
    DenseLayer(units=4, name="q", levels=3),
    DiodeLayer(name="c", direction="up", bias_voltage=0.2, param={"VTH": 0.1, "RON": 50.0}),
    DiodeLayer(name="r", kind="real", param={"IS": 1e-12, "N": 1.5}),
    AmplificationLayer(name="a", param={"gain": 3.0, "shift": 0.1}),
    CurrentLayer(name="out", fold=True),
    MemristorDenseLayer(units=2, name="m", variation=DeviceVariation(shift_d2d=0.1), max_pulses=2),
    InputVoltageLayer(shape=(28, 28, 2), name="img"),
    LocallyConnected2DLayer(4, (3, 2), name="l", strides=(2, 1), initializer=("uniform", 1e-6, 1e-5), lr=0.5,
                            g_min=1e-8, g_max=1e-3, variability={"sigma": 0.1}, levels=4),
    AveragePooling2DLayer((2, 3), name="p", strides=1, conductance=2e-4),
    FlattenLayer(name="f"),
    ReshapeLayer((7, 4, 1), name="r"),
]


@pytest.mark.parametrize("layer", LAYERS, ids=lambda l: type(l).__name__ + ":" + l.name)
def test_config_round_trip(layer):
    cfg = layer.get_config()
    clone = type(layer).from_config(cfg)
    assert type(clone) is type(layer)
    assert clone.get_config() == cfg


def test_every_layer_class_is_covered():
    assert {type(l).__name__ for l in LAYERS} == set(LAYER_CLASSES)
