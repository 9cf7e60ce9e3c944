"""The reference solver: Ngspice's own operating point, through its shared library."""
from .backend import NgspiceBackend
from .sweep import NgspiceSweepBackend

__all__ = ["NgspiceBackend", "NgspiceSweepBackend"]
