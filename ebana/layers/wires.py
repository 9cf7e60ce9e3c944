"""Wire resistance of a tiled crossbar: the settings (:class:`Wires`) and the lowering.

A crossbar of ``n_in x units`` devices is cut into tiles of at most
``rows x cols`` devices (tile ``(p, q)`` holds inputs ``p*rows ...`` and units
``q*cols ...``). In every tile

* the row line of input ``i`` starts at the input net, through ``r_access``
  (Ohm), at the tile's first column, and runs along the tile's columns with
  ``r_segment`` (Ohm) between neighbouring cross-points;
* the column line of unit ``j`` runs down the tile's rows with ``r_segment``
  between neighbouring cross-points and ends, through ``r_access``, at the
  unit's output net. The output net joins the column lines of every tile in
  its column of tiles (the way a layout routes a hidden net across tiles).

Device ``(i, j)`` sits between its row-line node and its column-line node.
A resistance of 0 is a short: the nodes it would join are one node (never a
zero-Ohm resistor, whose conductance would be infinite), so ``r_segment =
r_access = 0`` lowers to exactly the wire-free crossbar.

>>> Wires(tile=(2, 2), r_segment=1.0, r_access=5.0).ideal
False
"""
from dataclasses import asdict, dataclass

import numpy as np

from ..backends.arrays import array_namespace
from ..backends.base import MAX_CONDUCTANCE
from ..errors import ValidationError
from ..validation import check_number
from .gradient_kernels import device_phase_sums, in_sample_order

#: Largest wire resistance accepted (Ohm): beyond it a "wire" is an open circuit, not a wire.
MAX_WIRE_OHM = 1e9
#: Smallest non-zero wire resistance accepted (Ohm): a circuit element conducts at most
#: ``MAX_CONDUCTANCE`` S; below it, 0 (a short) is the wire meant.
MIN_WIRE_OHM = 1.0 / MAX_CONDUCTANCE


@dataclass(frozen=True)
class Wires:
    """Tiling and wire resistances of a crossbar layer.

    tile: ``(rows, cols)``, the most devices a tile holds along its row lines'
        sources (inputs) and its column lines (units); None: one tile, the whole
        crossbar.
    r_segment: resistance of one line segment between neighbouring cross-points (Ohm).
    r_access: resistance between a line's end and its input or output net (Ohm).
    """
    tile: tuple = None
    r_segment: float = 0.0
    r_access: float = 0.0

    def __post_init__(self):
        for field in ("r_segment", "r_access"):
            value = check_number(getattr(self, field), f"Wires: {field} (Ohm)", 0.0, MAX_WIRE_OHM)
            if 0.0 < value < MIN_WIRE_OHM:
                raise ValidationError(f"Wires: {field} = {value:g} Ohm is below {MIN_WIRE_OHM:g} Ohm, a conductance "
                                      f"above the {MAX_CONDUCTANCE:g} S a circuit element may have; use 0 for a short")
            object.__setattr__(self, field, value)
        if self.tile is not None:
            tile = self.tile
            if (isinstance(tile, (str, bytes)) or not hasattr(tile, "__len__") or len(tile) != 2
                    or not all(isinstance(t, (int, np.integer)) and not isinstance(t, bool) for t in tile)):
                raise ValidationError(f"Wires: tile must be None or two ints (rows, cols), received {tile!r}")
            if min(tile) < 1:
                raise ValidationError(f"Wires: tile sizes must be at least 1, received {tuple(tile)}")
            object.__setattr__(self, "tile", (int(tile[0]), int(tile[1])))

    @property
    def ideal(self):
        """True when both resistances are 0: the circuit is the wire-free crossbar."""
        return self.r_segment == 0.0 and self.r_access == 0.0

    def config(self):
        """Plain data for a layer config (``Wires(**config)`` rebuilds it)."""
        out = asdict(self)
        out["tile"] = None if self.tile is None else list(self.tile)
        return out

    @classmethod
    def of(cls, value, who):
        """``value`` (a Wires, a dict of its fields, or None) as a Wires or None; errors name ``who``."""
        if value is None or isinstance(value, cls):
            return value
        if isinstance(value, dict):
            try:
                return cls(**value)
            except TypeError as exc:
                raise ValidationError(f"{who}: wires {value!r}: {exc}") from None
        raise ValidationError(f"{who}: wires must be a Wires, a dict of its fields or None, received {value!r}")

    def check_fits(self, n_in, units, who):
        """Refuse a tile larger than the ``n_in x units`` crossbar of layer ``who``."""
        if self.tile is not None and (self.tile[0] > n_in or self.tile[1] > units):
            raise ValidationError(f"{who}: tile {self.tile} is larger than the crossbar ({n_in} inputs x "
                                  f"{units} units); use a tile of at most ({n_in}, {units})")


