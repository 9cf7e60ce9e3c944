"""Optimizers that update parameter arrays in place: ``param -= lr * update``.

Parameters are conductances (S) held by layers; the optimizer writes into
the very arrays the layers hold, so the next compile sees the new values.
For SGD the gradient ``dL/dG`` is in loss units per siemens, so ``lr`` is in
S^2 per loss unit (for MSE, S^2/V^2); Adam normalises the gradient, so its
``lr`` is simply the step size in S.

Default learning rates (``lr=None``) are relative to each layer's
conductance range ``span = g_max - g_min`` (S), so an untuned run moves a
conductance by a small fraction of its range per step instead of driving it
to a bound: Adam ``lr = 0.005 * span`` (S: at least 200 steps to cross the
range); SGD ``lr = span**2`` (S^2 per loss unit; for MSE on targets of
~0.2 V this moves a conductance by ~0.1-1 % of its range per step, measured
on the XOR test network). ``fit`` supplies
the range of each layer (bias voltages: their ``[bias_min, bias_max]`` in V,
see :mod:`.learning_rates`); a layer's own ``lr`` overrides. ``lr_scale``
multiplies every learning rate; learning-rate schedules change it.
``learning_rate=`` is Keras' name for ``lr`` and is accepted as such.

Parameters may be arrays of a device (a GPU's, see :mod:`ebana.backends.arrays`):
the update and the moments then stay on that device; :meth:`Optimizer.state_dict`
holds host copies, and a loaded state goes onto the device of the parameters it
is loaded for (or of the first step's).
"""
import os

import numpy as np

from ..backends.arrays import array_namespace, on_device, to_device, to_host
from ..errors import ShapeError, ValidationError
from ..saving.optimizer_state import STATE_FORMAT, STATE_VERSION, layout_problem
from ..saving.safe_io import atomic_pickle, safe_load_pickle
from ..validation import check_number
from .device_kernels import adam_update
from .host_kernels import adam_step_host


