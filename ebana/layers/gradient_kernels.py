"""Fused passes of the crossbars' EP gradients on the CPU.

An EP gradient from two phases needs, at each side of a crossbar, the phases' difference
``high - low`` (for the products with the other side), sometimes their sum ``high + low``,
and the batch sum of ``(high - low)(high + low)`` per net. As NumPy expressions that is a
pass over the voltages for each, with a fresh ``(B, n)`` temporary each: for the full-size
local network's 256-sample step in one thread, 14 ms of its local layer's gradient and about
3.6 ms of its output crossbar's. Compiled, it is one pass (6 ms and 1.6 ms). Units: V.

Sums run over the batch in sample order. NumPy sums a batch axis in that order too when each
sample's values are contiguous (its rows: node-voltage views and ``take`` along the nets);
a fancy-indexed copy comes out column-major, and NumPy sums those columns pairwise. Only the
first kind is handed to the kernel (:func:`phase_terms`, :func:`in_sample_order`): training on a device, whose
NumPy-style arrays take the expressions, must give the CPU's conductances bit for bit.
"""
import numba
import numpy as np


def in_sample_order(*arrays):
    """True when every array is a NumPy array whose last axis is contiguous: NumPy's sums over
    its first axis then run in sample order, as :func:`phase_sums`' do."""
    return all(isinstance(a, np.ndarray) and a.strides[-1] == a.itemsize for a in arrays)


@numba.njit(cache=True, nogil=True)
def phase_sums(high, low, difference, total, sums):
    """From the two phases' voltages ``high``, ``low`` (V, ``(B, n)``, views of the node
    voltages are fine): ``difference = high - low`` and, unless None, ``total = high + low``
    (written, ``(B, n)``), and ``sums[i] += sum_b (high - low)(high + low)`` (V^2, ``(n,)``)."""
    B, n = high.shape
    for b in range(B):
        for i in range(n):
            h, lo = high[b, i], low[b, i]
            d, s = h - lo, h + lo
            difference[b, i] = d
            if total is not None:
                total[b, i] = s
            sums[i] += d * s


def phase_terms(xp, high, low, with_total=True):
    """``high - low``, ``high + low`` (or None without ``with_total``), V, ``(B, n)``, and
    ``sum_b (high - low)(high + low)`` (V^2, ``(n,)``) of two phases' voltages ``high``, ``low``
    (``(B, n)``, namespace ``xp``): :func:`phase_sums` where it sums as NumPy would, NumPy's
    (or the device's) expressions elsewhere."""
    if xp is np and in_sample_order(high, low):
        difference, sums = np.empty(high.shape), np.zeros(high.shape[1])
        total = np.empty(high.shape) if with_total else None
        phase_sums(high, low, difference, total, sums)
        return difference, total, sums
    difference, total = high - low, high + low
    return difference, total if with_total else None, (difference * total).sum(axis=0)


@numba.njit(cache=True, nogil=True)
def device_phase_sums(high, low, row_nodes, col_nodes, divisor, sums):
    """``sums[k] += sum_b (h - l)(h + l) / divisor`` for each device ``k`` between nodes
    ``row_nodes[k]`` and ``col_nodes[k]``, with ``h`` and ``l`` its drops (V) in the phases'
    node voltages ``high`` and ``low`` (V, ``(B, N)``): a wired crossbar's batch-summed EP
    gradient (``divisor = 2 span``) in one pass, where gathers of every device's drops made
    four ``(B, devices)`` temporaries. The same operations in the same order as NumPy's
    expression, summed over the batch in sample order."""
    B = high.shape[0]
    for b in range(B):
        hb, lb = high[b], low[b]
        for k in range(len(row_nodes)):
            r, c = row_nodes[k], col_nodes[k]
            h, lo = hb[r] - hb[c], lb[r] - lb[c]
            sums[k] += (h - lo) * (h + lo) / divisor
