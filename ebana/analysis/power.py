"""Power (W) of every layer at an operating point, and energy (J) per inference.

From an :class:`~ebana.backends.OperatingPoint` (node voltages ``v`` and
voltage-source branch currents ``i_vs``), per sample:

* a resistor of conductance ``g`` dissipates ``g * dV**2``;
* a junction (diode, diode-connected MOSFET) dissipates ``i(vd) * vd``,
  with the same equations the native solver uses (``gmin`` included);
* an ideal bidirectional amplifier (``V_out = gain * V_in + shift``, drawing
  ``I_out / gain`` from its input net) has no loss of its own: it *absorbs*
  ``V_in * I_out / gain`` from its input net and *delivers*
  ``V_out * I_out`` into its output net, from a supply outside the circuit.
  Its entry is the net power it takes from the circuit,
  ``V_in * I_out / gain - V_out * I_out``; it is negative when the amplifier
  pushes power into the circuit (with ``gain = 1`` and ``shift = 0`` it is
  zero). ``I_out`` follows from Kirchhoff's current law at the output net;
* a voltage source delivers ``-(V+ - V-) * i_vs`` (SPICE sign of ``i_vs``);
  negative when it absorbs power (e.g. a clamp's bias source sinking current);
* a current source (the output nudges, 0 A in the free phase) delivers
  ``V(node) * I``.

By Tellegen's theorem the sources' delivered power equals the elements'
dissipated power (amplifiers included) to rounding; tests check it on random
networks with both backends. ``energy_per_inference`` is the total dissipated
power times the time (s) the circuit is held at its operating point for one
read.

>>> import numpy as np
>>> from ebana.networks import clamped_mlp
>>> report = clamped_mlp(8, 16, 3, backend="native").power({"x": np.full((5, 8), 0.1)})
>>> report.total().shape   # W per sample
(5,)
"""
from dataclasses import dataclass

import numpy as np

from ..backends.junctions import DiodeParams
from ..circuit.netlist import DEFAULT_OPTIONS
from ..errors import ValidationError
from ..model.inputs import input_batches

CHUNK_ELEMENTS = 4_000_000  # samples x resistors per slab: bounds memory on large crossbars


@dataclass
class PowerReport:
    """Power (W) per sample, by layer name: ``dissipated`` by a layer's resistors,
    junctions and amplifiers, ``delivered`` by its voltage and current sources.
    Every array has shape ``(B,)``; a layer appears in a dict only if it owns such elements."""
    dissipated: dict
    delivered: dict

    def total(self):
        """Total power dissipated (W) per sample, ``(B,)``."""
        return sum(self.dissipated.values(), np.zeros(self._size()))

    def total_delivered(self):
        """Total power delivered by the sources (W) per sample, ``(B,)``; equals :meth:`total`."""
        return sum(self.delivered.values(), np.zeros(self._size()))

    def _size(self):
        for d in (self.dissipated, self.delivered):
            for a in d.values():
                return a.shape[0]
        return 0

    @classmethod
    def concatenate(cls, reports):
        """One report from the reports of consecutive batches."""
        reports = list(reports)
        return cls(*({k: np.concatenate([getattr(r, part)[k] for r in reports]) for k in getattr(reports[0], part)}
                     for part in ("dissipated", "delivered")))

    def metrics(self, prefix=""):
        """Means over the samples (W) as flat metric names: ``power_W`` (total),
        ``power_<layer>`` (dissipated), ``supply_<layer>`` (delivered by its sources)."""
        out = {f"{prefix}power_W": float(self.total().mean())}
        out.update({f"{prefix}power_{k}": float(a.mean()) for k, a in self.dissipated.items()})
        out.update({f"{prefix}supply_{k}": float(a.mean()) for k, a in self.delivered.items()})
        return out


def _by_owner(circuit, kind, per_element, out, sign=1.0):
    """Add ``per_element`` (B, n) summed over each owner's slice into ``out`` (owner -> (B,))."""
    for owner, sl in circuit.blocks.get(kind, {}).items():
        part = sign * per_element[:, sl].sum(axis=1)
        out[owner] = out[owner] + part if owner in out else part


