"""The reference backend: Ngspice's own operating point, in process.

One circuit is loaded per weight state. Per sample, only what changed since
the previous solve is sent as ``alter`` commands (input voltages, nudging
currents, per-sample conductances), then one ``op`` runs and the node
voltages are read back; the plot is destroyed at once so that Ngspice's
memory and per-``op`` cost stay flat.
"""
import numpy as np

from ..circuit.netlist import render
from ..errors import SimulatorError
from .base import Backend, OperatingPoint
from .ngspice_library import ngspice_library


class NgspiceBackend(Backend):
    """Solve with the Ngspice shared library (through PySpice's loader).

    options: extra ``.options`` for the netlist (see ``DEFAULT_OPTIONS``).
    reload_fraction: when more than this fraction of the conductances changed,
        the circuit is reloaded instead of altered element by element.
    """
    name = "ngspice"

    def __init__(self, options=None, reload_fraction=0.02):
        self.options = dict(options or {})
        self.reload_fraction = reload_fraction
        self._lib = ngspice_library()
        self._circuit = None
        self._loaded = None  # (g, vs, isrc) currently in Ngspice
        self.solves = 0

    # loading -------------------------------------------------------------
    def _load(self, circuit, g, vs, isrc):
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
        self._loaded = [np.array(g, dtype=float), np.array(vs, dtype=float), np.array(isrc, dtype=float)]
        self._names = {
            kind: [n.encode() for n in circuit.element_names(kind)] for kind in ("res", "vs", "is")}
        self._node_vectors = [n.encode() for n in circuit.node_names[1:]]
        self._branch_vectors = [n + b"#branch" for n in self._names["vs"]]

    def _alter(self, kind, new, slot, to_value=lambda x: x):
        old = self._loaded[slot]
        changed = np.flatnonzero(new != old)
        names = self._names[kind]
        for k in changed:
            self._lib.command(f"alter {names[k].decode()} = {float(to_value(new[k]))!r}")
        old[changed] = new[changed]

    def _ensure(self, circuit, g, vs, isrc):
        # The library holds one circuit per process: another backend object may
        # have replaced ours since our last solve, so our record of it is stale.
        if self._circuit is not circuit or self._lib.loaded_by is not self:
            self._load(circuit, g, vs, isrc)
            return
        changed = np.count_nonzero(g != self._loaded[0])
        if changed > self.reload_fraction * max(len(g), 1):
            self._load(circuit, g, vs, isrc)
            return
        self._alter("res", g, 0, lambda x: 1.0 / x)
        self._alter("vs", vs, 1)
        self._alter("is", isrc, 2)

    # solving -------------------------------------------------------------
    def solve(self, circuit, stimulus, initial=None, sample_offset=0):
        """Solve every sample of ``stimulus``; ``initial`` is ignored (Ngspice
        starts each ``op`` from its own junction initialisation)."""
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
