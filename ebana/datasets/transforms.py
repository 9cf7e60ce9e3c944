"""Helpers that turn raw data into what a circuit takes: volts, one-hot targets, splits.

Example:
    >>> import numpy as np
    >>> scale_to_volts(np.array([[0.0], [8.0], [16.0]]), -1.0, 1.0)[:, 0].tolist()
    [-1.0, 0.0, 1.0]
"""
import numpy as np

from ..errors import ShapeError, ValidationError
from ..validation import check_array, check_number


def scale_to_volts(x, low, high, x_min=None, x_max=None):
    """Map features linearly from ``[x_min, x_max]`` onto input voltages ``[low, high]`` (V).

    Args:
        x: array (N, F) of features (any unit).
        low, high: voltage (V) given to ``x_min`` and ``x_max``; ``low < high``.
        x_min, x_max: feature range, scalar or per feature (F,). Default: the
            per-feature minimum and maximum of ``x``. Scale a test set with the
            training set's range, so both see the same mapping.

    A feature with ``x_max == x_min`` maps to the middle voltage. Values
    outside ``[x_min, x_max]`` extrapolate (not clipped), so check the range.

    >>> import numpy as np
    >>> train = np.array([[0.0, 1.0], [16.0, 3.0]])
    >>> lo, hi = train.min(axis=0), train.max(axis=0)
    >>> scale_to_volts(np.array([[4.0, 2.0]]), 0.0, 0.4, lo, hi).round(3).tolist()
    [[0.1, 0.2]]
    """
    x = check_array(x, "scale_to_volts x")
    if x.ndim != 2:
        raise ShapeError(f"scale_to_volts expected x of shape (N, F), received {x.shape}")
    low = check_number(low, "scale_to_volts low (V)")
    high = check_number(high, "scale_to_volts high (V)")
    if not low < high:
        raise ValidationError(f"scale_to_volts needs low < high, received low={low} V, high={high} V")
    lo = x.min(axis=0) if x_min is None else np.broadcast_to(check_array(x_min, "x_min"), x.shape[1:])
    hi = x.max(axis=0) if x_max is None else np.broadcast_to(check_array(x_max, "x_max"), x.shape[1:])
    if np.any(hi < lo):
        raise ValidationError("scale_to_volts needs x_max >= x_min for every feature")
    span = hi - lo
    # Constant features (span 0) would divide by zero; send them to mid-range.
    unit = np.divide(x - lo, span, out=np.full_like(x, 0.5), where=span > 0)
    return low + (high - low) * unit


