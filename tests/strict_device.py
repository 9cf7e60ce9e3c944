"""A stand-in for a GPU array library, on the CPU: arrays that, like CuPy's, refuse to mix.

``StrictArray`` wraps a NumPy array. Like a CuPy array it

* refuses implicit conversion to NumPy (``np.asarray(x)`` raises TypeError);
* refuses to meet a NumPy array in an operation or a NumPy function
  (``x + np.ones(3)`` raises TypeError), while Python and NumPy scalars are fine;
* is copied to the host only by ``x.get()`` (CuPy's spelling) or ``ebana.backends.arrays.to_host``.

``xp`` is its namespace: ``xp.zeros``, ``xp.where``, ``xp.asarray`` ... are NumPy's,
returning StrictArrays. ``register()`` makes it the device ``'strict'``, so the device
code paths (``Model(device='strict')``, the device solver) run in CI without a GPU and
any host array that would cross into device code, or back silently, fails the test.
"""
import numbers

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

from ebana.backends.arrays import register_device

DEVICE = "strict"


class StrictArray(NDArrayOperatorsMixin):
    __slots__ = ("a",)

    def __init__(self, a):
        self.a = a

    # -- conversions -------------------------------------------------------
    def __array__(self, *args, **kwargs):
        raise TypeError("implicit conversion of a device array to NumPy (use .get() or to_host)")

    def get(self):
        _no_round_trip("x.get()")
        return np.array(self.a)

    def __float__(self):
        _no_round_trip("float(x)")
        return float(self.a)

    def __int__(self):
        _no_round_trip("int(x)")
        return int(self.a)

    def __bool__(self):
        _no_round_trip("bool(x)")
        return bool(self.a)

    def __index__(self):
        return self.a.__index__()

    def __len__(self):
        return len(self.a)

    def __iter__(self):
        return (wrap(x) for x in self.a)

    def __repr__(self):
        return f"StrictArray({self.a!r})"

    # -- attributes and methods ---------------------------------------------
    shape = property(lambda self: self.a.shape)
    ndim = property(lambda self: self.a.ndim)
    size = property(lambda self: self.a.size)
    dtype = property(lambda self: self.a.dtype)
    T = property(lambda self: wrap(self.a.T))
    flags = property(lambda self: self.a.flags)
    strides = property(lambda self: self.a.strides)
    nbytes = property(lambda self: self.a.nbytes)

    def __getattr__(self, name):
        if name.startswith("__"):  # __array_interface__ and the like would hand NumPy the data
            raise AttributeError(name)
        attr = getattr(self.a, name)
        if not callable(attr):
            return wrap(attr)

        def method(*args, **kwargs):
            return wrap(attr(*unwrap(args), **unwrap(kwargs)))
        return method

    def __getitem__(self, key):
        return wrap(self.a[unwrap(key)])

    def __setitem__(self, key, value):
        self.a[unwrap(key)] = unwrap(value)

    # -- NumPy protocols ------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        out = getattr(ufunc, method)(*unwrap(inputs), **unwrap(kwargs))
        if "out" in kwargs:
            return kwargs["out"][0] if len(kwargs["out"]) == 1 else kwargs["out"]
        return wrap(out)

    def __array_function__(self, func, types, args, kwargs):
        return wrap(func(*unwrap(args), **unwrap(kwargs)))


def unwrap(x):
    """StrictArrays to their NumPy arrays, inside tuples, lists and dicts; a NumPy array
    (a host array reaching device code) raises TypeError."""
    if isinstance(x, StrictArray):
        return x.a
    if isinstance(x, np.ndarray):
        raise TypeError(f"a NumPy array of shape {x.shape} met a device array: copy it to the device first")
    if isinstance(x, tuple):
        return tuple(unwrap(e) for e in x)
    if isinstance(x, list):
        return [unwrap(e) for e in x]
    if isinstance(x, dict):
        return {k: unwrap(v) for k, v in x.items()}
    return x


