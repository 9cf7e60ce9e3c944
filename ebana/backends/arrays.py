"""Where a model's arrays live: the CPU (NumPy, the default) or a CUDA GPU (CuPy).

One namespace per device, chosen once: ``namespace('cpu')`` is :mod:`numpy`,
``namespace('cuda')`` is ``cupy`` (the optional extra ``pip install ebana[gpu]``;
``import ebana`` never imports it). Code that must run on either device asks
``array_namespace(x)`` for the namespace of the arrays it was handed and creates
new arrays with it, so nothing crosses between host and device unless
:func:`to_host` or :func:`to_device` says so.

Other namespaces can be registered under a device name (:func:`register_device`),
which is how the tests run the device code paths on the CPU with a namespace
that, like CuPy, refuses silent conversions to NumPy.

Example:
    >>> import numpy as np
    >>> namespace("cpu") is np
    True
    >>> array_namespace(np.zeros(3)) is np
    True
    >>> to_host([1.0, 2.0])
    array([1., 2.])
"""
import importlib
import os

import numpy as np

from ..errors import ShapeError, ValidationError

#: device name -> (namespace or a zero-argument loader, array type or None while not loaded)
_DEVICES = {"cpu": (np, np.ndarray)}


def _load_cupy():
    try:
        cupy = importlib.import_module("cupy")
    except ImportError as e:
        raise ValidationError("device='cuda' needs CuPy: pip install 'ebana[gpu]' (or the cupy-cuda12x / "
                              f"cupy-cuda13x wheel matching your CUDA driver); importing it failed: {e}") from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # noqa: BLE001 - CuPy raises its own runtime error types
        raise ValidationError(f"device='cuda': CuPy is installed but no CUDA device can be used ({e})") from None
    if count < 1:
        raise ValidationError("device='cuda': CuPy is installed but this machine has no CUDA device")
    return cupy


_LOADERS = {"cuda": _load_cupy}


def register_device(name, xp, array_type, to_host_fn=None, recorder=None):
    """Make ``name`` a device whose arrays are ``array_type`` made by namespace ``xp``;
    ``to_host_fn(x)`` copies one to a NumPy array (default ``x.get()``, as CuPy's);
    ``recorder()`` makes the graph recorder of its solver (see :mod:`ebana.backends.gpu.graphs`)."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValidationError(f"a device name is an identifier, received {name!r}")
    _DEVICES[name] = (xp, array_type)
    if to_host_fn is not None:
        _HOST_COPY[array_type] = to_host_fn
    _RECORDERS[name] = recorder


def _cuda_recorder():
    from .gpu.graphs import CudaGraphRecorder
    return CudaGraphRecorder(namespace("cuda"))


#: device name -> zero-argument factory of the graph recorder its solver replays solves with
_RECORDERS = {"cuda": _cuda_recorder}


def graph_recorder(device):
    """A new graph recorder for the solver on ``device``, or None (none registered, or the
    environment variable ``EBANA_DEVICE_GRAPHS=0``: every solve launched operation by operation)."""
    factory = _RECORDERS.get(check_device(device))
    if factory is None or os.environ.get("EBANA_DEVICE_GRAPHS", "1") == "0":
        return None
    return factory()


_HOST_COPY = {}  # array type -> function copying such an array to a NumPy one


def devices():
    """Device names accepted by :func:`namespace`."""
    return tuple(sorted(set(_DEVICES) | set(_LOADERS)))


def check_device(device):
    """``device`` as a known device name (a clear error otherwise)."""
    if not isinstance(device, str) or device.split(":")[0] not in devices():
        raise ValidationError(f"device must be one of {devices()}, received {device!r}")
    return device.split(":")[0]


def namespace(device):
    """The array namespace of ``device`` ('cpu': numpy; 'cuda': cupy, loaded on first use)."""
    device = check_device(device)
    if device not in _DEVICES:
        xp = _LOADERS[device]()
        _DEVICES[device] = (xp, xp.ndarray)
    return _DEVICES[device][0]


def array_namespace(*arrays):
    """The namespace of the device arrays among ``arrays`` (numpy when there are none);
    arrays of two devices at once are an error."""
    found = None
    for x in arrays:
        for xp, kind in _DEVICES.values():
            if xp is not np and kind is not None and isinstance(x, kind):
                if found is not None and found is not xp:
                    raise ValidationError("arrays of two different devices were mixed")
                found = xp
    return np if found is None else found


def on_device(x):
    """Whether ``x`` is an array of a device other than the CPU."""
    return array_namespace(x) is not np


def to_host(x):
    """``x`` as a NumPy array (a copy from the device when it lives on one)."""
    for kind, copy in _HOST_COPY.items():
        if isinstance(x, kind):
            return copy(x)
    if on_device(x):
        return x.get()
    return np.asarray(x)


def to_device(x, xp):
    """``x`` as an array of namespace ``xp`` (no copy when it already is one)."""
    if xp is np:
        return to_host(x)
    return xp.asarray(x)


def upload_once(cache, key, host, xp):
    """``host`` (a NumPy array) as an array of namespace ``xp``, copied once: ``cache[key]`` keeps
    the pair until another host array comes under ``key`` (then that one is copied)."""
    hit = cache.get(key)
    if hit is None or hit[0] is not host:
        hit = cache[key] = (host, to_device(host, xp))
    return hit[1]


class Reflection:
    """``2 center - point`` (V, ``(B, n_nodes)`` host arrays), made where it is read: the
    starting guess of a ``-beta`` phase, the ``+beta`` phase reflected about the free one.

    Indexed by samples (``r[rows]``) it stays unmade; indexed by samples and nodes
    (``r[rows, nodes]``) it gives a new array of those. A backend that reads node ranges
    in its own threads (the layered solver: each chunk reads its groups' nets, about half the
    nodes of an image network) so never makes the whole array; any other gets it whole from
    ``np.asarray``, made by rows in :func:`~.threads.thread_map`'s threads (39 MB at batch 128
    of the local image network)."""

    def __init__(self, center, point):
        if center.shape != point.shape:
            raise ShapeError(f"reflection of voltages of shape {point.shape} about {center.shape}")
        self.center, self.point = center, point
        self.shape = center.shape

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, index):
        if isinstance(index, tuple) and len(index) == 2:  # samples and nodes: made now
            out = np.multiply(self.center[index], 2.0)
            out -= self.point[index]
            return out
        return Reflection(self.center[index], self.point[index])

    def __array__(self, dtype=None, copy=None):
        from .threads import in_pieces
        out = np.empty(self.shape)

        def part(rows):
            np.multiply(self.center[rows], 2.0, out=out[rows])
            out[rows] -= self.point[rows]
        in_pieces(part, len(self), 8)
        return out if dtype is None else out.astype(dtype, copy=False)
