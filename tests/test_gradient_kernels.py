"""The compiled pass of the EP gradients (:mod:`ebana.layers.gradient_kernels`) against NumPy's
expressions, on views of node voltages as the layers pass them."""
import numpy as np
import pytest

from ebana.layers.gradient_kernels import in_sample_order, phase_sums, phase_terms


@pytest.mark.parametrize("with_total", [True, False])
def test_phase_sums_are_numpy_s_difference_sum_and_batch_sums(with_total):
    rng = np.random.default_rng(0)
    v_high, v_low = rng.normal(size=(5, 40)), rng.normal(size=(5, 40))
    high, low = v_high[:, 7:30], v_low[:, 7:30]  # column views, as the layers read them
    difference, total, sums = np.empty(high.shape), np.empty(high.shape), np.full(high.shape[1], 1.0)
    phase_sums(high, low, difference, total if with_total else None, sums)
    assert np.array_equal(difference, high - low)
    if with_total:
        assert np.array_equal(total, high + low)
    np.testing.assert_allclose(sums, 1.0 + ((high - low) * (high + low)).sum(axis=0), rtol=1e-14)


def test_only_arrays_numpy_sums_in_sample_order_go_to_the_kernel():
    """A fancy-indexed copy of some nets comes out column-major, and NumPy sums its columns
    pairwise: the kernel's sample order would differ in the last bit (the device test's
    conductances, trained through NumPy's expressions, must equal the CPU's bit for bit)."""
    v = np.random.default_rng(1).normal(size=(64, 12))
    assert in_sample_order(v[:, 2:9], v.take([5, 1, 3], axis=1))
    assert not in_sample_order(v[:, [5, 1, 3]]) and not in_sample_order(v[:, 2:9], v.T)


def test_phase_terms_equal_numpy_s_expressions_bit_for_bit_either_way():
    v_high, v_low = np.random.default_rng(2).normal(size=(2, 33, 20))
    for cols in (slice(3, 17), [9, 2, 4, 15, 11]):  # the kernel's case, then NumPy's
        high, low = v_high[:, cols], v_low[:, cols]
        d, s, q = phase_terms(np, high, low)
        assert np.array_equal(d, high - low) and np.array_equal(s, high + low)
        assert np.array_equal(q, ((high - low) * (high + low)).sum(axis=0))
        assert phase_terms(np, high, low, with_total=False)[1] is None
