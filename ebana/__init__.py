"""ebana: train analog neural networks as circuits, in Ngspice, with Equilibrium Propagation."""
from .errors import EbanaError, GraphError, ShapeError, SimulatorError, ValidationError
from .layers import (AmplificationLayer, BiasVoltageLayer, ConcatenateLayer, CurrentLayer, DenseLayer,
                     DiodeLayer, InputVoltageLayer)
from .model import Model

__version__ = "0.1.0"
__all__ = [
    "Model", "InputVoltageLayer", "BiasVoltageLayer", "ConcatenateLayer", "DenseLayer", "DiodeLayer",
    "AmplificationLayer", "CurrentLayer",
    "EbanaError", "GraphError", "ShapeError", "SimulatorError", "ValidationError",
]
