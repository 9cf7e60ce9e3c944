"""Ready-made networks: fully connected clamped and rectified circuits, and a locally connected image one."""
from .fully_connected import clamped_mlp, rectified_mlp
from .locally_connected import local_network, rectified_local_network

__all__ = ["clamped_mlp", "rectified_mlp", "local_network", "rectified_local_network"]
