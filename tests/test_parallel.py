"""ParallelBackend: a batch split over worker processes gives the serial result."""
import functools

import numpy as np
import pytest
from networks import mlp_64_32_20, mlp_inputs, xor_like

from ebana.backends import ParallelBackend, get_backend, make_stimulus
from ebana.backends.dense.backend import DenseBackend
from ebana.backends.ngspice import NgspiceBackend
from ebana.errors import SimulatorError, ValidationError
from ebana.training import MSE
from ebana.training.ep import ep_step


@pytest.fixture(scope="module")
def pool():
    backend = ParallelBackend("ngspice", workers=2)
    yield backend
    backend.close()


def test_ep_step_over_two_processes_is_bit_identical_to_serial(pool, rng):
    serial = mlp_64_32_20("ngspice")
    parallel = mlp_64_32_20(pool)
    batch = mlp_inputs(5, rng)
    batch["out"] = rng.uniform(-0.2, 0.2, (5, 20))
    a = ep_step(serial, batch, MSE(), 1e-6)
    b = ep_step(parallel, batch, MSE(), 1e-6)
    np.testing.assert_array_equal(a.v_free, b.v_free)
    np.testing.assert_array_equal(a.v_nudged, b.v_nudged)
    for name in a.grads:
        np.testing.assert_array_equal(a.grads[name], b.grads[name])


def test_per_sample_conductances_and_new_weights(pool, rng):
    model = xor_like("native")
    c = model.circuit
    x = model.source_voltages({"x": rng.uniform(-1, 1, (7, 2))}, 7)
    for scale in (1.0, 1.3):  # a new weight state is shipped once, then found in the workers
        g = model.conductances() * scale * rng.uniform(0.9, 1.1, (7, c.n_res))
        for gg in (g, g[0]):
            stim = make_stimulus(c, gg, x)
            np.testing.assert_array_equal(pool.solve(c, stim).v, NgspiceBackend().solve(c, stim).v)


def test_errors_name_the_sample_in_the_whole_batch(rng):
    """A real solver failure in the second chunk is reported with its index in the batch."""
    model = xor_like("native")
    c = model.circuit
    x = np.tile([1.0, -1.0], (6, 1))  # settled by one Newton step from 0 V ...
    x[4] = [1.0, 1.0]                  # ... but this sample's diodes need three
    stim = make_stimulus(c, model.conductances(), model.source_voltages({"x": x}, 6))
    one_step = functools.partial(DenseBackend, max_iterations=1)
    with pytest.raises(SimulatorError) as serial:
        one_step().solve(c, stim)
    with ParallelBackend(one_step, workers=2) as pb, pytest.raises(SimulatorError) as parallel:
        pb.solve(c, stim)
    assert serial.value.sample == parallel.value.sample == 4
    assert "sample 4" in str(parallel.value)


def test_factory_inner_matches_serial(rng):
    model = xor_like("native")
    c = model.circuit
    stim = make_stimulus(c, model.conductances(), model.source_voltages({"x": rng.uniform(-1, 1, (5, 2))}, 5))
    ref = NgspiceBackend(fold_sources=False).solve(c, stim).v
    with ParallelBackend(functools.partial(NgspiceBackend, fold_sources=False), workers=2) as pb:
        np.testing.assert_array_equal(pb.solve(c, stim).v, ref)


def test_specs_and_refusals():
    for spec in (get_backend("ngspice", workers=2), get_backend("native:3")):
        assert isinstance(spec, ParallelBackend) and spec._executor is None  # no pool until a solve
    with pytest.raises(ValidationError, match="factory"):
        ParallelBackend(NgspiceBackend())
    with pytest.raises(ValidationError, match="name:workers"):
        get_backend("ngspice:two")


def test_a_killed_worker_is_replaced_and_its_samples_solved_again(rng, caplog):
    import os
    import signal
    import time
    model = xor_like("native")
    c = model.circuit
    stim = make_stimulus(c, model.conductances(), model.source_voltages({"x": rng.uniform(-1, 1, (6, 2))}, 6))
    ref = NgspiceBackend().solve(c, stim).v
    with ParallelBackend("ngspice", workers=2) as pb:
        np.testing.assert_array_equal(pb.solve(c, stim).v, ref)
        os.kill(next(iter(pb.executor._processes)), signal.SIGKILL)  # as the OOM killer would
        time.sleep(0.2)
        np.testing.assert_array_equal(pb.solve(c, stim).v, ref)
    assert "worker process died" in caplog.text
