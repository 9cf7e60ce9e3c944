"""The backend a user asks for: a solver by name, with retries, optionally over processes.

Example:
    >>> from ebana.backends.factory import get_backend
    >>> get_backend("native").name
    'native'
"""
from ..errors import ValidationError
from .arrays import check_device, graph_recorder, namespace
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


def get_backend(backend, workers=None, executor=None, device="cpu"):
    """A backend from its name or a Backend instance.

    Names (:data:`~ebana.backends.registry.SOLVERS`): 'ngspice' (reference);
    'native' (the layered solver where the circuit has the structure, else the
    dense one: :mod:`~ebana.backends.auto`); 'native-layered' and
    'native-dense' to force one of them.

    ``workers=n`` (or the spec ``'ngspice:n'``) or an ``executor`` splits each
    batch over processes: see :class:`~ebana.backends.parallel.ParallelBackend`.

    ``device``: 'cpu' (default), or 'cuda' for the layered solver on a GPU
    (:mod:`ebana.backends.gpu`), which takes the names 'native' and 'native-layered'.
    """
    device = check_device(device)
    if device != "cpu" and not isinstance(backend, Backend):
        return device_backend(backend, workers, executor, device)
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


def device_backend(name, workers, executor, device):
    """The layered solver on ``device`` for the backend name ``name`` (see :func:`get_backend`)."""
    if name not in ("native", "native-layered") or workers is not None or executor is not None:
        raise ValidationError(f"device={device!r} runs the layered native solver: backend 'native' or "
                              f"'native-layered' in one process, received backend={name!r}"
                              + ("" if workers is None and executor is None else " with workers"))
    from .gpu.backend import DeviceLayeredBackend
    return DeviceLayeredBackend(xp=namespace(device), recorder=graph_recorder(device))


def backend_with_retries(spec, device="cpu"):
    """``get_backend(spec, device=device)``; a backend given by name comes wrapped in a
    :class:`~ebana.backends.retry.RetryingBackend` (a process pool already retries
    inside each worker, and an instance is used as given). The device solver is not
    wrapped: the retry ladder's fallbacks solve on the CPU."""
    backend = get_backend(spec, device=device)
    if check_device(device) != "cpu":
        return backend
    if isinstance(spec, str) and not isinstance(backend, ParallelBackend):
        return RetryingBackend(backend)
    return backend
