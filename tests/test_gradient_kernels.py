"""The compiled pass of the EP gradients (:mod:`ebana.layers.gradient_kernels`) against NumPy's
expressions, on views of node voltages as the layers pass them."""
import numpy as np
import pytest

from ebana.layers.gradient_kernels import phase_sums


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
