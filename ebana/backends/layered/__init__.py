"""The layered native solver: layer by layer, at the cost of the conductances, not nodes cubed."""
from .backend import LayeredBackend

__all__ = ["LayeredBackend"]
