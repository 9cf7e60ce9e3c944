"""Small datasets that ship with ebana (so examples run offline) and helpers.

Example:
    >>> from ebana.datasets import load_iris, one_hot, scale_to_volts
    >>> x, labels = load_iris()
    >>> v = scale_to_volts(x, -0.5, 0.5)   # inputs in V
    >>> t = one_hot(labels, 3)             # targets (150, 3)
"""
from .classic import load_digits, load_iris
from .gates import GATES, load_gate, load_xor
from .idx import read_idx, write_idx
from .mnist import FASHION_CLASSES, load_fashion_mnist, load_mnist
from .transforms import differential_split, one_hot, random_flip, scale_to_volts, train_test_split

__all__ = ["FASHION_CLASSES", "GATES", "differential_split", "load_digits", "load_fashion_mnist", "load_gate",
           "load_iris", "load_mnist", "load_xor", "one_hot", "random_flip", "read_idx", "scale_to_volts",
           "train_test_split", "write_idx"]
