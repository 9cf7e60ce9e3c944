"""LAPACK's inverse of a symmetric positive definite matrix, callable from compiled kernels.

numba's ``np.linalg`` gives a Cholesky factor but no inverse made from it. A block's inverse
as ``l^-1`` by loops and ``l^-T l^-1`` as a general product costs about ``8/3 n^3`` flops;
LAPACK's ``dpotrf`` then ``dpotri`` cost ``n^3``, blocked (a 128 x 128 block: 205 against
289 us on the 2-core machine). The routines are SciPy's (``scipy.linalg.cython_lapack``,
the LAPACK NumPy and numba already load), registered with LLVM under names of ebana's own:
a kernel that calls them by name is cached like the others, where a ctypes pointer would
make numba compile it afresh in every process. (numba's cache keys a kernel on its own
file only: after editing this one, clear the ``__pycache__`` of the kernels that call it.)
"""
import llvmlite.binding as llvm
import numba
import numpy as np
from numba import types
from numba.extending import get_cython_function_address

for _name in ("dpotrf", "dpotri"):  # void f(char *uplo, int *n, double *a, int *lda, int *info)
    llvm.add_symbol(f"ebana_{_name}", get_cython_function_address("scipy.linalg.cython_lapack", _name))
_dpotrf = types.ExternalFunction("ebana_dpotrf", types.void(*[types.voidptr] * 5))
_dpotri = types.ExternalFunction("ebana_dpotri", types.void(*[types.voidptr] * 5))

#: ``'L'`` for column-major LAPACK: the upper triangle of a C-ordered (row-major) array
_LOWER_IN_FORTRAN = 76


@numba.njit(cache=True, nogil=True)
def spd_inverse(s):
    """The inverse of a symmetric positive definite ``s`` (square, C-contiguous), symmetric to
    the bit: its Cholesky factor (``dpotrf``), the inverse from it (``dpotri``), the triangle
    LAPACK wrote mirrored. Raises ``np.linalg.LinAlgError`` when ``s`` is not positive
    definite (or the factor is singular); a NaN in ``s`` gives NaNs (the callers' checks
    see them). Compiled: no Python lock."""
    n = s.shape[0]
    a = s.copy()
    if n == 0:  # LAPACK asks lda >= 1
        return a
    uplo = np.array([_LOWER_IN_FORTRAN], dtype=np.int8)
    size = np.array([n], dtype=np.int32)
    info = np.zeros(1, dtype=np.int32)
    _dpotrf(uplo.ctypes, size.ctypes, a.ctypes, size.ctypes, info.ctypes)
    if info[0] != 0:
        raise np.linalg.LinAlgError("matrix is not positive definite")
    _dpotri(uplo.ctypes, size.ctypes, a.ctypes, size.ctypes, info.ctypes)
    if info[0] != 0:
        raise np.linalg.LinAlgError("Cholesky factor is singular")
    for i in range(n):  # the lower triangle from the upper one LAPACK wrote
        for j in range(i):
            a[i, j] = a[j, i]
    return a