class Optimizer:
    """Base class: validation, in-place step, save/load. Subclasses define one update.

    A subclass sets ``_hyper`` (names of its hyperparameters, stored as
    attributes) and ``_slots`` (names of its per-parameter state, e.g.
    ``('m', 'v')``), and implements ``_update(name, grad) -> array``.
    """

    _hyper = ("lr",)
    _slots = ()
    #: default learning rate as a fraction of a layer's conductance range (see the module docstring)
    relative_lr = 0.005

    def __init__(self):
        self.steps = 0          # number of step() calls so far
        self._signature = None  # {name: shape} of the parameters seen
        self._state = {slot: {} for slot in self._slots}
        self._state_xp = np  # namespace of the moment arrays (a device's once stepped there)
        self._loaded_from = None  # file the state came from, to name it in errors

    # -- the update ------------------------------------------------------
    def step(self, params, grads, lrs=None):
        """Apply one update to every array in ``params``, in place.

        Args:
            params: dict name -> float array (modified in place), NumPy or all of one device.
            grads: dict name -> array of the same shape (dL/dparam).
            lrs: optional dict name -> learning rate for that group; a
                missing name or a None entry uses the optimizer's ``lr``.
        """
        self._check_step(params, grads, lrs)
        rates = {}
        for name in params:
            lr = self.lr if lrs is None or lrs.get(name) is None else float(lrs[name])
            if lr is None:
                raise ValidationError(
                    f"{type(self).__name__}(lr=None) takes learning rates relative to each layer's conductance "
                    f"range, which fit supplies; parameter {name!r} has none: pass lr=... or lrs={{name: lr}}")
            rates[name] = lr * self.lr_scale
        self.steps += 1
        xp = array_namespace(*params.values())
        if xp is not self._state_xp:  # the moments follow the parameters (a model moved, a loaded state)
            self._move_state(xp)
        for name, p in params.items():
            self._apply(name, p, xp.asarray(grads[name], dtype=float), rates[name])

    def _apply(self, name, p, grad, rate):
        """``p -= rate * direction`` in place, the direction from :meth:`_update`."""
        p -= rate * self._update(name, grad)

    def _move_state(self, xp):
        """Put the moment arrays into namespace ``xp`` (numpy: the host)."""
        self._state = {s: {n: to_device(a, xp) for n, a in d.items()} for s, d in self._state.items()}
        self._state_xp = xp

    def default_lr(self, g_min, g_max):
        """Learning rate for a layer whose conductances lie in ``[g_min, g_max]`` (S)."""
        return self.relative_lr * (g_max - g_min)

    def _update(self, name, grad):
        raise NotImplementedError

    def _check_step(self, params, grads, lrs):
        who = type(self).__name__
        if not isinstance(params, dict) or not isinstance(grads, dict):
            raise ValidationError(f"{who}.step expects dicts name -> array for params and grads")
        if set(params) != set(grads):
            raise ValidationError(
                f"{who}.step: params and grads must have the same names; only in params: "
                f"{sorted(set(params) - set(grads))}, only in grads: {sorted(set(grads) - set(params))}")
        if any(on_device(p) for p in params.values()):
            self._check_device_arrays(params, grads)
        for name, p in params.items():
            if on_device(p):
                continue
            if not isinstance(p, np.ndarray) or p.dtype.kind != "f" or not p.flags.writeable:
                raise ValidationError(
                    f"{who}.step: parameter {name!r} must be a writeable float numpy array "
                    "(it is updated in place so the layer holding it sees the change), "
                    f"received {type(p).__name__}")
            g = np.asarray(grads[name])
            if g.shape != p.shape:
                raise ShapeError(
                    f"{who}.step: gradient {name!r} has shape {g.shape}, parameter has {p.shape}")
            if not np.isfinite(g).all():
                raise ValidationError(f"{who}.step: gradient {name!r} has a non-finite entry")
        if lrs is not None and not isinstance(lrs, dict):
            raise ValidationError(f"{who}.step: lrs must be None or a dict name -> learning rate")
        for name, lr in (lrs or {}).items():
            if name not in params:
                raise ValidationError(f"{who}.step: lrs names unknown parameter {name!r}")
            if lr is not None:
                check_number(lr, f"{who} learning rate of {name!r}", low=0.0)
        signature = {name: tuple(p.shape) for name, p in params.items()}
        if self._signature is None:
            self._signature = signature
        else:
            self._check_signature(signature)

    def _check_device_arrays(self, params, grads):
        """:meth:`_check_step`'s checks for parameters on a device: every parameter there, float,
        its gradient of its shape; the gradients' finiteness in one scalar read."""
        who = type(self).__name__
        xp = array_namespace(*params.values(), *grads.values())
        for name, p in params.items():
            if not isinstance(p, xp.ndarray) or p.dtype.kind != "f":
                raise ValidationError(f"{who}.step: parameter {name!r} must be a float array of the device the "
                                      f"other parameters are on, received {type(p).__name__}")
            if tuple(grads[name].shape) != tuple(p.shape):
                raise ShapeError(f"{who}.step: gradient {name!r} has shape {grads[name].shape}, "
                                 f"parameter has {p.shape}")
        finite = [xp.all(xp.isfinite(xp.asarray(g))) for g in grads.values()]
        if finite and not bool(xp.all(xp.stack(finite))):
            name = next(n for n, g in grads.items() if not bool(xp.all(xp.isfinite(xp.asarray(g)))))
            raise ValidationError(f"{who}.step: gradient {name!r} has a non-finite entry")

    def _check_signature(self, signature):
        """Raise unless ``signature`` equals the one this optimizer has state for."""
        where = f" (state loaded from {self._loaded_from!r})" if self._loaded_from else ""
        for name in sorted(set(signature) | set(self._signature)):
            mine, theirs = self._signature.get(name), signature.get(name)
            if mine != theirs:
                raise ShapeError(
                    f"{type(self).__name__}{where}: parameter {name!r} has shape {theirs} "
                    f"but the optimizer state expects {mine} (None = absent); the "
                    "optimizer state belongs to a different model")

    # -- persistence -----------------------------------------------------
    def state_dict(self):
        """Return the full state as plain containers and numpy arrays."""
        return {
            "format": STATE_FORMAT, "version": STATE_VERSION, "class": type(self).__name__,
            "hyperparameters": {h: None if getattr(self, h) is None else float(getattr(self, h))
                                for h in self._hyper},
            "step": int(self.steps),
            "state": {s: {n: _host_copy(a) for n, a in d.items()} for s, d in self._state.items()},
            "signature": None if self._signature is None else dict(self._signature),
        }

    def save_state(self, path):
        """Write hyperparameters, step count, moments and signature to ``path`` (pickle, atomic)."""
        atomic_pickle(self.state_dict(), path)

    def load_state(self, path):
        """Restore a state written by :meth:`save_state`, including hyperparameters.

        The file is read with a restricted unpickler (numpy arrays and plain
        containers only). If this optimizer has already stepped, the saved
        parameter signature must match now; otherwise it is checked at the
        next :meth:`step`.
        """
        path = os.fspath(path)
        self.load_state_dict(safe_load_pickle(path), source=path)

    def load_state_dict(self, d, source, params=None):
        """Restore a :meth:`state_dict` read from ``source`` (a file name, for errors).

        ``params`` (dict name -> array, e.g. ``model.parameters()``): the model
        the state must fit; checked, like everything else, before anything changes. The moments
        go onto the device of ``params`` (host arrays without them, moved at the first step).
        """
        cls = type(self).__name__
        bad = layout_problem(d, cls, self._hyper, self._slots) or self._values_problem(d)
        if bad:
            raise ValidationError(f"optimizer state file {source!r} is not a valid {cls} state: {bad}")
        sig = None if d["signature"] is None else {n: tuple(s) for n, s in d["signature"].items()}
        current = self._signature if params is None else {n: tuple(p.shape) for n, p in params.items()}
        if current is not None and sig is not None:
            saved, self._signature, self._loaded_from = (self._signature, self._loaded_from), sig, source
            try:
                self._check_signature(current)
            finally:
                self._signature, self._loaded_from = saved
        for h, v in d["hyperparameters"].items():
            setattr(self, h, v)
        self.steps = d["step"]
        self._state = {s: {n: np.array(a, dtype=float) for n, a in m.items()}
                       for s, m in d["state"].items()}
        self._state_xp = np
        if params:
            xp = array_namespace(*params.values())
            if xp is not np:
                self._move_state(xp)
        self._signature = sig
        self._loaded_from = source

    #: state slots that must be >= 0 (a negative second moment would give sqrt(-x) = nan)
    _nonnegative = ()

    def _values_problem(self, d):
        """What is wrong with the values of a well-formed state dict, or ''.

        Hyperparameters go through the constructor's own checks (a negative
        learning rate is refused as it is in ``Adam(lr=-1)``); moments must be
        finite, so a loaded state can never write nan into the conductances.
        """
        try:
            type(self)(**d["hyperparameters"])
        except ValidationError as exc:
            return f"hyperparameters {d['hyperparameters']!r}: {exc}"
        for slot, arrays in d["state"].items():
            for name, a in arrays.items():
                if a.dtype.kind != "f":
                    return f"state {slot!r} of parameter {name!r} must be a float array, found dtype {a.dtype}"
                bad = ~np.isfinite(a) | ((a < 0) if slot in self._nonnegative else False)
                if bad.any():
                    idx = tuple(int(i) for i in np.argwhere(bad)[0])
                    return (f"state {slot!r} of parameter {name!r} entry {idx} is {float(a[idx])!r} "
                            f"(must be finite{' and >= 0' if slot in self._nonnegative else ''})")
        return ""

    def check_parameters(self, params):
        """Raise ShapeError, naming the state file and parameter, unless the
        state fits ``params`` (dict name -> array); call it before simulating."""
        if self._signature is not None:
            self._check_signature({n: tuple(p.shape) if hasattr(p, "shape") else np.shape(p)
                                   for n, p in params.items()})




