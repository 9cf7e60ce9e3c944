"""PNG figures, outside the core: matplotlib's Figure and Agg canvas are used directly
(never pyplot), so no display is needed and a notebook's backend is left alone."""
from .images import plot_confusion, plot_images

__all__ = ["plot_confusion", "plot_images"]
