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
from numba import types
from numba.extending import overload

# cache: compiled once per machine (a few seconds), not in every process; nogil: callable
# from the solver's chunk threads at once
_jit = numba.njit(cache=True, nogil=True)
#: kernels whose divisions follow IEEE (x / 0 is inf or NaN) instead of raising: Python's
#: check of every divisor keeps a loop from vectorizing
_jit_ieee = numba.njit(cache=True, nogil=True, error_model="numpy")
#: the same, compiled into its caller: a call per run of children kept the caller's loops apart
_jit_ieee_inline = numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")


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
            largest = _write_move(v, change, b, j, new[b, j], largest)
        moves[b] = largest
    return moves


@_jit
def _write_move(v, change, b, j, new, largest):
    """``v[b, j] = new`` (V); ``change[b, j]`` (unless None) receives new minus old. Returns the
    running ``largest`` move (V) with this one."""
    step = new - v[b, j]
    if change is not None:
        change[b, j] = step
    v[b, j] = new
    return _larger(largest, abs(step))


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


#: vectorized Newton passes over a sample's windows before the windows still crossing breakpoints
#: are settled one by one; another pass is taken while more than 1 / POOL_PASS_SHARE of them cross
#: (a pass over all windows costs about as much as settling that share one by one)
MAX_POOL_PASSES, POOL_PASS_SHARE = 3, 32
#: rows of a sample's anchor per window (:func:`_anchor_at`)
ANCHOR_ROWS = 4


@_jit
def pool_block(y0, cL, inv, s, inv_s, lo, hi, ep, cP, KP, DP, child, pool, sb, follow, xL, vP, chL, chP, mode,
               anchor, anchored):
    """Solve every pool net together with the ``K`` two-sided clamped nets under it, exactly,
    in place (:class:`~.pooled.PooledBlock`). Window ``w`` holds pool net ``pool[w]`` and the
    clamped nets ``child[:, w]`` (``(K, W)``).

    The children's constants come in window order, ``(rows, K, W)``, one row or one per
    sample: ``inv`` (1/S) the inverse of their diagonal, ``s`` (V/V) how their clamp-off
    voltage follows the pool's, ``inv_s`` its inverse, ``lo``/``hi`` (V) and ``ep`` their band
    clamps (:class:`~.clamps.ClampSolver`); ``y0`` (V) their voltage with every clamp off and the
    pool at 0 V (:func:`pool_gather`); ``cL`` (A, ``(B, n)``, or None) their currents from the rest
    of the circuit, pool link excluded; ``sb`` (S, ``(K, W)``) the current into the pool per volt
    of each child (folded). ``cP``, ``KP`` (A), ``DP`` (S): the pools' currents from the rest,
    known currents and diagonal.

    Each child is a piecewise-linear increasing function of the pool voltage, so the pool's
    KCL is one increasing piecewise-linear equation. One Newton step from the last voltage is
    exact when it crosses none of the children's breakpoints, as it does for nearly every
    window once the sweeps are under way: that step is taken for all windows of a sample at
    once (loops over windows, which the compiler vectorizes), and the few others go on one by
    one (:func:`_pool_settle`). From a cold start (every net at 0 V, a trained network) a
    sixth of the windows may cross: those take their Newton step and all windows another
    vectorized pass, up to ``MAX_POOL_PASSES``, before the rest settle one by one.

    ``anchor``, ``anchored``: each sample's last exact pass (:func:`_pool_from_anchor`).

    ``mode`` 0: solve the pools only, and bound the children's moves by ``follow`` (the largest
    ``|s|``) times the pool's (they must follow the pool alone: ``cL`` None); 1: solve and write
    the children too; 2: no solve, write the children for the pool voltages ``vP``. ``chL``/``chP``
    (or None) receive new minus old (V). Returns every sample's largest move (V)."""
    B, (K, W) = xL.shape[0], child.shape
    moves = np.zeros(B)
    # V_pass: a pass's pool voltages, or the roots from the anchors (not F: a settle writes F)
    V, V_pass, F, slope, low, high = np.empty(W), np.empty(W), np.empty(W), np.empty(W), np.empty(W), np.empty(W)
    fed, X, done = np.empty((K, W)), np.empty((K, W)), np.empty(W, dtype=np.bool_)
    in_order = True  # pool net w of window w: contiguous loops
    for w in range(W):
        in_order = in_order and pool[w] == w
    for b in range(B):
        r = min(b, s.shape[0] - 1)
        Y = y0[min(b, y0.shape[0] - 1)]
        if cL is not None:  # the children's other currents move their clamp-off voltages
            Y = _pool_fed(Y, cL[min(b, cL.shape[0] - 1)], inv[min(b, inv.shape[0] - 1)], child, fed)
        largest = 0.0
        for w in range(W):
            V[w] = vP[b, w if in_order else pool[w]]
        if mode != 2:
            rows = (DP[min(b, DP.shape[0] - 1)], cP[min(b, cP.shape[0] - 1)], KP[min(b, KP.shape[0] - 1)])
            sample = (Y, s[r], inv_s[r], lo[r], hi[r], ep[r], sb, *rows, pool, in_order, F, slope, low, high)
            if not (cL is None and anchored[b] and _pool_from_anchor(V, sample, anchor[b], V_pass, done)):
                _pool_newton(V, sample, F, slope, low, high, done, anchor[b], V_pass)
                anchored[b] = cL is None
            largest = _pool_write_pools(V, vP, chP, b, pool, in_order)
            if mode == 0:
                largest = _larger(largest, largest * follow)
        if mode != 0:
            _pool_children(V, Y, s[r], lo[r], hi[r], ep[r], X)
            largest = _pool_write_children(X, child, xL, chL, b, largest, mode == 1)
        moves[b] = largest
    return moves