@dataclass
class WiredCrossbar:
    """What :func:`lower_wired` wrote: device ends and wire resistors.

    row_nodes, col_nodes: ``(n_in, units)`` circuit nodes of each device's two ends (a stack
        of crossbars: ``(W, n_in, units)``).
    wire_a, wire_b: ends of every wire resistor; wire_g: their conductances (S).
    tile: ``(rows, cols)``, the most devices a tile holds.
    """
    row_nodes: np.ndarray
    col_nodes: np.ndarray
    wire_a: np.ndarray
    wire_b: np.ndarray
    wire_g: np.ndarray
    tile: tuple

    def tile_grids(self):
        """Per tile, ``(row_nodes, col_nodes)`` of its devices: row ``i`` of a tile is its
        row line, from the input's end; column ``j`` its column line, ending (last row) at
        the output net. Solvers order the wire nodes by them (:mod:`ebana.backends.tile_factor`)."""
        rows, cols = self.tile
        row_stack, col_stack = self.row_nodes.reshape((-1,) + self.row_nodes.shape[-2:]), \
            self.col_nodes.reshape((-1,) + self.col_nodes.shape[-2:])
        n_in, units = row_stack.shape[1:]
        return [(r[p0:p0 + rows, q0:q0 + cols], c[p0:p0 + rows, q0:q0 + cols]) for r, c in zip(row_stack, col_stack)
                for p0 in range(0, n_in, rows) for q0 in range(0, units, cols)]


class WiredLayer:
    """Mixin of crossbar layers that take ``wires`` (DenseLayer, LocallyConnected2DLayer): the
    setting, its checks, and the lowering of the devices between their line nodes. Call
    :meth:`_set_wires` in ``__init__``; ``self.wired`` holds the lines once lowered."""

    def _set_wires(self, wires):
        self.wires = Wires.of(wires, self.describe())
        self.wired = None  # the WiredCrossbar written by lower() when the wires are not ideal

    @property
    def has_wires(self):
        """True when the circuit holds this layer's wire resistors (``wires`` set and not ideal)."""
        return self.wires is not None and not self.wires.ideal

    def _check_wires(self, n_in, units):
        """Refuse a tile larger than the layer's crossbar (``n_in x units``) before anything is built."""
        if self.wires is not None:
            self.wires.check_fits(n_in, units, self.describe())

    def _lower_wires(self, builder, input_nodes, out_nodes):
        """Lower the tiled lines and the devices between their line nodes (in C order of ``g``, then
        the segments) for crossbar(s) ``input_nodes`` x ``out_nodes`` (see :func:`lower_wired`)."""
        w = self.wired = lower_wired(builder, self.name, input_nodes, out_nodes, self.wires)
        builder.resistors(self.name, np.concatenate([w.row_nodes.ravel(), w.wire_a]),
                          np.concatenate([w.col_nodes.ravel(), w.wire_b]))
        builder.line_grids(self.name, w.tile_grids())
        builder.not_layered(self.name, f"{self.describe()} has wire resistance: its row and column line "
                            "nodes join its inputs and outputs (the layered solver has no wire method)")

    def conductances(self):
        return self.conductances_with(super().conductances())

    def conductances_with(self, devices):
        """The devices' conductances ``devices`` (S, ``(..., n_devices)``) followed by the wire
        segments' (S), as the circuit orders them. Variability, faults and drift act on the
        devices; the wires are metal and keep their resistance (on every chip and sample)."""
        if self.wired is None:
            return devices
        wires = np.broadcast_to(self.wired.wire_g, np.shape(devices)[:-1] + self.wired.wire_g.shape)
        return np.concatenate([devices, wires], axis=-1)  # wires: CPU only

    def _wires_config(self):
        return {"wires": None if self.wires is None else self.wires.config()}


