"""Backends: solve a circuit's operating point for a batch."""
from ..errors import ValidationError
from .base import Backend, OperatingPoint, Stimulus, make_stimulus


NAMES = ("ngspice", "native", "native-layered", "native-dense")


def get_backend(backend, workers=None, executor=None):
    """A backend from its name or a Backend instance.

    Names: 'ngspice' (reference); 'native' (the layered solver where the circuit
    has the structure, else the dense one: :mod:`~ebana.backends.native_auto`);
    'native-layered' and 'native-dense' to force one of them.

    ``workers=n`` (or the spec ``'ngspice:n'``) or an ``executor`` splits each
    batch over processes: see :class:`~ebana.backends.parallel.ParallelBackend`.

    >>> # get_backend("ngspice", workers=2); Model(..., backend="ngspice:2")
    """
    if isinstance(backend, Backend):
        if workers is not None or executor is not None:
            raise ValidationError("workers/executor apply to a backend name; wrap an instance's factory in "
                                  "ParallelBackend instead")
        return backend
    if isinstance(backend, str) and ":" in backend:
        backend, _, count = backend.partition(":")
        if not count.isdigit() or workers is not None:
            raise ValidationError(f"backend spec {backend + ':' + count!r}: use 'name:workers', e.g. 'ngspice:2'")
        workers = int(count)
    if workers is not None or executor is not None:
        from .parallel import ParallelBackend
        if backend not in NAMES:
            raise ValidationError(f"unknown backend {backend!r}; use one of {NAMES} or a Backend instance")
        return ParallelBackend(backend, executor=executor, workers=2 if workers is None else workers)
    if backend == "ngspice":
        from .ngspice import NgspiceBackend
        return NgspiceBackend()
    if backend == "native":
        from .native_auto import AutoNativeBackend
        return AutoNativeBackend()
    if backend == "native-layered":
        from .native_layered import LayeredBackend
        return LayeredBackend()
    if backend == "native-dense":
        from .native import NativeBackend
        return NativeBackend()
    raise ValidationError(f"unknown backend {backend!r}; use one of {NAMES} or a Backend instance")


__all__ = ["NAMES", "Backend", "OperatingPoint", "Stimulus", "make_stimulus", "get_backend", "ParallelBackend"]


def __getattr__(name):
    # ParallelBackend is imported on first use: most runs never start a pool
    if name == "ParallelBackend":
        from .parallel import ParallelBackend
        return ParallelBackend
    raise AttributeError(name)
