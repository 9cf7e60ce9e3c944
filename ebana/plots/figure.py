"""A matplotlib Figure on its own Agg canvas: no pyplot, no display, the user's backend untouched."""


def agg_figure(size, dpi=None):
    """A new :class:`matplotlib.figure.Figure` of ``size`` inches, drawn by Agg (PNG) when saved."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # matplotlib is needed only to plot
    from matplotlib.figure import Figure
    fig = Figure(figsize=size, dpi=dpi)
    FigureCanvasAgg(fig)
    return fig