class _Lines:
    """Builds lines: hands out fresh node numbers and collects the wire resistors."""

    def __init__(self, wires):
        self.wires = wires
        self.count = 0
        self.a, self.b, self.g = [], [], []

    def line(self, terminal, length):
        """Local node numbers (fresh ones negative, ``-1 - k``) of a line of ``length``
        cross-points whose position 0 is nearest ``terminal`` (a circuit node)."""
        r_seg, r_acc = self.wires.r_segment, self.wires.r_access
        distinct = length if r_seg > 0 else 1      # a shorted line is one node
        fresh = list(range(-1 - self.count, -1 - self.count - distinct, -1))
        if r_acc > 0:
            self._add(terminal, fresh[0], 1.0 / r_acc)
            self.count += distinct
        else:
            fresh[0] = terminal                    # position 0 is the terminal itself
            self.count += distinct - 1
            fresh[1:] = [f + 1 for f in fresh[1:]]
        for k in range(distinct - 1):
            self._add(fresh[k], fresh[k + 1], 1.0 / r_seg)
        return fresh if r_seg > 0 else [fresh[0]] * length

    def _add(self, a, b, g):
        self.a.append(a)
        self.b.append(b)
        self.g.append(g)


def lower_wired(builder, name, input_nodes, out_nodes, wires):
    """Write the row and column lines of layer ``name``'s tiles into ``builder``; return a
    :class:`WiredCrossbar` (the caller adds the device resistors between its node grids).
    ``input_nodes`` ``(n_in,)`` and ``out_nodes`` ``(units,)`` describe one crossbar; with a
    leading axis, ``(W, n_in)`` and ``(W, units)``, W crossbars (a local layer's windows),
    each tiled on its own, and the grids get that leading axis too."""
    inputs, outputs = np.atleast_2d(input_nodes), np.atleast_2d(out_nodes)
    n_in, units = inputs.shape[1], outputs.shape[1]
    rows, cols = wires.tile if wires.tile is not None else (n_in, units)
    lines = _Lines(wires)
    row_nodes = np.zeros((len(inputs), n_in, units), dtype=np.int64)
    col_nodes = np.zeros((len(inputs), n_in, units), dtype=np.int64)
    for w, (ins, outs) in enumerate(zip(inputs, outputs)):
        for q0 in range(0, units, cols):      # row lines: from the input, along the tile's columns
            width = min(cols, units - q0)
            for i in range(n_in):
                row_nodes[w, i, q0:q0 + width] = lines.line(ins[i], width)
        for p0 in range(0, n_in, rows):       # column lines: from the output net, up the tile's rows
            height = min(rows, n_in - p0)
            for j in range(units):
                col_nodes[w, p0:p0 + height, j] = lines.line(outs[j], height)[::-1]
    fresh = builder.nodes(name, lines.count, suffix="w")
    a, b = np.asarray(lines.a, dtype=np.int64), np.asarray(lines.b, dtype=np.int64)

    def place(local):  # local numbers -> circuit nodes (fresh numbers are -1 - k)
        return np.where(local < 0, fresh[np.maximum(-1 - local, 0)] if len(fresh) else 0, local)
    if np.ndim(input_nodes) == 1:
        row_nodes, col_nodes = row_nodes[0], col_nodes[0]
    return WiredCrossbar(place(row_nodes), place(col_nodes), place(a), place(b),
                         np.asarray(lines.g, dtype=float), (rows, cols))


def wired_ep_gradient(row_nodes, col_nodes, v_low, v_high, span, per_sample=False):
    """EP estimate of dL/dG (per S) of each device between its line nodes:
    ``(dV_high**2 - dV_low**2) / (2 * span)``, batch-summed, or ``(B, n_in, units)``
    when ``per_sample``. The wires are fixed resistors: they shape the voltages, not the rule."""
    # one compiled pass, the same sums: NumPy sums a batch axis in sample order when there is
    # more than one device (one device's (B,) run it sums pairwise) and the phases are NumPy's
    if not per_sample and row_nodes.size > 1 and in_sample_order(v_high, v_low):
        sums = np.zeros(row_nodes.size)
        device_phase_sums(v_high, v_low, row_nodes.ravel(), col_nodes.ravel(), 2.0 * span, sums)
        return sums.reshape(row_nodes.shape)
    d_high, d_low = device_drops(row_nodes, col_nodes, v_high), device_drops(row_nodes, col_nodes, v_low)
    per = (d_high - d_low) * (d_high + d_low) / (2.0 * span)
    return per if per_sample else per.sum(axis=0)


def device_drops(row_nodes, col_nodes, v):
    """Voltage (V) across each device between its line nodes, ``(B,) + row_nodes.shape``, from node
    voltages ``v`` ``(B, N)`` (``take`` along the nodes: a 2-D fancy index is several times slower)."""
    xp = array_namespace(v)
    shape = (v.shape[0],) + row_nodes.shape
    return (xp.take(v, row_nodes.ravel(), axis=1) - xp.take(v, col_nodes.ravel(), axis=1)).reshape(shape)
