"""Datasets shipped with ebana and the helpers that prepare them for a circuit."""
import numpy as np
import pytest

from ebana.datasets import (GATES, load_digits, load_gate, load_iris, load_xor, one_hot,
                            scale_to_volts, train_test_split)
from ebana.errors import ShapeError, ValidationError

TRUTH = {"and": lambda a, b: a & b, "or": lambda a, b: a | b, "nand": lambda a, b: 1 - (a & b),
         "nor": lambda a, b: 1 - (a | b), "xor": lambda a, b: a ^ b}


@pytest.mark.parametrize("name", GATES)
def test_gates_match_truth_tables(name):
    x, y = load_gate(name)
    assert x.shape == (4, 2) and y.shape == (4, 1)
    assert set(np.unique(x)) <= {0.0, 1.0}
    for (a, b), out in zip(x.astype(int), y[:, 0]):
        assert out == TRUTH[name](a, b)


def test_xor_and_gate_errors():
    np.testing.assert_array_equal(load_xor()[1], load_gate("XOR")[1])
    x, _ = load_xor()
    x[0, 0] = 9.0  # callers get copies
    assert load_xor()[0][0, 0] == 0.0
    with pytest.raises(ValidationError, match="xnor"):
        load_gate("xnor")


def test_iris():
    x, labels = load_iris()
    assert x.shape == (150, 4) and x.dtype == float
    assert labels.shape == (150,) and labels.dtype.kind == "i"
    assert np.bincount(labels).tolist() == [50, 50, 50]
    assert x.min() > 0 and x.max() < 8  # cm
    np.testing.assert_allclose(x[0], [5.1, 3.5, 1.4, 0.2])
    # class means of petal length (cm): a known property of the data
    np.testing.assert_allclose([x[labels == c, 2].mean() for c in range(3)],
                               [1.462, 4.26, 5.552], atol=1e-9)


def test_digits():
    x, labels = load_digits()
    assert x.shape == (1797, 64) and labels.shape == (1797,)
    assert x.min() == 0 and x.max() == 16 and np.all(x == np.round(x))
    counts = np.bincount(labels)
    assert counts.sum() == 1797 and len(counts) == 10 and counts.min() >= 170


def test_scale_to_volts():
    x = np.array([[0.0, 5.0, 2.0], [10.0, 5.0, 4.0], [5.0, 5.0, 3.0]])
    v = scale_to_volts(x, -0.5, 0.5)
    np.testing.assert_allclose(v[:, 0], [-0.5, 0.5, 0.0])
    np.testing.assert_allclose(v[:, 1], [0.0, 0.0, 0.0])  # constant feature -> middle
    np.testing.assert_allclose(v[:, 2], [-0.5, 0.5, 0.0])
    digits_v = scale_to_volts(load_digits()[0], 0.0, 1.0, x_min=0, x_max=16)
    assert digits_v.min() == 0.0 and digits_v.max() == 1.0
    with pytest.raises(ValidationError, match="low < high"):
        scale_to_volts(x, 1.0, 1.0)
    with pytest.raises(ShapeError):
        scale_to_volts(np.zeros(3), 0.0, 1.0)


def test_one_hot():
    t = one_hot(np.array([0, 2, 1, 2]), 3, on=0.5, off=-0.5)
    assert t.shape == (4, 3)
    np.testing.assert_array_equal(t.argmax(axis=1), [0, 2, 1, 2])
    assert set(np.unique(t)) == {-0.5, 0.5}
    with pytest.raises(ValidationError, match="0..2"):
        one_hot(np.array([3]), 3)
    with pytest.raises(ValidationError):
        one_hot(np.array([0.5]), 3)


def test_stratified_split_keeps_class_shares_and_partitions():
    x, labels = load_iris()
    ids = np.arange(150)
    xtr, xte, ytr, yte = train_test_split(np.c_[x, ids], labels, test_fraction=0.2, seed=3)
    assert len(xte) == 30 and len(xtr) == 120
    assert np.bincount(yte).tolist() == [10, 10, 10]
    assert sorted(np.r_[xtr[:, 4], xte[:, 4]].astype(int).tolist()) == list(range(150))
    np.testing.assert_array_equal(labels[xte[:, 4].astype(int)], yte)  # rows stay paired
    again = train_test_split(np.c_[x, ids], labels, test_fraction=0.2, seed=3)
    np.testing.assert_array_equal(again[1], xte)
    other = train_test_split(np.c_[x, ids], labels, test_fraction=0.2, seed=4)
    assert not np.array_equal(other[1], xte)


def test_split_with_one_hot_targets_and_unstratified():
    x, labels = load_digits()
    _, xte, _, yte = train_test_split(x, one_hot(labels, 10), test_fraction=0.1, seed=0)
    assert len(xte) == 180
    counts = yte.sum(axis=0)
    assert counts.min() >= 16 and counts.max() <= 20
    _, xte, _, _ = train_test_split(x, labels, test_fraction=0.5, seed=0, stratify=False)
    assert len(xte) == 898 or len(xte) == 899
    with pytest.raises(ShapeError):
        train_test_split(x[:10], labels[:9], 0.2)
    with pytest.raises(ValidationError):
        train_test_split(x, labels, 0.0)
