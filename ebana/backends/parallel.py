"""Split the samples of a batch over a ``concurrent.futures.Executor``.

Ngspice keeps its state per process, so each worker process owns its own
backend (one shared library per worker), created on first use and kept in a
module-level cache. What a worker needs to solve is shipped once, not with
every batch: the circuit (by a fingerprint of its content) and the shared
conductances (by a digest of their bytes, i.e. once per weight state) stay in
the worker's cache; a task then carries only its samples' arrays. A worker
that has not seen them answers "missing" and the task is sent again with
them, so any executor works: the default local process pool, a Dask
cluster (``client.get_executor()``) or an MPI pool.
"""
import hashlib
import logging
import multiprocessing
import os
import pickle
import re
import sys
import threading
from collections import OrderedDict
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import numpy as np

from ..errors import SimulatorError, ValidationError
from .base import Backend, OperatingPoint, Stimulus
from .retry import RetryingBackend

log = logging.getLogger(__name__)

_GUARD = re.compile(r"""__name__\s*==\s*['"]__main__['"]|['"]__main__['"]\s*==\s*__name__""")


def check_main_guard():
    """Refuse to start worker processes from a script without ``if __name__ == "__main__":``.

    Workers start with the 'spawn' method (a fork of a process holding Ngspice or
    BLAS threads is unsafe), and spawn re-imports the main script in every worker:
    unguarded, each worker would build the model and start workers of its own
    (Python then stops it with a long RuntimeError about bootstrapping). A script
    file whose text has no such guard is refused here, before any process starts,
    with the fix; interactive sessions and notebooks (no script file) are not
    affected.
    """
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if not path or not os.path.isfile(path):
        return
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return
    if not _GUARD.search(text):
        raise ValidationError(
            f"backend with worker processes (e.g. 'ngspice:2'): the script {path!r} has no "
            "`if __name__ == \"__main__\":` block. Workers start with the 'spawn' method, which re-runs the "
            "script in each worker; move the code that builds and runs the model under "
            "`if __name__ == \"__main__\":` (functions and imports may stay at the top)")


# worker side ------------------------------------------------------------------
_CIRCUITS = OrderedDict()  # circuit fingerprint -> Circuit (the same object for every weight state)
_WEIGHTS = OrderedDict()   # digest -> shared conductances (S)
_BACKENDS = {}             # inner spec key -> backend of this process
_LOCK = threading.Lock()   # one Ngspice per process: tasks on threads of one worker take turns
_KEEP = 4


def _remember(cache, key, value):
    """Store ``value`` under ``key`` (when given) and return the cached value, or None if unknown."""
    if value is not None:
        cache[key] = value
        while len(cache) > _KEEP:
            cache.popitem(last=False)
    if key not in cache:
        return None
    cache.move_to_end(key)
    return cache[key]


def _inner_backend(spec):
    # A name gets the retry ladder, as Model gives it in one process: a sample
    # that fails is retried in the worker that holds its circuit.
    key = spec if isinstance(spec, str) else pickle.dumps(spec)
    if key not in _BACKENDS:
        _BACKENDS[key] = RetryingBackend(spec) if isinstance(spec, str) else spec()
    return _BACKENDS[key]


def _solve_chunk(task):
    """Worker entry point: solve one chunk, or report that its state is missing."""
    circuit_key, circuit, g_key, g, spec, g_rows, vs, isrc, initial, offset = task
    with _LOCK:
        circuit = _remember(_CIRCUITS, circuit_key, circuit)
        if g_rows is None:
            g_rows = _remember(_WEIGHTS, g_key, g)
        if circuit is None or g_rows is None:
            return "missing"
        stim = Stimulus(g_rows, vs, isrc)
        op = _inner_backend(spec).solve(circuit, stim, initial=initial, sample_offset=offset)
        return op.v, op.i_vs


# parent side ------------------------------------------------------------------
def circuit_fingerprint(circuit):
    """A digest of everything in ``circuit`` (topology, values, models, names)."""
    return hashlib.sha1(pickle.dumps(circuit, protocol=4)).hexdigest()


