"""The IDX reader and the MNIST / Fashion-MNIST loaders, on small files the tests write
and on the real Fashion-MNIST files when the Debian package is installed."""
import gzip
import pathlib

import numpy as np
import pytest

from ebana.datasets import FASHION_CLASSES, load_fashion_mnist, load_mnist, read_idx, write_idx
from ebana.datasets.mnist import FILES
from ebana.errors import DataNotFoundError, ShapeError, ValidationError

SYSTEM = pathlib.Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_round_trip_of_every_idx_type(tmp_path, rng, dtype, name):
    a = (rng.normal(size=(3, 4, 5)) * 50).astype(dtype)
    read = read_idx(write_idx(tmp_path / name, a))
    assert read.dtype == np.dtype(dtype) and read.shape == (3, 4, 5)
    np.testing.assert_array_equal(read, a)
    read[0, 0, 0] = 1  # a writable copy, in native byte order
    assert read.dtype.isnative


def test_header_layout_is_the_standard_one(tmp_path):
    """Bytes written by hand as the IDX definition states them: magic 0x00000803, big-endian sizes."""
    raw = bytes([0, 0, 8, 3]) + (2).to_bytes(4, "big") + (1).to_bytes(4, "big") + (3).to_bytes(4, "big") \
        + bytes([1, 2, 3, 250, 251, 252])
    (tmp_path / "x").write_bytes(raw)
    np.testing.assert_array_equal(read_idx(tmp_path / "x"), [[[1, 2, 3]], [[250, 251, 252]]])
    raw = bytes([0, 0, 0x0C, 1]) + (2).to_bytes(4, "big") + (7).to_bytes(4, "big") + (-2).to_bytes(4, "big", signed=True)
    (tmp_path / "y.gz").write_bytes(gzip.compress(raw))  # gzip found by content, whatever the name
    np.testing.assert_array_equal(read_idx(tmp_path / "y.gz"), [7, -2])


def _write(tmp_path, name, raw, compress=False):
    path = tmp_path / name
    path.write_bytes(gzip.compress(raw) if compress else raw)
    return path


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("raw, words", [
    (b"\x00\x00", "truncated"),
    (b"\x12\x34\x08\x01" + bytes(8), "not an IDX file"),
    (b"\x00\x00\x07\x01" + bytes(8), "not an IDX file"),        # unknown type byte
    (b"\x00\x00\x08\x00" + bytes(8), "not an IDX file"),        # no dimensions
    (b"\x00\x00\x08\x03" + bytes(6), "inside its header"),
    (b"\x00\x00\x08\x01" + (10).to_bytes(4, "big") + bytes(9), "truncated"),
    (b"\x00\x00\x08\x01" + (10).to_bytes(4, "big") + bytes(11), "longer than its header"),
])
def test_bad_files_name_the_file(tmp_path, raw, words, compress):
    path = _write(tmp_path, "bad-file.idx", raw, compress)
    with pytest.raises(ValidationError, match=words) as info:
        read_idx(path)
    assert "bad-file.idx" in str(info.value)


