"""Join the nets of several layers into one list (no elements)."""
from ..errors import GraphError
from .base import Layer


class ConcatenateLayer(Layer):
    """Nets of its parents, in order.

    >>> from ebana import BiasVoltageLayer, InputVoltageLayer
    >>> x, b = InputVoltageLayer(units=2, name="x"), BiasVoltageLayer(units=2, name="b")
    >>> ConcatenateLayer(name="j")([x, b]).units
    4
    """

    def _check_parents(self, parents, many):
        if len(parents) < 1:
            raise GraphError(f"{self.describe()} needs at least one parent layer")
        if len({id(p) for p in parents}) != len(parents):
            raise GraphError(f"{self.describe()} received the same layer twice")

    def _output_units(self, parent_units):
        return sum(parent_units)

    def lower(self, builder, input_nodes):
        return input_nodes