def _resistor_power(circuit, v, g):
    """Dissipated power (W) per resistor owner, computed in slabs of samples."""
    B, R = v.shape[0], circuit.n_res
    out = {owner: np.zeros(B) for owner in circuit.blocks.get("res", {})}
    if not R:
        return out
    step = max(1, CHUNK_ELEMENTS // R)
    for s in range(0, B, step):
        rows = slice(s, min(B, s + step))
        drop = v[rows][:, circuit.res_a] - v[rows][:, circuit.res_b]
        p = (g[rows] if g.ndim == 2 else g) * drop * drop
        for owner, sl in circuit.blocks["res"].items():
            out[owner][rows] = p[:, sl].sum(axis=1)
    return out


def _amplifier_currents(circuit, v, g, isrc, i_d):
    """Output current (A) of every amplifier by Kirchhoff's law at its output net."""
    B, N = v.shape
    leave = np.zeros((N, B))  # current leaving each node through the elements (A), node-major
    # Only elements touching an amplifier output matter: on an image-sized network that
    # is the second crossbar, not the (B, 1.6 M) currents of the first.
    out = np.zeros(N, dtype=bool)
    out[circuit.amp_out] = True
    r = np.flatnonzero(out[circuit.res_a] | out[circuit.res_b])
    a, b = circuit.res_a[r], circuit.res_b[r]
    i_r = ((g[:, r] if g.ndim == 2 else g[None, r]) * (v[:, a] - v[:, b])).T
    np.add.at(leave, a, i_r)
    np.add.at(leave, b, -i_r)
    if i_d is not None:
        np.add.at(leave, circuit.d_anode, i_d.T)
        np.add.at(leave, circuit.d_cathode, -i_d.T)
    np.add.at(leave, circuit.is_node, -isrc.T)
    i_out = np.zeros((len(circuit.amp_in), B))
    # Downstream amplifiers first (blocks are in graph order): their input draw is
    # part of what leaves the output net of the amplifier that feeds them.
    for _, sl in sorted(circuit.blocks.get("amp", {}).items(), key=lambda kv: -kv[1].start):
        i_out[sl] = leave[circuit.amp_out[sl]]
        np.add.at(leave, circuit.amp_in[sl], i_out[sl] / circuit.amp_gain[sl, None])
    return i_out.T


def circuit_power(circuit, op, g, vs, isrc, gmin=DEFAULT_OPTIONS["gmin"]):
    """:class:`PowerReport` of ``circuit`` at ``op`` with conductances ``g`` (S, ``(R,)``
    or ``(B, R)``), source values ``vs`` (V, ``(B, V)``) and currents ``isrc`` (A, ``(B, I)``)."""
    if circuit.spice_blocks:
        owners = [owner for owner, _ in circuit.spice_blocks]
        raise ValidationError(f"power: the circuit holds user SPICE blocks {owners} whose currents ebana "
                              "cannot see; power is defined for ebana's own elements only")
    v, g = op.v, np.asarray(g, dtype=float)
    dissipated = _resistor_power(circuit, v, g)
    i_d = None
    if len(circuit.d_anode):
        vd = v[:, circuit.d_anode] - v[:, circuit.d_cathode]
        i_d, _ = DiodeParams(circuit, gmin).evaluate(vd)
        _by_owner(circuit, "diode", i_d * vd, dissipated)
    if len(circuit.amp_in):
        i_out = _amplifier_currents(circuit, v, g, isrc, i_d)
        v_in, v_out = v[:, circuit.amp_in], v[:, circuit.amp_out]
        _by_owner(circuit, "amp", v_in * i_out / circuit.amp_gain - v_out * i_out, dissipated)
    delivered = {}
    _by_owner(circuit, "vs", (v[:, circuit.vs_pos] - v[:, circuit.vs_neg]) * op.i_vs, delivered, sign=-1.0)
    _by_owner(circuit, "is", v[:, circuit.is_node] * isrc, delivered)
    return PowerReport(dissipated, delivered)


def model_power(model, data, batch_size=256):
    """Free-phase :class:`PowerReport` of ``model`` over ``data`` (a dict of input arrays,
    (B, units) in V, or a DataLoader), at the model's nominal conductances."""
    batches = input_batches(model.inputs, data, batch_size)
    state = data.rng_state() if hasattr(data, "rng_state") else None
    reports = []
    try:
        for batch in batches:
            size, arrays = model.check_inputs(batch)
            op = model.solve(arrays)
            reports.append(batch_power(model, op, arrays, size))
    finally:
        if state is not None:  # measuring must not change a shuffled loader's next epoch
            data.set_rng_state(state)
    if not reports:
        raise ValidationError("power received no samples")
    return PowerReport.concatenate(reports)


def batch_power(model, op, arrays, size, currents=None):
    """:class:`PowerReport` of one solved batch (``arrays``: the checked inputs) at the
    model's nominal conductances and the output ``currents`` (A) it was solved with."""
    return circuit_power(model.circuit, op, model.conductances(), model.source_voltages(arrays, size),
                         model.output_currents(currents, size), gmin=_gmin(model.backend))


def _gmin(backend):
    """The ``gmin`` (S) the backend places across junctions (Ngspice's option by default)."""
    for b in (backend, getattr(backend, "inner", None)):
        if getattr(b, "gmin", None) is not None:
            return float(b.gmin)
        options = getattr(b, "options", None)
        if isinstance(options, dict) and "gmin" in options:
            return float(options["gmin"])
    return DEFAULT_OPTIONS["gmin"]


def energy_per_inference(model, data, settle_time, batch_size=256):
    """Energy (J) per sample, ``(B,)``: total dissipated power (W) held for ``settle_time`` (s)."""
    from ..validation import check_number
    settle_time = check_number(settle_time, "settle_time (s)", 0, 1e6, low_open=True)
    return model_power(model, data, batch_size).total() * settle_time


def check_metric_names(model, prefix=""):
    """Raise ValidationError, naming the layer, if a power metric name would exceed
    the 40-character limit of metric names (before any training starts)."""
    from ..validation import MAX_NAME_LENGTH
    for layer in model.layers:
        longest = f"{prefix}supply_{layer.name}"
        if len(longest) > MAX_NAME_LENGTH:
            raise ValidationError(f"record_power: metric {longest!r} of {layer.describe()} exceeds "
                                  f"{MAX_NAME_LENGTH} characters; use a layer name of at most "
                                  f"{MAX_NAME_LENGTH - len(prefix) - 7} characters")
