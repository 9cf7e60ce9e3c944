"""The reference backend: Ngspice's own operating point, in process.

One circuit is loaded per weight state. Per sample, only what changed since
the previous solve is sent as ``alter`` commands (input voltages, nudging
currents, per-sample conductances), then one ``op`` runs and the node
voltages are read back; the plot is destroyed at once so that Ngspice's
memory and per-``op`` cost stay flat.

Ngspice parses a number in a netlist and the same number in an ``alter``
with different rounding (one ulp apart in ~70% of cases, measured). So that
a sample's result does not depend on what was solved before it (a serial
run and any split over workers agree bit for bit), every value reaches
Ngspice by one fixed path: shared conductances through the netlist (reloaded
when they change), per-sample conductances, source voltages and currents
always through ``alter``.
"""
import numpy as np

from ...circuit.netlist import render
from ...errors import SimulatorError
from ...interrupt import check as check_interrupt
from ..base import Backend, OperatingPoint
from .fold import FoldedCircuit
from .library import ngspice_library


class NgspiceBackend(Backend):
    """Solve with the Ngspice shared library (through PySpice's loader).

    options: extra ``.options`` for the netlist (see ``DEFAULT_OPTIONS``).
    fold_sources: solve the exactly equivalent netlist in which nodes held by
        grounded sources and touched only by resistors (crossbar inputs) are
        replaced by Norton currents (see :mod:`.fold`); ~10x faster on a
        crossbar network. ``False`` solves the netlist exactly as rendered.
    """
    name = "ngspice"

    def __init__(self, options=None, fold_sources=True):
        self.options = dict(options or {})
        self.fold_sources = bool(fold_sources)
        self._folded = {}  # id(circuit) -> (circuit, FoldedCircuit or None)
        self._lib = ngspice_library()
        self._circuit = None
        self._loaded = None  # (g, vs, isrc) currently in Ngspice
        self._g_by_alter = False
        self._named = None   # the circuit whose element names are cached
        self.solves = 0

    # loading -------------------------------------------------------------
    def _load(self, circuit, g, vs, isrc, g_by_alter):
        lib = self._lib
        lib.clear_output()
        if lib.loaded_by is not None:
            lib.command("remcirc")
        lib.loaded_by = self
        self._circuit = None
        lib.load(render(circuit, g, vs, isrc, options=self.options, analysis=None))
        if lib.errors():
            raise SimulatorError("Ngspice rejected the netlist", output=lib.output_text())
        self._circuit = circuit
        # NaN marks "as parsed from the text": the next _alter sends every value
        self._loaded = [np.full(len(g), np.nan) if g_by_alter else np.array(g, dtype=float),
                        np.full(len(vs), np.nan), np.full(len(isrc), np.nan)]
        self._g_by_alter = g_by_alter
        self._name(circuit)

    def _name(self, circuit):
        """Cache ``circuit``'s element names and the vector names of its nodes and branches."""
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
        for k in changed:
            self._lib.command(f"alter {names[k]} = {float(to_value(new[k]))!r}")
        old[changed] = new[changed]

    def _ensure_circuit(self, circuit, stimulus):
        """Once per batch: reload for a new circuit or new shared conductances."""
        per_sample_g = stimulus.g.ndim == 2
        # The library holds one circuit per process: another backend object may
        # have replaced ours since our last solve, so our record of it is stale.
        if (self._circuit is not circuit or self._lib.loaded_by is not self or per_sample_g != self._g_by_alter
                or (not per_sample_g and not np.array_equal(stimulus.g, self._loaded[0]))):
            self._load(circuit, *stimulus.sample(0), per_sample_g)

    def _apply(self, g, vs, isrc):
        """Per sample: ``alter`` what differs from the previous sample."""
        if self._g_by_alter:
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
            check_interrupt()  # Ctrl-C stops here, between samples, with Ngspice in a clean state
            try:
                if b == 0:
                    self._ensure_circuit(circuit, stimulus)
                self._apply(*stimulus.sample(b))
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
                lib.loaded_by = None
                lib.command("remcirc")
                raise SimulatorError("Ngspice found no operating point: " + ("; ".join(errors) or
                                     "node voltages missing after op"), sample=sample_offset + b, output=text)
        return OperatingPoint(v, i_vs)

    def close(self):
        if self._circuit is not None and self._lib.loaded_by is self:
            self._lib.command("remcirc")
            self._lib.loaded_by = None
        self._circuit = None
