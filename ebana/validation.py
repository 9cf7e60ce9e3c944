"""Checks on everything that reaches a netlist or a solve.

A netlist line can run shell commands in Ngspice (``.control`` blocks,
``shell``), so names are restricted to a safe alphabet and numbers are
checked to be finite before they are formatted.
"""
import math
import re

import numpy as np

from .errors import ValidationError

# Letters, digits and single underscores; starts with a letter. Double
# underscores are reserved: ebana joins a layer name and an index with "__".
# Matched with fullmatch: "$" would also match before a trailing newline ("d\n").
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*(_[A-Za-z0-9]+)*")
MAX_NAME_LENGTH = 40


def check_name(name, what="layer"):
    """Return ``name`` if it is a safe identifier, else raise ValidationError.

    >>> check_name("dense_1")
    'dense_1'
    """
    if not isinstance(name, str):
        raise ValidationError(f"{what} name must be a string, received {type(name).__name__} {name!r}")
    if len(name) > MAX_NAME_LENGTH or not _NAME.fullmatch(name):
        raise ValidationError(
            f"invalid {what} name {name!r}: use letters, digits and single underscores, "
            f"starting with a letter, at most {MAX_NAME_LENGTH} characters "
            "(names reach the SPICE netlist, so nothing else is allowed)")
    return name


def check_number(value, what, low=-math.inf, high=math.inf, low_open=False):
    """Return ``value`` as a float if it is finite and within [low, high] (or (low, high])."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValidationError(f"{what} must be a number, received {value!r}") from None
    if not math.isfinite(x):
        raise ValidationError(f"{what} must be finite, received {value!r}")
    if x < low or x > high or (low_open and x == low):
        lo = "(" if low_open else "["
        raise ValidationError(f"{what} must lie in {lo}{low}, {high}], received {x!r}")
    return x


def check_batch_size(value, who):
    """Return ``value`` as an int if it is a positive integer (not a bool), else raise ValidationError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValidationError(f"{who}: batch_size must be a positive int, received {value!r}")
    return int(value)


def real_array(values, what):
    """``values`` as a float array; complex numbers (whose imaginary part numpy would drop
    with only a warning), text and other non-numbers are refused naming ``what``.

    >>> real_array([1, 2], "x").dtype.name
    'float64'
    """
    try:
        a = np.asarray(values)
    except ValueError:  # ragged nesting
        raise ValidationError(f"{what} must be a rectangular array of real numbers") from None
    if a.dtype.kind == "O":  # mixed entries: find the first that is not a real number
        flat = a.ravel()
        for k, v in enumerate(flat):
            if not isinstance(v, (int, float, np.integer, np.floating, np.bool_)):
                kind = ("complex" if isinstance(v, (complex, np.complexfloating))
                        else "text" if isinstance(v, (str, bytes)) else type(v).__name__)
                idx = tuple(int(i) for i in np.unravel_index(k, a.shape)) if a.ndim else ()
                raise ValidationError(f"{what} must be real numbers; entry {idx} is {kind} {v!r:.40}")
    elif a.dtype.kind == "c":
        raise ValidationError(f"{what} must be real numbers, received a complex array ({a.dtype}); "
                              "pass the real part (e.g. x.real) if the imaginary part is meant to be dropped")
    elif a.dtype.kind not in "biuf":
        raise ValidationError(f"{what} must be real numbers, received an array of {a.dtype} "
                              f"({'text' if a.dtype.kind in 'US' else a.dtype.kind})")
    return a.astype(float, copy=False)


def check_array(values, what, low=-math.inf, high=math.inf, low_open=False, hint=""):
    """Return ``values`` as a float array if every entry is a real number, finite and within
    [low, high] (or (low, high] with ``low_open``); ``hint`` is appended to the out-of-range
    message. Complex and text values are refused (:func:`real_array`).

    A device array (:mod:`ebana.backends.arrays`) stays on its device: one fused check, one
    scalar read; only a failing array is copied to the host, to name the bad entry."""
    if not isinstance(values, np.ndarray) and _is_device_array(values):
        return _check_device_array(values, what, low, high, low_open, hint)
    a = real_array(values, what)
    if a.size > 4096:  # large arrays (1.6 M conductances): two reductions instead of three masks
        lo, hi = a.min(), a.max()  # NaN propagates into both
        if np.isfinite(lo) and np.isfinite(hi) and (lo > low if low_open else lo >= low) and hi <= high:
            return a
    bad = ~np.isfinite(a)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValidationError(f"{what} has a non-finite entry at index {idx}: {float(a[idx])!r}")
    out = ((a <= low) if low_open else (a < low)) | (a > high)
    if out.any():
        idx = tuple(int(i) for i in np.argwhere(out)[0])
        raise ValidationError(f"{what} must lie in {'(' if low_open else '['}{low}, {high}]; "
                              f"entry {idx} is {float(a[idx])!r}{hint}")
    return a


def _is_device_array(values):
    # imported here: ebana.backends imports this module
    from .backends.arrays import on_device
    return on_device(values)


def _check_device_array(a, what, low, high, low_open, hint):
    """:func:`check_array` for an array of a device, without copying it to the host."""
    from .backends.arrays import array_namespace, to_host
    if a.dtype.kind not in "biuf":
        raise ValidationError(f"{what} must be real numbers, received a device array of {a.dtype}")
    xp = array_namespace(a)
    a = xp.asarray(a, dtype=float)
    inside = ((a > low) if low_open else (a >= low)) & (a <= high)  # False for nan
    if not bool(xp.all(inside)):
        check_array(to_host(a), what, low, high, low_open, hint)  # raises, naming the entry
    return a


# Lines a user SPICE block may hold: elements, comments, and model/subcircuit
# definitions. Control sections, includes and anything mentioning a shell are
# refused, because Ngspice would execute them.
_BLOCK_ALLOWED_DOT = (".subckt", ".ends", ".model", ".param")
_BLOCK_FORBIDDEN = ("shell", ".control", ".endc", ".include", ".inc", ".lib", "exec", "system")


def check_spice_block(text, owner):
    """Return ``text`` if every line is an element, comment or model/subcircuit line."""
    if not isinstance(text, str):
        raise ValidationError(f"SPICE block of {owner!r} must be a string")
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip().lower()
        if not stripped or stripped.startswith("*"):
            continue
        if any(word in stripped for word in _BLOCK_FORBIDDEN):
            raise ValidationError(f"SPICE block of {owner!r}, line {number}: {line.strip()!r} is refused "
                                  "(control sections, includes and shell commands could run code)")
        if stripped.startswith("."):
            if not stripped.startswith(_BLOCK_ALLOWED_DOT):
                raise ValidationError(f"SPICE block of {owner!r}, line {number}: only {_BLOCK_ALLOWED_DOT} "
                                      f"dot-lines are allowed, received {line.strip()!r}")
        elif not stripped[0].isalpha() and not stripped.startswith("+"):
            raise ValidationError(f"SPICE block of {owner!r}, line {number}: {line.strip()!r} is not an element line")
    return text
