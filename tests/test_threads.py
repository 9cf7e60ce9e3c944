"""ebana's own threads (ebana/backends/threads.py): EBANA_THREADS, and the shared pool's map."""
import threading
import time

import numpy as np
import pytest

from ebana.backends import threads
from ebana.errors import ValidationError


def test_thread_map_keeps_order_and_uses_the_pool(monkeypatch):
    monkeypatch.delenv("EBANA_THREADS", raising=False)
    names = []

    def square(x):
        names.append(threading.current_thread().name)
        return x * x
    assert threads.thread_map(square, range(9)) == [x * x for x in range(9)]
    assert all(n.startswith("ebana") for n in names)
    names.clear()
    assert threads.thread_map(square, [3]) == [9]            # one item: in this thread
    assert names == [threading.current_thread().name]
    monkeypatch.setenv("EBANA_THREADS", "1")
    names.clear()
    assert threads.thread_map(square, range(4)) == [0, 1, 4, 9]  # one thread: in this thread
    assert set(names) == {threading.current_thread().name}


def test_thread_map_inside_its_own_pool_runs_inline(monkeypatch):
    """A pool thread that maps again would wait on a pool its siblings fill: it runs inline."""
    monkeypatch.setenv("EBANA_THREADS", "2")
    out = threads.thread_map(lambda x: threads.thread_map(lambda y: x * y, range(3)), range(4))
    assert out == [[x * y for y in range(3)] for x in range(4)]


def test_thread_map_finishes_every_item_then_raises_the_first_failure(monkeypatch):
    """No item still runs (and writes) when the caller gets the error: the layered solver's
    retries would race with it. The error raised is the first in item order."""
    monkeypatch.delenv("EBANA_THREADS", raising=False)
    done = []

    def work(x):
        if x in (0, 2):
            raise ValueError(f"item {x}")
        time.sleep(0.2)
        done.append(x)
        return x
    with pytest.raises(ValueError, match="item 0"):
        threads.thread_map(work, range(4), threads=3)
    assert sorted(done) == [1, 3]


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_bad_ebana_threads_is_refused(monkeypatch, value):
    monkeypatch.setenv("EBANA_THREADS", value)
    with pytest.raises(ValidationError, match="EBANA_THREADS must be a positive integer"):
        threads.default_threads()


@pytest.mark.parametrize("size, n_threads, min_chunk, sizes", [
    (200, 2, 64, [100, 100]),   # two chunks of at least 64
    (100, 2, 64, [100]),        # too small for two: one
    (13, 3, 4, [4, 4, 5]),      # consecutive, every sample once
    (0, 2, 64, [0]),            # an empty batch: one empty chunk
])
def test_batch_chunks_cover_the_batch_in_order(size, n_threads, min_chunk, sizes):
    chunks = threads.batch_chunks(size, n_threads, min_chunk)
    assert [c.stop - c.start for c in chunks] == sizes
    assert chunks[0].start == 0 and chunks[-1].stop == size
    assert all(a.stop == b.start for a, b in zip(chunks, chunks[1:]))


def test_a_wide_dense_gradient_in_pieces_is_one_piece_to_the_bit(monkeypatch):
    """A dense layer's gradient rows, split over threads by input nets, are the rows of one
    product: each row depends on its own net only."""
    import ebana.layers.dense as dense
    from ebana import DenseLayer, InputVoltageLayer, Model
    from ebana.layers import CurrentLayer
    x = InputVoltageLayer(units=8, name="x")
    h = DenseLayer(units=2200, name="d1")(x)
    model = Model(inputs=[x], outputs=[CurrentLayer(name="out")(DenseLayer(units=3, name="d2")(h))],
                  backend="native")
    rng = np.random.default_rng(2)
    v_low = rng.normal(size=(6, model.circuit.n_nodes))
    v_high = v_low + rng.normal(scale=1e-3, size=v_low.shape)
    layer = model.layer("d2")
    monkeypatch.setenv("EBANA_THREADS", "2")
    split = layer.ep_gradient(v_low, v_high, 2e-3)
    monkeypatch.setattr(dense, "MIN_THREADED_ROWS", 10 ** 6)
    whole = layer.ep_gradient(v_low, v_high, 2e-3)
    np.testing.assert_array_equal(split, whole)
    direct = ((layer.drops(v_high) ** 2 - layer.drops(v_low) ** 2) / 4e-3).sum(axis=0)
    np.testing.assert_allclose(split, direct, rtol=1e-9, atol=1e-9 * np.abs(direct).max())
