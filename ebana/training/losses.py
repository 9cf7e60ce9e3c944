"""Losses on readout voltages, with the gradient the EP nudge needs.

A readout ``y`` (B, K) is in volts: an output node voltage, or ``V+ - V-``
for a differential output pair. Each loss returns the per-sample loss and
``dL/dy`` (B, K); the EP loop nudges output ``k`` with a current
``I_k = -beta * dL/dy_k`` (A, with beta in S).

Readouts and targets may be arrays of a device (a GPU's, see
:mod:`ebana.backends.arrays`): the results are then arrays of that device, and
the metrics 0-d device arrays (summed there over an epoch, read once), while
on the CPU metrics are Python floats as always.
"""
import numpy as np

from ..backends.arrays import array_namespace, to_host
from ..errors import ShapeError, ValidationError
from ..validation import check_number


def _as_readout(y, who):
    """Return ``y`` as a finite float array (B, K) (on its device) or raise ShapeError."""
    xp = array_namespace(y)
    y = xp.asarray(y, dtype=float)
    if y.ndim != 2 or y.shape[0] == 0 or y.shape[1] == 0:
        raise ShapeError(
            f"{who} expected readouts y of shape (B, K) with B, K >= 1, received shape {y.shape}")
    if not xp.isfinite(y).all():
        y = to_host(y)  # the error path: name the sample
        row = int(np.argwhere(~np.isfinite(y))[0][0])
        raise ValidationError(f"{who} readout y of sample {row} is not finite: {y[row]!r}")
    return y


def class_like(t, midpoint):
    """Whether targets ``t`` (B, K) encode classes: at most two levels, and
    for K == 1 split by ``midpoint`` (V) (``low <= midpoint < high``), for K > 1 one high entry per row."""
    xp = array_namespace(t)
    levels = xp.unique(t)
    if levels.size > 2:
        return False
    if t.shape[1] == 1:
        return levels.size == 1 or bool(levels[0] <= midpoint < levels[1])
    return levels.size == 2 and bool(xp.all(xp.sum(t == levels[1], axis=1) == 1))


def _metric(x):
    """A 0-d metric value: a Python float on the CPU; on a device the 0-d device array
    itself, so an epoch's sums stay there and are read once (:class:`~.metrics.MetricSums`)."""
    return float(x) if array_namespace(x) is np else x


