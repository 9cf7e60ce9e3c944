"""Backends: solve a circuit's operating point for a batch.

* :mod:`.base`: the contract every backend keeps (:class:`Backend`), and what
  goes in and out of a solve (:class:`Stimulus`, :class:`OperatingPoint`);
* :mod:`.registry`: solvers by name; :mod:`.factory`: the backend a user asks for;
* one folder per solver family, with the same file names: :mod:`.ngspice`
  (the reference: one ``op`` per sample, or ``'ngspice-sweep'``, a batch as the
  steps of one DC sweep), :mod:`.dense` (Newton on the whole nodal system) and
  :mod:`.layered` (layer by layer); :mod:`.junctions` holds the device
  equations both native solvers evaluate;
* :mod:`.eliminate`: wired crossbars' inner nodes eliminated exactly, the rest
  solved densely (``'native-wires'``); :mod:`.tile_factor` factors a tile's
  wire nodes by blocks along its rows; :mod:`.deferred` holds a solve's node
  voltages whose inner nodes are made only when read;
* wrappers: :mod:`.auto` (layered, wires or dense, per circuit), :mod:`.retry`,
  :mod:`.parallel`.
"""
from .base import Backend, OperatingPoint, Stimulus, make_stimulus
from .factory import backend_with_retries, get_backend
from .parallel import ParallelBackend
from .registry import SOLVERS, register_solver
from .retry import RetryingBackend

#: The built-in backend names (:data:`SOLVERS` also holds registered ones).
NAMES = tuple(SOLVERS)

__all__ = ["NAMES", "SOLVERS", "Backend", "OperatingPoint", "Stimulus", "make_stimulus", "get_backend",
           "backend_with_retries", "register_solver", "ParallelBackend", "RetryingBackend"]
