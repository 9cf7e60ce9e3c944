"""The default 4x4 task of the design notes: 4-bit patterns -> two neurons.

Training set (6 patterns): ``0001 -> [0, 1]``, ``0010 -> [1, 0]``,
``0110 -> [1, 0]``, ``1001 -> [0, 1]``, ``1101 -> [0, 1]``,
``1110 -> [1, 0]``. The other 10 of the 16 patterns are the unseen set; they
have no label (the training set does not determine one), so training reports
what the chips predict for them.

Example:

>>> x, y = training_set()
>>> x.shape, y.shape, unseen_patterns().shape
((6, 4), (6, 2), (10, 4))
"""
import numpy as np

from ..errors import ShapeError, ValidationError

_TRAIN = {"0001": (0, 1), "0010": (1, 0), "0110": (1, 0), "1001": (0, 1), "1101": (0, 1), "1110": (1, 0)}


def bits(text):
    """``"0110"`` -> ``array([0, 1, 1, 0])``."""
    if not text or set(text) - {"0", "1"}:
        raise ValidationError(f"a pattern is a string of 0 and 1, received {text!r}")
    return np.array([int(c) for c in text])


def training_set():
    """``(x, y)``: 6 patterns of 4 bits (0/1) and their 2 target bits."""
    return (np.array([bits(k) for k in _TRAIN]), np.array(list(_TRAIN.values())))


def unseen_patterns():
    """The 10 four-bit patterns not in the training set, in binary order, shape ``(10, 4)``."""
    seen = set(_TRAIN)
    return np.array([bits(f"{n:04b}") for n in range(16) if f"{n:04b}" not in seen])


def pattern_names(x):
    """``["0001", ...]`` for a ``(P, n)`` bit array."""
    return ["".join(str(int(b)) for b in row) for row in np.asarray(x)]


def check_bits(x, width, what):
    """Return ``x`` as an int array ``(P, width)`` of 0/1, or raise a clear error."""
    a = np.asarray(x)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2 or a.shape[1] != width:
        raise ShapeError(f"{what} must have shape (patterns, {width}), received {np.shape(x)}")
    if not np.all(np.isin(a, (0, 1))):
        raise ValidationError(f"{what} must hold bits 0 or 1 only")
    return a.astype(np.int64)
