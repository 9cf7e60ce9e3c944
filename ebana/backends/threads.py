"""Threads of ebana's own: how many, one BLAS thread inside them, and a shared pool.

The native solvers split work over a fixed number of threads (``EBANA_THREADS``, else their
own default), not the machine's cores: where a split changes the rounding, the same settings
then give the same results on every machine. Each thread runs BLAS on one thread, so the
threads themselves keep the cores busy.
"""
import contextlib
import importlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait

import numpy as np

from ..errors import ValidationError

#: threads of :func:`thread_map`'s pool when neither the caller nor ``EBANA_THREADS`` says
SHARED_THREADS = 2

_blas_controller = None
_pools = {}  # threads -> ThreadPoolExecutor, for thread_map
_inside = threading.local()  # .pool: True in the pools' own threads


def default_threads():
    """``EBANA_THREADS`` as an int, or None (not set: each solver decides, see
    :func:`~ebana.backends.layered.backend.auto_threads`)."""
    env = os.environ.get("EBANA_THREADS", "").strip()
    if not env:
        return None
    if not env.isdigit() or int(env) < 1:
        raise ValidationError(f"EBANA_THREADS must be a positive integer, received {env!r}")
    return int(env)


def pool_threads():
    """Threads of :func:`thread_map`'s pool when the caller names none: ``EBANA_THREADS``, else
    ``SHARED_THREADS``."""
    return default_threads() or SHARED_THREADS


def batch_chunks(size, threads, min_chunk):
    """A batch of ``size`` samples as consecutive slices, one per thread (at most ``threads``),
    each of at least ``min_chunk`` samples (one slice when the batch is smaller)."""
    n = max(1, min(threads, size // min_chunk))
    edges = np.linspace(0, size, n + 1).astype(int)
    return [slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


#: entries below which :func:`in_pieces` stays in the caller's thread (a hand-off costs tens of us)
MIN_PIECE = 1 << 17


def in_pieces(fn, size, min_piece=MIN_PIECE):
    """``[fn(piece) for piece in ...]`` over consecutive slices covering ``range(size)``, in
    :func:`thread_map`'s threads: for work on large arrays that would otherwise leave a core
    idle (compiled passes, BLAS products). Single NumPy passes over memory may gain nothing: the
    model's conductance vector, its range check and the clip each measured slower in two
    threads with cold caches on the 2-core machine. One slice, in this thread, below
    ``2 * min_piece``.
    ``fn`` writes only its own piece, as for :func:`thread_map`."""
    return thread_map(fn, batch_chunks(size, pool_threads(), min_piece))


def one_blas_thread():
    """A context in which BLAS runs one thread (for work split over threads of its own, or
    whose products are too small for two). The controller is made once: ``threadpool_limits``
    scans the loaded libraries on every call, about 1 ms."""
    global _blas_controller
    if _blas_controller is None:
        from threadpoolctl import ThreadpoolController
        importlib.import_module("scipy.linalg")  # SciPy's BLAS loaded first, so that the controller sees it
        _blas_controller = ThreadpoolController()
    return _blas_controller.limit(limits=1, user_api="blas")


def blas_beside(backend, circuit):
    """A context for work beside ``backend``'s solves of ``circuit``: one BLAS thread where those
    run in this pool's threads (:meth:`~ebana.backends.base.Backend.own_threads`), else BLAS as set.

    OpenBLAS's idle threads spin for about 0.1 s (2**28 cycles) after every call that used
    them. A gradient product on two BLAS threads left one spinning through the next free
    phase, taking a core from the solver's threads on a 2-core machine: the local image
    network's free phase took 100 ms instead of 69 (its training step 216 instead of 182)."""
    return one_blas_thread() if backend.own_threads(circuit) > 1 else contextlib.nullcontext()


def thread_map(fn, items, threads=None):
    """``[fn(item) for item in items]`` in a process-wide pool of ``threads`` threads (default
    ``EBANA_THREADS``, else ``SHARED_THREADS``), each with one BLAS thread; in this thread when
    there is one item or one thread. Every item is done before it returns or raises (the
    first failure in item order): none still writes when the caller goes on. ``fn`` must
    release Python's lock for most of its work (BLAS, numpy ufuncs, compiled kernels) and
    write nothing another item writes."""
    items = list(items)
    threads = threads or pool_threads()
    # inside one of the pools' own threads, inline: waiting on a pool from it could deadlock
    if len(items) < 2 or threads == 1 or getattr(_inside, "pool", False):
        return [fn(item) for item in items]
    # setdefault keeps one pool when two threads of the caller's get here first at once (an
    # executor starts no thread before its first task, so the other one costs nothing)
    pool = _pools.get(threads) or _pools.setdefault(threads, ThreadPoolExecutor(max_workers=threads,
                                                                                thread_name_prefix="ebana"))

    def marked(item):
        _inside.pool = True
        return fn(item)
    with one_blas_thread():
        futures = [pool.submit(marked, item) for item in items]
        wait(futures)
    return [f.result() for f in futures]
