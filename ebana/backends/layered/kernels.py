"""Fused elementwise passes of the layered solver, compiled with numba.

Between its matrix products, a sweep of an image-sized network does a dozen
elementwise steps over ``(B, n)`` arrays (2 MB for 256 samples by 1024 nets):
solve the clamps, measure the move, round the change for a float32 product,
add anchor currents. In numpy each step is a pass over memory with a fresh
temporary; here each group of steps is one loop over the samples, reading
every input once. On the development machine the two-sided clamp solve with
its move went from 0.94 ms (numpy) to 0.38 ms. The solves and the products'
bookkeeping do the same arithmetic as the numpy expressions they replace,
operation for operation (no fast-math: no reassociation, no fused
multiply-add); only sums (Anderson's dot products, a crossbar's row and
column sums, the check's bounds) are taken in another order.

Per-net constants shared by the batch (``K``, ``inv_off``, ``low``, ...) are
passed broadcast to ``(B, n)`` (``np.broadcast_to``: a stride of 0, no copy).
Units: V, A, S.
"""
import numba
import numpy as np

# cache: compiled once per machine (a few seconds), not in every process; nogil: callable
# from the solver's chunk threads at once
_jit = numba.njit(cache=True, nogil=True)


@_jit
def _larger(largest, size):
    """The running maximum of non-negative sizes, where a NaN sticks (max() would drop it and
    hide a diverging sample from the sweeps)."""
    return size if size > largest or size != size else largest


@_jit
def clamp_band(C, K, inv_off, low, high, eps, v, change):
    """Two-sided clamp solve of :class:`~.clamps.ClampSolver` (its ``band`` case), in place.

    ``v`` (V) becomes ``V_off - eps * (V_off - clip(V_off, low, high))`` with
    ``V_off = (C + K) * inv_off``; ``change`` (V, same shape, or None) receives
    ``new - old``. Returns every sample's largest ``|new - old|`` (V), ``(B,)``.
    """
    B, n = v.shape
    moves = np.zeros(B)
    for b in range(B):
        largest = 0.0
        for j in range(n):
            x = C[b, j] + K[b, j]
            x *= inv_off[b, j]
            inside = max(x, low[b, j])
            inside = min(inside, high[b, j])
            inside -= x
            inside *= eps[b, j]
            x += inside
            step = x - v[b, j]
            if change is not None:
                change[b, j] = step
            largest = _larger(largest, abs(step))
            v[b, j] = x
        moves[b] = largest
    return moves


@_jit
def clamp_band_residual(v, C, D, K, low, high, gd, coupling, uncertain, extra):
    """KCL check of a two-sided clamp group (``band`` case) at ``v`` (V), per sample.

    The residual is ``|D v - C - K + gd (v - clip(v, low, high))|`` (A), plus the bound on
    how far the currents ``C`` may be off: ``sum_l coupling[l] * uncertain[l, b]`` (S times V;
    ``coupling`` is ``(L, n)``, ``uncertain`` ``(L, B)``) and ``extra`` (A, ``(B, n)``, or None).
    Returns the largest residual as a Newton step (V, divided by the slope ``D`` or ``D + gd``)
    and as a current (A), ``(B,)`` each; a sample with a NaN gets NaN.
    """
    B, n = v.shape
    L = coupling.shape[0]
    steps, amps = np.zeros(B), np.zeros(B)
    drift = np.empty(n)
    for b in range(B):
        drift[:] = 0.0
        for l in range(L):
            u = uncertain[l, b]
            for j in range(n):
                drift[j] += coupling[l, j] * u
        worst_step, worst_amp, total = 0.0, 0.0, 0.0
        for j in range(n):
            x = v[b, j]
            f = D[b, j] * x
            f -= C[b, j]
            f -= K[b, j]
            beyond = x - min(max(x, low[b, j]), high[b, j])
            slope = D[b, j] + (gd if beyond != 0.0 else 0.0)
            f = abs(f + gd * beyond) + drift[j]
            if extra is not None:
                f += extra[b, j]
            worst_step = max(worst_step, f / slope)
            worst_amp = max(worst_amp, f)
            total += f  # NaN anywhere makes it NaN (max() would drop it)
        if total != total:
            worst_step = worst_amp = total
        steps[b], amps[b] = worst_step, worst_amp
    return steps, amps


