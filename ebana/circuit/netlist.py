"""Render a :class:`Circuit` as SPICE netlist text: the only place netlist text is written.

Everything that reaches the text is either a validated name (see
``ebana.validation``) or a finite float written with ``repr`` (round-trip exact).
"""
import numpy as np

from ..errors import ValidationError
from ..validation import check_array
from .elements import BehavioralDiode, MosDiode, ShockleyDiode

# Tight tolerances: EP takes differences of two operating points a small beta
# apart, so the solve must be far more exact than SPICE's defaults (reltol 1e-3).
# pivrel: an amplifier's branch row puts its gain (~1) in the column of a node
# whose own conductances may be ~1e-4 S, so with Ngspice's default pivrel (1e-3)
# the sparse solver rejects the diagonal pivots and searches the whole matrix
# at every op: 3.2 s of 3.3 s per op on the folded 1568-1024-20 network, 0.42 s
# with 1e-5 (measured), and the same answers (native vs Ngspice within 1e-16 V).
DEFAULT_OPTIONS = {"reltol": 1e-9, "vntol": 1e-12, "abstol": 1e-15, "gmin": 1e-12, "itl1": 1000, "pivrel": 1e-5}


def _f(x):
    return repr(float(x))


def amplifier_sense_source(circuit, k):
    """Name of the 0 V source that measures the output current of amplifier ``k``."""
    return circuit.element_name("amp", k).replace("b", "v", 1) + "s"


def render(circuit, g, vs=None, isrc=None, title="ebana circuit", options=None, analysis=".op"):
    """Return the netlist of ``circuit`` with conductances ``g`` (S, shape (R,)),
    source values ``vs`` (V, shape (V,)) and currents ``isrc`` (A, shape (I,)).

    Ngspice ``options`` (name -> number) override :data:`DEFAULT_OPTIONS`; ``analysis`` is the
    last line before ``.end`` (none when empty). For a model, ``model.netlist(inputs)``
    renders one sample with its conductances (``render(model.circuit, model.conductances(),
    vs, title="one sample")``).
    """
    g, vs, isrc = _checked_values(circuit, g, vs, isrc)
    lines = _element_lines(circuit, g, vs, isrc, title, options)
    for owner, text in circuit.spice_blocks:
        lines.append(f"* user block {owner}")
        lines.extend(text.strip().splitlines())
    if analysis:
        lines.append(analysis)
    lines.append(".end")
    return "\n".join(lines) + "\n"


class SweepNetlist:
    """What :func:`render_sweep` wrote: ``text``, the name of the ``sweep`` source, the number of
    ``steps`` (samples), and ``branches``: the vector names Ngspice reports the branch current of
    every voltage source under, in circuit order (``<name>#branch``; a swept source is a B source)."""

    def __init__(self, text, sweep, steps, branches):
        self.text, self.sweep, self.steps, self.branches = text, sweep, steps, branches

    @property
    def command(self):
        """The Ngspice command that runs the sweep: one operating point per sample."""
        return f"dc {self.sweep} 0 {self.steps - 1} 1"


def render_sweep(circuit, g, vs, isrc, title="ebana circuit, one sample per sweep step", options=None):
    """Return a :class:`SweepNetlist`: ``circuit`` with conductances ``g`` (S, shape (R,)) for a
    batch of samples, source voltages ``vs`` (V, (B, V)) and currents ``isrc`` (A, (B, I)), written
    so that one DC sweep solves every sample.

    A sweep source steps 0, 1, ..., B-1 (integers: exact in floating point). Every source whose
    value differs between samples becomes a B source whose value is a piecewise-linear function of
    the sweep net, flat at x_k within a quarter step of k (see :func:`_pwl`); sources equal in every
    sample stay independent sources. At step k the circuit is therefore exactly sample k's.
    """
    if circuit.spice_blocks:
        raise ValidationError("render_sweep: the circuit holds user SPICE blocks, whose names ebana cannot "
                              "see; solve it one operating point per sample (render)")
    vs, isrc = np.atleast_2d(vs), np.atleast_2d(isrc)
    g, _, _ = _checked_values(circuit, g, vs[0], isrc[0])
    vs, isrc = check_array(vs, "source voltages (V)"), check_array(isrc, "source currents (A)")
    if vs.shape[1:] != (circuit.n_vs,) or isrc.shape != (len(vs), circuit.n_is):
        raise ValidationError(f"expected source voltages (B, {circuit.n_vs}) and currents (B, {circuit.n_is}), "
                              f"received {vs.shape} and {isrc.shape}")
    tag = _unused_prefix(circuit, "ebanasweep")
    steps = len(vs)
    lines = _element_lines(circuit, g, vs[0], isrc[0], title, options, swept=(tag, vs, isrc))
    lines.append(f"v{tag} {tag} 0 dc 0")
    lines.append(f".dc v{tag} 0 {steps - 1} 1")
    lines.append(".end")
    branches = [(f"b{tag}{n}" if swept else n) + "#branch"
                for n, swept in zip(circuit.element_names("vs"), varying(vs))]
    return SweepNetlist("\n".join(lines) + "\n", f"v{tag}", steps, branches)


