"""The IDX file format of MNIST and Fashion-MNIST, plain or gzipped.

An IDX file is a 4-byte magic number ``0x00 0x00 <type> <ndim>``, then
``ndim`` big-endian uint32 sizes, then the values in C order, big-endian.
Gzipped files are recognised by their own magic bytes, not by their name.

Example:
    >>> # images = read_idx("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")
    >>> # images.shape -> (10000, 28, 28), dtype uint8
"""
import gzip
import os

import numpy as np

from ..errors import ValidationError
from ..saving.safe_io import atomic_write_bytes

#: IDX type byte -> numpy dtype (big-endian where it matters)
IDX_TYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
             0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path):
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == _GZIP_MAGIC:
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as e:  # truncated or corrupt gzip stream
            raise ValidationError(f"IDX file {path}: the gzip stream is damaged or truncated ({e})") from None
    return raw


def parse_idx(raw, source="<bytes>"):
    """Array held by the IDX bytes ``raw``; ``source`` names them in errors."""
    if len(raw) < 4:
        raise ValidationError(f"IDX file {source} is truncated: {len(raw)} bytes, not even the 4-byte magic number")
    zero, kind, ndim = raw[0:2], raw[2], raw[3]
    if zero != b"\x00\x00" or kind not in IDX_TYPES or ndim < 1:
        raise ValidationError(f"{source} is not an IDX file: magic number {raw[:4].hex()} (expected 0000 "
                              f"followed by a type byte in {sorted(f'{t:02x}' for t in IDX_TYPES)} and a "
                              "dimension count >= 1)")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValidationError(f"IDX file {source} is truncated inside its header ({len(raw)} of {header} bytes)")
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_TYPES[kind]
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "longer than its header says"
        raise ValidationError(f"IDX file {source} is {what}: shape {shape} of {dtype.name} needs "
                              f"{expected} bytes, the file has {len(raw)}")
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))  # native byte order, and a writable copy


def read_idx(path):
    """Read the IDX file at ``path`` (gzipped or not) into a numpy array.

    Raises ValidationError naming the file when its magic number is wrong or
    it is shorter or longer than its header says; FileNotFoundError when it
    does not exist.
    """
    path = os.fspath(path)
    return parse_idx(_read_bytes(path), source=path)


def write_idx(path, array, compress=None):
    """Write ``array`` (dtype in :data:`IDX_TYPES`) as an IDX file; gzipped when
    ``compress`` is True, or when None and ``path`` ends in ``.gz``. Returns ``path``."""
    array = np.asarray(array)
    codes = {dt.newbyteorder("="): code for code, dt in IDX_TYPES.items()}
    code = codes.get(array.dtype.newbyteorder("="))
    if code is None or array.ndim < 1 or array.ndim > 255:
        raise ValidationError(f"write_idx: cannot store dtype {array.dtype} with {array.ndim} dimensions in IDX")
    head = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    body = head + np.ascontiguousarray(array, dtype=IDX_TYPES[code]).tobytes()
    path = os.fspath(path)
    if compress is None:
        compress = path.endswith(".gz")
    atomic_write_bytes(gzip.compress(body) if compress else body, path, "IDX file")
    return path
