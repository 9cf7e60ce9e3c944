"""Safe file handling for training state: atomic writes and a restricted unpickler.

A pickle can run any code on load (``__reduce__`` may name ``os.system``),
so optimizer states are read with :class:`SafeUnpickler`, which resolves only
the globals that numpy arrays and plain containers need.
"""
import contextlib
import errno
import hashlib
import io
import os
import pickle
import stat
import tempfile

import numpy as np

from ..errors import EbanaError, ValidationError

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


#: First bytes of a file written by :func:`atomic_pickle`: this tag, the SHA-256 of the
#: pickle that follows (64 hex digits) and a newline. Files written before the checksum
#: start with the pickle itself (byte 0x80) and are still read, unchecked (documented in
#: docs/reliability.md): they carry the same format version, and every field is checked anyway.
CHECKSUM_TAG = b"EBANA-SHA256 "
_CHECKSUM_HEAD = len(CHECKSUM_TAG) + 64 + 1


class WriteError(EbanaError, OSError):
    """A file could not be written (disk full, folder not writable, special file); ``errno`` is kept."""

    def __init__(self, errno_, message):
        OSError.__init__(self, errno_, message)
        self.message = message

    def __str__(self):
        return self.message


def _unpickle_bytes(blob, path):
    if blob[:len(CHECKSUM_TAG)] == CHECKSUM_TAG:
        digest, body = blob[len(CHECKSUM_TAG):_CHECKSUM_HEAD - 1], blob[_CHECKSUM_HEAD:]
        if blob[_CHECKSUM_HEAD - 1:_CHECKSUM_HEAD] != b"\n" or hashlib.sha256(body).hexdigest().encode() != digest:
            raise ValidationError(f"{path!r} is damaged: its SHA-256 checksum does not match its contents "
                                  "(a flipped or missing byte); restore it from a copy or write it again")
        blob = body
    elif blob[:1] != b"\x80":  # neither checksummed nor an older plain pickle
        raise ValidationError(f"{path!r} is not a file ebana wrote (it starts with {blob[:16]!r}) or its "
                              "checksum header is damaged")
    return SafeUnpickler(io.BytesIO(blob), repr(path)).load()


def safe_load_pickle(path):
    """Read a pickle from ``path`` with :class:`SafeUnpickler`, checking its SHA-256 checksum
    when it has one (see :data:`CHECKSUM_TAG`); errors name the file."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        if os.path.lexists(path):
            destination(path, "state file")  # says what it is: a folder, a FIFO, a device, a broken link
        raise ValidationError(f"state file {path!r} does not exist or is not a file")
    with open(path, "rb") as f:
        blob = f.read()
    try:
        return _unpickle_bytes(blob, path)
    except ValidationError:
        raise
    except Exception as exc:  # truncated or foreign files raise many kinds
        raise ValidationError(
            f"cannot read state file {path!r}: {type(exc).__name__}: {exc}") from None


def _umask():
    """The process umask: from /proc (Linux), else by setting it and putting it back at
    once (which another thread creating a file at that instant could observe)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def destination(path, what="file"):
    """The file that writing ``path`` replaces: ``path`` itself, or the file a symlink
    points to (the link is kept and its target written, as ``open(path, 'w')`` would). Refuses a destination that
    exists and is not a regular file (a device such as /dev/full, a FIFO, a socket,
    a folder): renaming over it would replace the special file."""
    path = os.fspath(path)
    target = os.path.realpath(path) if os.path.islink(path) else path
    try:
        st = os.stat(target)
    except (FileNotFoundError, NotADirectoryError):
        # absent (a dangling link's target is created, as open() would): whether its
        # folder is writable is checked next
        return target
    except OSError as exc:
        raise ValidationError(f"cannot write the {what} {path!r}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise ValidationError(f"{what} path {path!r} is a folder; give a file name")
    if not stat.S_ISREG(st.st_mode):
        kind = ("a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
                else "a FIFO" if stat.S_ISFIFO(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode)
                else "not a regular file")
        via = f" (through the symlink to {target!r})" if target != path else ""
        raise ValidationError(f"refusing to write the {what} {path!r}: it exists and is {kind}{via}; "
                              "ebana replaces only regular files; give another path")
    return target


@contextlib.contextmanager
def atomic_path(path, what="file"):
    """Yield a temporary path beside ``path``; on success move it over ``path``.

    The temporary file lives in the same directory, so ``os.replace`` is an
    atomic rename: a crash mid-write leaves the old file intact, never a torn one.
    The destination must be absent or a regular file (a symlink is followed to
    its regular target, see :func:`destination`). The new file's mode follows the
    umask (0o666 & ~umask), like ``open(path, 'w')``. Any OSError while writing,
    a full disk (ENOSPC) included, becomes a :class:`WriteError` naming ``path``;
    the old file is then left as it was.

    Example:
        >>> import os, tempfile
        >>> target = os.path.join(tempfile.mkdtemp(), "x.txt")
        >>> with atomic_path(target) as tmp:
        ...     _ = open(tmp, "w").write("done")
        >>> open(target).read()
        'done'
    """
    path = os.fspath(path)
    target = destination(path, what)
    directory = os.path.dirname(os.path.abspath(target))
    try:
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(target) + ".", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise WriteError(exc.errno, f"cannot write the {what} {path!r}: folder {directory!r} is not writable "
                                    f"({exc.strerror or exc})") from None
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        destination(path, what)  # still absent or regular just before the rename
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, EbanaError):
            # h5py reports the C library's errno only in its text
            full = exc.errno in (errno.ENOSPC, errno.EDQUOT) or f"errno = {errno.ENOSPC}," in str(exc)
            reason = "the disk is full" if full else (exc.strerror or str(exc))
            raise WriteError(exc.errno, f"could not write the {what} {path!r}: {reason}; "
                                        "the previous file, if any, is unchanged") from exc
        raise


def atomic_write_bytes(data, path, what="file"):
    """Write ``data`` (bytes) to ``path`` atomically, fsynced before the rename."""
    with atomic_path(path, what) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def atomic_pickle(obj, path, what="file"):
    """Pickle ``obj`` to ``path`` atomically (protocol 4, fsynced before the rename), behind
    a SHA-256 checksum header (:data:`CHECKSUM_TAG`) that :func:`safe_load_pickle` checks."""
    body = pickle.dumps(obj, protocol=4)
    digest = hashlib.sha256(body).hexdigest().encode()
    atomic_write_bytes(CHECKSUM_TAG + digest + b"\n" + body, path, what)


def check_writable(path, what="file"):
    """Raise ValidationError unless ``path`` can be written: a file can be created beside
    it, and it is absent or a regular file (or a symlink to one; see :func:`destination`).

    Called before training so a checkpoint in a missing or read-only folder
    fails before any weight has changed. A probe file is created and removed
    (``os.access`` would say yes to root on a read-only mount).
    """
    path = os.fspath(path)
    target = destination(path, what)
    directory = os.path.dirname(os.path.abspath(target))
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
