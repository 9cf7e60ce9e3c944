"""Solves replayed from recorded graphs (ebana/backends/gpu/replay.py), on the CPU with the
strict stand-in (tests/strict_device.py), whose recorder reruns the recorded body with every
host round trip refused, as a CUDA capture refuses them. tests/test_cuda.py replays real CUDA graphs.

A replay runs a fixed number of sweeps and is returned only after the eager solver's
convergence test and the KCL check pass on its report; otherwise the phase is solved
eagerly (and the eager solver's errors name the sample).
"""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from device_phases import replayed_phases  # noqa: E402
from strict_device import recorders, register  # noqa: E402

from ebana.backends import Stimulus, make_stimulus  # noqa: E402
from ebana.backends.arrays import to_host  # noqa: E402
from ebana.backends.factory import get_backend  # noqa: E402
from ebana.errors import SimulatorError  # noqa: E402
from ebana.networks import clamped_mlp, rectified_mlp  # noqa: E402

STRICT = register()


def _backend(**options):
    backend = get_backend("native", device="strict")
    for k, v in options.items():
        setattr(backend, k, v)
    return backend


@pytest.mark.parametrize("build", [lambda: rectified_mlp(48, 24, 5, backend="native", seed=1),
                                   lambda: clamped_mlp(48, [24, 24, 12], 5, backend="native", seed=4)],
                         ids=["rectified", "clamped deep"])
def test_replayed_solves_match_the_cpu_solver(build):
    backend = _backend()
    pairs = replayed_phases(build(), backend, STRICT, np.random.default_rng(3))
    for cpu, dev in pairs:
        assert np.abs(cpu.v - to_host(dev.v)).max() < 1e-11
        assert np.abs(cpu.i_vs - to_host(dev.i_vs)).max() <= 1e-9 * np.abs(cpu.i_vs).max()
    replays = backend.replays
    assert replays.disabled is None
    assert replays.replayed + replays.fallbacks == len(pairs) - 2  # the first of each kind ran eagerly
    assert replays.replayed >= len(pairs) // 2
    assert recorders[-1].replayed == replays.replayed + replays.fallbacks


def test_a_schedule_too_short_falls_back_and_grows():
    model = clamped_mlp(48, [24, 24, 12], 5, backend="native", seed=4)
    backend = _backend()
    rng = np.random.default_rng(5)
    replayed_phases(model, backend, STRICT, rng, batches=1)
    backend.replays.schedule = {False: (1, None), True: (1, None)}  # one sweep cannot solve three layers
    for cpu, dev in replayed_phases(model, backend, STRICT, rng, batches=2):
        assert np.abs(cpu.v - to_host(dev.v)).max() < 1e-11  # the eager solve's answer
    assert backend.replays.fallbacks >= 2
    assert min(s for s, _ in backend.replays.schedule.values()) > 1


def _stimulus(model, rng, batch=6, xp=STRICT):
    c = model.circuit
    s = make_stimulus(c, model.conductances(), model.source_voltages({"x": rng.uniform(-1, 1, (batch, 48))}, batch))
    return Stimulus(*(xp.asarray(a) for a in (s.g, s.vs, s.isrc)))


def test_a_replay_failing_the_kcl_check_is_solved_eagerly_and_raises():
    model = rectified_mlp(48, 24, 5, backend="native", seed=1)
    backend = _backend()
    stim = _stimulus(model, np.random.default_rng(1))
    backend.solve(model.circuit, stim)
    backend.solve(model.circuit, stim)  # replayed
    assert backend.replays.replayed == 1
    backend.check_tol = 0.0
    with pytest.raises(SimulatorError, match="KCL check") as e:
        backend.solve(model.circuit, stim)
    assert e.value.sample is not None
    assert backend.replays.fallbacks == 1


def test_non_finite_conductances_are_never_returned_from_a_replay():
    model = rectified_mlp(48, 24, 5, backend="native", seed=1)
    backend = _backend()
    stim = _stimulus(model, np.random.default_rng(1))
    backend.solve(model.circuit, stim)
    g = to_host(stim.g)
    g[3] = np.nan
    with pytest.raises(SimulatorError, match="non-finite"):
        backend.solve(model.circuit, Stimulus(STRICT.asarray(g), stim.vs, stim.isrc))


def test_a_recording_that_needs_the_host_is_refused_and_solves_run_eagerly():
    model = rectified_mlp(48, 24, 5, backend="native", seed=1)
    backend = _backend()
    recorded_solve = backend.recorded_solve

    def needs_the_host(*args):
        body = recorded_solve(*args)
        return lambda buffers: (float(buffers["g"][0]), body(buffers))[1]
    backend.recorded_solve = needs_the_host
    stim = _stimulus(model, np.random.default_rng(1))
    first = backend.solve(model.circuit, stim)
    with pytest.warns(RuntimeWarning, match="recording a solve failed.*host round trip"):
        second = backend.solve(model.circuit, stim)
    assert backend.replays.disabled and backend.replays.replayed == 0
    assert np.abs(to_host(first.v) - to_host(second.v)).max() == 0.0


def test_graphs_can_be_switched_off(monkeypatch):
    monkeypatch.setenv("EBANA_DEVICE_GRAPHS", "0")
    assert get_backend("native", device="strict").replays is None


def test_a_replay_that_fails_in_the_library_warns_and_solves_eagerly():
    model = rectified_mlp(48, 24, 5, backend="native", seed=1)
    backend = _backend()
    stim = _stimulus(model, np.random.default_rng(1))
    first = backend.solve(model.circuit, stim)
    backend.solve(model.circuit, stim)  # recorded and replayed
    for recording in backend.replays.recordings.values():
        def broken(values):
            raise RuntimeError("cudaErrorLaunchFailure (stand-in)")
        recording.run = broken
    with pytest.warns(RuntimeWarning, match="replaying a solve failed.*cudaErrorLaunchFailure"):
        again = backend.solve(model.circuit, stim)
    assert backend.replays.disabled and not backend.replays.recordings
    assert np.abs(to_host(first.v) - to_host(again.v)).max() == 0.0


def test_a_grown_schedule_is_learned_again_after_a_while(monkeypatch):
    import ebana.backends.gpu.replay as replay
    monkeypatch.setattr(replay, "RELEARN", 3)
    model = rectified_mlp(48, 24, 5, backend="native", seed=1)
    backend = _backend()
    stim = _stimulus(model, np.random.default_rng(1))
    backend.solve(model.circuit, stim)
    learned = backend.replays.schedule[False]
    backend.replays._learned(False, (40, None))  # as if one hard batch had made it long
    for _ in range(3):
        backend.solve(model.circuit, stim)  # replays of 40 sweeps
    assert backend.sweeps == 40
    backend.solve(model.circuit, stim)  # eager: learns afresh
    assert backend.replays.schedule[False] == learned
    assert all(k[1] != (40, None) for k in backend.replays.recordings)  # the long recording is gone


def test_a_failing_replay_names_the_sample_in_the_whole_run():
    model = rectified_mlp(48, 24, 5, backend="native", seed=1)
    backend = _backend()
    stim = _stimulus(model, np.random.default_rng(1))
    backend.solve(model.circuit, stim)
    backend.check_tol = 0.0
    with pytest.raises(SimulatorError) as e:
        backend.solve(model.circuit, stim, sample_offset=100)
    assert e.value.sample >= 100