@_jit_ieee
def _pool_newton(V, sample, F, slope, low, high, done, anchor, V_pass):
    """One sample of :func:`pool_block`: every window's pool voltage ``V`` (V, window order) moved
    to its root, in place, and the sample's anchor (``(ANCHOR_ROWS, W)``, :func:`_anchor_at`)
    made: the last pass, and for the windows it left crossing (settled one by one) their own.
    ``sample``: the block's constants for the sample (:func:`pool_block`); ``D`` (S), ``c`` and
    ``k`` (A) in it are the pools' diagonal, currents from the rest and known currents, in pool
    net order; the other arrays are scratch of ``W``."""
    Y, s, inv_s, lo, hi, ep, sb, D, c, k, pool, in_order = sample[:12]
    W = V.shape[0]
    done[:] = False
    pending = 0
    for passes in range(MAX_POOL_PASSES):
        V_pass[:] = V
        for w in range(W):  # the pools' KCL with every child's part still to subtract
            p = w if in_order else pool[w]  # one branch the compiler takes out of the loop
            slope[w] = D[p]
            F[w] = slope[w] * V[w] - (c[p] + k[p])
            low[w], high[w] = -np.inf, np.inf
        _pool_pass(V, Y, s, inv_s, lo, hi, ep, sb, F, slope, low, high)
        pending = 0
        for w in range(W):  # branch-free, so that it vectorizes
            step = -F[w] / slope[w]
            exact = (low[w] <= step) & (step <= high[w]) & ~done[w]  # no child crosses a breakpoint
            V[w] = V[w] + step if exact else V[w]
            done[w] = done[w] | exact
            pending += ~done[w]
        # Many windows whose step crosses a breakpoint (a cold start): a Newton step for each
        # and another pass over all windows, vectorized, costs less than settling them one by
        # one; few: settled one by one below
        if pending * POOL_PASS_SHARE <= W or passes + 1 == MAX_POOL_PASSES:
            break
        for w in range(W):
            if not done[w]:
                V[w] -= F[w] / slope[w]
    for w in range(W):
        p = w if in_order else pool[w]
        _anchor_at(anchor, w, V_pass[w], F[w], slope[w], low[w], high[w], c[p] + k[p])
    if pending:
        for w in range(W):
            if not done[w]:
                _pool_settle_anchored(w, V, sample, anchor)


