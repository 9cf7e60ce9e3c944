"""The IDX file format of MNIST and Fashion-MNIST, plain or gzipped.

An IDX file is a 4-byte magic number ``0x00 0x00 <type> <ndim>``, then
``ndim`` big-endian uint32 sizes, then the values in C order, big-endian.
Gzipped files are recognised by their own magic bytes, not by their name.

Example:
    ``read_idx("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")``
    gives the 10,000 Fashion-MNIST test images, shape ``(10000, 28, 28)``, dtype
    uint8. A round trip through a file:

    >>> import os, tempfile
    >>> import numpy as np
    >>> path = write_idx(os.path.join(tempfile.mkdtemp(), "images-idx3-ubyte.gz"),
    ...                  np.zeros((3, 28, 28), dtype=np.uint8))
    >>> images = read_idx(path)
    >>> images.shape, images.dtype
    ((3, 28, 28), dtype('uint8'))
"""
import gzip
import io
import math
import os
import zlib

import numpy as np

from ..errors import ValidationError
from ..saving.safe_io import atomic_write_bytes

#: IDX type byte -> numpy dtype (big-endian where it matters)
IDX_TYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
             0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_GZIP_MAGIC = b"\x1f\x8b"


#: Largest data section (bytes) a header may declare: 2 GiB, 40 times the 47 MB of
#: Fashion-MNIST's training images. A larger header is refused before any data is read,
#: and a gzip stream is never inflated past what its header declares.
MAX_IDX_BYTES = 2 ** 31
#: Most dimensions an IDX header may declare (MNIST files have 1 or 3).
MAX_IDX_DIMS = 16


def _header(read, source):
    """``(dtype, shape, header bytes)`` from the stream ``read``; the declared size is checked
    against :data:`MAX_IDX_BYTES` in Python integers (no overflow) before any data is read."""
    magic = read(4)
    if len(magic) < 4:
        raise ValidationError(f"IDX file {source} is truncated: {len(magic)} bytes, not even the 4-byte "
                              "magic number")
    zero, kind, ndim = magic[0:2], magic[2], magic[3]
    if zero != b"\x00\x00" or kind not in IDX_TYPES or ndim < 1:
        raise ValidationError(f"{source} is not an IDX file: magic number {magic.hex()} (expected 0000 "
                              f"followed by a type byte in {sorted(f'{t:02x}' for t in IDX_TYPES)} and a "
                              "dimension count >= 1)")
    if ndim > MAX_IDX_DIMS:
        raise ValidationError(f"IDX file {source} declares {ndim} dimensions; ebana reads at most "
                              f"{MAX_IDX_DIMS} (MNIST files have 1 or 3): the file is damaged or not MNIST-like")
    sizes = read(4 * ndim)
    header = 4 + 4 * ndim
    if len(sizes) < 4 * ndim:
        raise ValidationError(f"IDX file {source} is truncated inside its header ({4 + len(sizes)} of "
                              f"{header} bytes)")
    shape = tuple(int.from_bytes(sizes[4 * i:4 * i + 4], "big") for i in range(ndim))
    dtype = IDX_TYPES[kind]
    nbytes = math.prod(shape) * dtype.itemsize  # Python ints: 65536**4 stays 2**64, never wraps to 0
    if nbytes > MAX_IDX_BYTES:
        raise ValidationError(f"IDX file {source} declares shape {shape} of {dtype.name}, {nbytes} bytes, "
                              f"above the limit of {MAX_IDX_BYTES} bytes (ebana.datasets.idx.MAX_IDX_BYTES); "
                              "the header is damaged, or raise the limit for a genuinely larger file")
    return dtype, shape, header, nbytes


def _read_stream(f, source):
    dtype, shape, header, nbytes = _header(f.read, source)
    body = f.read(nbytes)
    extra = f.read(1)  # one byte past the declared size is enough to know the file is too long
    if len(body) != nbytes or extra:
        what = "truncated" if len(body) < nbytes else "longer than its header says"
        have = f"{header + len(body)}" if len(body) < nbytes else f"more than {header + nbytes}"
        raise ValidationError(f"IDX file {source} is {what}: shape {shape} of {dtype.name} needs "
                              f"{header + nbytes} bytes, the file has {have}")
    data = np.frombuffer(body, dtype=dtype).reshape(shape)
    return data.astype(dtype.newbyteorder("="))  # native byte order, and a writable copy


def parse_idx(raw, source="<bytes>"):
    """Array held by the IDX bytes ``raw``; ``source`` names them in errors."""
    return _read_stream(io.BytesIO(raw), source)


def read_idx(path):
    """Read the IDX file at ``path`` (gzipped or not) into a numpy array.

    The header is read first: a declared size above :data:`MAX_IDX_BYTES` or more than
    :data:`MAX_IDX_DIMS` dimensions is refused before any data is read, and a gzip
    stream is inflated only up to the declared size plus one byte (a "gzip bomb"
    is refused without inflating it). Raises ValidationError naming the file when
    its magic number is wrong or it is shorter or longer than its header says;
    FileNotFoundError when it does not exist.
    """
    path = os.fspath(path)
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        if not gzipped:
            return _read_stream(raw, path)
        try:
            with gzip.GzipFile(fileobj=raw) as f:
                return _read_stream(f, path)
        except (OSError, EOFError, zlib.error) as e:  # truncated or corrupt gzip stream
            raise ValidationError(f"IDX file {path}: the gzip stream is damaged or truncated ({e})") from None


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