@_jit
def assign_with_move(v, new, change):
    """``v[...] = new`` (V) in place; ``change`` (or None) receives ``new - old``. Returns every
    sample's largest ``|new - old|`` (V), ``(B,)``: a group solved outside the kernels, written
    into the sweeps' state as the clamp kernel writes it."""
    B, n = v.shape
    moves = np.zeros(B)
    for b in range(B):
        largest = 0.0
        for j in range(n):
            step = new[b, j] - v[b, j]
            if change is not None:
                change[b, j] = step
            largest = _larger(largest, abs(step))
            v[b, j] = new[b, j]
        moves[b] = largest
    return moves


@_jit
def largest_difference(a, b):
    """Every sample's largest ``|a - b|`` (V), ``(B,)``, in one pass; a NaN is kept."""
    B, n = a.shape
    out = np.zeros(B)
    for b_ in range(B):
        largest = 0.0
        for j in range(n):
            largest = _larger(largest, abs(a[b_, j] - b[b_, j]))
        out[b_] = largest
    return out


@_jit
def single_change(v, anchor, out):
    """``out`` (float32) <- ``v - anchor`` (V, subtracted in float64, then rounded); returns
    every sample's largest ``|out|`` (V), ``(B,)``."""
    B, n = v.shape
    sizes = np.zeros(B)
    for b in range(B):
        largest = 0.0
        for j in range(n):
            x = np.float32(v[b, j] - anchor[b, j])
            out[b, j] = x
            largest = _larger(largest, abs(np.float64(x)))
        sizes[b] = largest
    return sizes


@_jit
def add_single(anchor, product, out):
    """``out = anchor + product`` (A): float64 anchor currents plus a float32 product, in one
    pass (numpy's mixed-type add casts through a buffer at half the speed)."""
    B, n = anchor.shape
    for b in range(B):
        for j in range(n):
            out[b, j] = anchor[b, j] + np.float64(product[b, j])


# Anderson's history only speeds the sweeps up (they, and the residual check, judge the result),
# so its dot products may be summed in any order: vectorized. NaNs are kept (no 'nnan'), so
# the next sweep still sees them.
_jit_reassoc = numba.njit(cache=True, nogil=True, fastmath={"reassoc", "nsz", "contract", "arcp"})


@_jit_reassoc
def anderson_step(f, g, last_f, last_g, dF, dG, slot, m, row, rhs):
    """One step of :class:`~.anderson.Anderson`'s history, sample by sample.

    ``dF[:, slot] = f - last_f``, ``dG[:, slot] = g - last_g``, then ``last_f, last_g = f, g``
    (copied); ``row[:, i] = dF_i . dF_slot`` and ``rhs[:, i] = dF_i . f`` for the ``m`` slots in use.
    ``f`` is the sweep's residual ``G(x) - x`` (V) and ``g`` its image ``G(x)`` (V), ``(B, n)``.
    """
    B, n = f.shape
    for b in range(B):
        for j in range(n):
            fj, gj = f[b, j], g[b, j]
            dF[b, slot, j] = fj - last_f[b, j]
            dG[b, slot, j] = gj - last_g[b, j]
            last_f[b, j] = fj
            last_g[b, j] = gj
        for i in range(m):  # one sample's rows are still in cache
            r, h = 0.0, 0.0
            for j in range(n):
                d = dF[b, i, j]
                r += d * dF[b, slot, j]
                h += d * f[b, j]
            row[b, i] = r
            rhs[b, i] = h


@_jit_reassoc
def anderson_mix(g, dG, gamma, m, out):
    """``out = g - sum_i gamma[:, i] dG[:, i]`` (V) over the ``m`` slots in use (``out`` may be ``g``)."""
    B, n = g.shape
    for b in range(B):
        for j in range(n):
            out[b, j] = g[b, j] - gamma[b, 0] * dG[b, 0, j]
        for i in range(1, m):
            c = gamma[b, i]
            for j in range(n):
                out[b, j] -= c * dG[b, i, j]