@_jit
def _pool_settle_anchored(w, V, sample, anchor):
    """Window ``w`` settled one by one (:func:`_pool_settle`), and its anchor made at its root:
    the KCL's Newton step, inverse slope and breakpoint-free moves there, for its currents."""
    Y, s, inv_s, lo, hi, ep, sb, D, c, k, pool, in_order, F, slope, low, high = sample
    p = w if in_order else pool[w]
    E = c[p] + k[p]
    _pool_settle(w, V, Y, s, lo, hi, ep, sb, D[p], E)
    # the window's pass at its root, into the scratch rows of window w
    F[w], slope[w], low[w], high[w] = D[p] * V[w] - E, D[p], -np.inf, np.inf
    _pool_pass(V, Y, s, inv_s, lo, hi, ep, sb, F, slope, low, high, w, w + 1)
    _anchor_at(anchor, w, V[w], F[w], slope[w], low[w], high[w], E)


@_jit_ieee
def _anchor_at(anchor, w, V, F, slope, low, high, E):
    """Window ``w``'s anchor from a pass at pool voltage ``V`` (V) that found the KCL ``F`` (A),
    its ``slope`` (S) and the moves ``[low, high]`` (V) that cross no breakpoint, for the
    currents ``E`` (A): on that linear piece the root for currents ``E'`` is
    ``anchor[0] + E' anchor[1]``, exact while it lies within ``[anchor[2], anchor[3]]``."""
    inv = 1.0 / slope
    anchor[0, w] = (V - F * inv) - E * inv
    anchor[1, w] = inv
    anchor[2, w], anchor[3, w] = V + low, V + high


@_jit
def _pool_from_anchor(V, sample, anchor, X, off):
    """Every window's pool voltage ``V`` (V, window order) moved to its root for the sample's
    currents by its anchor's linear piece, in place, the windows whose root lies off the piece
    settled one by one and anchored afresh (:func:`_pool_settle_anchored`); False, and ``V`` left
    as it was, when more than 1 / POOL_PASS_SHARE of them do (a full pass is then cheaper).
    ``sample``: as for :func:`_pool_newton`; ``X``, ``off``: scratch of ``W``.

    A sample's anchor (``(ANCHOR_ROWS, W)``, :func:`_anchor_at`: each window's root as a linear
    function of its currents, and the pool voltages between which that line holds) is made from
    :func:`_pool_newton`'s last pass, or the window's own after a settle, and kept per sample
    (``anchored``). The pool's KCL is increasing and linear between those voltages, so the
    line's root for any currents is the root of the KCL when it lies between them: a pass over
    the windows instead of one over every child, as in the sweeps of a nudged phase. Only
    without ``cL`` (the children's constants then stay as they were)."""
    c, k, pool, in_order = sample[8], sample[9], sample[10], sample[11]
    root, inv, bottom, top = anchor[0], anchor[1], anchor[2], anchor[3]
    W = V.shape[0]
    missed = 0
    for w in range(W):  # branch-free, so that it vectorizes
        p = w if in_order else pool[w]
        X[w] = root[w] + (c[p] + k[p]) * inv[w]
        off[w] = not ((bottom[w] <= X[w]) & (X[w] <= top[w]))  # NaN: off
        missed += off[w]
    if missed * POOL_PASS_SHARE > W:
        return False
    if missed:
        for w in range(W):
            if off[w]:
                X[w] = V[w]
                _pool_settle_anchored(w, X, sample, anchor)
    V[:] = X
    return True


@_jit
def _pool_write_pools(V, vP, chP, b, pool, in_order):
    """Write the pool voltages ``V`` (V, window order) into sample ``b`` of ``vP``; ``chP`` (or
    None) receives their moves. Returns the largest move (V)."""
    largest = 0.0
    if in_order and chP is None:  # contiguous, so that it vectorizes
        vb = vP[b]
        for w in range(V.shape[0]):
            step = V[w] - vb[w]
            vb[w] = V[w]
            largest = _larger(largest, abs(step))
        return largest
    for w in range(V.shape[0]):
        largest = _write_move(vP, chP, b, pool[w], V[w], largest)
    return largest


@_jit
def _pool_fed(Y, c, inv, child, out):
    """``out = Y + c[child] * inv`` (V): the children's clamp-off voltages with their currents
    ``c`` (A, net order) from outside the block; ``inv`` (1/S) in window order."""
    K, W = child.shape
    for k in range(K):
        for w in range(W):
            out[k, w] = Y[k, w] + c[child[k, w]] * inv[k, w]
    return out


