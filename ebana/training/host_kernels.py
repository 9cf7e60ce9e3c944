"""Fused optimizer updates on the CPU: Adam's step of a parameter array in one pass over memory.

Written as NumPy expressions, Adam's step of the 1.7 M conductances of an image network is
about a dozen passes over 14 MB arrays (19 ms per batch here, a third of a rectified
network's whole training step). :func:`adam_step_host` makes it one compiled pass, split
over :func:`~ebana.backends.threads.thread_map`'s threads when the array is large: 4.5 ms on warm
caches, 6-9 ms inside a training step.
Its arithmetic is the GPU kernel's (:func:`~.device_kernels.adam_update`) operation for
operation, compiled without fast-math (no fused multiply-add), then ``p -= rate *
direction``: the same conductances bit for bit on both.
"""
import numba
import numpy as np

from ..backends.threads import in_pieces


@numba.njit(cache=True, nogil=True)
def _adam_pass(g, b1, one_minus_b1, b2, one_minus_b2, inv_sqrt_c2, eps, inv_c1, m, v, p, rate):
    for i in range(g.shape[0]):
        gi = g[i]
        mi = m[i] * b1 + one_minus_b1 * gi
        vi = v[i] * b2 + (gi * gi) * one_minus_b2
        m[i], v[i] = mi, vi
        p[i] = p[i] - rate * (mi / (np.sqrt(vi) * inv_sqrt_c2 + eps) * inv_c1)


def adam_step_host(g, b1, one_minus_b1, b2, one_minus_b2, inv_sqrt_c2, eps, inv_c1, m, v, p, rate):
    """Update the moments ``m``, ``v`` and the parameters ``p`` in place: ``p -= rate * direction``
    with Adam's step direction (all C-contiguous float64 arrays of ``g``'s shape); the arguments
    of :func:`~.device_kernels.adam_update`'s GPU kernel, then the parameters and the rate."""
    if not all(x.flags.c_contiguous for x in (g, m, v, p)):  # reshape would copy: updates lost
        raise ValueError("adam_step_host needs C-contiguous arrays")
    g, m, v, p = (x.reshape(-1) for x in (g, m, v, p))
    scalars = (b1, one_minus_b1, b2, one_minus_b2, inv_sqrt_c2, eps, inv_c1)

    def part(rows):
        _adam_pass(g[rows], *scalars, m[rows], v[rows], p[rows], rate)
    in_pieces(part, g.shape[0])