class MSE:
    """Half the sum of squared errors in volts: ``L = 0.5 * sum_k (y_k - t_k)**2`` (V^2).

    The classic EP loss (its gradient ``dL/dy = y - t`` (V) gives the nudge
    ``beta*(t - y)``). Despite the class name it is not Keras' mean squared
    error, which is ``loss='mse'`` (:class:`MeanSquaredError`, the mean over
    the K outputs); for one output ``MeanSquaredError`` is twice this loss.
    The class keeps its name so existing code and checkpoints keep working;
    ``loss='half_squared_error'`` names it for what it is.
    Targets are voltages of the same shape (B, K) as the readouts.

    Metrics (:meth:`metrics`): ``mae``, the mean absolute error (V), always;
    ``accuracy`` only for classification. ``task='auto'`` treats targets as
    classes when they take at most two levels (one-hot rows for K > 1, levels
    split by ``midpoint`` for K == 1); ``'regression'`` or
    ``'classification'`` pins the choice. Accuracy of regression targets is refused.

    Accuracy:
        * K == 1: a sample is correct when ``(y > midpoint) == (t > midpoint)``
          (both on the same side of the decision voltage ``midpoint``, V).
        * K > 1: targets are one-hot (or any vector whose largest entry marks
          the class); correct when ``argmax(y) == argmax(t)``.

    Example:
        >>> import numpy as np
        >>> loss, grad = MSE()(np.array([[0.5]]), np.array([[1.0]]))
        >>> float(loss[0]), float(grad[0, 0])
        (0.125, -0.5)
    """

    name = "half_squared_error"
    unit = "V^2"
    TASKS = ("auto", "classification", "regression")
    #: the metrics it can report (``compile(metrics=[...])`` picks among them)
    METRICS = ("mae", "accuracy")

    def __init__(self, midpoint=0.0, task="auto"):
        self.midpoint = check_number(midpoint, "MSE midpoint (V)")
        if task not in self.TASKS:
            raise ValidationError(f"MSE task must be one of {self.TASKS}, received {task!r}")
        self.task = task

    def get_config(self):
        return {"midpoint": self.midpoint, "task": self.task}

    def is_classification(self, target):
        """Whether accuracy means something for ``target`` (B, K) (see the class docstring)."""
        if self.task != "auto":
            return self.task == "classification"
        t = array_namespace(target).asarray(target, dtype=float)
        return class_like(t if t.ndim == 2 else t.reshape(len(t), -1), self.midpoint)

    def metrics(self, y, target, classify=None):
        """``{'mae': V, 'accuracy': fraction}`` (accuracy for classification targets only).

        ``classify``: the decision taken once on the whole data set (fit and
        evaluate pass it, so a batch of one sample never reads as classes); None: decide here.
        """
        y, t = self._check(y, target)
        xp = array_namespace(y)
        out = {"mae": _metric(xp.mean(xp.abs(y - t)))}
        if self.is_classification(t) if classify is None else classify:
            out["accuracy"] = _metric(self._fraction_correct(y, t))
        return out

    def _check(self, y, target):
        y = _as_readout(y, "MSE")
        t = array_namespace(y, target).asarray(target, dtype=float)
        if t.shape != y.shape:
            raise ShapeError(
                f"MSE expected targets of the readout shape {y.shape} (B, K), "
                f"received {t.shape}")
        return y, t

    def __call__(self, y, target):
        """Return ``(loss (B,) in V^2, dloss_dy (B, K) in V)``."""
        y, t = self._check(y, target)
        diff = y - t
        return 0.5 * array_namespace(diff).sum(diff * diff, axis=1), diff

    def accuracy(self, y, target):
        """Fraction of samples classified correctly (see class docstring)."""
        return float(self._fraction_correct(*self._check(y, target)))

    def _fraction_correct(self, y, t):
        """Accuracy of checked readouts and targets, as a 0-d array of their device."""
        if not self.is_classification(t):
            raise ValidationError("MSE accuracy: the targets are not classes (more than two levels, or "
                                  "task='regression'); use the 'mae' metric, or MSE(task='classification')")
        xp = array_namespace(y)
        if y.shape[1] == 1:
            correct = (y[:, 0] > self.midpoint) == (t[:, 0] > self.midpoint)
        else:
            correct = xp.argmax(y, axis=1) == xp.argmax(t, axis=1)
        return xp.mean(correct)

    def __repr__(self):
        return f"MSE(midpoint={self.midpoint!r}, task={self.task!r})"


class MeanSquaredError(MSE):
    """Keras' mean squared error in volts: ``L = mean_k (y_k - t_k)**2`` (V^2), ``loss='mse'``.

    The EP nudge is its exact gradient ``dL/dy = 2 (y - t) / K`` (V), so the
    loss reported is the loss trained. Metrics, targets and accuracy as :class:`MSE`.

    Example:
        >>> import numpy as np
        >>> loss, grad = MeanSquaredError()(np.array([[0.5, 0.0]]), np.array([[1.0, 0.0]]))
        >>> float(loss[0]), grad.tolist()
        (0.125, [[-0.5, 0.0]])
    """

    name = "mse"

    def __call__(self, y, target):
        """Return ``(loss (B,) in V^2, dloss_dy (B, K) in V)``."""
        y, t = self._check(y, target)
        diff = y - t
        return array_namespace(diff).mean(diff * diff, axis=1), diff * (2.0 / diff.shape[1])

    def __repr__(self):
        return f"MeanSquaredError(midpoint={self.midpoint!r}, task={self.task!r})"


class MeanAbsoluteError(MSE):
    """Mean absolute error in volts: ``L = mean_k |y_k - t_k|`` (V), ``loss='mae'``.

    The EP nudge is its exact gradient ``dL/dy = sign(y - t) / K`` (unitless;
    the nudge current ``-beta * sign(y - t) / K`` (A) has the same size for
    every wrong output, however wrong). At ``y == t`` the gradient is 0, so an
    output on its target is not nudged. Metrics, targets and accuracy as :class:`MSE`.

    Example:
        >>> import numpy as np
        >>> loss, grad = MeanAbsoluteError()(np.array([[0.5, 0.0]]), np.array([[1.0, 0.2]]))
        >>> round(float(loss[0]), 6), grad.tolist()
        (0.35, [[-0.5, -0.5]])
    """

    name = "mae"
    unit = "V"

    def __call__(self, y, target):
        """Return ``(loss (B,) in V, dloss_dy (B, K) unitless)``."""
        y, t = self._check(y, target)
        diff = y - t
        xp = array_namespace(diff)
        return xp.mean(xp.abs(diff), axis=1), xp.sign(diff) / diff.shape[1]

    def __repr__(self):
        return f"MeanAbsoluteError(midpoint={self.midpoint!r}, task={self.task!r})"


