"""Layers of the functional graph API."""
from .amplification import AmplificationLayer
from .base import Layer
from .concatenate import ConcatenateLayer
from .current import CurrentLayer
from .dense import DenseLayer
from .diode import DiodeLayer
from .memristor_dense import MemristorDenseLayer
from .sources import BiasVoltageLayer, InputVoltageLayer

LAYER_CLASSES = {cls.__name__: cls for cls in (
    InputVoltageLayer, BiasVoltageLayer, ConcatenateLayer, DenseLayer, DiodeLayer,
    AmplificationLayer, CurrentLayer, MemristorDenseLayer)}

__all__ = list(LAYER_CLASSES) + ["Layer", "LAYER_CLASSES"]
