"""ebana: train analog neural networks as circuits, in Ngspice, with Equilibrium Propagation."""
from .errors import EbanaError, GraphError, ShapeError, SimulatorError, ValidationError
from .layers import (AmplificationLayer, BiasVoltageLayer, ConcatenateLayer, CurrentLayer, DenseLayer,
                     DiodeLayer, InputVoltageLayer, MemristorDenseLayer)
from .model import Model
from .saving import load_model
from .training import MSE, SGD, Adam, CrossEntropy, DataLoader, History

__version__ = "0.1.0"
__all__ = [
    "Model", "load_model", "InputVoltageLayer", "BiasVoltageLayer", "ConcatenateLayer", "DenseLayer", "DiodeLayer",
    "AmplificationLayer", "CurrentLayer", "MemristorDenseLayer", "MSE", "CrossEntropy", "SGD", "Adam", "DataLoader", "History",
    "EbanaError", "GraphError", "ShapeError", "SimulatorError", "ValidationError",
]
