"""The dense native solver: batched Newton-Raphson on the whole nodal system of any circuit."""
from .backend import DenseBackend

__all__ = ["DenseBackend"]
