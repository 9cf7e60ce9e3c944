"""RMSprop, an Optimizer like Adam without its first moment (see :mod:`.optimizers`)."""
import numpy as np

from ..backends.arrays import array_namespace
from ..validation import check_number
from .optimizers import Optimizer, _check_decay, _rate


class RMSprop(Optimizer):
    """RMSprop (Hinton 2012; Keras' form, no momentum): ``v = rho*v + (1-rho)*g**2``,
    ``param -= lr * g / (sqrt(v) + eps)``.

    Like Adam it normalises the gradient, so ``lr`` is a step in the
    parameter's unit (S, or V for bias voltages). Without bias correction the
    first step is ``lr / sqrt(1 - rho)``; the default ``lr`` is
    ``0.005 * sqrt(1 - rho) * span``, so that first step moves 0.5% of the
    range ``span`` as Adam's does, and later steps about a third of that.
    State (``v`` per parameter) is saved and loaded as Adam's.

    Example:
        >>> import numpy as np
        >>> w = np.zeros(1)
        >>> RMSprop(lr=0.1, rho=0.75).step({'w': w}, {'w': np.array([3.0])}); w.round(6).tolist()
        [-0.2]
    """

    _hyper = ("lr", "rho", "eps", "lr_scale")
    _slots = ("v",)
    _nonnegative = ("v",)

    def __init__(self, lr=None, rho=0.9, eps=1e-7, lr_scale=1.0, learning_rate=None):
        self.lr = _rate("RMSprop", lr, learning_rate)
        self.rho = _check_decay(rho, "RMSprop rho")
        self.eps = check_number(eps, "RMSprop eps", low=0.0, low_open=True)
        self.lr_scale = check_number(lr_scale, "RMSprop lr_scale", low=0.0)
        super().__init__()

    def default_lr(self, g_min, g_max):
        """``0.005 * sqrt(1 - rho) * (g_max - g_min)``: a first step of 0.5% of the range."""
        return self.relative_lr * np.sqrt(1.0 - self.rho) * (g_max - g_min)

    def _update(self, name, grad):
        xp = array_namespace(grad)  # the moments live where the gradient does
        v = self._state["v"].setdefault(name, xp.zeros_like(grad))
        v *= self.rho
        v += (1.0 - self.rho) * xp.square(grad)
        return grad / (xp.sqrt(v) + self.eps)
