"""Layers that drive nets with voltage sources."""
import numpy as np

from ..errors import ShapeError
from ..validation import check_array
from .base import Layer, check_units
from .bias import BiasSources


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


class BiasVoltageLayer(BiasSources, Layer):
    """``units`` voltage sources to ground at ``bias_voltage`` (V, scalar or one per unit).

    With ``trainable=True`` EP learns the voltages (see :mod:`ebana.layers.bias`),
    kept within ``[bias_min, bias_max]`` (V); ``lr`` is this layer's learning
    rate (None: the optimizer's).

    >>> b = BiasVoltageLayer(units=2, name="b", bias_voltage=[1.0, -1.0], trainable=True)
    """
    is_source = True

    def __init__(self, units, name, bias_voltage=1.0, trainable=False, lr=None, bias_min=-1.0, bias_max=1.0):
        super().__init__(name)
        self.units = check_units(units, f"BiasVoltageLayer {name!r}")
        values = check_array(bias_voltage, f"bias_voltage of BiasVoltageLayer {name!r} (V)", -1e3, 1e3)
        if values.ndim > 1 or (values.ndim == 1 and values.shape[0] != self.units):
            raise ShapeError(f"BiasVoltageLayer {name!r} expected a scalar or {self.units} bias voltages, "
                             f"received shape {values.shape}")
        self._init_bias(np.broadcast_to(values, (self.units,)), trainable, lr, bias_min, bias_max)

    def lower(self, builder, input_nodes):
        nodes = builder.nodes(self.name, self.units)
        self.vs_slice = builder.vsources(self.name, nodes, 0, self.bias_voltage)
        return nodes

    def get_config(self):
        cfg = {"units": self.units, "name": self.name, **self._bias_config()}
        bv = self.bias_voltage
        cfg["bias_voltage"] = float(bv[0]) if np.all(bv == bv[0]) else bv.tolist()
        return cfg
