"""The device solver and EP on a real CUDA GPU, against the CPU layered solver.

Skipped, with the reason, where CuPy or a CUDA device is missing (CI has neither);
tests/test_device_solver.py runs the same code paths on the CPU. On a GPU:

* node voltages agree with the CPU within 1e-9 V, free and nudged, on the
  Fashion-MNIST network (1568-1024-10) and a deep clamped one;
* the KCL check runs on the device and still raises;
* EP gradients of a device model agree with the CPU's within 1e-6 relative;
* solves replayed from recorded CUDA graphs give the same voltages, and a replay that fails
  its verification is solved again eagerly (tests/test_device_replay.py runs the same on the CPU).
"""
import numpy as np
import pytest

from device_phases import cpu_and_device_phases, replayed_phases
from ebana.backends import Stimulus, make_stimulus
from ebana.backends.factory import get_backend
from ebana.backends.gpu.backend import DeviceLayeredBackend
from ebana.errors import SimulatorError
from ebana.networks import clamped_mlp, rectified_mlp


def _cupy():
    try:
        import cupy
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return None, "no CUDA device"
        return cupy, ""
    except Exception as e:  # noqa: BLE001 - ImportError, or CuPy's CUDA runtime errors
        return None, f"CuPy or CUDA unavailable: {type(e).__name__}: {e}"


cp, WHY = _cupy()
pytestmark = pytest.mark.skipif(cp is None, reason=f"needs a CUDA GPU with CuPy ({WHY})")


def _images(n, rng, n_in=1568):
    x = rng.uniform(0, 1, size=(n, n_in // 2))
    return np.concatenate([x, -x], axis=1)


def _phases(model, xp, rng, batch=64):
    x = _images(batch, rng, model.inputs[0].units)
    return cpu_and_device_phases(model, xp, x, rng.normal(0, 1e-8, (batch, model.circuit.n_is)))


@pytest.mark.parametrize("build", [lambda: rectified_mlp(1568, 1024, 10, backend="native"),
                                   lambda: clamped_mlp(1568, [256, 256], 10, backend="native")],
                         ids=["rectified 1568-1024-10", "clamped 1568-256-256-10"])
def test_gpu_voltages_match_the_cpu_within_a_nanovolt(build):
    rng = np.random.default_rng(5)
    for cpu, gpu in _phases(build(), cp, rng):
        assert isinstance(gpu.v, cp.ndarray)
        assert np.abs(cpu.v - cp.asnumpy(gpu.v)).max() <= 1e-9
        assert np.abs(cpu.i_vs - cp.asnumpy(gpu.i_vs)).max() <= 1e-9 * np.abs(cpu.i_vs).max()


def test_the_kcl_check_runs_on_the_gpu():
    model = rectified_mlp(1568, 256, 10, backend="native")
    c = model.circuit
    stim = make_stimulus(c, model.conductances(), model.source_voltages({"x": _images(8, np.random.default_rng(1))}, 8))
    stim = Stimulus(*(cp.asarray(a) for a in (stim.g, stim.vs, stim.isrc)))
    DeviceLayeredBackend(xp=cp).solve(c, stim)  # passes its check
    with pytest.raises(SimulatorError, match="KCL check"):
        DeviceLayeredBackend(xp=cp, check_tol=0.0).solve(c, stim)


def test_gpu_ep_gradients_match_the_cpu():
    from ebana.training import MSE
    from ebana.training.ep import ep_step
    try:
        gpu_model = rectified_mlp(1568, 512, 10, backend="native", device="cuda", seed=3)
    except TypeError:
        pytest.skip("Model(device=...) is not available in this build")
    cpu_model = rectified_mlp(1568, 512, 10, backend="native", seed=3)
    rng = np.random.default_rng(2)
    batch = {"x": _images(128, rng), "out": rng.choice([-1 / 300, 1 / 300], size=(128, 10))}
    cpu = ep_step(cpu_model, batch, MSE(), 5e-7)
    gpu = ep_step(gpu_model, {k: cp.asarray(v) for k, v in batch.items()}, MSE(), 5e-7)
    for name, g in cpu.grads.items():
        other = cp.asnumpy(gpu.grads[name])
        assert np.abs(other - g).max() <= 1e-6 * np.abs(g).max(), name


def test_gpu_adam_matches_the_cpu_bit_for_bit():
    """Adam's fused kernel (ebana/training/device_kernels.py) does the CPU's arithmetic."""
    from ebana.training import Adam
    rng = np.random.default_rng(4)
    host = rng.uniform(1e-9, 1e-8, (300, 200))
    device = cp.asarray(host)
    cpu, gpu = Adam(lr=1e-10), Adam(lr=1e-10)
    for _ in range(3):
        grad = rng.normal(0, 1e3, host.shape)
        cpu.step({"w": host}, {"w": grad})
        gpu.step({"w": device}, {"w": cp.asarray(grad)})
    np.testing.assert_array_equal(cp.asnumpy(device), host)


@pytest.mark.parametrize("build", [lambda: rectified_mlp(1568, 1024, 10, backend="native"),
                                   lambda: clamped_mlp(1568, [256, 256], 10, backend="native")],
                         ids=["rectified 1568-1024-10", "clamped 1568-256-256-10"])
def test_replayed_cuda_graphs_match_the_cpu_within_a_nanovolt(build):
    backend = get_backend("native", device="cuda")
    pairs = replayed_phases(build(), backend, cp, np.random.default_rng(6), batches=4, batch=64)
    for cpu, gpu in pairs:
        assert isinstance(gpu.v, cp.ndarray)
        assert np.abs(cpu.v - cp.asnumpy(gpu.v)).max() <= 1e-9
        assert np.abs(cpu.i_vs - cp.asnumpy(gpu.i_vs)).max() <= 1e-9 * np.abs(cpu.i_vs).max()
    replays = backend.replays
    assert replays.disabled is None, replays.disabled
    assert replays.replayed >= 4, (replays.replayed, replays.fallbacks, replays.schedule)


def test_a_cuda_replay_failing_the_kcl_check_is_solved_eagerly_and_raises():
    model = rectified_mlp(1568, 256, 10, backend="native")
    c = model.circuit
    stim = make_stimulus(c, model.conductances(), model.source_voltages({"x": _images(8, np.random.default_rng(1))}, 8))
    stim = Stimulus(*(cp.asarray(a) for a in (stim.g, stim.vs, stim.isrc)))
    backend = get_backend("native", device="cuda")
    first, second = backend.solve(c, stim), backend.solve(c, stim)
    assert backend.replays.replayed == 1
    assert float(cp.abs(first.v - second.v).max()) <= 1e-12
    backend.check_tol = 0.0
    with pytest.raises(SimulatorError, match="KCL check") as e:
        backend.solve(c, stim, sample_offset=8)
    assert e.value.sample is not None and e.value.sample >= 8  # named in the whole run
    assert backend.replays.fallbacks == 1