def _host_copy(a):
    """A NumPy copy of ``a`` (a device array is copied to the host, which is a copy already)."""
    return to_host(a) if on_device(a) else a.copy()


def _rate(who, lr, learning_rate):
    """``lr`` or its Keras name ``learning_rate`` (one of them), checked: None or >= 0."""
    if learning_rate is not None:
        if lr is not None:
            raise ValidationError(f"{who}: pass the learning rate once, as lr= or learning_rate=")
        lr = learning_rate
    return None if lr is None else check_number(lr, f"{who} lr", low=0.0)


def _check_decay(value, what):
    """A moment decay must lie in [0, 1): at 1 the bias correction divides by zero."""
    x = check_number(value, what, low=0.0, high=1.0)
    if x == 1.0:
        raise ValidationError(f"{what} must lie in [0, 1), received 1.0")
    return x


class SGD(Optimizer):
    """Stochastic gradient descent with optional heavy-ball momentum.

    ``v = momentum * v + grad``; ``param -= lr * v`` (with momentum 0,
    ``param -= lr * grad``).

    Example:
        >>> import numpy as np
        >>> w = np.array([1.0, 2.0])
        >>> SGD(lr=0.5).step({'w': w}, {'w': np.array([1.0, 1.0])}); w.tolist()
        [0.5, 1.5]
    """

    _hyper = ("lr", "momentum", "lr_scale")
    _slots = ("velocity",)

    def __init__(self, lr=None, momentum=0.0, lr_scale=1.0, learning_rate=None):
        self.lr = _rate("SGD", lr, learning_rate)
        self.momentum = check_number(momentum, "SGD momentum", low=0.0, high=1.0)
        self.lr_scale = check_number(lr_scale, "SGD lr_scale", low=0.0)
        super().__init__()

    #: SGD's default lr is ``relative_lr * span**2`` (S^2 per loss unit)
    relative_lr = 1.0

    def default_lr(self, g_min, g_max):
        """``(g_max - g_min)**2`` (S^2 per loss unit): the gradient is in loss units per S."""
        return self.relative_lr * (g_max - g_min) ** 2

    def _update(self, name, grad):
        if self.momentum == 0.0:
            return grad
        vel = self._state["velocity"].get(name)  # grad.copy() and the sum stay on grad's device
        vel = grad.copy() if vel is None else self.momentum * vel + grad
        self._state["velocity"][name] = vel
        return vel


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias correction.

    ``m = b1*m + (1-b1)*g``, ``v = b2*v + (1-b2)*g**2``,
    ``param -= lr * (m/(1-b1**t)) / (sqrt(v/(1-b2**t)) + eps)``. The step
    size per entry is about ``lr`` whatever the gradient's scale, so ``lr``
    is in the parameter's unit (S for conductances).

    Example:
        >>> import numpy as np
        >>> w = np.zeros(1)
        >>> Adam(lr=0.1).step({'w': w}, {'w': np.array([3.0])}); w.round(6).tolist()
        [-0.1]
    """

    _hyper = ("lr", "beta1", "beta2", "eps", "lr_scale")
    _slots = ("m", "v")
    _nonnegative = ("v",)

    def __init__(self, lr=None, beta1=0.9, beta2=0.999, eps=1e-8, lr_scale=1.0, learning_rate=None):
        self.lr = _rate("Adam", lr, learning_rate)
        self.lr_scale = check_number(lr_scale, "Adam lr_scale", low=0.0)
        self.beta1 = _check_decay(beta1, "Adam beta1")
        self.beta2 = _check_decay(beta2, "Adam beta2")
        self.eps = check_number(eps, "Adam eps", low=0.0, low_open=True)
        super().__init__()

    def _moment(self, slot, name, like):
        """Moment ``slot`` of parameter ``name``: zeros of ``like``'s shape on first use; C-contiguous
        (the fused updates write through flat views of it)."""
        xp = array_namespace(like)
        a = self._state[slot].get(name)
        if a is None or not a.flags.c_contiguous:
            a = self._state[slot][name] = xp.zeros(like.shape) if a is None else xp.ascontiguousarray(a)
        return a

    def _constants(self):
        """The update's scalars after ``self.steps`` steps: beta1, 1 - beta1, beta2, 1 - beta2,
        1 / sqrt(1 - beta2**t), eps, 1 / (1 - beta1**t)."""
        c1, c2 = 1.0 - self.beta1 ** self.steps, 1.0 - self.beta2 ** self.steps
        return self.beta1, 1.0 - self.beta1, self.beta2, 1.0 - self.beta2, 1.0 / np.sqrt(c2), self.eps, 1.0 / c1

    def _apply(self, name, p, grad, rate):
        if array_namespace(p) is not np:
            return super()._apply(name, p, grad, rate)
        # one pass over memory: on 1.7 M conductances per batch the array expressions took a
        # dozen (19 ms a step here, 6-9 now)
        grad = np.ascontiguousarray(grad)
        m, v = (self._moment(slot, name, grad) for slot in ("m", "v"))
        q = p if p.flags.c_contiguous else np.ascontiguousarray(p)  # a view it cannot write through: a copy
        adam_step_host(grad, *self._constants(), m, v, q, rate)
        if q is not p:
            p[...] = q

    def _update(self, name, grad):
        """The step direction on a device: one kernel on a GPU (:func:`~.device_kernels.adam_update`),
        else array expressions of the same arithmetic."""
        xp = array_namespace(grad)
        m, v = (self._moment(slot, name, grad) for slot in ("m", "v"))
        b1, one_minus_b1, b2, one_minus_b2, inv_sqrt_c2, eps, inv_c1 = self._constants()
        fused = adam_update(xp)
        if fused is not None:
            out = xp.empty_like(grad)
            fused(xp.ascontiguousarray(grad), b1, one_minus_b1, b2, one_minus_b2, inv_sqrt_c2, eps, inv_c1, m, v, out)
            return out
        # in place, two temporaries
        m *= b1
        m += one_minus_b1 * grad
        v *= b2
        sq = xp.square(grad)
        sq *= one_minus_b2
        v += sq
        out = xp.sqrt(v, out=sq)
        out *= inv_sqrt_c2
        out += eps
        xp.divide(m, out, out=out)
        out *= inv_c1
        return out
