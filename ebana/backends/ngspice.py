"""The reference backend: Ngspice's own operating point, in process.

One circuit is loaded per weight state. Per sample, only what changed since
the previous solve is sent as ``alter`` commands (input voltages, nudging
currents, per-sample conductances), then one ``op`` runs and the node
voltages are read back; the plot is destroyed at once so that Ngspice's
memory and per-``op`` cost stay flat.
"""
import time

import numpy as np

from ..circuit.netlist import render
from ..errors import SimulatorError
from .base import Backend, OperatingPoint
from .ngspice_fold import FoldedCircuit
from .ngspice_library import ngspice_library


class NgspiceBackend(Backend):
    """Solve with the Ngspice shared library (through PySpice's loader).

    options: extra ``.options`` for the netlist (see ``DEFAULT_OPTIONS``).
    reload_fraction: when more than this fraction of the conductances changed,
        the circuit is reloaded instead of altered element by element. ``None``
        (default) decides by measured cost: reload when altering the changed
        elements (timed per ``alter``) would take longer than the last load.
    fold_sources: solve the exactly equivalent netlist in which nodes held by
        grounded sources and touched only by resistors (crossbar inputs) are
        replaced by Norton currents (see ``ngspice_fold``); ~10x faster on a
        crossbar network. ``False`` solves the netlist exactly as rendered.
    """
    name = "ngspice"

    def __init__(self, options=None, reload_fraction=None, fold_sources=True):
        self.options = dict(options or {})
        self.reload_fraction = reload_fraction
        self.fold_sources = bool(fold_sources)
        self._folded = {}  # id(circuit) -> (circuit, FoldedCircuit or None)
        self._lib = ngspice_library()
        self._circuit = None
        self._loaded = None  # (g, vs, isrc) currently in Ngspice
        self._named = None   # the circuit whose element names are cached
        # Measured costs (s): one load of the current circuit, one alter (running mean).
        self._load_seconds, self._alter_seconds = 0.0, 15e-6
        self.solves = 0

    # loading -------------------------------------------------------------
    def _load(self, circuit, g, vs, isrc):
        lib = self._lib
        lib.clear_output()
        if self._circuit is not None:
            lib.command("remcirc")
        self._circuit = None
        start = time.perf_counter()
        lib.load(render(circuit, g, vs, isrc, options=self.options, analysis=None))
        if lib.errors():
            raise SimulatorError("Ngspice rejected the netlist", output=lib.output_text())
        self._load_seconds = time.perf_counter() - start
        self._circuit = circuit
        self._loaded = [np.array(g, dtype=float), np.array(vs, dtype=float), np.array(isrc, dtype=float)]
        if self._named is not circuit:
            self._names = {kind: circuit.element_names(kind) for kind in ("res", "vs", "is")}
            self._node_vectors = [n.encode() for n in circuit.node_names[1:]]
            self._branch_vectors = [n.encode() + b"#branch" for n in self._names["vs"]]
            self._named = circuit

    def _alter(self, kind, new, slot, to_value=lambda x: x):
        old = self._loaded[slot]
        changed = np.flatnonzero(new != old)
        if not len(changed):
            return
        names = self._names[kind]
        start = time.perf_counter()
        for k in changed:
            self._lib.command(f"alter {names[k]} = {float(to_value(new[k]))!r}")
        old[changed] = new[changed]
        per = (time.perf_counter() - start) / len(changed)
        self._alter_seconds = 0.9 * self._alter_seconds + 0.1 * per

    def _ensure(self, circuit, g, vs, isrc):
        if self._circuit is not circuit:
            self._load(circuit, g, vs, isrc)
            return
        changed = np.count_nonzero(g != self._loaded[0])
        if self.reload_fraction is None:
            reload = changed * self._alter_seconds > self._load_seconds
        else:
            reload = changed > self.reload_fraction * max(len(g), 1)
        if reload:
            self._load(circuit, g, vs, isrc)
            return
        self._alter("res", g, 0, lambda x: 1.0 / x)
        self._alter("vs", vs, 1)
        self._alter("is", isrc, 2)

    # solving -------------------------------------------------------------
    def _fold(self, circuit):
        if not self.fold_sources:
            return None
        entry = self._folded.get(id(circuit))
        if entry is None or entry[0] is not circuit:
            if len(self._folded) > 8:  # a few circuits at a time; stale ones are dropped
                self._folded.clear()
            entry = self._folded[id(circuit)] = (circuit, FoldedCircuit.of(circuit))
        return entry[1]

    def solve(self, circuit, stimulus, initial=None, sample_offset=0):
        """Solve every sample of ``stimulus``. ``initial`` is ignored: every Ngspice
        ``op`` starts from its own junction initialisation (MODEINITJCT) and
        reorders the matrix, whatever was solved before."""
        folded = self._fold(circuit)
        if folded is None:
            return self._solve(circuit, stimulus, sample_offset)
        op = self._solve(folded.circuit, folded.reduce(stimulus), sample_offset)
        return folded.expand(op, stimulus)

    def _solve(self, circuit, stimulus, sample_offset):
        B = stimulus.batch_size
        v = np.zeros((B, circuit.n_nodes))
        i_vs = np.zeros((B, circuit.n_vs))
        lib = self._lib
        for b in range(B):
            g, vs, isrc = stimulus.sample(b)
            try:
                self._ensure(circuit, g, vs, isrc)
            except SimulatorError as e:
                raise SimulatorError(str(e).split("\n--- simulator output")[0],
                                     sample=sample_offset + b, output=e.output) from None
            lib.clear_output()
            lib.command("op")
            errors = lib.errors()
            missing = lib.read_scalars(self._node_vectors, v[b, 1:]) if not errors else [0]
            if not errors:
                missing += lib.read_scalars(self._branch_vectors, i_vs[b])
            lib.command("destroy all")
            self.solves += 1
            if errors or missing:
                text = lib.output_text()
                # Leave Ngspice in a clean state for the next batch.
                self._circuit = None
                lib.command("remcirc")
                raise SimulatorError("Ngspice found no operating point: " + ("; ".join(errors) or
                                     "node voltages missing after op"), sample=sample_offset + b, output=text)
        return OperatingPoint(v, i_vs)

    def close(self):
        if self._circuit is not None:
            self._lib.command("remcirc")
            self._circuit = None
