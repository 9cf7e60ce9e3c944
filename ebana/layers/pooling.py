"""Average pooling as a circuit: equal fixed conductances from each window onto one new net."""
import warnings

import numpy as np

from ..errors import ShapeError
from ..validation import check_number
from .base import Layer
from .patches import image_dims, output_size, pair_of_ints, window_indices


class AveragePooling2DLayer(Layer):
    """For every ``pool_size`` window and channel of the input image, one new net joined to
    the window's nets by equal conductances ``conductance`` (S). Unloaded, the new net
    sits at the mean of the window's voltages; whatever else hangs on it pulls it
    away, as in any resistive network. The conductances are fixed, not trained.

    Input ``(rows, cols, channels)``; output ``(out_rows, out_cols, channels)`` with
    ``out = (in - pool) // strides + 1`` ('valid' windows only); the windows must reach the
    image's last row and column (``ShapeError`` otherwise). ``g`` has shape
    ``(out_rows * out_cols, channels, pr * pc)``, the C order of the resistors.

    Args:
        pool_size: window size, an int or ``(rows, cols)``.
        name: layer name.
        strides: window step (default: ``pool_size``, windows side by side).
        conductance: every resistor's conductance (S), in ``(0, 1e3]``.

    >>> from ebana import InputVoltageLayer
    >>> h = InputVoltageLayer(shape=(8, 8, 16), name="x")
    >>> AveragePooling2DLayer(2, name="p1", conductance=1e-4)(h).shape
    (4, 4, 16)
    """

    def __init__(self, pool_size, name, strides=None, conductance=1e-4):
        super().__init__(name)
        self.pool_size = pair_of_ints(pool_size, f"pool_size of {self.describe()}")
        self.strides = self.pool_size if strides is None else pair_of_ints(strides, f"strides of {self.describe()}")
        self.conductance = check_number(conductance, f"conductance of {self.describe()} (S)", 0, 1e3, low_open=True)
        # fixed values: equal bounds let weight files carry and check them like trained ones
        self.g_min = self.g_max = self.conductance
        self.in_dims = None
        self.g = None

    def _check_parents(self, parents, many):
        super()._check_parents(parents, many)
        self.in_dims = image_dims(parents[0].shape, self.describe(), parents[0])
        out_r, out_c = output_size(self.in_dims, self.pool_size, self.strides, self.describe())
        # rows/columns past the last window would be joined to nothing: a shape the windows do
        # not divide is refused (Keras would drop them silently)
        past = [(size - p) % st for size, p, st in zip(self.in_dims[:2], self.pool_size, self.strides)]
        if any(past):
            raise ShapeError(f"{self.describe()}: pool_size {self.pool_size} with strides {self.strides} does not "
                             f"divide the ({self.in_dims[0]}, {self.in_dims[1]}) image from {parents[0].describe()}: "
                             f"the last {past[0]} row(s) and {past[1]} column(s) would reach no output net; choose "
                             "a pool size and strides that divide the image, or crop it first")
        # rows/columns between windows (strides larger than the pool size) are joined to
        # nothing either: allowed, as an explicit choice, but said
        left = [size - len({i * st + k for i in range(n) for k in range(p)}) for size, n, st, p in
                zip(self.in_dims[:2], (out_r, out_c), self.strides, self.pool_size)]
        if any(left):
            warnings.warn(f"{self.describe()}: pool_size {self.pool_size} with strides {self.strides} does not "
                          f"cover the ({self.in_dims[0]}, {self.in_dims[1]}) image: {left[0]} row(s) and "
                          f"{left[1]} column(s) between windows reach no output net (their inputs are ignored); "
                          "strides equal to the pool size cover every pixel", stacklevel=3)

    def _output_units(self, parent_units):
        out_r, out_c = output_size(self.in_dims, self.pool_size, self.strides, self.describe())
        return out_r * out_c * self.in_dims[2]

    def _output_shape(self, parent_shapes):
        out_r, out_c = output_size(self.in_dims, self.pool_size, self.strides, self.describe())
        return (out_r, out_c, self.in_dims[2])

    def stored_shape(self, input_units):
        out_r, out_c = output_size(self.in_dims, self.pool_size, self.strides, self.describe())
        return (out_r * out_c, self.in_dims[2], self.pool_size[0] * self.pool_size[1])

    def build(self, input_units, rng):
        if self.g is None:
            n_windows = self.units // self.in_dims[2]
            self.g = np.full((n_windows, self.in_dims[2], self.pool_size[0] * self.pool_size[1]), self.conductance)
        self.built = True

    def lower(self, builder, input_nodes):
        out = builder.nodes(self.name, self.units)
        idx = window_indices(self.in_dims, self.pool_size, self.strides)  # (W, pr, pc, C)
        idx = idx.reshape(idx.shape[0], -1, self.in_dims[2]).transpose(0, 2, 1)  # (W, C, pr * pc)
        self.a_nodes = np.asarray(input_nodes)[idx]
        self.b_nodes = out.reshape(idx.shape[0], self.in_dims[2])
        builder.resistors(self.name, self.a_nodes, self.b_nodes[:, :, None])
        self.input_nodes, self.output_nodes = np.asarray(input_nodes), out
        return out

    def conductances(self):
        return self.g.ravel()

    def array_attributes(self):
        return ("g",)

    def get_config(self):
        return {"pool_size": list(self.pool_size), "name": self.name, "strides": list(self.strides),
                "conductance": self.conductance}
