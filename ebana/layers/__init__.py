"""Layers of the functional graph API."""
from .amplification import AmplificationLayer
from .base import Layer
from .concatenate import ConcatenateLayer
from .current import CurrentLayer
from .dense import DenseLayer
from .diode import DiodeLayer
from .locally_connected import LocallyConnected2DLayer
from .memristor_dense import MemristorDenseLayer
from .pooling import AveragePooling2DLayer
from .reshape import FlattenLayer, ReshapeLayer
from .sources import BiasVoltageLayer, InputVoltageLayer
from .wires import Wires

LAYER_CLASSES = {cls.__name__: cls for cls in (
    InputVoltageLayer, BiasVoltageLayer, ConcatenateLayer, DenseLayer, DiodeLayer,
    AmplificationLayer, CurrentLayer, MemristorDenseLayer, LocallyConnected2DLayer, AveragePooling2DLayer,
    FlattenLayer, ReshapeLayer)}

__all__ = list(LAYER_CLASSES) + ["Layer", "LAYER_CLASSES", "Wires"]
