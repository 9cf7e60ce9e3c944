"""Change how a layer's nets are laid out (no circuit elements, no new nets)."""
import numpy as np

from ..errors import ShapeError, ValidationError
from .base import Layer


class ReshapeLayer(Layer):
    """The parent's nets, in the same order, seen with layout ``target_shape``
    (e.g. ``(784,)`` -> ``(28, 28, 1)``). The product must match.

    >>> from ebana import InputVoltageLayer
    >>> ReshapeLayer((28, 28, 2), name="img")(InputVoltageLayer(units=1568, name="x")).shape
    (28, 28, 2)
    """

    def __init__(self, target_shape, name):
        super().__init__(name)
        try:
            dims = tuple(target_shape)
        except TypeError:
            dims = (target_shape,)
        if not dims or any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1 for d in dims):
            raise ValidationError(f"{self.describe()}: target_shape must be positive ints, received {target_shape!r}")
        self.target_shape = tuple(int(d) for d in dims)

    def _output_units(self, parent_units):
        n = int(np.prod(self.target_shape))
        if n != parent_units[0]:
            raise ShapeError(f"{self.describe()} cannot lay out {parent_units[0]} nets as {self.target_shape} "
                             f"({n} nets)")
        return n

    def _output_shape(self, parent_shapes):
        return self.target_shape

    def lower(self, builder, input_nodes):
        return input_nodes

    def get_config(self):
        return {"target_shape": list(self.target_shape), "name": self.name}


class FlattenLayer(Layer):
    """The parent's nets, in the same order (C order of its layout), as a flat list.

    >>> from ebana import InputVoltageLayer
    >>> FlattenLayer(name="flat")(InputVoltageLayer(shape=(4, 4, 2), name="x")).shape
    (32,)
    """

    def lower(self, builder, input_nodes):
        return input_nodes
