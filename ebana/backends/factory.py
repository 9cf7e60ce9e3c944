"""The backend a user asks for: a solver by name, with retries, optionally over processes.

Example:
    >>> from ebana.backends.factory import get_backend
    >>> get_backend("native").name
    'native'
"""
from ..errors import ValidationError
from .base import Backend
from .parallel import ParallelBackend
from .registry import SOLVERS, make_solver
from .retry import RetryingBackend


def _split_spec(backend, workers):
    """``'ngspice:2'`` -> ``('ngspice', 2)``; other specs unchanged."""
    if isinstance(backend, str) and ":" in backend:
        name, _, count = backend.partition(":")
        if not count.isdigit() or workers is not None:
            raise ValidationError(f"backend spec {backend!r}: use 'name:workers', e.g. 'ngspice:2'")
        return name, int(count)
    return backend, workers


def get_backend(backend, workers=None, executor=None):
    """A backend from its name or a Backend instance.

    Names (:data:`~ebana.backends.registry.SOLVERS`): 'ngspice' (reference);
    'native' (the layered solver where the circuit has the structure, else the
    dense one: :mod:`~ebana.backends.auto`); 'native-layered' and
    'native-dense' to force one of them.

    ``workers=n`` (or the spec ``'ngspice:n'``) or an ``executor`` splits each
    batch over processes: see :class:`~ebana.backends.parallel.ParallelBackend`.
    """
    if isinstance(backend, Backend):
        if workers is not None or executor is not None:
            raise ValidationError("workers/executor apply to a backend name; wrap an instance's factory in "
                                  "ParallelBackend instead")
        return backend
    backend, workers = _split_spec(backend, workers)
    if workers is not None or executor is not None:
        if backend not in SOLVERS:
            raise ValidationError(f"unknown backend {backend!r}; use one of {tuple(SOLVERS)} or a Backend instance")
        return ParallelBackend(backend, executor=executor, workers=2 if workers is None else workers)
    return make_solver(backend)


def backend_with_retries(spec):
    """``get_backend(spec)``; a backend given by name comes wrapped in a
    :class:`~ebana.backends.retry.RetryingBackend` (a process pool already retries
    inside each worker, and an instance is used as given)."""
    backend = get_backend(spec)
    if isinstance(spec, str) and not isinstance(backend, ParallelBackend):
        return RetryingBackend(backend)
    return backend
