"""Two-input logic gates: the four input patterns and the gate's truth table.

Example:
    >>> x, y = load_gate("nand")
    >>> y[:, 0].tolist()
    [1.0, 1.0, 1.0, 0.0]
"""
import numpy as np

from ..errors import ValidationError

# Inputs in the order 00, 01, 10, 11 (bits, not volts: see scale_to_volts).
_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
_TABLES = {
    "and": [0, 0, 0, 1],
    "or": [0, 1, 1, 1],
    "nand": [1, 1, 1, 0],
    "nor": [1, 0, 0, 0],
    "xor": [0, 1, 1, 0],
}
GATES = tuple(_TABLES)


def load_gate(name):
    """Return ``(x (4, 2), y (4, 1))`` in {0, 1} (floats) for the gate ``name``.

    ``name`` is one of 'and', 'or', 'nand', 'nor', 'xor' (case-insensitive).
    Fresh copies are returned, so callers may modify them.
    """
    key = name.lower() if isinstance(name, str) else name
    if key not in _TABLES:
        raise ValidationError(f"unknown gate {name!r}; choose one of {list(GATES)}")
    return _X.copy(), np.array(_TABLES[key], dtype=float)[:, None]


def load_xor():
    """Return the XOR truth table ``(x (4, 2), y (4, 1))`` in {0, 1}.

    >>> load_xor()[1][:, 0].tolist()
    [0.0, 1.0, 1.0, 0.0]
    """
    return load_gate("xor")
