"""The one table of solvers by name: ``'ngspice'``, ``'ngspice-sweep'``, ``'native'``, ``'native-layered'``, ``'native-dense'``, ``'native-wires'``.

Every place that turns a name into a solver reads this table: the factory
(:func:`~ebana.backends.factory.get_backend`), the retry wrapper and the
worker processes of :class:`~ebana.backends.parallel.ParallelBackend`.
Classes are imported on first use, so ``import ebana`` loads neither PySpice
nor the compiled kernels. A new solver family registers itself with
:func:`register_solver` and is then accepted everywhere a name is.

Example:
    >>> from ebana.backends.registry import SOLVERS
    >>> sorted(SOLVERS)
    ['native', 'native-dense', 'native-layered', 'native-wires', 'ngspice', 'ngspice-sweep']
"""
import importlib

from ..errors import ValidationError

#: name -> ``"module:Class"`` (imported on first use) or a zero-argument factory.
SOLVERS = {
    "ngspice": "ebana.backends.ngspice.backend:NgspiceBackend",
    "ngspice-sweep": "ebana.backends.ngspice.sweep:NgspiceSweepBackend",
    "native": "ebana.backends.auto:AutoNativeBackend",
    "native-layered": "ebana.backends.layered.backend:LayeredBackend",
    "native-dense": "ebana.backends.dense.backend:DenseBackend",
    "native-wires": "ebana.backends.eliminate:WireEliminatingBackend",
}


def register_solver(name, factory):
    """Make ``name`` a backend name: ``factory()`` (a Backend class or any callable) builds the solver."""
    if not isinstance(name, str) or not name or ":" in name:
        raise ValidationError(f"a solver name is a non-empty string without ':', received {name!r}")
    if not callable(factory):
        raise ValidationError(f"register_solver({name!r}, ...): the factory must be callable, received {factory!r}")
    SOLVERS[name] = factory


def solver_factory(name):
    """The class (or factory) registered as ``name``."""
    entry = SOLVERS.get(name) if isinstance(name, str) else None
    if entry is None:
        raise ValidationError(f"unknown backend {name!r}; use one of {tuple(SOLVERS)} or a Backend instance")
    if isinstance(entry, str):
        module, _, cls = entry.partition(":")
        entry = getattr(importlib.import_module(module), cls)
    return entry


def make_solver(name):
    """A new solver for the registered ``name``."""
    return solver_factory(name)()
