"""Layers that drive nets with voltage sources."""
import numpy as np

from ..backends.arrays import to_host
from ..errors import ShapeError
from ..validation import check_array
from .base import Layer, check_units
from .bias import BiasSources


class InputVoltageLayer(Layer):
    """Voltage sources to ground whose values (V) come from the data, one row per
    sample, keyed by the layer's name.

    Give either ``units`` (a flat list of nets) or ``shape`` (a layout such as an
    image ``(rows, cols, channels)``, channels last; ``units`` is then its product,
    and a batch may come as ``(B, *shape)`` or flattened in C order, ``(B, units)``).

    >>> x = InputVoltageLayer(units=2, name="x")
    >>> img = InputVoltageLayer(shape=(28, 28, 2), name="img")   # 1568 sources
    """
    is_source = True

    def __init__(self, units=None, name=None, shape=None):
        super().__init__(name)
        who = f"InputVoltageLayer {name!r}"
        if shape is None:
            if units is None:
                raise ShapeError(f"{who} needs units= or shape=")
            self.units = check_units(units, who)
        else:
            if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
                shape = (shape,)
            try:
                dims = tuple(check_units(d, f"{who} (shape {shape!r})") for d in shape)
            except TypeError:
                raise ShapeError(f"{who}: shape must be a tuple of positive ints, received {shape!r}") from None
            if not dims:
                raise ShapeError(f"{who}: shape must have at least one dimension")
            self.units = int(np.prod(dims))
            if units is not None and check_units(units, who) != self.units:
                raise ShapeError(f"{who}: units={units} disagrees with shape {dims} ({self.units} nets)")
            self._shape = dims

    def lower(self, builder, input_nodes):
        nodes = builder.nodes(self.name, self.units)
        builder.vsources(self.name, nodes, 0, 0.0)
        return nodes

    def get_config(self):
        config = {"units": self.units, "name": self.name}
        if self.shape != (self.units,):
            config["shape"] = list(self.shape)
        return config


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
        bv = to_host(self.bias_voltage)
        cfg["bias_voltage"] = float(bv[0]) if np.all(bv == bv[0]) else bv.tolist()
        return cfg
