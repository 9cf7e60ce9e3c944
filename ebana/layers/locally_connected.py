"""A crossbar per image patch, without weight sharing (Keras' LocallyConnected2D as a circuit)."""
import numpy as np

from ..backends.arrays import array_namespace
from ..backends.threads import thread_map
from ..errors import ValidationError
from .base import Layer, check_units, consecutive_slice, device_index
from .conductance import TrainableConductances
from .gradient_kernels import phase_terms
from .initializers import initial_conductances
from .patches import image_dims, output_size, pair_of_ints, window_indices
from .wires import WiredLayer, device_drops, wired_ep_gradient


class LocallyConnected2DLayer(WiredLayer, TrainableConductances, Layer):
    """Each ``kernel_size`` window of the input image drives ``filters`` new nets through its
    own crossbar of conductances (S); no two windows share a conductance.

    Input: nets of shape ``(rows, cols, channels)`` (an image InputVoltageLayer, or
    diodes / amplifiers after another image layer). Output: ``(out_rows, out_cols,
    filters)`` new nets with ``out = (in - kernel) // strides + 1``. Output net
    ``(i, j, f)`` is joined to the ``kr * kc * channels`` input nets of window
    ``(i, j)`` by one resistor each, so its voltage is their conductance-weighted
    mean, pulled by whatever else hangs on the net.

    ``g`` has shape ``(out_rows * out_cols, kr * kc * channels, filters)``: window,
    position in the window (row, column, channel in C order), filter; the same
    C order as the layer's resistors in the circuit.

    Args:
        filters: output nets per window.
        kernel_size: window size, an int or ``(rows, cols)``.
        name: layer name.
        strides: window step, an int or ``(rows, cols)`` (default 1).
        padding: ``'valid'`` (every window inside the image) or ``'same'``
            (``ceil(size / strides)`` windows per axis, Keras' rule): a window position
            beyond the image is a 0 V pixel, i.e. its resistor goes to ground.
        initializer, lr, trainable, g_min, g_max (S), variability, levels: as for
            :class:`~ebana.layers.DenseLayer`.
        wires: None, or a :class:`~ebana.layers.wires.Wires` (or its dict): every window's
            crossbar (``kr * kc * channels`` row lines from its input nets, ``filters``
            column lines to its output nets) tiled and wired as DenseLayer's crossbar.

    >>> from ebana import InputVoltageLayer
    >>> x = InputVoltageLayer(shape=(28, 28, 2), name="x")
    >>> LocallyConnected2DLayer(16, kernel_size=7, strides=3, name="l1")(x).shape
    (8, 8, 16)
    """

    def __init__(self, filters, kernel_size, name, strides=1, padding="valid", initializer="uniform", lr=None,
                 trainable=True, g_min=1e-7, g_max=1e-4, variability=None, levels=None, wires=None):
        super().__init__(name)
        who = self.describe()
        self.filters = check_units(filters, f"{who} (filters)")
        self.kernel_size = pair_of_ints(kernel_size, f"kernel_size of {who}")
        self.strides = pair_of_ints(strides, f"strides of {who}")
        if padding not in ("valid", "same"):
            raise ValidationError(f"{who}: padding must be 'valid' or 'same', received {padding!r}")
        self.padding = padding
        self._set_conductance_options(initializer, lr, trainable, g_min, g_max, variability, levels)
        self._set_wires(wires)
        self.in_dims = None

    def _output_units(self, parent_units):
        out_r, out_c = output_size(self.in_dims, self.kernel_size, self.strides, self.describe(), self.padding)
        return out_r * out_c * self.filters

    def _check_parents(self, parents, many):
        super()._check_parents(parents, many)
        self.in_dims = image_dims(parents[0].shape, self.describe(), parents[0])

    def _output_shape(self, parent_shapes):
        out_r, out_c = output_size(self.in_dims, self.kernel_size, self.strides, self.describe(), self.padding)
        return (out_r, out_c, self.filters)

    @property
    def windows(self):
        """Flat input-net positions per window, ``(windows, kr * kc * channels)``; -1: padding."""
        idx = window_indices(self.in_dims, self.kernel_size, self.strides, self.padding)
        return idx.reshape(idx.shape[0], -1)

    def stored_shape(self, input_units):
        out_r, out_c = output_size(self.in_dims, self.kernel_size, self.strides, self.describe(), self.padding)
        return (out_r * out_c, self.kernel_size[0] * self.kernel_size[1] * self.in_dims[2], self.filters)

    def build(self, input_units, rng):
        self._check_wires(self.windows.shape[1], self.filters)
        if self.g is None:
            n_windows, per_window = self.windows.shape
            self.g = initial_conductances(self.initializer, (n_windows, per_window, self.filters),
                                          self.g_min, self.g_max, rng, self.describe())
        self.built = True

    def lower(self, builder, input_nodes):
        out = builder.nodes(self.name, self.units)
        windows = self.windows
        # (window, position, filter) in C order: the order of g; padding (-1) -> ground (node 0)
        self.a_nodes = np.concatenate([[0], np.asarray(input_nodes)])[windows + 1]   # (W, K)
        self.b_nodes = out.reshape(windows.shape[0], self.filters)       # (W, F)
        self.input_nodes, self.output_nodes = np.asarray(input_nodes), out
        if self.has_wires:   # each window's crossbar on its own tiled lines
            self._lower_wires(builder, self.a_nodes, self.b_nodes)
        else:
            self.wired = None
            builder.resistors(self.name, self.a_nodes[:, :, None], self.b_nodes[:, None, :])
        return out

    def drops(self, v):
        """Voltage drops (V) across every conductance, ``(B, W, K, F)``, from node voltages ``v``."""
        if self.wired is not None:
            return device_drops(self.wired.row_nodes, self.wired.col_nodes, v)
        return v[:, self.a_nodes][:, :, :, None] - v[:, self.b_nodes][:, :, None, :]

    def ep_gradient(self, v_low, v_high, span, per_sample=False):
        """EP estimate of dL/dG, ``(dV_high**2 - dV_low**2) / (2 * span)`` (see DenseLayer),
        shaped like ``g`` and summed over the batch, or ``(B, *g.shape)`` when ``per_sample``.
        On a device the node arrays are uploaded once (:func:`~.base.device_index`)."""
        if self.wired is not None:  # each device between its own line nodes
            return wired_ep_gradient(self.wired.row_nodes, self.wired.col_nodes, v_low, v_high, span, per_sample)
        xp = array_namespace(v_low, v_high)

        def gather(v, attr, windows=slice(None)):
            nodes = getattr(self, attr)[windows]
            consecutive = consecutive_slice(nodes)
            if consecutive is not None:  # a view, no copy
                return v[:, consecutive].reshape((v.shape[0],) + nodes.shape)
            index = nodes.reshape(-1) if xp is np else device_index(self, attr, xp)[windows].reshape(-1)
            # take along axis 1 keeps C order (v[:, nodes] with a 2-D index: 4x slower)
            return xp.take(v, index, axis=1).reshape((v.shape[0],) + nodes.shape)
        if per_sample:
            hi_a, lo_a = gather(v_high, "a_nodes"), gather(v_low, "a_nodes")
            hi_b, lo_b = gather(v_high, "b_nodes"), gather(v_low, "b_nodes")
            d = (hi_a - lo_a)[..., None] - (hi_b - lo_b)[:, :, None, :]
            return d * ((hi_a + lo_a)[..., None] - (hi_b + lo_b)[:, :, None, :]) / (2.0 * span)
        # sum_b (da - db)(sa - sb): per-window matrix products over the batch, never (B, W, K, F);
        # a few windows at a time, so that no temporary is large enough for the allocator to map
        # fresh pages (their first touch cost more than the products themselves)
        # (on the CPU, the chunks run in ebana's threads: their products are too small for two
        # BLAS threads, and every window's sum is its own, so the result does not depend on them)
        n_windows, per_window = self.a_nodes.shape
        chunk = max(1, _CHUNK_BYTES // (8 * v_low.shape[0] * (per_window + self.filters)))
        total = xp.empty(self.g.shape)
        # inputs held by sources (the usual first layer) are the same in both phases: their
        # windows are gathered from one phase, and half the products go (checked once, here)
        inputs = device_index(self, "input_nodes", xp)
        held = bool(xp.array_equal(v_low[:, inputs], v_high[:, inputs]))

        def windows(start):
            w = slice(start, min(start + chunk, n_windows))
            total[w] = _window_gradient(xp, None if held else gather(v_low, "a_nodes", w), gather(v_high, "a_nodes", w),
                                        gather(v_low, "b_nodes", w), gather(v_high, "b_nodes", w))
        starts = range(0, n_windows, chunk)
        if xp is np:
            thread_map(windows, starts)
        else:
            for start in starts:
                windows(start)
        total /= 2.0 * span
        return total

    def get_config(self):
        return {"filters": self.filters, "kernel_size": list(self.kernel_size), "name": self.name,
                "strides": list(self.strides), "padding": self.padding, **self._conductance_config(),
                **self._wires_config()}


#: the most bytes of the batch's voltages one chunk of windows of an EP gradient gathers
_CHUNK_BYTES = 4 << 20


def _window_gradient(xp, lo_a, hi_a, lo_b, hi_b):
    """``sum_b (d_high**2 - d_low**2)`` per conductance of some windows, ``(W, K, F)``, from the
    phases' voltages (V) at the windows' inputs ``(B, W, K)`` and outputs ``(B, W, F)``;
    ``lo_a`` None: the inputs are ``hi_a`` in both phases."""
    to_wkb, to_wbf = (1, 2, 0), (1, 0, 2)
    if lo_a is None:  # da = 0 and sa = 2 a: one product, doubled (exactly, as sa's would be)
        B, W, F = hi_b.shape
        db, _, sums = phase_terms(xp, hi_b.reshape(B, W * F), lo_b.reshape(B, W * F), with_total=False)
        db, sums = db.reshape(B, W, F), sums.reshape(W, F)
        total = xp.matmul(hi_a.transpose(to_wkb), db.transpose(to_wbf))   # (W, K, F)
        total *= -2.0
        total += sums[:, None, :]
        return total
    db, sb = hi_b - lo_b, hi_b + lo_b
    da, sa = hi_a - lo_a, hi_a + lo_a
    total = xp.matmul(sa.transpose(to_wkb), db.transpose(to_wbf))
    total *= -1.0
    total += xp.einsum("bwf,bwf->wf", db, sb)[:, None, :]
    total += xp.einsum("bwk,bwk->wk", da, sa)[:, :, None]
    total -= xp.matmul(da.transpose(to_wkb), sb.transpose(to_wbf))
    return total
