"""Threads of ebana's own: how many, one BLAS thread inside them, and a shared pool.

The native solvers split work over a fixed number of threads (``EBANA_THREADS``, else their
own default), not the machine's cores: where a split changes the rounding, the same settings
then give the same results on every machine. Each thread runs BLAS on one thread, so the
threads themselves keep the cores busy.
"""
import importlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from ..errors import ValidationError

#: threads of the shared pool (:func:`thread_map`) when ``EBANA_THREADS`` is not set
SHARED_THREADS = 2

_blas_controller = None
_shared = None  # (threads, ThreadPoolExecutor) of thread_map
_inside = threading.local()  # .pool: True in the pool's own threads


def default_threads():
    """``EBANA_THREADS`` as an int, or None (not set: each solver decides, see
    :func:`~ebana.backends.layered.backend.auto_threads`)."""
    env = os.environ.get("EBANA_THREADS", "").strip()
    if not env:
        return None
    if not env.isdigit() or int(env) < 1:
        raise ValidationError(f"EBANA_THREADS must be a positive integer, received {env!r}")
    return int(env)


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


def thread_map(fn, items):
    """``list(map(fn, items))`` in a process-wide pool of ``EBANA_THREADS`` (else
    ``SHARED_THREADS``) threads, each with one BLAS thread; in this thread when there is one
    item or one thread. ``fn`` must release Python's lock for most of its work (BLAS, numpy
    ufuncs, compiled kernels) and write nothing another item writes."""
    global _shared
    items = list(items)
    threads = default_threads() or SHARED_THREADS
    # inside one of the pool's own threads, inline: waiting on the pool from it could deadlock
    if len(items) < 2 or threads == 1 or getattr(_inside, "pool", False):
        return [fn(item) for item in items]
    if _shared is None or _shared[0] != threads:
        _shared = (threads, ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ebana"))

    def marked(item):
        _inside.pool = True
        return fn(item)
    with one_blas_thread():
        return list(_shared[1].map(marked, items))
