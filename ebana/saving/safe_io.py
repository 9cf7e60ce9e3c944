"""Safe file handling for training state: atomic writes and a restricted unpickler.

A pickle can run any code on load (``__reduce__`` may name ``os.system``),
so optimizer states are read with :class:`SafeUnpickler`, which resolves only
the globals that numpy arrays and plain containers need.
"""
import contextlib
import os
import pickle
import tempfile

import numpy as np

from ..errors import ValidationError

# numpy moved its internals from numpy.core to numpy._core in 2.0; a pickle
# may name either spelling. Map every accepted name to the live object
# directly, so loading never imports the deprecated alias.
_core = getattr(np, "_core", None) or np.core


def _latin1_encode(text, encoding="utf-8"):
    """Stand-in for ``_codecs.encode``: protocol-2 pickles store bytes as latin-1 text.

    Only latin-1 is honoured so a file cannot pick an arbitrary codec.
    """
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError(f"refusing _codecs.encode with encoding {encoding!r}")
    return text.encode("latin-1")


_ALLOWED = {
    ("_codecs", "encode"): _latin1_encode,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("builtins", "complex"): complex,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "slice"): slice,
    ("__builtin__", "complex"): complex,
    ("__builtin__", "set"): set,
    ("__builtin__", "frozenset"): frozenset,
}
for _pkg in ("numpy.core", "numpy._core"):
    _ALLOWED[(_pkg + ".multiarray", "_reconstruct")] = _core.multiarray._reconstruct
    _ALLOWED[(_pkg + ".multiarray", "scalar")] = _core.multiarray.scalar
    # Pickle protocol 5 rebuilds arrays from a buffer with this function.
    _ALLOWED[(_pkg + ".numeric", "_frombuffer")] = _core.numeric._frombuffer
# Scalars pickled by numpy 2.x name their dtype class, e.g. numpy.dtypes.Float64DType.
for _cls in vars(getattr(np, "dtypes", object)).values():
    if isinstance(_cls, type) and issubclass(_cls, np.dtype):
        _ALLOWED[("numpy.dtypes", _cls.__name__)] = _cls


class SafeUnpickler(pickle.Unpickler):
    """Unpickler that refuses every global except numpy arrays and builtin containers.

    Example:
        >>> import io, pickle, numpy as np
        >>> blob = pickle.dumps({"m": np.ones(2)}, protocol=4)
        >>> SafeUnpickler(io.BytesIO(blob), "state.pkl").load()["m"].tolist()
        [1.0, 1.0]
    """

    def __init__(self, file, source):
        super().__init__(file)
        self.source = source

    def find_class(self, module, name):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise ValidationError(
                f"refusing to load {self.source}: it names the global {module}.{name}, "
                "which is not a numpy array or plain container; only load state files "
                "that ebana wrote") from None


def safe_load_pickle(path):
    """Read a pickle from ``path`` with :class:`SafeUnpickler`; errors name the file."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValidationError(f"state file {path!r} does not exist or is not a file")
    with open(path, "rb") as f:
        try:
            return SafeUnpickler(f, repr(path)).load()
        except ValidationError:
            raise
        except Exception as exc:  # truncated or foreign files raise many kinds
            raise ValidationError(
                f"cannot read state file {path!r}: {type(exc).__name__}: {exc}") from None


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; on success move it over ``path``.

    The temporary file lives in the same directory, so ``os.replace`` is an
    atomic rename: a crash mid-write leaves the old file intact, never a torn one.

    Example:
        >>> import os, tempfile
        >>> target = os.path.join(tempfile.mkdtemp(), "x.txt")
        >>> with atomic_path(target) as tmp:
        ...     _ = open(tmp, "w").write("done")
        >>> open(target).read()
        'done'
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp",
                               dir=directory)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def atomic_pickle(obj, path):
    """Pickle ``obj`` to ``path`` atomically (protocol 4, fsynced before the rename)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            pickle.dump(obj, f, protocol=4)
            f.flush()
            os.fsync(f.fileno())


def check_writable(path, what="file"):
    """Raise ValidationError unless a file can be created beside ``path``.

    Called before training so a checkpoint in a missing or read-only folder
    fails before any weight has changed. A probe file is created and removed
    (``os.access`` would say yes to root on a read-only mount).
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise ValidationError(f"{what} path {path!r} is a folder; give a file name")
    try:
        fd, probe = tempfile.mkstemp(prefix=".ebana-probe.", dir=directory)
    except OSError as exc:
        raise ValidationError(f"cannot write the {what} {path!r}: folder {directory!r} is not writable "
                              f"({exc.strerror or exc}); nothing was trained") from None
    os.close(fd)
    os.remove(probe)


def check_header(d, path, fmt, keys, version):
    """Refuse a loaded file ``d`` unless it is a dict with exactly ``keys`` and the expected format and version."""
    if not isinstance(d, dict) or set(d) != keys:
        got = sorted(d) if isinstance(d, dict) else type(d).__name__
        raise ValidationError(f"{path!r} is not an ebana {fmt} file: expected keys {sorted(keys)}, found {got}")
    if d["format"] != fmt or d["version"] != version:
        raise ValidationError(f"{path!r}: format {d['format']!r} version {d['version']!r}, "
                              f"expected {fmt!r} {version}")
