"""Retry operating points that fail to converge, then reject the batch with a clear error.

A solve can fail on one sample of a batch (a pathological input, a user
SPICE block, options that switched convergence aids off). :class:`RetryingBackend`
wraps any backend: it solves the batch, and when a sample fails it solves
that one sample again under a ladder of stronger settings (more Newton
iterations, gmin stepping, source stepping) before moving on. Only if every
rung fails does it raise :class:`SimulatorError` naming the sample and carrying
the simulator's own text. Nothing here changes weights: the caller (EP) only
updates parameters after every phase of a batch has solved.
"""
from dataclasses import dataclass, field

import numpy as np

from ..errors import SimulatorError, UnsupportedElementError, ValidationError
from .base import Backend, OperatingPoint
from .registry import make_solver


@dataclass(frozen=True)
class Attempt:
    """One rung of the retry ladder.

    name: what the rung tries (shown in errors).
    options: Ngspice ``.options`` merged over the backend's own (e.g. ``itl1``,
        Newton iterations; ``gminsteps``, ``srcsteps``, number of steps).
    max_iterations: Newton iterations for the native backend (None: unchanged).
    """
    name: str
    options: dict = field(default_factory=dict)
    max_iterations: int = None


# Ngspice raises itl1 below 100 to 100, so "more iterations" means thousands.
# noopiter=0 re-enables the direct Newton attempt in case the user's options skipped it.
DEFAULT_ATTEMPTS = (
    Attempt("more Newton iterations", {"itl1": 10000, "noopiter": 0}, max_iterations=2000),
    Attempt("gmin stepping", {"itl1": 10000, "gminsteps": 100, "noopiter": 1}, max_iterations=10000),
    Attempt("source stepping", {"itl1": 10000, "gminsteps": 0, "srcsteps": 100, "noopiter": 1}),
)


class RetryingBackend(Backend):
    """Wrap ``inner`` so failed samples are retried under :data:`DEFAULT_ATTEMPTS`.

    Args:
        inner: a Backend, or a solver name (:data:`~ebana.backends.registry.SOLVERS`).
        attempts: the retry ladder (sequence of :class:`Attempt`); empty: no retries.

    Attributes:
        rescued: list of ``(sample, attempt name)`` for every sample a retry saved.

    Example:
        ```python
        model = Model(inputs=[x], outputs=[out], backend=RetryingBackend("ngspice"))
        ```
    """

    def __init__(self, inner="ngspice", attempts=DEFAULT_ATTEMPTS):
        self.inner = make_solver(inner) if isinstance(inner, str) else inner
        if not isinstance(self.inner, Backend):
            raise ValidationError(f"RetryingBackend wraps a Backend or a backend name, received {inner!r}")
        self.attempts = tuple(attempts)
        self.name = f"retrying {self.inner.name}"
        self.rescued = []

    @property
    def solves(self):
        """Solves the wrapped backend ran (retries included)."""
        return getattr(self.inner, "solves", 0)

    def solve(self, circuit, stimulus, initial=None, sample_offset=0):
        try:  # the common case: the whole batch solves (its branch currents may stay lazy)
            return self.inner.solve(circuit, stimulus, initial=initial, sample_offset=sample_offset)
        except UnsupportedElementError:
            raise
        except SimulatorError as failure:
            return self._solve_around(circuit, stimulus, initial, sample_offset, failure)

    def _solve_around(self, circuit, stimulus, initial, sample_offset, failure):
        """Rescue the failing sample, then solve the rows on either side of it (recursively)."""
        B = stimulus.batch_size
        v = np.zeros((B, circuit.n_nodes))
        i_vs = np.zeros((B, circuit.n_vs))
        # Work list of half-open row ranges (with their failure when known); every
        # failure rescues (or rejects) one sample, so the loop always ends.
        pending = [(0, B, failure)]
        while pending:
            lo, hi, known = pending.pop()
            if known is None:
                try:
                    op = self._inner_solve(circuit, stimulus, initial, np.arange(lo, hi), sample_offset + lo)
                except UnsupportedElementError:
                    raise
                except SimulatorError as e:
                    known = e
                else:
                    v[lo:hi], i_vs[lo:hi] = op.v, op.i_vs
                    continue
            bad = _row_of(known, sample_offset, lo, hi)
            op1 = self._rescue(circuit, stimulus, initial, bad, sample_offset, known)
            v[bad], i_vs[bad] = op1.v[0], op1.i_vs[0]
            if bad + 1 < hi:
                pending.append((bad + 1, hi, None))
            if lo < bad:
                pending.append((lo, bad, None))
        return OperatingPoint(v, i_vs)

    def close(self):
        self.inner.close()

    def _inner_solve(self, circuit, stimulus, initial, rows, offset):
        sub = stimulus.take(rows)
        # rows of an array, or of a warm start the solver reads in parts (a Reflection, a
        # DeferredVoltages): kept as it is, so that only the nodes the solver reads are made
        init = None if initial is None else (initial[rows] if hasattr(initial, "shape") else np.asarray(initial)[rows])
        return self.inner.solve(circuit, sub, initial=init, sample_offset=offset)

    def _rescue(self, circuit, stimulus, initial, row, offset, first):
        """Solve one row under each attempt in turn; raise if none converges."""
        tried = []
        last = first
        for attempt in self.attempts:
            restore = _configure(self.inner, attempt)
            try:
                op = self._inner_solve(circuit, stimulus, initial, np.array([row]), offset + row)
            except UnsupportedElementError:
                raise
            except SimulatorError as e:
                last = e
                tried.append(attempt.name)
                continue
            finally:
                restore()
            self.rescued.append((offset + row, attempt.name))
            return op
        reason = str(first).split("\n--- simulator output")[0]
        prefix = f"sample {offset + row}: "
        reason = reason[len(prefix):] if reason.startswith(prefix) else reason
        retried = f"; retried with {', '.join(tried)}, all failed" if tried else "; no retries configured"
        raise SimulatorError(reason + retried, sample=offset + row, output=last.output or first.output)


def _row_of(error, offset, lo, hi):
    """Batch row an error names; the first row of the range when it names none."""
    if error.sample is not None and lo <= error.sample - offset < hi:
        return error.sample - offset
    return lo


def _configure(backend, attempt):
    """Apply ``attempt`` to ``backend``; return a function that undoes it.

    Ngspice options live in the loaded netlist, so the circuit is unloaded
    (``close``) before and after: the retry reloads with the new options,
    and the next ordinary solve reloads with the user's own.
    """
    undo = []
    if attempt.options and isinstance(getattr(backend, "options", None), dict):
        saved = backend.options
        backend.close()
        backend.options = dict(saved, **attempt.options)

        def back():
            backend.close()
            backend.options = saved
        undo.append(back)
    if attempt.max_iterations is not None and hasattr(backend, "max_iterations"):
        saved_it = backend.max_iterations
        backend.max_iterations = max(saved_it, attempt.max_iterations)
        undo.append(lambda: setattr(backend, "max_iterations", saved_it))

    def restore():
        for f in reversed(undo):
            f()
    return restore