class CrossEntropy:
    """Softmax cross-entropy over ``scale * y`` (scale in 1/V, so logits are unitless).

    ``L = -sum_k t_k * log softmax(scale * y)_k`` and
    ``dL/dy = scale * (softmax(scale * y) - t)`` (1/V). Targets are one-hot
    (B, K) or integer labels (B,) in ``0..K-1``. Accuracy is
    ``argmax(y) == label``.

    Example:
        >>> import numpy as np
        >>> loss, grad = CrossEntropy(scale=2.0)(np.zeros((1, 2)), np.array([1]))
        >>> round(float(loss[0]), 4), grad.tolist()
        (0.6931, [[1.0, -1.0]])
    """

    name = "cross_entropy"
    unit = "1"
    METRICS = ("accuracy",)

    def __init__(self, scale=1.0):
        self.scale = check_number(scale, "CrossEntropy scale (1/V)", low=0.0, low_open=True)

    def get_config(self):
        return {"scale": self.scale}

    def check_outputs(self, widths):
        """Refuse readouts of one unit: a softmax over one value is 1, so the loss is
        0 and accuracy 1.0 whatever the circuit does. ``widths``: name -> readout units."""
        for name, k in widths.items():
            if k < 2:
                raise ValidationError(
                    f"CrossEntropy needs at least 2 readouts per output, output {name!r} has {k}: a softmax "
                    "over one value is always 1 (loss 0, nothing to learn). Use MSE for one output, or "
                    "give the output one unit per class")

    def metrics(self, y, target):
        """``{'accuracy': fraction}``."""
        y = _as_readout(y, "CrossEntropy")
        self.check_outputs({"readout": y.shape[1]})
        return {"accuracy": _metric(self._fraction_correct(y, self._one_hot(y, target)))}

    def _one_hot(self, y, target):
        """Return targets as a (B, K) float array (probability rows), on ``y``'s device."""
        xp = array_namespace(y, target)
        t = xp.asarray(target)
        B, K = y.shape
        if t.shape == (B,):
            labels = t.astype(float)
            if xp is np:
                whole = np.all(labels == np.round(labels)) and labels.min() >= 0 and labels.max() < K
            else:  # one fused check, one scalar read
                whole = bool(xp.all((labels == xp.round(labels)) & (labels >= 0) & (labels < K)))
            if not whole:
                labels = to_host(labels)
                raise ValidationError(
                    f"CrossEntropy integer labels must lie in 0..{K - 1} for {K} outputs, "
                    f"received values from {labels.min()!r} to {labels.max()!r}")
            onehot = xp.zeros((B, K))
            onehot[xp.arange(B), labels.astype(int)] = 1.0
            return onehot
        if t.shape != (B, K):
            raise ShapeError(
                f"CrossEntropy expected targets of shape ({B}, {K}) one-hot or ({B},) "
                f"integer labels, received {t.shape}")
        return t.astype(float)

    def _log_softmax(self, y):
        xp = array_namespace(y)
        z = self.scale * y
        z = z - z.max(axis=1, keepdims=True)  # shift: exp never overflows
        return z - xp.log(xp.sum(xp.exp(z), axis=1, keepdims=True))

    def __call__(self, y, target):
        """Return ``(loss (B,) unitless, dloss_dy (B, K) in 1/V)``."""
        y = _as_readout(y, "CrossEntropy")
        self.check_outputs({"readout": y.shape[1]})
        t = self._one_hot(y, target)
        logp = self._log_softmax(y)
        xp = array_namespace(logp)
        loss = -xp.sum(t * logp, axis=1)
        # sum_k t_k may differ from 1 for soft targets; keep the exact gradient.
        grad = self.scale * (xp.exp(logp) * t.sum(axis=1, keepdims=True) - t)
        return loss, grad

    def accuracy(self, y, target):
        """Fraction of samples whose largest readout is the target class."""
        y = _as_readout(y, "CrossEntropy")
        self.check_outputs({"readout": y.shape[1]})
        return float(self._fraction_correct(y, self._one_hot(y, target)))

    @staticmethod
    def _fraction_correct(y, t):
        """Accuracy of readouts and one-hot targets, as a 0-d array of their device."""
        xp = array_namespace(y)
        return xp.mean(xp.argmax(y, axis=1) == xp.argmax(t, axis=1))

    def __repr__(self):
        return f"CrossEntropy(scale={self.scale!r})"
