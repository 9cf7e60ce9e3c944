"""PNG plots of in-situ training: conductances, weights, activations, error, statistics.

Figures are built with :class:`matplotlib.figure.Figure` directly (the Agg
canvas), so nothing here touches pyplot's global state or needs a display.
Every ``plot_*`` function draws into a given axes (or a new figure) and
returns the axes.

Example:

>>> paths = save_training_plots(history, x, "results/crossbar_4x4")   # doctest: +SKIP
"""
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from .task import pattern_names

NS = 1e9  # S -> nS, the natural unit of these devices (about 500 nS)


def _axes(ax, size=(6, 4)):
    if ax is not None:
        return ax
    return Figure(figsize=size, layout="constrained").add_subplot()


def plot_conductances(history, ax=None):
    """Conductance (nS) of every device against epoch; solid G+, dashed G-."""
    ax = _axes(ax)
    g = history.conductance * NS
    epochs = np.arange(len(g))
    rows, cols = g.shape[1:]
    colors = [f"C{j}" for j in range(rows)]
    for j in range(rows):
        for c in range(cols):
            ax.plot(epochs, g[:, j, c], color=colors[j], ls="-" if c % 2 == 0 else "--",
                    marker="o" if c // 2 == 0 else "s", ms=2,
                    label=f"row {j}, col {c} ({'G+' if c % 2 == 0 else 'G-'} of n{c // 2})")
    ax.set(xlabel="epoch", ylabel="conductance (nS)", title="device conductances")
    ax.legend(fontsize=6, ncol=2)
    return ax


def plot_weights(history, ax=None):
    """Differential weights ``G+ - G-`` (nS) against epoch, per row and neuron."""
    ax = _axes(ax)
    w = history.weights * NS
    epochs = np.arange(len(w))
    for k in range(w.shape[2]):
        for j in range(w.shape[1]):
            ax.plot(epochs, w[:, j, k], color=f"C{j}", ls="-" if k == 0 else "--", marker=".",
                    label=f"w[{j}, n{k}]")
    ax.axhline(0, color="k", lw=0.5)
    ax.set(xlabel="epoch", ylabel="G+ - G- (nS)", title="differential weights (solid n0, dashed n1)")
    ax.legend(fontsize=6, ncol=2)
    return ax


def plot_activations(history, x, ax=None):
    """Activations of every training pattern against epoch, with the target band.

    The grey band ``(-target, +target)`` is where no output may stay; training
    has converged when every curve lies outside it in the same epoch.
    """
    ax = _axes(ax)
    f = history.activation
    epochs = np.arange(len(f))
    t = history.target
    ax.axhspan(-t, t, color="0.85", zorder=0, label=f"|f| < {t:g}")
    for p, name in enumerate(pattern_names(x)):
        for k in range(f.shape[2]):
            ax.plot(epochs, f[:, p, k], color=f"C{p}", ls="-" if k == 0 else "--", marker=".",
                    label=f"{name} n{k}")
    ax.set(xlabel="epoch", ylabel="tanh(beta_a I)", ylim=(-1.05, 1.05),
           title="activations (solid n0, dashed n1)")
    ax.legend(fontsize=6, ncol=2)
    return ax


def plot_error(history, ax=None):
    """Distance to the target band, ``sum max(0, target - s f)``, against epoch."""
    ax = _axes(ax)
    ax.plot(np.arange(len(history.error)), history.error, marker="o")
    ax.set(xlabel="epoch", ylabel="sum of shortfalls", title="error per epoch")
    ax.set_ylim(bottom=0)
    return ax


def plot_epochs_histogram(stats, ax=None):
    """Histogram of the epochs to converge over chips; non-converged chips in one bar at the right."""
    ax = _axes(ax)
    e = stats.epochs[stats.converged]
    top = stats.max_epochs
    bins = np.arange(-0.5, top + 1.5)
    ax.hist(e, bins=bins, color="C0", label="converged")
    failed = int((~stats.converged).sum())
    if failed:
        ax.bar(top + 2, failed, color="C3", width=1.0, label="not converged")
    ax.set(xlabel="epochs to converge", ylabel="chips",
           title=f"{stats.n_chips} chips: {100 * stats.convergence_rate:.0f} % converged")
    ax.legend(fontsize=8)
    return ax


def plot_wire_effect(effect, ax=None):
    """Relative change of the column currents against the wire resistance per segment."""
    ax = _axes(ax)
    keep = effect.r_wire > 0
    ax.loglog(effect.r_wire[keep], effect.relative_change[keep], marker="o")
    ax.set(xlabel="wire resistance per segment (Ohm)", ylabel="max |I - V @ G| / max |V @ G|",
           title="IR drop in the 4x4 crossbar")
    ax.grid(True, which="both", lw=0.3)
    return ax


def _save(ax, path, dpi):
    ax.figure.savefig(path, dpi=dpi)
    return Path(path)


def save_training_plots(history, x, folder, dpi=100, overview_dpi=80):
    """Save the four training plots and a 2 x 2 overview (``training.png``, at
    ``overview_dpi`` to stay small) as PNGs in ``folder``; return their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [
        _save(plot_conductances(history), folder / "conductances.png", dpi),
        _save(plot_weights(history), folder / "weights.png", dpi),
        _save(plot_activations(history, x), folder / "activations.png", dpi),
        _save(plot_error(history), folder / "error.png", dpi),
    ]
    fig = Figure(figsize=(11, 8), layout="constrained")
    axes = fig.subplots(2, 2)
    plot_conductances(history, axes[0, 0])
    plot_weights(history, axes[0, 1])
    plot_activations(history, x, axes[1, 0])
    plot_error(history, axes[1, 1])
    paths.append(_save(axes[0, 0], folder / "training.png", overview_dpi))
    return paths
