"""The per-sample-rebuild baseline: how earlier tools trained circuits with EP.

For every training sample a PySpice ``Circuit`` is built with the high-level
API (one call per element, values with the sample's inputs and nudging
currents) and ``simulator.operating_point()`` is called, once for the free
phase and once more, on a second rebuilt circuit, for the nudged phase.
It runs in its own process (see ``time_baseline``) so that PySpice's
``NgSpiceShared`` never shares a process with ebana's library.
"""
import time

import numpy as np

from ebana.circuit.elements import BehavioralDiode, ShockleyDiode
from ebana.circuit.netlist import DEFAULT_OPTIONS


def pyspice_circuit(circuit, g, vs, isrc):
    """A PySpice Circuit of ``circuit`` with conductances ``g`` (S), sources ``vs`` (V), ``isrc`` (A)."""
    from PySpice.Spice.Netlist import Circuit as PyCircuit
    c = PyCircuit("ebana baseline")
    nn = ["0"] + list(circuit.node_names[1:])
    node = lambda k: c.gnd if k == 0 else nn[k]  # noqa: E731
    for k, name in enumerate(circuit.element_names("res")):
        c.R(name[1:], node(circuit.res_a[k]), node(circuit.res_b[k]), float(1.0 / g[k]))
    for k, name in enumerate(circuit.element_names("vs")):
        c.V(name[1:], node(circuit.vs_pos[k]), node(circuit.vs_neg[k]), float(vs[k]))
    for k, name in enumerate(circuit.element_names("is")):
        c.I(name[1:], c.gnd, node(circuit.is_node[k]), float(isrc[k]))
    for block in circuit.diode_blocks:
        m = block.model
        if isinstance(m, ShockleyDiode):
            c.model(m.name, "D", IS=m.is_, N=m.n)
        for k in range(block.index.start, block.index.stop):
            a, b = node(circuit.d_anode[k]), node(circuit.d_cathode[k])
            name = f"{block.owner}__{k - block.index.start}"
            if isinstance(m, BehavioralDiode):
                vd = f"v({nn[circuit.d_anode[k]]},{nn[circuit.d_cathode[k]]})"
                c.BehavioralSource(name, a, b, current_expression=(
                    f"{vd} / {m.roff!r} + ({vd} - {m.vth!r}) * u({vd} - {m.vth!r}) * {1 / m.ron - 1 / m.roff!r}"))
            else:
                c.D(name, a, b, model=m.name)
    if len(circuit.amp_in) or circuit.spice_blocks:
        raise NotImplementedError("the baseline builds resistors, sources and diodes only")
    return c


def operating_point(circuit, g, vs, isrc):
    """Node voltages (V), shape (n_nodes,), the way the baseline gets them."""
    pc = pyspice_circuit(circuit, g, vs, isrc)
    sim = pc.simulator(temperature=27, nominal_temperature=27, simulator="ngspice-shared")
    sim.options(**DEFAULT_OPTIONS)
    analysis = sim.operating_point()
    v = np.zeros(circuit.n_nodes)
    for k, name in enumerate(circuit.node_names[1:], start=1):
        v[k] = float(np.asarray(analysis.nodes[name])[0])
    return v


def ep_step_per_sample(model, batch, loss_fn, beta):
    """EP on ``batch`` one sample at a time, rebuilding the circuit for every phase; returns (grads, v_free)."""
    from ebana.training.ep import loss_and_nudge, targets_of
    size, arrays = model.check_inputs(batch)
    targets = targets_of(model, batch, size)
    vs = model.source_voltages(arrays, size)
    g, c = model.conductances(), model.circuit
    v_free, v_nudged = np.zeros((size, c.n_nodes)), np.zeros((size, c.n_nodes))
    for b in range(size):
        v_free[b] = operating_point(c, g, vs[b], np.zeros(c.n_is))
        _, _, currents = loss_and_nudge(model, v_free[b:b + 1], {k: t[b:b + 1] for k, t in targets.items()},
                                        loss_fn, beta)
        v_nudged[b] = operating_point(c, g, vs[b], model.output_currents(currents, 1)[0])
    grads = {layer.name: layer.ep_gradient(v_free, v_nudged, beta) for layer in model.layers if layer.parameters()}
    return grads, v_free


def time_baseline(build, batch, beta, repeats=2):
    """Seconds per EP step and sample, and the free-phase voltages (run in a fresh process)."""
    import logging
    logging.getLogger("PySpice").setLevel(logging.CRITICAL)  # "Unsupported Ngspice version 39", harmless
    from ebana.training import MSE
    model = build("native")  # the model only describes the circuit; nothing is solved with it
    warm = {k: a[:1] for k, a in batch.items()}
    ep_step_per_sample(model, warm, MSE(), beta)  # PySpice and the library loaded
    best = float("inf")
    for _ in range(repeats):  # best of a few passes: the machine may be shared
        start = time.perf_counter()
        _, v = ep_step_per_sample(model, batch, MSE(), beta)
        best = min(best, (time.perf_counter() - start) / len(next(iter(batch.values()))))
    return best, v