def test_truncated_gzip_stream_is_a_clear_error(tmp_path):
    good = gzip.compress(b"\x00\x00\x08\x01" + (100).to_bytes(4, "big") + bytes(range(100)))
    path = _write(tmp_path, "cut.gz", good[:len(good) // 2])
    with pytest.raises(ValidationError, match="cut.gz.*(damaged|truncated)"):
        read_idx(path)


def test_write_idx_refuses_types_idx_cannot_hold(tmp_path):
    with pytest.raises(ValidationError, match="int64"):
        write_idx(tmp_path / "z", np.zeros(3, dtype=np.int64))


def _fake_set(folder, n_train=5, n_test=3, compress=True, rows=4):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images = rng.integers(0, 256, size=(n, rows, rows), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        suffix = ".gz" if compress else ""
        write_idx(folder / (FILES[split][0] + suffix), images)
        write_idx(folder / (FILES[split][1] + suffix), labels)
        out[split] = (images, labels)
    return out


@pytest.fixture
def no_system_data(monkeypatch, tmp_path):
    """Search only folders under tmp_path: EBANA_DATA there, HOME (for ~/.keras) there."""
    monkeypatch.setenv("EBANA_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr("ebana.datasets.mnist.SYSTEM_DATA", str(tmp_path / "system"))
    return tmp_path


@pytest.mark.parametrize("compress", [False, True])
def test_load_from_path_argument(tmp_path, compress):
    written = _fake_set(tmp_path / "mine", compress=compress)
    (x_train, l_train), (x_test, l_test) = load_fashion_mnist(tmp_path / "mine")
    np.testing.assert_array_equal(x_train, written["train"][0])
    np.testing.assert_array_equal(l_test, written["test"][1])
    assert x_test.shape == (3, 4, 4) and l_train.dtype == np.int64
    (m_train, _), _ = load_mnist(str(tmp_path / "mine"))
    np.testing.assert_array_equal(m_train, written["train"][0])


def test_search_order_path_then_ebana_data_then_keras(no_system_data):
    tmp = no_system_data
    keras = _fake_set(tmp / "home" / ".keras" / "datasets" / "fashion-mnist", n_train=2)
    assert load_fashion_mnist()[0][0].shape[0] == 2
    _fake_set(tmp / "data" / "fashion-mnist", n_train=4)
    assert load_fashion_mnist()[0][0].shape[0] == 4  # $EBANA_DATA before ~/.keras
    _fake_set(tmp / "given", n_train=6)
    assert load_fashion_mnist(tmp / "given")[0][0].shape[0] == 6
    assert keras["train"][0].shape[0] == 2


def test_missing_files_say_where_and_how(no_system_data):
    tmp = no_system_data
    with pytest.raises(DataNotFoundError) as info:
        load_fashion_mnist()
    text = str(info.value)
    for place in (tmp / "data" / "fashion-mnist", tmp / "home" / ".keras" / "datasets" / "fashion-mnist"):
        assert str(place) in text
    assert "apt-get install dataset-fashion-mnist" in text and "t10k-labels-idx1-ubyte" in text
    assert isinstance(info.value, FileNotFoundError)
    with pytest.raises(DataNotFoundError, match="EBANA_DATA"):
        load_mnist()


@pytest.mark.parametrize("loader", [load_fashion_mnist, load_mnist])
@pytest.mark.parametrize("case", ["missing", "empty", "three_of_four"])
def test_an_explicit_path_is_the_only_place_searched(no_system_data, loader, case):
    """Issue 25 item 6: a copy elsewhere ($EBANA_DATA, the system folder) is never returned instead."""
    tmp = no_system_data
    for name in ("fashion-mnist", "mnist"):
        _fake_set(tmp / "data" / name)
        _fake_set(tmp / "system" / name)
    given = tmp / "given"
    if case == "empty":
        given.mkdir()
    if case == "three_of_four":
        _fake_set(given)
        (given / (FILES["test"][1] + ".gz")).unlink()
    with pytest.raises(DataNotFoundError) as info:
        loader(given)
    text = str(info.value)
    assert str(given) in text and str(tmp / "data") not in text and str(tmp / "system") not in text
    if case == "missing":
        assert "does not exist" in text
    if case == "three_of_four":
        assert "t10k-labels-idx1-ubyte" in text and "train-images" not in text


def test_inconsistent_files_are_refused(tmp_path):
    _fake_set(tmp_path / "s")
    write_idx(tmp_path / "s" / (FILES["train"][1] + ".gz"), np.zeros(4, dtype=np.uint8))  # 5 images, 4 labels
    with pytest.raises(ShapeError, match="train-labels-idx1-ubyte.gz"):
        load_fashion_mnist(tmp_path / "s")
    _fake_set(tmp_path / "t")
    write_idx(tmp_path / "t" / (FILES["test"][1] + ".gz"), np.full(3, 12, dtype=np.uint8))
    with pytest.raises(ValidationError, match="0..9"):
        load_fashion_mnist(tmp_path / "t")


@pytest.mark.skipif(not (SYSTEM / "t10k-labels-idx1-ubyte.gz").exists(),
                    reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
def test_real_fashion_mnist_files():
    (x_train, l_train), (x_test, l_test) = load_fashion_mnist(SYSTEM)
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert x_train.dtype == np.uint8 and x_train.max() == 255 and x_train.min() == 0
    # the published set is balanced: 6,000 and 1,000 images of each of the 10 classes
    np.testing.assert_array_equal(np.bincount(l_train), np.full(10, 6000))
    np.testing.assert_array_equal(np.bincount(l_test), np.full(10, 1000))
    assert len(FASHION_CLASSES) == 10


@pytest.mark.parametrize("labels, words", [
    (np.array([1, -1, 2], dtype=np.int8), "label 1 is -1"),
    (np.array([1.0, 1.7, 2.0], dtype=np.float32), "must be integers.*float32"),
    (np.array([1, 2, 3], dtype=np.float64), "must be integers.*float64"),
])
def test_labels_must_be_integers_in_the_class_range(tmp_path, labels, words):
    """Issue 25 item 7: a label of -1 or 1.7 is refused, never truncated."""
    _fake_set(tmp_path / "s")
    write_idx(tmp_path / "s" / (FILES["test"][1] + ".gz"), labels)
    with pytest.raises(ValidationError, match="t10k-labels-idx1-ubyte.gz.*" + words):
        load_fashion_mnist(tmp_path / "s")


@pytest.mark.parametrize("raw, words", [
    # 65536**4 elements: 2**64, which an int64 product wraps to 0
    (b"\x00\x00\x08\x04" + (65536).to_bytes(4, "big") * 4, "above the limit"),
    (b"\x00\x00\x08\xff" + bytes(4 * 255), "255 dimensions"),
    (b"\x00\x00\x0e\x02" + (2 ** 32 - 1).to_bytes(4, "big") * 2, "above the limit"),
])
@pytest.mark.parametrize("compress", [False, True])
def test_header_arithmetic_is_checked(tmp_path, raw, words, compress):
    path = _write(tmp_path, "h.idx", raw, compress)
    with pytest.raises(ValidationError, match="h.idx.*" + words):
        read_idx(path)


def test_a_gzip_bomb_is_refused_without_inflating_it(tmp_path, monkeypatch):
    """Issue 25 item 2: the header declares 100 bytes, the stream inflates to 64 MiB;
    it is refused having inflated only a little more than the declared size."""
    import tracemalloc
    head = b"\x00\x00\x08\x01" + (100).to_bytes(4, "big")
    path = tmp_path / "bomb.gz"
    with gzip.open(path, "wb") as f:
        f.write(head)
        for _ in range(64):
            f.write(bytes(2 ** 20))
    assert path.stat().st_size < 200_000
    tracemalloc.start()
    try:
        with pytest.raises(ValidationError, match="bomb.gz.*longer than its header"):
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 ** 22  # the 64 MiB were never inflated (peak memory under 4 MiB)


def test_a_declared_size_above_the_limit_is_refused_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr("ebana.datasets.idx.MAX_IDX_BYTES", 1000)
    path = write_idx(tmp_path / "big.idx.gz", np.zeros((2, 1000), dtype=np.uint8))
    with pytest.raises(ValidationError, match="big.idx.gz.*2000 bytes.*limit of 1000"):
        read_idx(path)
