"""A conductance crossbar: one resistor from every input net to every output net."""
import numpy as np

from ..errors import ValidationError
from ..validation import check_number
from .base import Layer, check_units
from .initializers import initial_conductances


class DenseLayer(Layer):
    """Crossbar of ``n_in x units`` conductances ``G`` (S) onto ``units`` new nets.

    The output voltage of unit ``j`` is the conductance-weighted mean of the
    inputs it sees (Kirchhoff), pulled by whatever else hangs on the net.

    Args:
        units: number of output nets.
        name: layer name (letters, digits, single underscores).
        initializer: see :func:`~ebana.layers.initializers.initial_conductances`.
        lr: learning rate of this layer (None: the optimizer's).
        trainable: whether EP updates ``G``.
        g_min, g_max: bounds of every conductance (S), ``0 < g_min < g_max``.

    >>> # h = DenseLayer(units=4, name="d1", g_min=1e-7, g_max=1e-4)(x)
    """

    def __init__(self, units, name, initializer="uniform", lr=None, trainable=True,
                 g_min=1e-7, g_max=1e-4):
        super().__init__(name)
        self.out_units = check_units(units, f"DenseLayer {name!r}")
        self.initializer = initializer
        self.lr = None if lr is None else check_number(lr, f"lr of DenseLayer {name!r}", 0)
        self.trainable = bool(trainable)
        self.g_min = check_number(g_min, f"g_min of DenseLayer {name!r} (S)", 0, 1e3, low_open=True)
        self.g_max = check_number(g_max, f"g_max of DenseLayer {name!r} (S)", 0, 1e3, low_open=True)
        if self.g_max <= self.g_min:
            raise ValidationError(f"DenseLayer {name!r}: g_max ({g_max} S) must exceed g_min ({g_min} S)")
        self.g = None

    def _check_parents(self, parents, many):
        if len(parents) != 1:
            super()._check_parents(parents, many)

    def _output_units(self, parent_units):
        return self.out_units

    def build(self, input_units, rng):
        if self.g is None:
            self.g = initial_conductances(self.initializer, (input_units, self.out_units),
                                          self.g_min, self.g_max, rng, self.describe())
        self.built = True

    def lower(self, builder, input_nodes):
        out = builder.nodes(self.name, self.out_units)
        builder.resistors(self.name, input_nodes[:, None], out[None, :])
        self.input_nodes, self.output_nodes = np.asarray(input_nodes), out
        return out

    def parameters(self):
        return {self.name: self.g} if self.trainable else {}

    def conductances(self):
        return self.g.ravel()

    def clip(self):
        """Keep every conductance within ``[g_min, g_max]`` (in place)."""
        np.clip(self.g, self.g_min, self.g_max, out=self.g)

    def drops(self, v):
        """Voltage drops (V) across every conductance, ``(B, n_in, units)``, from node voltages ``v``."""
        return v[:, self.input_nodes][:, :, None] - v[:, self.output_nodes][:, None, :]

    def ep_gradient(self, v_low, v_high, span, per_sample=False):
        """EP estimate of dL/dG (V^2/S per V^2 of loss, with G in S) from two phases:
        ``(dV_high**2 - dV_low**2) / (2 * span)``, where (low, high, span) is
        (free, nudged, beta) or, symmetric, (-beta phase, +beta phase, 2 beta).
        Summed over the batch, or ``(B, n_in, units)`` when ``per_sample``."""
        per = (self.drops(v_high) ** 2 - self.drops(v_low) ** 2) / (2.0 * span)
        return per if per_sample else per.sum(axis=0)

    def get_config(self):
        init = self.initializer
        if isinstance(init, np.ndarray):
            init = init.tolist()
        return {"units": self.out_units, "name": self.name, "initializer": init, "lr": self.lr,
                "trainable": self.trainable, "g_min": self.g_min, "g_max": self.g_max}
