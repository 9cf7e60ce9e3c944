"""ebana: train analog neural networks as circuits, in Ngspice, with Equilibrium Propagation."""
from . import _moved
from .errors import DataNotFoundError, EbanaError, GraphError, ShapeError, SimulatorError, ValidationError
from .layers import (AmplificationLayer, AveragePooling2DLayer, BiasVoltageLayer, ConcatenateLayer, CurrentLayer,
                     DenseLayer, DiodeLayer, FlattenLayer, InputVoltageLayer, LocallyConnected2DLayer,
                     MemristorDenseLayer, ReshapeLayer, Wires)
from .model import Model
from .saving.restore import load_model
from .training import MSE, SGD, Adam, CrossEntropy, DataLoader, History, MeanAbsoluteError, MeanSquaredError, RMSprop

_moved.install()  # old import paths (ebana.backends.native_layered, ...) keep working

__version__ = "0.1.0"
__all__ = [
    "Model", "load_model", "InputVoltageLayer", "BiasVoltageLayer", "ConcatenateLayer", "DenseLayer", "DiodeLayer",
    "AmplificationLayer", "CurrentLayer", "MemristorDenseLayer", "LocallyConnected2DLayer", "AveragePooling2DLayer",
    "FlattenLayer", "ReshapeLayer", "Wires", "MSE", "MeanSquaredError", "MeanAbsoluteError", "CrossEntropy", "SGD", "Adam",
    "RMSprop", "DataLoader", "History",
    "DataNotFoundError", "EbanaError", "GraphError", "ShapeError", "SimulatorError", "ValidationError",
]
