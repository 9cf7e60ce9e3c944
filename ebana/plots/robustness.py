"""Box plots of accuracy over simulated chips (:mod:`ebana.analysis.robustness`)."""
import os

import numpy as np

from .figure import agg_figure


def plot_robustness(results, path, title="Accuracy over simulated chips"):
    """Box plot (Agg PNG) of accuracy (%) versus sigma, one colour per named result."""
    fig = agg_figure((7, 3.6), dpi=100)
    ax = fig.add_subplot()
    n = len(results)
    width = 0.8 / n
    handles = []
    for k, (label, res) in enumerate(results.items()):
        pos = np.arange(len(res.sigmas)) + (k - (n - 1) / 2) * width
        colour = f"C{k}"
        bp = ax.boxplot([100 * a for a in res.accuracy], positions=pos, widths=width * 0.9, whis=(0, 100),
                        patch_artist=True, medianprops={"color": "black"})
        for box in bp["boxes"]:
            box.set_facecolor(colour)
            box.set_alpha(0.6)
        handles.append((bp["boxes"][0], label))
    first = next(iter(results.values()))
    ax.set_xticks(np.arange(len(first.sigmas)))
    ax.set_xticklabels([f"{s:g}" for s in first.sigmas])
    ax.set_xlabel(f"sigma of the chip masks ({first.kind})")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend([h for h, _ in handles], [l for _, l in handles], loc="lower left", fontsize=8)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path)
    return path
