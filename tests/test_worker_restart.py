"""A worker process that dies is replaced and its samples are solved again (real Ngspice in the workers)."""
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

from ebana import SimulatorError
from ebana.backends import make_stimulus
from ebana.backends.restart import run_chunks
from networks import xor_like


def solve_or_die(args):
    """Worker: the first call to see no marker file creates it and kills its process."""
    marker, circuit, g, vs = args
    if marker is not None:
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL)
            os.close(fd)
            os._exit(1)  # dies like a segfault would: no exception, no cleanup
        except FileExistsError:
            pass
    from ebana.backends.ngspice import NgspiceBackend
    backend = NgspiceBackend()
    return backend.solve(circuit, make_stimulus(circuit, g, vs)).v


def spawn_pool():
    # spawn: a forked child would inherit the parent's libngspice state
    return ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"))


def test_dead_worker_is_restarted_and_its_samples_run_again(tmp_path):
    model = xor_like("ngspice")
    x = np.random.default_rng(0).uniform(-1, 1, size=(6, 2))
    vs = model.source_voltages({"x": x}, 6)
    g = model.conductances()
    marker = str(tmp_path / "died")
    chunks = [(marker, model.circuit, g, vs[k:k + 2]) for k in range(0, 6, 2)]
    results, restarts = run_chunks(spawn_pool, solve_or_die, chunks)
    assert restarts >= 1 and os.path.exists(marker)
    np.testing.assert_array_equal(np.concatenate(results), model.solve({"x": x}).v)


def die_always(_):
    os._exit(1)


def test_worker_that_always_dies_gives_up_with_a_clear_error():
    with pytest.raises(SimulatorError, match="died 2 times"):
        run_chunks(spawn_pool, die_always, [1, 2], max_restarts=1)