def wrap(x):
    """NumPy arrays (not scalars, except while recording: CuPy's reductions give 0-d arrays)
    to StrictArrays, inside tuples and lists."""
    if isinstance(x, np.ndarray) or _recording[0] and isinstance(x, np.generic):
        return StrictArray(np.asarray(x))
    if isinstance(x, tuple):
        return tuple(wrap(e) for e in x)
    if isinstance(x, list):
        return [wrap(e) for e in x]
    return x


class _Namespace:
    """NumPy's functions, taking StrictArrays and returning them. Creation functions
    (``asarray``, ``array``) accept host data, as ``cupy.asarray`` does (a copy to the device)."""

    ndarray = StrictArray
    newaxis = None
    inf, nan, pi, e = np.inf, np.nan, np.pi, np.e
    float64, float32, int64, int32, bool_ = np.float64, np.float32, np.int64, np.int32, np.bool_

    def __init__(self):
        self.linalg = _Sub(np.linalg)
        self.random = _Sub(np.random)

    def asarray(self, x, dtype=None):
        if isinstance(x, StrictArray):
            return x if dtype is None or x.dtype == dtype else StrictArray(x.a.astype(dtype))
        _no_upload(x)
        return StrictArray(np.array(x, dtype=dtype))

    def array(self, x, dtype=None, copy=True):
        if isinstance(x, StrictArray):
            return StrictArray(np.array(x.a, dtype=dtype, copy=copy))
        _no_upload(x)
        return StrictArray(np.array(x, dtype=dtype))

    def __getattr__(self, name):
        attr = getattr(np, name)
        if not callable(attr) or isinstance(attr, type) and not issubclass(attr, np.ufunc):
            return attr
        return _wrapped(attr)


class _Sub:
    def __init__(self, module):
        self.module = module

    def __getattr__(self, name):
        return _wrapped(getattr(self.module, name))


def _wrapped(f):
    def call(*args, **kwargs):
        return wrap(f(*unwrap(args), **unwrap(kwargs)))
    call.__name__ = getattr(f, "__name__", "call")
    return call


xp = _Namespace()

_recording = [False]  # whether a solve is being recorded or replayed (see RerunRecorder)


def _no_round_trip(what):
    if _recording[0]:
        raise RuntimeError(f"{what}: a host round trip while a graph is recorded (CUDA refuses it in a capture)")


def _no_upload(x):
    """A copy of host data made while a graph is recorded would be replayed from a staging buffer
    that the library reuses later: the replay would read whatever lies there by then."""
    if _recording[0] and not np.isscalar(x):
        raise RuntimeError("a host array uploaded while a graph is recorded (its replays would read a reused "
                           "staging buffer): upload it before recording")


class RerunRecorder:
    """The stand-in for CUDA graphs (:mod:`ebana.backends.gpu.graphs`): a recording runs its
    body again at every replay, refusing host round trips meanwhile, and writes the results
    into the arrays the first run returned (a graph writes where it wrote when captured)."""

    def __init__(self):
        self.recorded = self.replayed = 0

    def record(self, shapes, body):
        buffers = {k: xp.zeros(shape) for k, shape in shapes.items()}
        self.recorded += 1
        return _Rerun(self, body, buffers, _run_recording(body, buffers))


class _Rerun:
    def __init__(self, recorder, body, buffers, outputs):
        self.recorder, self.body, self.buffers, self.outputs = recorder, body, buffers, outputs

    def run(self, values):
        for k, x in values.items():
            self.buffers[k][...] = x
        for k, x in _run_recording(self.body, self.buffers).items():
            self.outputs[k][...] = x
        self.recorder.replayed += 1
        return {k: x.copy() for k, x in self.outputs.items() if k != "report"}, self.outputs["report"].get()


def _run_recording(body, buffers):
    _recording[0] = True
    try:
        with np.errstate(all="ignore"):  # recording runs on the buffers' zeros (a capture runs nothing)
            return body(buffers)
    finally:
        _recording[0] = False


recorders = []  # every recorder made for the 'strict' device, newest last


def _new_recorder():
    recorders.append(RerunRecorder())
    return recorders[-1]


def register():
    """Make 'strict' a device name (idempotent); return the namespace."""
    register_device(DEVICE, xp, StrictArray, lambda x: x.get(), recorder=_new_recorder)
    return xp


def is_number(x):
    return isinstance(x, numbers.Number)
