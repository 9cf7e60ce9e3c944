"""Run chunks of work on a process pool that survives a dying worker.

If a worker process dies (killed by the OOM killer, a segfault inside
libngspice, ``os._exit``), ``concurrent.futures`` marks the whole pool broken
and every pending future fails with ``BrokenProcessPool``. :func:`run_chunks`
then builds a new pool and submits again every chunk that has no result yet,
so the samples of the dead worker are solved again. Results keep their
order. A parallel backend can call it with its own pool factory.
"""
import logging
from concurrent.futures import as_completed
from concurrent.futures.process import BrokenProcessPool

from ..errors import SimulatorError

log = logging.getLogger(__name__)


def run_chunks(make_executor, fn, chunks, max_restarts=3):
    """Return ``([fn(c) for c in chunks], restarts)`` computed on pools from ``make_executor()``.

    Args:
        make_executor: callable returning a fresh ``ProcessPoolExecutor``.
        fn: picklable callable run in the workers.
        chunks: sequence of picklable arguments.
        max_restarts: pools that may be rebuilt before giving up with SimulatorError.

    Exceptions raised by ``fn`` itself (e.g. a SimulatorError for a sample
    with no operating point) propagate unchanged: only dead workers are retried.

    Example:
        >>> # from concurrent.futures import ProcessPoolExecutor
        >>> # results, restarts = run_chunks(lambda: ProcessPoolExecutor(2), solve_chunk, chunks)
    """
    results = [None] * len(chunks)
    todo = set(range(len(chunks)))
    restarts = 0
    executor = make_executor()
    try:
        while todo:
            futures = {executor.submit(fn, chunks[i]): i for i in sorted(todo)}
            broken = False
            for future in as_completed(futures):
                try:
                    results[futures[future]] = future.result()
                    todo.discard(futures[future])
                except BrokenProcessPool:
                    broken = True
            if not broken:
                continue
            restarts += 1
            if restarts > max_restarts:
                raise SimulatorError(f"worker processes died {restarts} times; chunks {sorted(todo)} of "
                                     f"{len(chunks)} have no result (see the system log for the cause)")
            log.warning("a worker process died; restarting the pool and resubmitting %d chunk(s)", len(todo))
            executor.shutdown(wait=False, cancel_futures=True)
            executor = make_executor()
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
    return results, restarts