@_jit_reassoc
def fold_crossbar(W, alpha_a, alpha_b, beta_a, beta_b, scaled_a, scaled_b):
    """One pass over a crossbar's conductances ``W`` (S, ``(na, nb)``) between two groups of nets
    whose nodes are ``alpha * V + beta`` (V/V, V; amplifier outputs), per batch.

    Writes ``scaled_a = W_ij alpha_b,j / alpha_a,i`` and ``scaled_b = W_ij alpha_a,i / alpha_b,j``
    (S; they map one side's net voltages to currents into the other's nets, divided by their
    alpha), unless None (all alphas 1: W itself serves). Returns, per side: the sums of ``W``
    (S), the coupling bounds ``sum_j W_ij |alpha_j| / |alpha_i|`` (S; conductances are > 0)
    and the offsets ``sum_j W_ij beta_j / alpha_i`` (A): ``(sums_a, sums_b, coupling_a,
    coupling_b, offset_a, offset_b)``. Sums in any order (vectorized).
    """
    na, nb = W.shape
    sums_a, sums_b = np.zeros(na), np.zeros(nb)
    coupling_a, coupling_b = np.zeros(na), np.zeros(nb)
    offset_a, offset_b = np.zeros(na), np.zeros(nb)
    abs_b = np.abs(alpha_b)
    inv_b = 1.0 / alpha_b
    for i in range(na):
        aa, ba = alpha_a[i], beta_a[i]
        abs_a, inv_a = abs(aa), 1.0 / aa
        s, c, o = 0.0, 0.0, 0.0
        for j in range(nb):
            w = W[i, j]
            s += w
            c += w * abs_b[j]
            o += w * beta_b[j]
            sums_b[j] += w
            coupling_b[j] += w * abs_a
            offset_b[j] += ba * w
            if scaled_a is not None:
                scaled_a[i, j] = w * inv_a * alpha_b[j]
                scaled_b[i, j] = w * aa * inv_b[j]
        sums_a[i], coupling_a[i], offset_a[i] = s, c / abs_a, o * inv_a
    for j in range(nb):
        coupling_b[j] /= abs_b[j]
        offset_b[j] *= inv_b[j]
    return sums_a, sums_b, coupling_a, coupling_b, offset_a, offset_b


@_jit
def scatter_columns(x, idx, out):
    """``out[b, idx[j]] += x[b, j]`` for every sample ``b`` (A): currents computed per window
    position, added onto the nets they belong to (windows overlap, so a net may get several)."""
    for b in range(x.shape[0]):
        for j in range(x.shape[1]):
            out[b, idx[j]] += x[b, j]


@_jit
def gather_rows(idx, data, v, out):
    """``out[b, i] = sum_e data[e, i] * v[b, idx[e, i]]`` (S * V = A) for every sample ``b``: a
    sparse matrix of at most ``L`` entries per row, stored ``(L, rows)`` (padding: weight 0),
    times the batch, batch-major (scipy's products want ``(n, B)`` copies). Slot by slot, so
    each inner loop is one plain gather (a row-by-row loop of 1-4 entries ran 1.5-3x slower).
    ``v`` may have one row for every sample (a stride of 0)."""
    slots, rows = idx.shape
    for b in range(out.shape[0]):
        vb = v[min(b, v.shape[0] - 1)]
        ob = out[b]
        for i in range(rows):
            ob[i] = 0.0
        for e in range(slots):
            for i in range(rows):
                ob[i] += data[e, i] * vb[idx[e, i]]


def cache_is_cold():
    """True when this process will compile the kernels: none is compiled here yet and none
    has a usable entry in numba's on-disk cache (first run on a machine, or after the
    source changed: all kernels live in this file, so they go stale together; a kernel
    no network has used yet has no entry either, which is why one warm entry is enough).
    Best effort: numba's cache internals are private, so any surprise there answers
    False (no message rather than a wrong one)."""
    for obj in globals().values():
        if isinstance(obj, numba.core.registry.CPUDispatcher):
            try:
                if obj.signatures or obj._cache._cache_file._load_index():  # {} when absent or stale
                    return False
            except Exception:  # noqa: BLE001 - private API of numba: stay silent
                return False
    return True