@_jit
def _pool_write_children(X, child, xL, chL, b, largest, measure):
    """Write the children's voltages ``X`` (V, window order) into sample ``b`` of ``xL``; with
    ``measure``, their moves go into ``chL`` (or None) and the running ``largest`` (V), returned;
    without (the solution the moves were measured on), they are written alone."""
    K, W = child.shape
    for k in range(K):
        for w in range(W):
            if measure:
                largest = _write_move(xL, chL, b, child[k, w], X[k, w], largest)
            else:
                xL[b, child[k, w]] = X[k, w]
    return largest


@_jit
def pool_gather(KL, XL, inv, first, run, out):
    """The children's voltages (V) with every clamp off and the pool at 0 V, in window order
    ``(rows, K, W)``, into ``out``: their known currents ``KL + XL`` (A, ``(rows, n)`` each,
    net order, the clamps' off part apart) times ``inv`` (1/S, ``(rows, K, W)``, or one row),
    gathered once per batch for :func:`pool_block`. Child ``k`` of window ``w`` is net
    ``first[k, w // run] + w % run`` (:func:`~.pooled.check_order`): runs of consecutive
    nets, copied by loops that vectorize."""
    K, W = inv.shape[1], inv.shape[2]
    for b in range(out.shape[0]):
        rk, rx, ri = min(b, KL.shape[0] - 1), min(b, XL.shape[0] - 1), min(b, inv.shape[0] - 1)
        for k in range(K):
            for r in range(W // run):
                net, w = first[k, r], r * run
                known, off, scale, dst = KL[rk, net:net + run], XL[rx, net:net + run], inv[ri, k, w:w + run], \
                    out[b, k, w:w + run]
                for i in range(run):
                    dst[i] = (known[i] + off[i]) * scale[i]
    return out


@_jit
def update_slope_products(prod, seen, slopes, pairs_t, most):
    """Bring ``prod = seen @ pairs_t`` (``(B, P)``) to ``slopes @ pairs_t`` in place, a window
    at a time, for the windows whose slope (``(B, W)``) differs from ``seen`` (then updated to
    it); ``pairs_t`` is ``(W, P)``. A sample with more than ``most`` such windows, or a
    non-finite change, is left to a fresh product: returned as True (``(B,)`` bool), its row
    and ``seen`` untouched."""
    B, W = slopes.shape
    redo = np.zeros(B, dtype=np.bool_)
    for b in range(B):
        changed, finite = 0, True
        for w in range(W):
            d = slopes[b, w] - seen[b, w]
            changed += d != 0.0
            finite &= d - d == 0.0  # NaN and inf differences give NaN
        if changed > most or not finite:
            redo[b] = True
            continue
        if changed:
            for w in range(W):
                d = slopes[b, w] - seen[b, w]
                if d != 0.0:
                    for j in range(prod.shape[1]):
                        prod[b, j] += d * pairs_t[w, j]
                    seen[b, w] = slopes[b, w]
    return redo


@_jit
def clamp_piece_slopes(x, inv_off, low, high, eps):
    """Each band-clamped net's voltage per ampere of its currents on the piece its voltage ``x``
    (V, ``(B, n)``) lies on (V/A): ``inv_off`` inside ``[low, high]``, ``(1 - eps) inv_off``
    past it; the constants broadcast to ``(B, n)``, as :func:`clamp_band` takes them."""
    B, n = x.shape
    out = np.empty((B, n))
    for b in range(B):
        for j in range(n):
            past = (x[b, j] < low[b, j]) | (x[b, j] > high[b, j])
            out[b, j] = inv_off[b, j] * (1.0 - eps[b, j] * past)
    return out


@_jit
def follow_pieces(v, y, P, slopes):
    """Move nets along their pieces, in place: ``v[b, j] += slopes[b, j] * (y @ P)[b, j]``, for
    a move ``y`` (V, ``(B, m)``) of the ``m`` nets whose currents reach them through ``P``
    (S, ``(m, n)``); ``v`` may be a view of columns."""
    B, n = v.shape
    m = y.shape[1]
    row = np.empty(n)
    for b in range(B):
        row[:] = 0.0
        for o in range(m):
            yo = y[b, o]
            for j in range(n):
                row[j] += yo * P[o, j]
        for j in range(n):
            v[b, j] += slopes[b, j] * row[j]


@_jit_ieee
def pool_block_residual(xL, vP, DL, KL, XL, lowL, highL, gd, inv, eps, cP, KP, DP, extraP, sa, sb, first, run,
                        write, nodes, columns, alpha, beta):
    """KCL check of a pooled block whose children hang on their pool alone, at the final
    voltages ``xL`` (children, net order) and ``vP`` (pools, window order), V, in one pass;
    with ``write``, the children are first written (V) from the pools, as the sweeps left
    them to (:func:`pool_block`'s mode 0), and checked as written.

    With ``write`` and ``columns`` (int, ``(m,)``; empty: none), the children go straight into
    the node voltages ``nodes`` (V, ``(B, N)``) instead of ``xL``, which is left as it was:
    child net ``j`` to node column ``columns[i] + j`` as ``alpha[i] * x + beta[i]`` (the
    arithmetic of the solver's node assembly), so that no second pass copies them there.

    Children are visited in window order ``(K, W)``: child ``k`` of window ``w`` is net
    ``first[k, w // run] + w % run`` (runs of consecutive nets, so that the loops vectorize;
    ``run`` 1 fits any order). ``DL``, ``lowL``, ``highL``, ``inv`` = 1/``DL`` and ``eps`` are
    their :class:`~.clamps.ClampSolver` band constants in window order ``(rows, K, W)`` (``gd``
    scalar), ``KL + XL`` their known currents in net order (``(rows, n)`` each, the clamps' off
    part ``XL`` apart); ``sa[0, k, w]`` (S, folded) is the current into the child per volt of
    its pool, ``sb[0, k, w]`` (S) the current into the pool per volt of it. Any of these
    constants may be one number shared by every child (:func:`_run`; ``KL`` is per sample).
    The pool link's currents are computed here from the final voltages;
    ``cP``, ``KP`` (A) and ``DP`` (S) are the pools' other currents (as their last solve used
    them), known currents and diagonal, and ``extraP`` (A, ``(B, W)``, or None) bounds how far
    ``cP`` may be off, all in window order. Returns every sample's largest residual as a
    Newton step (V) and as a current (A), over both groups; a NaN anywhere gives NaN."""
    B, K, W = xL.shape[0], first.shape[0], vP.shape[1]
    steps, amps = np.zeros(B), np.zeros(B)
    step, amp = np.empty((K + 1, W)), np.empty((K + 1, W))  # per sample, then reduced
    into_pool = np.empty(W)
    direct = write and columns.size > 0
    run_x = np.empty(run)  # a run of children on its way to the node voltages (direct)
    for b in range(B):
        into_pool[:] = 0.0
        for k in range(K):
            for r in range(W // run):
                net, w = first[k, r], r * run
                x = run_x if direct else xL[b, net:net + run]
                _check_children(x, _run(KL, b, 0, net, run), _run(XL, b, 0, net, run),
                                vP[b, w:w + run], _run(sa, b, k, w, run), _run(sb, b, k, w, run),
                                _run(DL, b, k, w, run), _run(lowL, b, k, w, run), _run(highL, b, k, w, run),
                                _run(inv, b, k, w, run), _run(eps, b, k, w, run), gd, write,
                                into_pool[w:w + run], step[k, w:w + run], amp[k, w:w + run])
                if direct:
                    for i in range(columns.size):
                        _scaled_copy(x, alpha[i], beta[i], nodes[b, columns[i] + net:columns[i] + net + run])
        pc, pk, pd = min(b, cP.shape[0] - 1), min(b, KP.shape[0] - 1), min(b, DP.shape[0] - 1)
        for w in range(W):  # the pools
            f = DP[pd, w] * vP[b, w] - (cP[pc, w] + into_pool[w]) - KP[pk, w]
            amp[K, w] = max(f, -f)
        if extraP is not None:
            for w in range(W):
                amp[K, w] += extraP[b, w]
        for w in range(W):
            step[K, w] = amp[K, w] / DP[pd, w]
        steps[b], amps[b] = _largest(step.ravel()), _largest(amp.ravel())
    return steps, amps


@_jit_ieee_inline
def _check_children(x, Kc, Xc, V, sa, sb, D, low, high, inv, eps, gd, write, into_pool, step, amp):
    """:func:`pool_block_residual` over one run of children (arrays of the run's length, or
    numbers shared by the run: :func:`_at`)."""
    if write:  # the band clamp's solve, as ClampSolver makes it: (C + K) / D, then the clamps
        for i in range(x.size):
            y = (_at(sa, i) * V[i] + (Kc[i] + _at(Xc, i))) * _at(inv, i)
            x[i] = y + _at(eps, i) * (min(max(y, _at(low, i)), _at(high, i)) - y)
    for i in range(x.size):
        into_pool[i] += _at(sb, i) * x[i]
        beyond = x[i] - min(max(x[i], _at(low, i)), _at(high, i))
        f = _at(D, i) * x[i] - _at(sa, i) * V[i] - (Kc[i] + _at(Xc, i)) + gd * beyond
        f = max(f, -f)
        amp[i] = f
        step[i] = f / (_at(D, i) + gd * (beyond != 0.0))


def _run(x, b, k, first, n):
    """Sample ``b``'s ``n`` constants from ``first`` of row ``k``: ``x[min(b, rows - 1), k,
    first:first + n]`` of ``x`` ``(rows, K, W)`` (one row: shared by the batch), or
    ``x[min(b, rows - 1), first:first + n]`` of ``x`` ``(rows, n)``; or ``x`` itself when it is
    a number shared by every net. Compiled per kind (:func:`_run_compiled`)."""
    if np.ndim(x) == 0:
        return x
    row = x[min(b, x.shape[0] - 1)]
    return row[first:first + n] if row.ndim == 1 else row[k, first:first + n]


@overload(_run, inline="always")
def _run_compiled(x, b, k, first, n):
    if isinstance(x, types.Number):
        return lambda x, b, k, first, n: x
    if x.ndim == 2:
        return lambda x, b, k, first, n: x[min(b, x.shape[0] - 1), first:first + n]
    return lambda x, b, k, first, n: x[min(b, x.shape[0] - 1), k, first:first + n]


def _at(x, i):
    """``x[i]``, or ``x`` when it is a number shared by every net: one kernel serves constants
    that differ per net and, where every net shares them, numbers that stream no memory."""
    return x if np.ndim(x) == 0 else x[i]


@overload(_at, inline="always")
def _at_compiled(x, i):
    if isinstance(x, types.Number):
        return lambda x, i: x
    return lambda x, i: x[i]


@_jit_ieee_inline
def _scaled_copy(x, a, c, out):
    """``out = x * a + c`` (V), the ``+ c`` only where ``c`` is not 0 (as the node assembly's
    numpy expressions, which it replaces)."""
    if c != 0.0:
        for i in range(x.size):
            out[i] = x[i] * a + c
    else:
        for i in range(x.size):
            out[i] = x[i] * a


@_jit
def _largest(sizes):
    """The largest of non-negative sizes, a NaN (of either sign) larger than all: compared as
    integers with the sign bit cleared, where IEEE orders non-negative floats as their bits,
    and which vectorizes (a float maximum that keeps NaN does not)."""
    bits = sizes.view(np.int64)
    top = np.int64(0)
    for j in range(bits.size):
        top = max(top, bits[j] & np.int64(0x7FFFFFFFFFFFFFFF))
    return np.array([top]).view(np.float64)[0]


@_jit
def _pool_pass(V, Y, s, inv_s, lo, hi, ep, sb, F, slope, low, high, w0=0, w1=-1):
    """For every window ``w`` (from ``w0`` up to ``w1``, -1: all) at pool voltage ``V[w]``:
    subtract the children's currents from the pool's KCL ``F`` (A) and their conductance from
    its ``slope`` (S), and narrow ``[low, high]`` (V) to the pool moves that cross none of their
    breakpoints. A child's voltage is ``V_off - ep (V_off - clip(V_off, lo, hi))`` with
    ``V_off = Y + s V``. Branch-free, so that the loops over windows vectorize."""
    K, W = Y.shape
    end = W if w1 < 0 else w1
    for k in range(K):
        for w in range(w0, end):
            sk, bottom, top, e, g = s[k, w], lo[k, w], hi[k, w], ep[k, w], sb[k, w]
            v_off = Y[k, w] + sk * V[w]
            inside = min(max(v_off, bottom), top)
            F[w] -= g * (v_off - e * (v_off - inside))
            slope[w] -= g * sk * (1.0 - e * (v_off != inside))
            # the pool moves that bring this child onto a breakpoint (NaN when s = 0: ignored)
            t1, t2 = (bottom - v_off) * inv_s[k, w], (top - v_off) * inv_s[k, w]
            high[w] = min(high[w], t1 if t1 >= 0.0 else np.inf, t2 if t2 >= 0.0 else np.inf)
            low[w] = max(low[w], t1 if t1 <= 0.0 else -np.inf, t2 if t2 <= 0.0 else -np.inf)


@_jit
def _pool_children(V, Y, s, lo, hi, ep, X):
    """The children's voltages ``X`` (V) at pool voltages ``V`` (see :func:`_pool_pass`)."""
    K, W = Y.shape
    for k in range(K):
        for w in range(W):
            v_off = Y[k, w] + s[k, w] * V[w]
            X[k, w] = v_off - ep[k, w] * (v_off - min(max(v_off, lo[k, w]), hi[k, w]))


@_jit
def _pool_settle(w, V, Y, s, lo, hi, ep, sb, D, E):
    """Window ``w`` whose Newton step from ``V[w]`` would cross a breakpoint: Newton's method
    until the segments hold, or the root between the breakpoints (:func:`_pool_root`); the
    root goes into ``V[w]``."""
    K = Y.shape[0]
    y, sk, l, h, e, g, x = Y[:, w].copy(), s[:, w].copy(), lo[:, w].copy(), hi[:, w].copy(), ep[:, w].copy(), \
        sb[:, w].copy(), np.empty(K)
    root, last = V[w], -1
    for _ in range(8):
        F, slope, segments = _pool_kcl(root, y, sk, l, h, e, g, D, E, x)
        if segments == last:
            break
        last = segments
        root -= F / slope
    else:
        root = _pool_root(root, y, sk, l, h, e, g, D, E, x)
    V[w] = root


@_jit
def _pool_kcl(V, y, s, lo, hi, ep, sb, D, E, x):
    """A pool net's KCL at its voltage ``V``: ``D V - E - sum_k sb_k x_k`` (A), its slope (S)
    and the clamp segments the children lie on, as one number (two bits per child: below,
    inside, above), with each child's voltage ``x_k`` (V, written):
    ``V_off - eps (V_off - clip(V_off, lo, hi))``, ``V_off = y + s V``."""
    F, slope, segments = D * V - E, D, 0
    for k in range(len(y)):
        v_off = y[k] + s[k] * V
        if v_off > hi[k]:
            x[k] = v_off - ep[k] * (v_off - hi[k])
            slope -= sb[k] * s[k] * (1.0 - ep[k])
            segments |= 2 << (2 * k)
        elif v_off < lo[k]:
            x[k] = v_off - ep[k] * (v_off - lo[k])
            slope -= sb[k] * s[k] * (1.0 - ep[k])
            segments |= 1 << (2 * k)
        else:
            x[k] = v_off
            slope -= sb[k] * s[k]
        F -= sb[k] * x[k]
    return F, slope, segments


@_jit
def _pool_root(V, y, s, lo, hi, ep, sb, D, E, x):
    """The root of :func:`_pool_kcl` (V), where Newton's method did not settle: the KCL is
    increasing and linear between the children's breakpoints, so find the two breakpoints
    that bracket the root, then solve the linear piece between them. Leaves ``x`` at the root."""
    below, above = -np.inf, np.inf
    for k in range(len(y)):
        if s[k] == 0.0:
            continue
        for i in range(2):
            t = ((lo[k] if i == 0 else hi[k]) - y[k]) / s[k]
            F = _pool_kcl(t, y, s, lo, hi, ep, sb, D, E, x)[0]
            if F <= 0.0:
                below = max(below, t)
            else:
                above = min(above, t)
    if below > -np.inf and above < np.inf:
        middle = 0.5 * (below + above)
    elif below > -np.inf:
        middle = below + 1.0
    elif above < np.inf:
        middle = above - 1.0
    else:
        middle = V
    F, slope, _ = _pool_kcl(middle, y, s, lo, hi, ep, sb, D, E, x)
    root = middle - F / slope
    _pool_kcl(root, y, s, lo, hi, ep, sb, D, E, x)
    return root


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
