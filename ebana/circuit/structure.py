"""The circuit: the one intermediate form between layers and backends.

A :class:`Circuit` is a node table plus typed element arrays. Its topology and
nominal values are fixed when it is built; what changes during training is
passed to a backend beside it:

* ``g``: conductances of the resistors (S), shape ``(R,)`` or per sample
  ``(B, R)``;
* ``vs``: voltage-source values (V), shape ``(B, V)``;
* ``isrc``: current-source values (A), shape ``(B, I)``; a current source
  injects its current *into* its node (from ground).

Node 0 is ground. Elements are grouped in blocks owned by a layer name so
that a layer finds its slice again.
"""
from dataclasses import dataclass, field

import numpy as np

from ..errors import GraphError, ValidationError
from ..validation import check_name, check_spice_block
from .elements import BehavioralDiode, MosDiode, ShockleyDiode

# First letter of each element kind's SPICE name (behavioral diodes are B
# sources in the netlist, but keep "d" here as their identity).
ELEMENT_LETTER = {"res": "r", "vs": "v", "is": "i", "diode": "d", "amp": "b"}


@dataclass(frozen=True)
class DiodeBlock:
    owner: str
    index: slice
    model: object  # BehavioralDiode | ShockleyDiode | MosDiode


@dataclass
class Circuit:
    """Topology and nominal values. Build it with :class:`CircuitBuilder`."""
    node_names: list
    res_a: np.ndarray
    res_b: np.ndarray
    vs_pos: np.ndarray
    vs_neg: np.ndarray
    vs_value: np.ndarray
    is_node: np.ndarray
    d_anode: np.ndarray
    d_cathode: np.ndarray
    diode_blocks: list
    amp_in: np.ndarray
    amp_out: np.ndarray
    amp_gain: np.ndarray
    amp_shift: np.ndarray
    spice_blocks: list = field(default_factory=list)
    blocks: dict = field(default_factory=dict)
    """``blocks[kind][owner] -> slice`` for kind in res, vs, is, diode, amp."""
    not_layered: dict = field(default_factory=dict)
    """``owner -> reason`` for layers whose elements break the layered structure on purpose
    (e.g. wire resistance): the layered solver refuses the circuit with that reason."""
    line_grids: dict = field(default_factory=dict)
    """``owner -> [(row_nodes, col_nodes), ...]``: per tile of a wired crossbar, the nodes of
    each device's two ends, ``(rows, cols)`` (:meth:`ebana.layers.wires.WiredCrossbar.tile_grids`)."""

    @property
    def n_nodes(self):
        """Number of nodes, ground included."""
        return len(self.node_names)

    @property
    def n_res(self):
        return len(self.res_a)

    @property
    def n_vs(self):
        return len(self.vs_pos)

    @property
    def n_is(self):
        return len(self.is_node)

    def slice(self, kind, owner):
        """The index range of ``owner``'s elements of ``kind`` ('res', 'vs', 'is', 'diode', 'amp')."""
        try:
            return self.blocks[kind][owner]
        except KeyError:
            raise GraphError(f"the circuit has no {kind} elements owned by {owner!r}") from None

    def element_name(self, kind, k):
        """SPICE name of element ``k`` of ``kind`` (lower case, as Ngspice reports it)."""
        for owner, sl in self.blocks.get(kind, {}).items():
            if sl.start <= k < sl.stop:
                return f"{ELEMENT_LETTER[kind]}{owner}__{k - sl.start}"
        raise IndexError(f"no {kind} element {k}")

    def element_names(self, kind):
        """SPICE names of every element of ``kind``, in circuit order."""
        names = []
        for owner, sl in sorted(self.blocks.get(kind, {}).items(), key=lambda item: item[1].start):
            names.extend(f"{ELEMENT_LETTER[kind]}{owner}__{k}" for k in range(sl.stop - sl.start))
        return names