def varying(values):
    """Which columns of a per-sample table ``values`` (B, n) differ between its rows: the sources
    :func:`render_sweep` makes follow the sweep."""
    return np.any(values != values[:1], axis=0)


def _unused_prefix(circuit, prefix):
    """``prefix`` (plus x's) such that no node is named so and no element owner starts with it:
    names built from it cannot meet the circuit's own."""
    owners = {o.lower() for kind in circuit.blocks.values() for o in kind}
    owners |= {b.owner.lower() for b in circuit.diode_blocks}
    nodes = {n.lower() for n in circuit.node_names}
    while prefix in nodes or any(o.startswith(prefix) for o in owners):
        prefix += "x"
    return prefix


def _pwl(tag, column):
    """``pwl(v(tag), -0.25, x_0, 0.25, x_0, 0.75, x_1, 1.25, x_1, ...)``: flat within a quarter step
    of every integer k, so that the sweep net's voltage, which Ngspice's LU solve returns to
    rounding (k * (1 +- 1e-16)), still gives exactly x_k."""
    points = ", ".join(f"{k - 0.25!r}, {_f(x)}, {k + 0.25!r}, {_f(x)}" for k, x in enumerate(column))
    return f"pwl(v({tag}), {points})"


def _element_lines(circuit, g, vs, isrc, title, options, swept=None):
    """The title and options lines, then every element ebana made (``swept``: see :func:`_linear_lines`)."""
    opts = dict(DEFAULT_OPTIONS, **(options or {}))
    _check_free_text(title, opts)
    lines = [f"* {title}", ".options " + " ".join(f"{k}={_f(v)}" for k, v in opts.items())]
    lines += _linear_lines(circuit, g, vs, isrc, swept)
    lines += _diode_lines(circuit)
    lines += _amplifier_lines(circuit)
    return lines


def _checked_values(circuit, g, vs, isrc):
    """The numbers the netlist will hold, checked so that every one is finite and every
    resistance ``1/g`` exists: ``(g, vs, isrc)`` as flat arrays (S, V, A), defaults filled in."""
    g = check_array(g, "conductances (S)", 0, np.inf).reshape(-1)
    if g.shape != (circuit.n_res,):
        raise ValidationError(f"expected {circuit.n_res} conductances, received {g.shape}")
    if np.any(g <= 0):
        k = int(np.argmax(g <= 0))
        raise ValidationError(f"conductance of {circuit.element_name('res', k)} is {g[k]!r} S; it must be > 0")
    vs = circuit.vs_value if vs is None else check_array(vs, "source voltages (V)").reshape(-1)
    isrc = np.zeros(circuit.n_is) if isrc is None else check_array(isrc, "source currents (A)").reshape(-1)
    check_array(circuit.amp_gain, "amplifier gains", -1e6, 1e6)
    check_array(circuit.amp_shift, "amplifier shifts (V)", -1e3, 1e3)
    return g, vs, isrc


def _check_free_text(title, opts):
    """Refuse a title or option name that could change what Ngspice runs.

    They are the only free text in a netlist: a newline in either would start a new line,
    e.g. a .control block, and a first line starting with "*ng_script" makes Ngspice run
    the file as a script."""
    if (not isinstance(title, str) or not title.isprintable() or not title.isascii() or len(title) > 200
            or title.lstrip().startswith("*")):
        raise ValidationError(f"netlist title must be one printable ASCII line of at most 200 characters "
                              f"that does not start with '*' (ebana adds the comment mark), received {title!r}")
    for key in opts:
        if not (isinstance(key, str) and key.isascii() and key.isalnum() and key[:1].isalpha()):
            raise ValidationError(f"Ngspice option name {key!r} must be letters and digits only")


