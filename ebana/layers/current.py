"""Output layer: current sources that nudge the output nets in EP's second phase."""
import numpy as np

from ..backends.arrays import array_namespace
from ..errors import ShapeError
from .base import Layer, device_index


class CurrentLayer(Layer):
    """One current source into each of its nets (0 A in the free phase).

    The readout is the net voltages (V), or with ``fold=True`` the
    differential pairs ``V[2k] - V[2k+1]`` (half as many outputs).

    >>> from ebana import DenseLayer, InputVoltageLayer
    >>> h = DenseLayer(units=6, name="d1")(InputVoltageLayer(units=2, name="x"))
    >>> CurrentLayer(name="out", fold=True)(h).units   # 6 nets read as 3 differential outputs
    3
    """

    def __init__(self, name, fold=False):
        super().__init__(name)
        self.fold = bool(fold)

    def _output_units(self, parent_units):
        n = parent_units[0]
        if self.fold and n % 2:
            raise ShapeError(f"CurrentLayer {self.name!r} with fold=True needs an even number of nets "
                             f"(differential pairs), received {n}")
        return n // 2 if self.fold else n

    def lower(self, builder, input_nodes):
        builder.isources(self.name, input_nodes)
        self.nodes = np.asarray(input_nodes)
        return input_nodes

    def readout(self, v):
        """Output values (V) from node voltages ``v`` (B, n_nodes): shape (B, units), on ``v``'s device."""
        xp = array_namespace(v)
        vn = v[:, self.nodes if xp is np else device_index(self, "nodes", xp)]
        return vn[:, 0::2] - vn[:, 1::2] if self.fold else vn

    def currents(self, dloss_dy, beta):
        """Nudging currents (A) into the nets, ``-beta * dL/dV``, for ``dL/dy`` of the readout
        (on the device ``dloss_dy`` lives on)."""
        xp = array_namespace(dloss_dy)
        g = xp.asarray(dloss_dy, dtype=float)
        if self.fold:
            per_net = xp.empty((g.shape[0], 2 * g.shape[1]))
            per_net[:, 0::2], per_net[:, 1::2] = g, -g
            g = per_net
        return -beta * g

    def get_config(self):
        return {"name": self.name, "fold": self.fold}
