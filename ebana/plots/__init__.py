"""PNG figures, outside the core: matplotlib's Figure and Agg canvas are used directly
(never pyplot), so no display is needed and a notebook's backend is left alone."""
from .figure import agg_figure
from .images import plot_confusion, plot_images
from .robustness import plot_robustness

__all__ = ["agg_figure", "plot_confusion", "plot_images", "plot_robustness"]
