"""``backend='native'``: the layered solver where the circuit has the structure, else the dense one.

The choice is made once per circuit: :class:`~.layered.LayeredBackend`
when :class:`~.layered.plan.LayeredPlan` finds groups of nets that no element
joins (every network the layer API builds from crossbars, clamps and
amplifiers), else :class:`~.dense.DenseBackend`, the dense stacked-LU Newton
solver (floating sources, resistors within a layer, ...). Small circuits (at
most ``small`` unknowns, e.g. the 64-32-20 design network and Iris) also go to
the dense solver: there one stacked LU per Newton iteration costs less than a
few sweeps' Python overhead (``bench/speed.py`` measures both). Circuits with
wired crossbars (:mod:`ebana.layers.wires`) go to
:class:`~.eliminate.WireEliminatingBackend`, which eliminates the wire nodes
exactly and runs the dense solver on what remains. :meth:`~AutoNativeBackend.which`
says which one runs and why. A circuit the layered solver cannot structure is said once (a
``RuntimeWarning`` with the reason) when the dense solver takes it and it is not small, and is
refused with the reason (``GraphError``) when one dense factorisation per sample would not fit.
"""
import warnings

import numpy as np

from ..errors import GraphError, SimulatorError
from .base import Backend
from .dense.backend import DenseBackend
from .eliminate import WireEliminatingBackend
from .layered.backend import LayeredBackend
from .layered.plan import NotLayered


class AutoNativeBackend(Backend):
    """Dispatch each circuit to the layered or the dense native solver.

    Setting ``max_iterations`` or ``options`` (as the retry ladder does) applies
    to both solvers; ``max_iterations = 0`` restores their own defaults. A batch the
    layered solver fails on is solved densely when the circuit has at most
    ``dense_fallback`` nodes (``fallbacks`` counts them).
    """
    name = "native"

    def __init__(self):
        self.layered, self.dense = LayeredBackend(), DenseBackend()
        self.wires = WireEliminatingBackend(inner=self.dense)  # shares the dense solver and its settings
        self._defaults = (self.layered.max_iterations, self.dense.max_iterations)
        self._max_iterations = 0
        self._choice = None  # (circuit, solver, reason)
        self.small = 64  # unknowns up to which the dense solver is the faster one
        self.dense_fallback = 2000  # nodes up to which a layered failure is solved densely instead
        self.dense_limit = 8000  # unknowns up to which an unstructured circuit is factored densely (0.5 GB each)
        self.fallbacks = 0  # batches the layered solver failed on and the dense one solved
        self._last = None  # (circuit, why) when the last solve of circuit was a dense fallback

    def solver_for(self, circuit):
        """The solver that runs ``circuit`` (chosen on first use, then kept)."""
        if self._choice is None or self._choice[0] is not circuit:
            try:
                plan = self.layered.structure(circuit)
            except NotLayered as e:
                solver = self.wires if circuit.not_layered else self.dense
                if solver is self.dense:
                    self._unstructured(circuit, e)
                self._choice = (circuit, solver, str(e))
            else:
                unknowns = circuit.n_nodes - len(plan.fixed_nodes) + len(circuit.amp_in)
                if unknowns <= self.small:
                    self._choice = (circuit, self.dense, f"small circuit: {unknowns} unknowns")
                else:
                    self._choice = (circuit, self.layered, "layered circuit")
        return self._choice[1]

    def _unstructured(self, circuit, why):
        """The layered solver cannot structure ``circuit`` (``why``): say so once when the dense solver
        takes it and it is not small; refuse it, saying why, when a dense factorisation per sample
        would not fit (more than ``dense_limit`` unknowns)."""
        unknowns = _dense_unknowns(circuit)
        if unknowns > self.dense_limit:
            raise GraphError(f"backend 'native' cannot solve this circuit: the layered solver cannot structure it "
                             f"({why}), and the dense solver would factor a {unknowns} x {unknowns} matrix per "
                             f"sample and Newton iteration ({unknowns ** 2 * 8 / 1e9:.1f} GB each; at most "
                             f"{self.dense_limit} unknowns are attempted). Give every layer's nets to one group "
                             "that no element joins (see docs/speed.md, the layered solver), or use "
                             "backend='ngspice'")
        if unknowns > self.small:
            warnings.warn(f"backend 'native': the layered solver cannot structure this circuit ({why}); the dense "
                          f"solver runs it instead ({unknowns} unknowns, one {unknowns} x {unknowns} factorisation "
                          "per sample and Newton iteration: slower on large circuits). model.solver() says which "
                          "solver runs", RuntimeWarning, stacklevel=4)

    def which(self, circuit):
        """The solver that answered the last solve of ``circuit``: ``'native-layered'``,
        ``'native-dense (why)'``, or after a fallback ``'native-dense (fallback: ...; n
        fallbacks so far)'``; before any solve, the one that will run it."""
        solver = self.solver_for(circuit)
        if self._last is not None and self._last[0] is circuit:
            return f"{self.dense.name} (fallback: {self._last[1]}; {self.fallbacks} fallbacks so far)"
        if solver is self.wires:
            return f"{self.wires.which(circuit)}: {self._choice[2]}"
        return solver.name if solver is self.layered else f"{solver.name} ({self._choice[2]})"

    def solve(self, circuit, stimulus, initial=None, sample_offset=0):
        solver = self.solver_for(circuit)
        try:
            result = solver.solve(circuit, stimulus, initial=initial, sample_offset=sample_offset)
        except SimulatorError as exc:
            # Sweeps crawl where layers are coupled very unevenly (conductances over many
            # decades); a circuit small enough for one stacked LU is then solved densely.
            if solver is not self.layered or circuit.n_nodes > self.dense_fallback:
                raise
            result = self.dense.solve(circuit, stimulus, initial=initial, sample_offset=sample_offset)
            self.fallbacks += 1
            why = str(exc).splitlines()[0]
            self._last = (circuit, f"the layered solver failed: {why}")
            if self.fallbacks == 1:  # one line per backend, not one per batch
                warnings.warn(f"backend 'native': the layered solver failed on a batch ({why}); it was solved by "
                              "the dense solver instead, which is slower on large circuits. model.solver() "
                              "reports the fallbacks; this is said once", RuntimeWarning, stacklevel=3)
            return result
        self._last = None
        return result

    @property
    def solves(self):
        return self.layered.solves + self.dense.solves

    @property
    def max_iterations(self):
        return self._max_iterations

    @max_iterations.setter
    def max_iterations(self, value):
        self._max_iterations = value
        self.layered.max_iterations = max(self._defaults[0], value)
        self.dense.max_iterations = max(self._defaults[1], value)

    @property
    def options(self):
        return self.layered.options

    @options.setter
    def options(self, value):
        self.layered.options = dict(value)

    def own_threads(self, circuit):
        return self.solver_for(circuit).own_threads(circuit)

    def close(self):
        self.layered.close()
        self.dense.close()


def _dense_unknowns(circuit):
    """The size of the dense solver's matrix (``M`` of :class:`~.dense.plan.Plan`): the nodes
    no voltage source ties to ground, the floating sources' branch currents, the amplifiers."""
    pos, neg = np.asarray(circuit.vs_pos), np.asarray(circuit.vs_neg)
    grounded = (pos == 0) | (neg == 0)
    fixed = np.unique(np.where(neg == 0, pos, neg)[grounded])
    return circuit.n_nodes - 1 - int(np.count_nonzero(fixed != 0)) + int(np.count_nonzero(~grounded)) \
        + len(circuit.amp_in)
