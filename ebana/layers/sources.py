"""Layers that drive nets with voltage sources."""
import numpy as np

from ..errors import ShapeError
from ..validation import check_array
from .base import Layer, check_units


class InputVoltageLayer(Layer):
    """``units`` voltage sources to ground whose values (V) come from the data,
    one row per sample, keyed by the layer's name.

    >>> x = InputVoltageLayer(units=2, name="x")
    """
    is_source = True

    def __init__(self, units, name):
        super().__init__(name)
        self.units = check_units(units, f"InputVoltageLayer {name!r}")

    def lower(self, builder, input_nodes):
        nodes = builder.nodes(self.name, self.units)
        builder.vsources(self.name, nodes, 0, 0.0)
        return nodes

    def get_config(self):
        return {"units": self.units, "name": self.name}


class BiasVoltageLayer(Layer):
    """``units`` fixed voltage sources to ground at ``bias_voltage`` (V, scalar or one per unit).

    >>> b = BiasVoltageLayer(units=1, name="b", bias_voltage=1.0)
    """
    is_source = True

    def __init__(self, units, name, bias_voltage=1.0):
        super().__init__(name)
        self.units = check_units(units, f"BiasVoltageLayer {name!r}")
        values = check_array(bias_voltage, f"bias_voltage of BiasVoltageLayer {name!r} (V)", -1e3, 1e3)
        if values.ndim > 1 or (values.ndim == 1 and values.shape[0] != self.units):
            raise ShapeError(f"BiasVoltageLayer {name!r} expected a scalar or {self.units} bias voltages, "
                             f"received shape {values.shape}")
        self.bias_voltage = np.broadcast_to(values, (self.units,)).copy()

    def lower(self, builder, input_nodes):
        nodes = builder.nodes(self.name, self.units)
        builder.vsources(self.name, nodes, 0, self.bias_voltage)
        return nodes

    def get_config(self):
        bv = self.bias_voltage
        return {"units": self.units, "name": self.name,
                "bias_voltage": float(bv[0]) if np.all(bv == bv[0]) else bv.tolist()}