class CircuitBuilder:
    """Collects nodes and elements while layers lower themselves.

    >>> b = CircuitBuilder()
    >>> n = b.nodes("x", 2)
    >>> _ = b.vsources("x", n, 0, [1.0, 2.0])
    """

    def __init__(self):
        self._names = ["0"]
        self._index = {"0": 0}
        self._lists = {k: [] for k in ("res", "vs", "is", "diode", "amp")}
        self._counts = {k: 0 for k in self._lists}
        self._blocks = {k: {} for k in self._lists}
        self._diode_blocks = []
        self._spice_blocks = []
        self._not_layered = {}
        self._line_grids = {}

    # nodes ---------------------------------------------------------------
    def nodes(self, owner, count, suffix=""):
        """Create ``count`` nodes named ``{owner}__{suffix}{k}``; return their indices."""
        check_name(owner)
        out = np.empty(count, dtype=np.int64)
        for k in range(count):
            name = f"{owner}__{suffix}{k}".lower()
            if name in self._index:
                raise GraphError(f"node {name!r} created twice (duplicate layer name {owner!r}?)")
            self._index[name] = len(self._names)
            self._names.append(name)
            out[k] = self._index[name]
        return out

    def _add(self, kind, owner, columns):
        """Append elements given as columns (equal-length arrays: a crossbar of DRN-XL size has
        51 M resistors, so no per-element Python objects); return their slice."""
        check_name(owner)
        if owner in self._blocks[kind]:
            raise GraphError(f"{owner!r} already owns {kind} elements")
        start = self._counts[kind]
        self._lists[kind].append(tuple(np.asarray(c) for c in columns))
        self._counts[kind] += len(columns[0])
        sl = slice(start, self._counts[kind])
        self._blocks[kind][owner] = sl
        return sl

    @staticmethod
    def _pairs(a, b):
        a = np.broadcast_to(np.asarray(a, dtype=np.int64), np.broadcast(np.asarray(a), np.asarray(b)).shape)
        b = np.broadcast_to(np.asarray(b, dtype=np.int64), a.shape)
        return a.ravel(), b.ravel()

    # elements ------------------------------------------------------------
    def resistors(self, owner, a, b):
        """Resistors between node arrays ``a`` and ``b`` (broadcast, C order).

        Their conductances are supplied at solve time (the trained parameters).
        """
        a, b = self._pairs(a, b)
        return self._add("res", owner, (a, b))

    def vsources(self, owner, pos, neg, values):
        """Voltage sources ``V(pos) - V(neg) = value`` (V); per-sample values may replace them."""
        pos, neg = self._pairs(pos, neg)
        values = np.broadcast_to(np.asarray(values, dtype=float), pos.shape)
        return self._add("vs", owner, (pos, neg, values))

    def isources(self, owner, nodes):
        """Current sources injecting a per-sample current (A) into each node (zero by default)."""
        nodes = np.asarray(nodes, dtype=np.int64).ravel()
        return self._add("is", owner, (nodes,))

    def diodes(self, owner, anode, cathode, model):
        """Diodes from ``anode`` to ``cathode`` (current flows anode -> cathode when forward)."""
        if not isinstance(model, (BehavioralDiode, ShockleyDiode, MosDiode)):
            raise ValidationError(f"diode model of {owner!r} must be BehavioralDiode, ShockleyDiode or MosDiode")
        a, c = self._pairs(anode, cathode)
        sl = self._add("diode", owner, (a, c))
        self._diode_blocks.append(DiodeBlock(owner, sl, model))
        return sl

    def amplifiers(self, owner, inp, out, gain, shift):
        """Bidirectional amplifiers: ``V(out) = gain * V(inp) + shift`` forward;
        the current delivered into ``out`` is drawn from ``inp`` divided by ``gain``."""
        inp, out = self._pairs(inp, out)
        gain = np.broadcast_to(np.asarray(gain, dtype=float), inp.shape)
        shift = np.broadcast_to(np.asarray(shift, dtype=float), inp.shape)
        return self._add("amp", owner, (inp, out, gain, shift))

    def spice_block(self, owner, text):
        """An opaque block of SPICE lines (only the Ngspice backend can solve it)."""
        self._spice_blocks.append((check_name(owner), check_spice_block(text, owner)))

    def not_layered(self, owner, reason):
        """Record that ``owner``'s elements break the layered structure, and why (a sentence)."""
        self._not_layered[check_name(owner)] = str(reason)

    def line_grids(self, owner, tiles):
        """Record the tiles of ``owner``'s wired crossbar: ``(row_nodes, col_nodes)`` per tile."""
        self._line_grids[check_name(owner)] = [(np.asarray(r, dtype=np.int64), np.asarray(c, dtype=np.int64))
                                               for r, c in tiles]

    # result --------------------------------------------------------------
    def build(self):
        def cols(kind, n, dtypes):
            chunks = self._lists[kind]
            if not chunks:
                return [np.zeros(0, dtype=d) for d in dtypes]
            return [np.concatenate([np.asarray(c[k], dtype=d) for c in chunks]) for k, d in zip(range(n), dtypes)]

        i64, f64 = np.int64, float
        res_a, res_b = cols("res", 2, [i64, i64])
        vs_pos, vs_neg, vs_value = cols("vs", 3, [i64, i64, f64])
        (is_node,) = cols("is", 1, [i64])
        d_a, d_c = cols("diode", 2, [i64, i64])
        amp_in, amp_out, amp_gain, amp_shift = cols("amp", 4, [i64, i64, f64, f64])
        return Circuit(
            node_names=list(self._names), res_a=res_a, res_b=res_b,
            vs_pos=vs_pos, vs_neg=vs_neg, vs_value=vs_value, is_node=is_node,
            d_anode=d_a, d_cathode=d_c, diode_blocks=list(self._diode_blocks),
            amp_in=amp_in, amp_out=amp_out, amp_gain=amp_gain, amp_shift=amp_shift,
            spice_blocks=list(self._spice_blocks),
            blocks={k: dict(v) for k, v in self._blocks.items()}, not_layered=dict(self._not_layered),
            line_grids=dict(self._line_grids))


def kept_blocks(blocks, keep):
    """Owner -> slice over the kept elements only (owners left empty disappear)."""
    out, start = {}, 0
    for owner, sl in sorted(blocks.items(), key=lambda kv: kv[1].start):
        n = int(np.count_nonzero(keep[sl]))
        if n:
            out[owner] = slice(start, start + n)
            start += n
    return out
