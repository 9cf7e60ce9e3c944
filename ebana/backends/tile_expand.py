"""A wired tile's inner voltages from its ports' in one compiled pass (``'native-wires'``).

After the reduced circuit is solved, every tile's inner nodes follow from its ports:
``V_I = A_II^-1 f`` with ``f = -A_IP V_P``, then the KCL residual ``A_II V_I - f`` of the
check. Done with NumPy and SciPy, that is a dozen passes of temporaries per tile and phase
(gathers of the ports, a sparse product, the factor's solve in four parts, a second sparse
product, the node-vector scatter) whose Python share holds the lock; here it is one
compiled call per tile and chunk of samples, which releases it. The arithmetic is that of
:meth:`~ebana.backends.tile_factor.RowBlockFactor.solve` and of the sparse products, in the
same order. Units: V, A, S.
"""
import numba
import numpy as np

from .tile_factor import _block_sweeps, _thomas_solve

_jit = numba.njit(cache=True, nogil=True)


@_jit
def expand_tile(v, start, stop, ports, inner, a_ip, a_ii, thomas, a_ab, a_ba, inverse, links):
    """Write the inner voltages of samples ``start`` to ``stop`` into ``v`` (node voltages, V,
    ``(B, N)``: their ports' voltages are read from it, the tile's ``inner`` nodes written), for
    the usual tile in its factor's order (:meth:`~ebana.backends.tile_factor.RowBlockFactor.tile_arrays`:
    ``thomas``, the devices ``a_ab``/``a_ba``, ``inverse``, ``links``); ``a_ip``, ``a_ii``: the
    CSR arrays ``(data, indices, indptr)`` of ``A_IP`` and ``A_II`` (S). Returns the KCL
    residual at the inner nodes (A, ``(inner, samples)``) and its largest size per sample (a
    NaN anywhere gives NaN)."""
    B, n, na = stop - start, len(inner), len(a_ab)
    ip_data, ip_indices, ip_indptr = a_ip
    f = np.zeros((n, B))  # -A_IP V_P (A): the ports' currents into the lines
    for i in range(n):
        for e in range(ip_indptr[i], ip_indptr[i + 1]):
            g, port = ip_data[e], ports[ip_indices[e]]
            for b in range(B):
                f[i, b] += g * v[start + b, port]
    for i in range(n):
        for b in range(B):
            f[i, b] = -f[i, b]
    lower, inv_pivot, ratio = thomas
    f_a = np.ascontiguousarray(f[:na])
    x = np.empty((n, B))
    y = _thomas_solve(lower, inv_pivot, ratio, f_a)
    for i in range(n - na):  # the column lines: what is left after the chains
        for b in range(B):
            x[na + i, b] = f[na + i, b] - a_ba[i] * y[i, b]
    x_b = x[na:]
    _block_sweeps(inverse, links, x_b)
    rhs = np.empty((na, B))  # the chains again, with what the column lines drive into them
    for i in range(na):
        for b in range(B):
            rhs[i, b] = f_a[i, b] - a_ab[i] * x_b[i, b]
    x[:na] = _thomas_solve(lower, inv_pivot, ratio, rhs)
    ii_data, ii_indices, ii_indptr = a_ii
    residual, largest, acc = np.empty((n, B)), np.zeros(B), np.empty(B)
    nan = np.zeros(B, dtype=np.bool_)  # kept apart, so that the loop below stays branch-free
    for i in range(n):  # A_II V_I - f, entry by entry as the sparse product sums them
        acc[:] = 0.0
        for e in range(ii_indptr[i], ii_indptr[i + 1]):
            g, j = ii_data[e], ii_indices[e]
            for b in range(B):
                acc[b] += g * x[j, b]
        for b in range(B):
            r = acc[b] - f[i, b]
            residual[i, b] = r
            size = abs(r)
            nan[b] |= r != r
            largest[b] = size if size > largest[b] else largest[b]
    for b in range(B):
        if nan[b]:
            largest[b] = np.nan
    for j in range(n):
        node = inner[j]
        for b in range(B):
            v[start + b, node] = x[j, b]
    return residual, largest
