"""The layout of a saved optimizer state, checked before anything is restored.

A state file holds ``format``, ``version``, the optimizer ``class``, its
``hyperparameters``, the ``step`` count, the per-parameter ``state`` arrays
(moments) and the parameter ``signature`` (name -> shape).
"""
import numpy as np

STATE_FORMAT = "ebana-optimizer"
STATE_VERSION = 1
STATE_KEYS = {"format", "version", "class", "hyperparameters", "step", "state", "signature"}


def layout_problem(d, cls, hyper, slots):
    """Return a description of what is wrong with a loaded state dict, or ''."""
    if not isinstance(d, dict) or set(d) != STATE_KEYS:
        got = sorted(d) if isinstance(d, dict) else type(d).__name__
        return f"expected a dict with keys {sorted(STATE_KEYS)}, found {got}"
    if d["format"] != STATE_FORMAT or d["version"] != STATE_VERSION:
        return f"format {d['format']!r} version {d['version']!r}, expected {STATE_FORMAT!r} {STATE_VERSION}"
    if d["class"] != cls:
        return f"it was saved by a {d['class']!r} optimizer"
    h = d["hyperparameters"]
    if not isinstance(h, dict) or set(h) != set(hyper):
        return f"hyperparameters {h!r}, expected names {sorted(hyper)}"
    if not all((isinstance(v, float) and np.isfinite(v)) or (k == "lr" and v is None) for k, v in h.items()):
        return f"hyperparameters must be finite floats, found {h!r}"
    if not isinstance(d["step"], int) or d["step"] < 0:
        return f"step must be a non-negative int, found {d['step']!r}"
    sig = d["signature"]
    if sig is not None and not (isinstance(sig, dict) and all(
            isinstance(n, str) and isinstance(s, tuple) and all(isinstance(k, int) for k in s)
            for n, s in sig.items())):
        return f"signature must be a dict name -> shape tuple, found {sig!r}"
    st = d["state"]
    if not isinstance(st, dict) or set(st) != set(slots):
        return f"state slots {sorted(st) if isinstance(st, dict) else st!r}, expected {sorted(slots)}"
    for slot, arrays in st.items():
        if not isinstance(arrays, dict):
            return f"state {slot!r} must be a dict name -> array"
        for name, a in arrays.items():
            if not isinstance(a, np.ndarray) or sig is None or sig.get(name) != a.shape:
                return (f"state {slot!r} of parameter {name!r} does not match the "
                        f"signature entry {None if sig is None else sig.get(name)}")
    return ""
