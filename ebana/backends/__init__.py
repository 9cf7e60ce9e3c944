"""Backends: solve a circuit's operating point for a batch."""
from ..errors import ValidationError
from .base import Backend, OperatingPoint, Stimulus, make_stimulus


def get_backend(backend):
    """A backend from its name ('ngspice' or 'native') or a Backend instance."""
    if isinstance(backend, Backend):
        return backend
    if backend == "ngspice":
        from .ngspice import NgspiceBackend
        return NgspiceBackend()
    if backend == "native":
        from .native import NativeBackend
        return NativeBackend()
    raise ValidationError(f"unknown backend {backend!r}; use 'ngspice', 'native' or a Backend instance")


__all__ = ["Backend", "OperatingPoint", "Stimulus", "make_stimulus", "get_backend"]
