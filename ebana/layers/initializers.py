"""Initial conductances (S) for crossbar layers."""
import numpy as np

from ..errors import ShapeError, ValidationError
from ..validation import check_array, check_number


def initial_conductances(initializer, shape, g_min, g_max, rng, who):
    """Return the initial conductance matrix (S) of ``shape`` for ``initializer``:

    * ``"uniform"``: uniform in ``[g_min, g_max]``;
    * ``("uniform", low, high)``: uniform in ``[low, high]`` (S);
    * ``("normal", mean, std)``: normal (S), clipped to the bounds;
    * an array of that shape (S), checked against the bounds;
    * a callable ``f(shape, rng) -> array``.
    """
    if isinstance(initializer, str):
        initializer = (initializer,)
    if isinstance(initializer, list) and initializer and isinstance(initializer[0], str):
        initializer = tuple(initializer)  # ("uniform", low, high) after a JSON round trip
    if callable(initializer):
        g = np.asarray(initializer(shape, rng), dtype=float)
    elif isinstance(initializer, tuple) and initializer and isinstance(initializer[0], str):
        kind, *args = initializer
        if kind == "uniform":
            low, high = (args + [g_min, g_max][len(args):])[:2] if args else (g_min, g_max)
            low = check_number(low, f"{who}: uniform initializer low (S)", 0, low_open=True)
            high = check_number(high, f"{who}: uniform initializer high (S)", low)
            g = rng.uniform(low, high, size=shape)
        elif kind == "normal" and len(args) == 2:
            mean = check_number(args[0], f"{who}: normal initializer mean (S)", 0)
            std = check_number(args[1], f"{who}: normal initializer std (S)", 0)
            g = np.clip(rng.normal(mean, std, size=shape), g_min, g_max)
        else:
            raise ValidationError(f"{who}: unknown initializer {initializer!r}; use 'uniform', "
                                  "('uniform', low, high), ('normal', mean, std), an array or a callable")
    else:
        try:
            g = np.asarray(initializer, dtype=float)
        except (TypeError, ValueError):
            raise ValidationError(f"{who}: field 'initializer' must be 'uniform', ('uniform', low, high), "
                                  f"('normal', mean, std), an array (S) or a callable, received "
                                  f"{initializer!r:.60}") from None
    if g.shape != tuple(shape):
        raise ShapeError(f"{who} expected initial conductances of shape {tuple(shape)} "
                         f"(input nets x units), received {g.shape}")
    return check_array(g, f"{who} initial conductances (S)", g_min, g_max).copy()
