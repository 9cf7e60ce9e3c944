"""DataLoader: validation, batching, shuffling, reproducibility, sample indices."""
import numpy as np
import pytest

from ebana.errors import ShapeError, ValidationError
from ebana.training import DataLoader


def make(n=10):
    x = np.arange(n, dtype=float)[:, None] * np.array([[1.0, -1.0]])
    return {"x": x, "y": np.arange(n, dtype=float)[:, None]}


def epoch_order(loader):
    return np.concatenate([b["y"][:, 0] for b in loader]).astype(int)


def test_len_and_batch_sizes():
    loader = DataLoader(make(10), batch_size=4)
    assert len(loader) == 3
    assert [b["x"].shape for b in loader] == [(4, 2), (4, 2), (2, 2)]
    assert loader.num_samples == 10 and loader.keys == ("x", "y")
    assert len(DataLoader(make(8), batch_size=4)) == 2
    assert len(DataLoader(make(3), batch_size=10)) == 1


def test_no_shuffle_keeps_order_and_rows_stay_paired():
    loader = DataLoader(make(7), batch_size=3)
    assert epoch_order(loader).tolist() == list(range(7))
    for b in loader:
        np.testing.assert_array_equal(b["x"][:, 0], b["y"][:, 0])


def test_shuffle_sees_every_sample_once_and_reorders():
    loader = DataLoader(make(50), batch_size=7, shuffle=True, seed=1)
    orders = [epoch_order(loader) for _ in range(4)]
    for order in orders:
        assert sorted(order.tolist()) == list(range(50))  # each sample exactly once
        assert order.tolist() != list(range(50))           # actually shuffled
    # a new permutation per epoch
    assert len({tuple(o) for o in orders}) == 4
    for b in loader:  # inputs and targets shuffled together
        np.testing.assert_array_equal(b["x"][:, 0], b["y"][:, 0])


def test_shuffle_reproducible_from_seed():
    a = DataLoader(make(30), batch_size=4, shuffle=True, seed=123)
    b = DataLoader(make(30), batch_size=4, shuffle=True, seed=123)
    c = DataLoader(make(30), batch_size=4, shuffle=True, seed=124)
    ea = [epoch_order(a) for _ in range(3)]
    eb = [epoch_order(b) for _ in range(3)]
    ec = [epoch_order(c) for _ in range(3)]
    for u, v in zip(ea, eb):
        np.testing.assert_array_equal(u, v)
    assert any(not np.array_equal(u, w) for u, w in zip(ea, ec))


def test_indices_name_the_original_samples():
    data = make(9)
    loader = DataLoader(data, batch_size=4, shuffle=True, seed=0)
    seen = []
    for idx, batch in loader.iter_with_indices():
        np.testing.assert_array_equal(batch["y"][:, 0], data["y"][idx, 0])
        np.testing.assert_array_equal(batch.indices, idx)
        seen.extend(idx.tolist())
    assert sorted(seen) == list(range(9))


def test_integer_labels_keep_their_dtype():
    loader = DataLoader({"x": np.zeros((3, 2)), "y": np.array([0, 2, 1])}, batch_size=3)
    batch = next(iter(loader))
    assert batch["y"].dtype.kind == "i" and batch["x"].dtype == float


def test_mismatched_lengths_name_key_and_lengths():
    with pytest.raises(ShapeError, match=r"'y'.*4 samples.*'x'.*5"):
        DataLoader({"x": np.zeros((5, 2)), "y": np.zeros((4, 1))})


def test_non_finite_names_key_and_sample():
    x = np.zeros((6, 2))
    x[3, 1] = np.nan
    with pytest.raises(ValidationError, match=r"'x'.*sample 3"):
        DataLoader({"x": x})
    y = np.zeros((6, 1))
    y[5] = np.inf
    with pytest.raises(ValidationError, match=r"'y'.*sample 5"):
        DataLoader({"x": np.zeros((6, 2)), "y": y})


@pytest.mark.parametrize("data", [{}, None, [np.zeros(3)], {"x": np.zeros((0, 2))}, {"x": 3.0}])
def test_bad_data_refused(data):
    with pytest.raises((ValidationError, ShapeError)):
        DataLoader(data)


@pytest.mark.parametrize("bs", [0, -1, 2.5, True, "4", None])
def test_bad_batch_size_refused(bs):
    with pytest.raises(ValidationError, match="batch_size"):
        DataLoader(make(4), batch_size=bs)


def test_progress_wrapper_passes_items_and_honours_env(monkeypatch):
    from ebana.training import progress
    assert list(progress(range(4), total=4, desc="t", enabled=True)) == [0, 1, 2, 3]
    monkeypatch.setenv("EBANA_PROGRESS", "0")
    assert progress(range(2), total=2, desc="t").disable


def test_transform_sees_every_batch_and_repeats_from_the_seed():
    def shift(batch, rng):
        return {**batch, "x": batch["x"] + rng.integers(1, 100, size=(len(batch["x"]), 1))}
    runs = [[b["x"].copy() for b in DataLoader(make(), batch_size=4, shuffle=True, seed=5, transform=shift)]
            for _ in range(2)]
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)
    plain = [b for b in DataLoader(make(), batch_size=4, shuffle=True, seed=5)]
    moved = np.concatenate([a - p["x"] for a, p in zip(runs[0], plain)])
    assert np.all(moved >= 1)  # every batch went through it; rows keep their places
    assert len(plain) == len(runs[0])


def test_transform_must_be_callable():
    with pytest.raises(ValidationError, match="transform must be a function"):
        DataLoader(make(), transform="flip")


def test_random_flip_mirrors_the_chosen_samples_only():
    from ebana.datasets import random_flip
    images = np.arange(2 * 2 * 3 * 4, dtype=float).reshape(2, 2, 3, 4)  # 2 samples of (2, 3, 4)
    batch = {"x": images.reshape(2, -1), "y": np.array([[1.0], [2.0]])}
    every = random_flip("x", (2, 3, 4), axis=2, fraction=1.0)(batch, np.random.default_rng(0))
    np.testing.assert_array_equal(every["x"].reshape(images.shape), images[..., ::-1])
    np.testing.assert_array_equal(every["y"], batch["y"])
    np.testing.assert_array_equal(batch["x"], images.reshape(2, -1))  # the loader's data is not touched
    none = random_flip("x", (2, 3, 4), axis=1, fraction=0.0)(batch, np.random.default_rng(0))
    np.testing.assert_array_equal(none["x"], batch["x"])
    many = {"x": np.tile(images[:1].reshape(1, -1), (400, 1))}
    half = random_flip("x", (2, 3, 4), axis=2)(many, np.random.default_rng(1))["x"]
    flipped = np.all(half == images[0, ..., ::-1].reshape(1, -1), axis=1)
    assert 150 < flipped.sum() < 250
    assert np.all(flipped | np.all(half == many["x"], axis=1))


@pytest.mark.parametrize("shape, axis, match", [((2, 3), 2, "axis"), ((0, 3), 0, "positive"),
                                                ((5, 5), 0, "not")])
def test_random_flip_refuses_bad_layouts(shape, axis, match):
    from ebana.datasets import random_flip
    with pytest.raises((ValidationError, ShapeError), match=match):
        random_flip("x", shape, axis)({"x": np.zeros((2, 6))}, np.random.default_rng(0))
