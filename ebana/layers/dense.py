"""A conductance crossbar: one resistor from every input net to every output net."""
import dataclasses

import numpy as np

from ..backends.arrays import array_namespace
from ..backends.threads import in_pieces
from .base import Layer, check_units, device_index
from .conductance import TrainableConductances
from .gradient_kernels import phase_terms
from .initializers import initial_conductances
from .wires import WiredLayer, device_drops, wired_ep_gradient


class DenseLayer(WiredLayer, TrainableConductances, Layer):
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
        variability: a :class:`~ebana.devices.Variability` (or its dict) for
            noise-aware training; None uses the model's default (if any).
        levels: None, or an int >= 2: ``G`` holds latent values and the circuit
            sees them quantised to ``levels`` conductances evenly spaced in
            ``[g_min, g_max]`` (2: binary); updates are straight-through.
        wires: None (ideal wires), or a :class:`~ebana.layers.wires.Wires` (or its dict):
            the crossbar is cut into tiles whose row and column lines have
            ``r_segment`` (Ohm) between cross-points and ``r_access`` (Ohm) at
            their ends; every segment is a resistor of the circuit. Variability,
            faults and drift act on the devices; the segments stay as built.

    The EP gradient's batch sums are matrix products; for crossbars at least
    ``single_precision_width`` wide on both sides they run in float32 (twice as
    fast as float64 here), whose rounding moved the gradients of the 3 x 1024
    benchmark network by at most 1.4e-6 of their size (docs/speed.md). Set the
    attribute to None for float64 throughout.

    >>> from ebana import InputVoltageLayer
    >>> x = InputVoltageLayer(units=3, name="x")
    >>> DenseLayer(units=4, name="d1", g_min=1e-7, g_max=1e-4, levels=2)(x).units   # 3 x 4 conductances
    4
    """
    single_precision_width = 128

    def __init__(self, units, name, initializer="uniform", lr=None, trainable=True,
                 g_min=1e-7, g_max=1e-4, variability=None, levels=None, wires=None):
        super().__init__(name)
        self.out_units = check_units(units, f"DenseLayer {name!r}")
        self._set_conductance_options(initializer, lr, trainable, g_min, g_max, variability, levels)
        self._set_wires(wires)

    def _check_parents(self, parents, many):
        if len(parents) != 1:
            super()._check_parents(parents, many)

    def _output_units(self, parent_units):
        return self.out_units

    def stored_shape(self, input_units):
        return (input_units, self.out_units)

    def build(self, input_units, rng):
        self._check_wires(input_units, self.out_units)
        if self.g is None:
            self.g = initial_conductances(self.initializer, (input_units, self.out_units),
                                          self.g_min, self.g_max, rng, self.describe())
        self.built = True

    def lower(self, builder, input_nodes):
        out = builder.nodes(self.name, self.out_units)
        self.input_nodes, self.output_nodes = np.asarray(input_nodes), out
        if not self.has_wires:  # ideal wires: exactly the wire-free crossbar
            self.wired = None
            builder.resistors(self.name, input_nodes[:, None], out[None, :])
            return out
        self._lower_wires(builder, self.input_nodes, out)
        return out

    def drops(self, v):
        """Voltage drops (V) across every conductance, ``(B, n_in, units)``, from node voltages ``v``."""
        if self.wired is not None:
            return device_drops(self.wired.row_nodes, self.wired.col_nodes, v)
        return v[:, self.input_nodes][:, :, None] - v[:, self.output_nodes][:, None, :]

    def ep_gradient(self, v_low, v_high, span, per_sample=False):
        """EP estimate of dL/dG (V^2/S per V^2 of loss, with G in S) from two phases:
        ``(dV_high**2 - dV_low**2) / (2 * span)``, where (low, high, span) is
        (free, nudged, beta) or, symmetric, (-beta phase, +beta phase, 2 beta).
        Summed over the batch, or ``(B, n_in, units)`` when ``per_sample``."""
        if self.wired is not None:  # each device between its own line nodes
            return wired_ep_gradient(self.wired.row_nodes, self.wired.col_nodes, v_low, v_high, span, per_sample)
        # dV_h^2 - dV_l^2 = (dV_h - dV_l) (dV_h + dV_l): the phase difference is
        # taken first (no cancellation between two O(1) squares), and the batch
        # sum becomes matrix products instead of a (B, n_in, units) array.
        xp = array_namespace(v_low, v_high)
        if xp is np:
            inp, out = _as_slice(self.input_nodes), _as_slice(self.output_nodes)
        else:  # index arrays uploaded once (slices where consecutive)
            inp, out = device_index(self, "input_nodes", xp), device_index(self, "output_nodes", xp)
        a_h, a_l = v_high[:, inp], v_low[:, inp]
        c_h, c_l = v_high[:, out], v_low[:, out]
        dc, sc = c_h - c_l, c_h + c_l
        width = self.single_precision_width
        single = width is not None and min(a_h.shape[1], dc.shape[1]) >= width
        if not per_sample and xp.array_equal(a_h, a_l):
            # inputs held by sources (the usual first layer) do not move between the phases:
            # da = 0 and sa = 2 a, so one product remains
            total = _batch_sum([(a_h, dc)], single)
            total *= -2.0
            total += (dc * sc).sum(axis=0)[None, :]
            total /= 2.0 * span
            return total
        if per_sample:
            da, sa = a_h - a_l, a_h + a_l
            return (da[:, :, None] - dc[:, None, :]) * (sa[:, :, None] - sc[:, None, :]) / (2.0 * span)
        total = xp.empty((a_h.shape[1], dc.shape[1]))
        dcsc = (dc * sc).sum(axis=0)[None, :]

        def rows(nets):  # the rows of some input nets: each row depends on its own net only
            da, sa, dsa = phase_terms(xp, a_h[:, nets], a_l[:, nets])
            # in place on one array: each temporary of that size is a pass over memory
            part = _batch_sum([(da, sc), (sa, dc)], single)
            part -= dsa[:, None]
            part -= dcsc
            part /= -2.0 * span
            total[nets] = part
        if xp is np:  # a wide layer's rows in the solver's threads (the pooled network's 4,098: 9 -> 5 ms)
            in_pieces(rows, total.shape[0], MIN_THREADED_ROWS)
        else:
            rows(slice(None))
        return total

    def get_config(self):
        init = self.initializer
        if isinstance(init, np.ndarray):
            init = init.tolist()
        return {"units": self.out_units, "name": self.name, "initializer": init, "lr": self.lr,
                "trainable": self.trainable, "g_min": self.g_min, "g_max": self.g_max,
                "variability": None if self.variability is None else dataclasses.asdict(self.variability),
                "levels": None if self.quantizer is None else self.quantizer.levels, **self._wires_config()}


#: input nets per thread below which a gradient's rows stay in the caller's thread (BLAS's own
#: threads then share its products)
MIN_THREADED_ROWS = 1024


def _batch_sum(pairs, single):
    """``sum of x.T @ y`` over the ``(x, y)`` pairs of ``(B, n)`` arrays: sums over the batch.
    ``single``: the operands rounded to float32 and stacked into one float32 product (one
    call with twice the inner size, one conversion of the result back to float64)."""
    if single:
        xp = array_namespace(pairs[0][0])
        x = xp.concatenate([x for x, _ in pairs], dtype=np.float32, casting="same_kind")
        y = xp.concatenate([y for _, y in pairs], dtype=np.float32, casting="same_kind")
        return (x.T @ y).astype(np.float64)
    total = pairs[0][0].T @ pairs[0][1]
    for x, y in pairs[1:]:
        total += x.T @ y
    return total


def _as_slice(nodes):
    """``nodes`` as a slice when consecutive: a view instead of a fancy-indexed copy."""
    nodes = np.asarray(nodes)
    if len(nodes) and np.array_equal(nodes, np.arange(nodes[0], nodes[0] + len(nodes))):
        return slice(int(nodes[0]), int(nodes[0]) + len(nodes))
    return nodes
