"""Fused passes of the crossbars' EP gradients on the CPU.

The gradient of a locally connected layer whose inputs are held by sources needs, per window,
the phases' difference at its outputs (for one product with the inputs) and the batch sum of
``(high - low)(high + low)`` there. As NumPy expressions that is three passes over the
outputs' voltages and two fresh ``(B, W, F)`` temporaries (14 ms of the full-size local
network's 256-sample gradient here); compiled, it is one pass writing the difference (6 ms).
Sums run over the batch in sample order, as ``einsum`` takes them; they may round in the
last bit differently. Units: V.
"""
import numba


@numba.njit(cache=True, nogil=True)
def difference_and_sums(high, low, difference, sums):
    """``difference = high - low`` (V, ``(B, W, F)``, written) and ``sums[w, f] += sum_b (high -
    low)(high + low)`` (V^2, ``(W, F)``) over the batch, from the two phases' voltages ``high``,
    ``low`` at some windows' outputs (views of the node voltages are fine)."""
    B, W, F = high.shape
    for b in range(B):
        for w in range(W):
            for f in range(F):
                h, lo = high[b, w, f], low[b, w, f]
                d = h - lo
                difference[b, w, f] = d
                sums[w, f] += d * (h + lo)