def _linear_lines(circuit, g, vs, isrc, swept=None):
    """Resistors (written as resistances, Ohm), voltage sources and current sources, in that order.

    ``swept = (tag, vs_batch, isrc_batch)``: sources whose value differs between the rows of the
    batch become B sources following the sweep source ``v<tag>`` (see :func:`render_sweep`)."""
    nn = circuit.node_names
    lines = []
    names = circuit.element_names("res")
    for k in range(circuit.n_res):
        lines.append(f"{names[k]} {nn[circuit.res_a[k]]} {nn[circuit.res_b[k]]} {_f(1.0 / g[k])}")
    tag, vs_batch, is_batch = swept or (None, vs[None, :], isrc[None, :])
    names, swept_vs = circuit.element_names("vs"), varying(vs_batch)
    for k in range(circuit.n_vs):
        p, n = nn[circuit.vs_pos[k]], nn[circuit.vs_neg[k]]
        lines.append(f"b{tag}{names[k]} {p} {n} v = {_pwl(tag, vs_batch[:, k])}" if swept_vs[k]
                     else f"{names[k]} {p} {n} dc {_f(vs[k])}")
    names, swept_is = circuit.element_names("is"), varying(is_batch)
    for k in range(circuit.n_is):
        node = nn[circuit.is_node[k]]
        lines.append(f"b{tag}{names[k]} 0 {node} i = {_pwl(tag, is_batch[:, k])}" if swept_is[k]
                     else f"{names[k]} 0 {node} dc {_f(isrc[k])}")
    return lines


def _diode_lines(circuit):
    """One element per junction, block by block, then each ``.model`` line once.

    A behavioral diode is a B source (its piecewise-linear current written out); Shockley
    diodes and diode-connected MOSFETs name a model, which follows all the elements."""
    nn = circuit.node_names
    lines, models = [], {}
    for block in circuit.diode_blocks:
        m = block.model
        for k in range(block.index.start, block.index.stop):
            a, c = nn[circuit.d_anode[k]], nn[circuit.d_cathode[k]]
            local = f"{block.owner}__{k - block.index.start}"
            if isinstance(m, BehavioralDiode):
                vd = f"v({a},{c})"
                lines.append(f"b{local} {a} {c} i = {vd} / {_f(m.roff)} + ({vd} - {_f(m.vth)}) * "
                             f"u({vd} - {_f(m.vth)}) * {_f(1.0 / m.ron - 1.0 / m.roff)}")
            elif isinstance(m, ShockleyDiode):
                models[m.name] = m.model_line()
                lines.append(f"d{local} {a} {c} {m.name}")
            elif isinstance(m, MosDiode):
                models[m.name] = m.model_line()
                lines.append(m.element_line(f"m{local}", a, c))
    lines.extend(models.values())
    return lines


def _amplifier_lines(circuit):
    """Three elements per amplifier: an E-like B source ``v = gain * v(in) + shift`` into a
    middle net, a 0 V source that senses its output current, and a CCCS that draws
    ``1/gain`` of that current from the input net: currents pass back through the amplifier
    divided by its gain, the way a nudge at the outputs reaches earlier layers."""
    nn = circuit.node_names
    lines = []
    names = circuit.element_names("amp")
    for k in range(len(circuit.amp_in)):
        src, dst = nn[circuit.amp_in[k]], nn[circuit.amp_out[k]]
        mid = f"{names[k][1:]}_m"
        sense = amplifier_sense_source(circuit, k)
        gain, shift = circuit.amp_gain[k], circuit.amp_shift[k]
        lines.append(f"{names[k]} {mid} 0 v = {_f(gain)} * v({src}) + {_f(shift)}")
        lines.append(f"{sense} {mid} {dst} dc 0")
        lines.append(f"f{names[k][1:]} {src} 0 {sense} {_f(1.0 / gain)}")
    return lines