def one_hot(labels, n, on=1.0, off=0.0):
    """Return ``(N, n)`` targets: ``on`` at each label's column, ``off`` elsewhere.

    ``on``/``off`` let MSE targets be voltages directly, e.g. ``on=0.5`` V.

    >>> one_hot([2, 0], 3).tolist()
    [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ShapeError(f"one_hot expected labels of shape (N,), received {labels.shape}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValidationError(f"one_hot needs a positive int class count n, received {n!r}")
    if labels.size and (labels.dtype.kind not in "iu" or labels.min() < 0 or labels.max() >= n):
        raise ValidationError(f"one_hot labels must be ints in 0..{n - 1}, received {labels!r:.80}")
    out = np.full((labels.size, n), float(off))
    out[np.arange(labels.size), labels] = float(on)
    return out


def train_test_split(x, y, test_fraction=0.2, seed=None, stratify=True):
    """Split samples into ``(x_train, x_test, y_train, y_test)``.

    With ``stratify`` each class (a distinct label, or a distinct row of a 2-D
    ``y`` such as one-hot targets) keeps its share in both parts, up to
    rounding. The test set holds ``round(test_fraction * N)`` samples, at
    least 1 and at most N - 1. Rows keep their original order within each part.

    >>> import numpy as np
    >>> x, y = np.arange(10.0)[:, None], np.array([0] * 5 + [1] * 5)
    >>> parts = train_test_split(x, y, test_fraction=0.4, seed=0)
    >>> [p.shape[0] for p in parts], np.bincount(parts[3]).tolist()
    ([6, 4, 6, 4], [2, 2])
    """
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim == 0 or y.ndim == 0 or x.shape[0] != y.shape[0]:
        raise ShapeError(
            f"train_test_split expected x and y with the same number of samples, "
            f"received shapes {x.shape} and {y.shape}")
    n = x.shape[0]
    if n < 2:
        raise ShapeError(f"train_test_split needs at least 2 samples, received {n}")
    frac = check_number(test_fraction, "test_fraction", low=0.0, high=1.0, low_open=True)
    n_test = int(min(max(round(frac * n), 1), n - 1))
    rng = np.random.default_rng(seed)
    if stratify:
        classes = np.unique(y.reshape(n, -1), axis=0, return_inverse=True)[1].reshape(n)
        test = _stratified_pick(classes, n_test, rng)
    else:
        test = rng.choice(n, size=n_test, replace=False)
    is_test = np.zeros(n, dtype=bool)
    is_test[test] = True
    return x[~is_test], x[is_test], y[~is_test], y[is_test]


def _stratified_pick(classes, n_test, rng):
    """Pick ``n_test`` indices, each class contributing in proportion (largest remainder)."""
    counts = np.bincount(classes)
    share = counts * n_test / counts.sum()
    take = np.floor(share).astype(int)
    # Hand out the seats left by flooring to the classes that lost the most.
    for c in np.argsort(-(share - take), kind="stable")[: n_test - take.sum()]:
        take[c] += 1
    picked = [rng.permutation(np.flatnonzero(classes == c))[:k] for c, k in enumerate(take)]
    return np.concatenate(picked)


def differential_split(x, labels, n_classes, test_fraction=0.2, seed=None, x_min=None, x_max=None, target=0.2):
    """Split, scale features to [-1, 1] V and make them differential pairs ``[v, -v]``;
    targets one-hot at ``+-target`` V (the readout of a folded output pair).

    ``x_min``/``x_max`` default to the training set's per-feature range, so the
    test set is scaled like the training set. Returns
    ``(x_train, x_test, y_train, y_test, labels_train, labels_test)``.
    """
    x_train, x_test, l_train, l_test = train_test_split(x, labels, test_fraction, seed=seed)
    x_min = x_train.min(axis=0) if x_min is None else x_min
    x_max = x_train.max(axis=0) if x_max is None else x_max
    v_train, v_test = (scale_to_volts(f, -1.0, 1.0, x_min, x_max) for f in (x_train, x_test))
    x_train, x_test = (np.hstack([v, -v]) for v in (v_train, v_test))
    y_train, y_test = (one_hot(l, n_classes, on=target, off=-target) for l in (l_train, l_test))
    return x_train, x_test, y_train, y_test, l_train, l_test


def random_flip(key, shape, axis, fraction=0.5):
    """A :class:`~ebana.training.DataLoader` transform: mirror ``fraction`` of the samples
    of ``batch[key]`` along ``axis`` of their per-sample ``shape`` (e.g. a horizontal flip
    of images), chosen afresh for every batch with the loader's generator.

    ``shape`` is one sample's layout, e.g. ``(2, 28, 28)`` for a flattened
    differential pair of 28x28 images (flip ``axis=2``), or ``(28, 28, 2)``
    (``axis=1``). Other keys (targets) are left as they are.

    >>> import numpy as np
    >>> flip = random_flip("x", (1, 3), axis=1, fraction=1.0)
    >>> flip({"x": np.array([[1.0, 2.0, 3.0]])}, np.random.default_rng(0))["x"].tolist()
    [[3.0, 2.0, 1.0]]
    """
    shape = tuple(int(n) for n in shape)
    if not shape or any(n < 1 for n in shape):
        raise ValidationError(f"random_flip needs a per-sample shape of positive sizes, received {shape!r}")
    if not isinstance(axis, (int, np.integer)) or not -len(shape) <= axis < len(shape):
        raise ValidationError(f"random_flip axis must index the per-sample shape {shape}, received {axis!r}")
    fraction = check_number(fraction, "random_flip fraction", low=0.0, high=1.0)
    axis = int(axis) % len(shape) + 1  # + the sample axis

    def transform(batch, rng):
        x = np.asarray(batch[key])
        if x.shape[1:] != shape and x[0].size != int(np.prod(shape)):
            raise ShapeError(f"random_flip: samples of {key!r} have shape {x.shape[1:]}, "
                             f"which is not {shape} (or its size)")
        chosen = rng.random(len(x)) < fraction
        if not chosen.any():
            return batch
        images = x.reshape((len(x),) + shape).copy()
        images[chosen] = np.flip(images[chosen], axis=axis)
        out = dict(batch)
        out[key] = images.reshape(x.shape)
        return out
    return transform
