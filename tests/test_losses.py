"""Losses: values, gradients against finite differences, accuracy, shape errors."""
import numpy as np
import pytest

from ebana.errors import ShapeError, ValidationError
from ebana.training import MSE, CrossEntropy


def fd_grad(loss, y, t, h=1e-6):
    """Central finite difference of sum-over-batch loss; rows are independent."""
    g = np.zeros_like(y)
    for idx in np.ndindex(*y.shape):
        yp, ym = y.copy(), y.copy()
        yp[idx] += h
        ym[idx] -= h
        g[idx] = (loss(yp, t)[0].sum() - loss(ym, t)[0].sum()) / (2 * h)
    return g


def test_mse_value_and_gradient():
    rng = np.random.default_rng(0)
    y, t = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    loss, grad = MSE()(y, t)
    assert loss.shape == (5,) and grad.shape == (5, 3)
    np.testing.assert_allclose(loss, 0.5 * ((y - t) ** 2).sum(axis=1))
    np.testing.assert_allclose(grad, fd_grad(MSE(), y, t), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("scale", [1.0, 4.0, 25.0])
@pytest.mark.parametrize("integer_labels", [False, True])
def test_cross_entropy_gradient_matches_finite_differences(scale, integer_labels):
    rng = np.random.default_rng(1)
    y = rng.normal(scale=0.3, size=(6, 4))
    labels = rng.integers(0, 4, size=6)
    t = labels if integer_labels else np.eye(4)[labels]
    ce = CrossEntropy(scale=scale)
    loss, grad = ce(y, t)
    assert loss.shape == (6,) and np.all(loss > 0)
    np.testing.assert_allclose(grad, fd_grad(ce, y, t), rtol=1e-5, atol=1e-7)
    # against a direct formula
    z = scale * y
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(loss, -np.log(p[np.arange(6), labels]))
    np.testing.assert_allclose(grad, scale * (p - np.eye(4)[labels]))


def test_cross_entropy_is_stable_for_large_readouts():
    loss, grad = CrossEntropy(scale=100.0)(np.array([[50.0, -50.0]]), np.array([1]))
    assert np.isfinite(loss).all() and np.isfinite(grad).all()
    np.testing.assert_allclose(loss, [10000.0])


def test_mse_accuracy_single_output_uses_midpoint():
    y = np.array([[0.6], [0.4], [0.2], [0.9]])
    t = np.array([[1.0], [1.0], [0.0], [0.0]])
    assert MSE(midpoint=0.5).accuracy(y, t) == 0.5   # rows 0, 2 right
    assert MSE(midpoint=0.0).accuracy(y, t) == 0.5   # all y > 0: rows 0, 1 right


def test_mse_accuracy_several_outputs_uses_argmax():
    y = np.array([[0.1, 0.9, 0.0], [0.5, 0.2, 0.1], [0.0, 0.1, 0.2]])
    t = np.eye(3)[[1, 1, 2]]
    assert MSE().accuracy(y, t) == pytest.approx(2 / 3)


def test_cross_entropy_accuracy_labels_and_one_hot_agree():
    y = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0]])
    labels = np.array([0, 0, 0])
    ce = CrossEntropy()
    assert ce.accuracy(y, labels) == ce.accuracy(y, np.eye(2)[labels]) == pytest.approx(2 / 3)


def test_shape_errors_say_expected_and_received():
    with pytest.raises(ShapeError, match=r"expected targets of the readout shape \(3, 2\).*received \(3, 1\)"):
        MSE()(np.zeros((3, 2)), np.zeros((3, 1)))
    with pytest.raises(ShapeError, match=r"\(B, K\).*received shape \(3,\)"):
        MSE()(np.zeros(3), np.zeros(3))
    with pytest.raises(ShapeError, match=r"\(3, 2\) one-hot or \(3,\).*received \(2,\)"):
        CrossEntropy()(np.zeros((3, 2)), np.array([0, 1]))


def test_bad_labels_and_hyperparameters_refused():
    with pytest.raises(ValidationError, match="0..1"):
        CrossEntropy()(np.zeros((2, 2)), np.array([0, 2]))
    with pytest.raises(ValidationError):
        CrossEntropy(scale=0.0)
    with pytest.raises(ValidationError):
        MSE()(np.array([[np.nan]]), np.array([[0.0]]))
