"""The reference solver: Ngspice's own operating point, through its shared library."""
from .backend import NgspiceBackend

__all__ = ["NgspiceBackend"]