class ParallelBackend(Backend):
    """Solve the samples of each batch in ``workers`` chunks on an Executor.

    Args:
        inner: what each worker solves with: 'ngspice' or 'native' (with the
            retry ladder of :class:`~ebana.backends.retry.RetryingBackend`, run
            in the worker), or a picklable zero-argument callable returning a
            Backend (e.g. ``functools.partial(NgspiceBackend, fold_sources=False)``).
        executor: any ``concurrent.futures.Executor``; ``None`` starts a local
            pool of ``workers`` processes (spawned, so no Ngspice state is
            inherited; spawn re-runs the main script in each worker, so a script
            keeps its model code under ``if __name__ == "__main__":``, checked
            by :func:`check_main_guard`). A Dask cluster: ``executor=client.get_executor()``.
        workers: number of chunks a batch is split into (and of processes in
            the default pool).
        max_restarts: times the default pool is rebuilt in one solve when a
            worker process dies (OOM killer, a crash inside libngspice); the dead
            worker's chunks are solved again. A passed executor handles its own
            workers (Dask reschedules tasks of a lost worker).

    Results are those of the serial run: bit for bit with Ngspice (a sample's
    solution does not depend on the other samples), and within the solver's
    tolerance with the native backend (its iteration count is per batch) and
    with ``'ngspice-sweep'`` (each step of a sweep starts from the one before).
    Errors name the sample by its index in the whole batch.

    Example:
        ```python
        model = Model(inputs=[x], outputs=[out], backend=ParallelBackend("ngspice", workers=2))
        ```
    """
    name = "parallel"

    def __init__(self, inner="ngspice", executor=None, workers=2, max_restarts=3):
        if isinstance(inner, Backend):
            raise ValidationError("ParallelBackend needs the inner backend by name ('ngspice', 'native') or as a "
                                  "picklable factory, not an instance: each worker process builds its own")
        if not (isinstance(inner, str) or callable(inner)):
            raise ValidationError(f"ParallelBackend inner must be a backend name or a factory, received {inner!r}")
        if int(workers) < 1:
            raise ValidationError(f"ParallelBackend workers must be >= 1, received {workers!r}")
        self.inner, self.workers, self.max_restarts = inner, int(workers), int(max_restarts)
        self._executor, self._owns = executor, executor is None
        self._keys = {}        # id(circuit) -> (circuit, fingerprint)
        self._shipped = OrderedDict()  # recent circuit and conductance keys some worker has received
        self.solves = 0

    def which(self, circuit):
        """``'<inner> in <n> worker processes'`` (what each worker runs is chosen there)."""
        inner = self.inner if isinstance(self.inner, str) else getattr(self.inner, "__name__", "a factory")
        return f"{inner} in {self.workers} worker processes"

    @property
    def executor(self):
        if self._executor is None:
            check_main_guard()
            self._executor = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))
        return self._executor

    def _circuit_key(self, circuit):
        entry = self._keys.get(id(circuit))
        if entry is None or entry[0] is not circuit:
            if len(self._keys) > 8:  # a few circuits at a time
                self._keys.clear()
            entry = self._keys[id(circuit)] = (circuit, circuit_fingerprint(circuit))
        return entry[1]

    def solve(self, circuit, stimulus, initial=None, sample_offset=0):
        B = stimulus.batch_size
        g = np.asarray(stimulus.g, dtype=float)
        c_key = self._circuit_key(circuit)
        g_key = None if g.ndim == 2 else hashlib.sha1(np.ascontiguousarray(g).tobytes()).hexdigest()
        chunks = [c for c in np.array_split(np.arange(B), min(self.workers, B)) if len(c)]

        def task(rows, resend):
            # the circuit and the shared conductances travel only to workers that may lack them
            return (c_key, circuit if resend or c_key not in self._shipped else None,
                    g_key, g if g_key is not None and (resend or g_key not in self._shipped) else None,
                    self.inner, g[rows] if g.ndim == 2 else None, stimulus.vs[rows], stimulus.isrc[rows],
                    None if initial is None else np.asarray(initial)[rows], sample_offset + int(rows[0]))

        results = self._run(task, chunks)
        for key in (c_key, g_key):
            if key is not None:
                self._shipped[key] = True
                self._shipped.move_to_end(key)
        while len(self._shipped) > 64:
            self._shipped.popitem(last=False)
        self.solves += B
        return OperatingPoint(np.concatenate([r[0] for r in results]), np.concatenate([r[1] for r in results]))

    def _run(self, task, chunks):
        """Results of every chunk, resending the circuit and conductances to workers
        that lack them and rebuilding the default pool when a worker process dies."""
        results = [None] * len(chunks)
        send = [False] * len(chunks)
        restarts = 0
        while True:
            todo = [i for i, r in enumerate(results) if r is None or isinstance(r, str)]
            if not todo:
                return results
            for i in todo:
                if isinstance(results[i], str):  # "missing": this worker had not seen the state
                    send[i] = True
            broken = False
            try:
                futures = {i: self.executor.submit(_solve_chunk, task(chunks[i], send[i])) for i in todo}
            except BrokenProcessPool:  # the pool noticed a dead worker before this solve
                if not self._owns:
                    raise
                futures, broken = {}, True
            for i, future in futures.items():
                try:
                    results[i] = future.result()  # re-raises a worker's SimulatorError (global sample index)
                except BrokenProcessPool:
                    if not self._owns:
                        raise
                    broken = True
            if broken:
                restarts += 1
                if restarts > self.max_restarts:
                    raise SimulatorError(f"worker processes died {restarts} times in one solve; "
                                         "see the system log for the cause (out of memory?)")
                log.warning("a worker process died; restarting the pool and solving its samples again")
                self._executor.shutdown(wait=False, cancel_futures=True)
                self._executor = None
                self._shipped.clear()
                send = [True] * len(chunks)  # the new workers know nothing yet

    def close(self):
        """Shut down the process pool this backend started (a passed executor is left alone)."""
        if self._owns and self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
