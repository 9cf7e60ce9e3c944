"""Small classic classification sets shipped with ebana (see data/README.md).

Example:
    >>> x, labels = load_iris()
    >>> x.shape, sorted(set(labels.tolist()))
    ((150, 4), [0, 1, 2])
"""
import gzip
import os

import numpy as np

_DATA = os.path.join(os.path.dirname(__file__), "data")


def load_iris():
    """Return Fisher's Iris: ``x (150, 4)`` in cm, ``labels (150,)`` int in 0..2.

    Features: sepal length, sepal width, petal length, petal width (cm).
    Classes: 0 setosa, 1 versicolor, 2 virginica; 50 samples each.
    """
    with open(os.path.join(_DATA, "iris.csv")) as f:
        # scikit-learn's header line: n_samples, n_features, class names...
        header = f.readline().strip().split(",")
        rows = np.loadtxt(f, delimiter=",", dtype=float, ndmin=2)
    n, k = int(header[0]), int(header[1])
    return rows[:n, :k].copy(), rows[:n, k].astype(np.int64)


def load_digits():
    """Return the UCI 8x8 digits: ``x (1797, 64)`` in 0..16, ``labels (1797,)`` int 0..9.

    Each row is an 8x8 image (row-major) of pixel counts 0..16; reshape with
    ``x.reshape(-1, 8, 8)`` to view it.
    """
    with gzip.open(os.path.join(_DATA, "digits.csv.gz"), "rt") as f:
        rows = np.loadtxt(f, delimiter=",", dtype=float, ndmin=2)
    return rows[:, :64].copy(), rows[:, 64].astype(np.int64)
