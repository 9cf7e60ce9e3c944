"""PNG figures for image classifiers: a confusion matrix and a grid of example images.

matplotlib's Figure and Agg canvas are used directly (not pyplot), so no display
is needed and a notebook's matplotlib backend is left alone.

Example:
    ```python
    plot_confusion("confusion.png", confusion, FASHION_CLASSES)
    plot_images("misclassified.png", images[:8], ["true Coat, predicted Shirt", ...])
    ```
"""
import numpy as np

from ..errors import ShapeError
from .figure import agg_figure


def plot_confusion(path, confusion, class_names, title=None):
    """Write the confusion matrix (rows: true class, columns: predicted; counts) as a PNG."""
    confusion = np.asarray(confusion)
    n = len(class_names)
    if confusion.shape != (n, n):
        raise ShapeError(f"plot_confusion: a {n}x{n} matrix for {n} class names, received {confusion.shape}")
    fig = agg_figure((7, 6))
    ax = fig.subplots()
    image = ax.imshow(confusion, cmap="Blues")
    fig.colorbar(image, ax=ax, label="images")
    ax.set_xticks(range(n), [str(c) for c in class_names], rotation=45, ha="right")
    ax.set_yticks(range(n), [str(c) for c in class_names])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    high = confusion.max() / 2 if confusion.size else 0
    for (i, j), count in np.ndenumerate(confusion):
        ax.text(j, i, str(count), ha="center", va="center", fontsize=7, color="white" if count > high else "black")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


def plot_images(path, images, titles, columns=4):
    """Write a grid of grey images ``(n, rows, cols)`` with one title each as a PNG."""
    images = np.asarray(images)
    if images.ndim != 3 or len(titles) != images.shape[0] or images.shape[0] == 0:
        raise ShapeError(f"plot_images: expected n images (n, rows, cols) and n titles, received "
                         f"{images.shape} and {len(titles)} titles")
    rows = -(-images.shape[0] // columns)
    fig = agg_figure((2.4 * columns, 2.6 * rows))
    axes = np.atleast_1d(fig.subplots(rows, columns)).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, image, title in zip(axes, images, titles):
        ax.imshow(image, cmap="gray_r")
        ax.set_title(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path
