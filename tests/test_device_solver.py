"""The device layered solver (ebana/backends/gpu) on the CPU: with NumPy, and with the strict
stand-in for CuPy (tests/strict_device.py), which fails on any host array crossing into device code.

It must give the CPU layered solver's operating points (node voltages and branch currents)
to rounding, refuse what it does not cover with the layer named, and keep its KCL check.
The same comparisons on a real GPU are in tests/test_cuda.py.
"""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from device_phases import cpu_and_device_phases  # noqa: E402
from strict_device import register  # noqa: E402

from ebana import CurrentLayer, DenseLayer, DiodeLayer, InputVoltageLayer, Model  # noqa: E402
from ebana.backends import make_stimulus  # noqa: E402
from ebana.backends.arrays import to_host  # noqa: E402
from ebana.backends.factory import get_backend  # noqa: E402
from ebana.backends.gpu.backend import DeviceLayeredBackend  # noqa: E402
from ebana.backends.gpu.support import NotOnDevice  # noqa: E402
from ebana.errors import SimulatorError, ValidationError  # noqa: E402
from ebana.networks import clamped_mlp, local_network, rectified_mlp  # noqa: E402

STRICT = register()

NETWORKS = {
    "rectified": lambda: rectified_mlp(48, 24, 5, backend="native", seed=1),
    "rectified deep": lambda: rectified_mlp(48, [24, 16], 5, backend="native", seed=2),
    "clamped": lambda: clamped_mlp(48, 24, 5, backend="native", seed=3),
    "clamped deep": lambda: clamped_mlp(48, [24, 24, 12], 5, backend="native", seed=4),
}


def phases(model, xp, rng, batch=24):
    """Free and nudged operating points of ``model`` from the CPU layered solver and the device solver."""
    x = rng.uniform(-1, 1, (batch, model.inputs[0].units))
    return cpu_and_device_phases(model, xp, x, rng.normal(0, 1e-6, (batch, model.circuit.n_is)))


@pytest.mark.parametrize("xp", [np, STRICT], ids=["numpy", "strict"])
@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_device_solver_matches_the_cpu_layered_solver(name, xp):
    rng = np.random.default_rng(7)
    for cpu, dev in phases(NETWORKS[name](), xp, rng):
        assert type(dev.v) is xp.ndarray  # the device solver hands back device arrays
        assert np.abs(cpu.v - to_host(dev.v)).max() < 1e-12
        scale = np.abs(cpu.i_vs).max()
        assert np.abs(cpu.i_vs - to_host(dev.i_vs)).max() <= 1e-9 * scale


def test_host_stimulus_is_uploaded_and_cached_per_batch():
    model = NETWORKS["rectified"]()
    c = model.circuit
    stim = make_stimulus(c, model.conductances(), model.source_voltages({"x": np.ones((4, 48))}, 4))
    dev = DeviceLayeredBackend(xp=STRICT)
    first = dev.solve(c, stim)
    bound = dev._bound
    again = dev.solve(c, stim, initial=first.v)
    assert dev._bound is bound  # same conductance array: bound once for both phases
    assert np.abs(to_host(first.v) - to_host(again.v)).max() < 1e-12
    g = model.conductances()
    g[:10] *= 2.0  # a new conductance state is bound again
    dev.solve(c, make_stimulus(c, g, stim.vs))
    assert dev._bound is not bound


def test_unsupported_parts_are_refused_with_the_layer_named():
    local = local_network((8, 8, 1), filters=2, n_outputs=3, kernel_size=3, strides=2, pool_size=None, backend="native")
    with pytest.raises(NotOnDevice, match="sparse conductance blocks"):
        DeviceLayeredBackend().structure(local.circuit)
    x = InputVoltageLayer(units=4, name="x")
    h = DenseLayer(units=80, name="d1")(x)
    h = DiodeLayer(name="r1", kind="real", direction="up")(h)
    out = CurrentLayer(name="out")(DenseLayer(units=2, name="d2")(h))
    shockley = Model(inputs=[x], outputs=[out], backend="native")
    with pytest.raises(NotOnDevice, match="'d1'.*Shockley"):
        DeviceLayeredBackend().structure(shockley.circuit)
    model = NETWORKS["rectified"]()
    c = model.circuit
    g = np.tile(model.conductances(), (2, 1))
    with pytest.raises(NotOnDevice, match="per-sample conductances"):
        DeviceLayeredBackend().solve(c, make_stimulus(c, g, model.source_voltages({"x": np.ones((2, 48))}, 2)))


def test_the_kcl_check_and_the_sweep_limit_raise_naming_the_sample():
    model = NETWORKS["clamped deep"]()
    c = model.circuit
    x = np.zeros((3, 48))
    x[2] = 1.0
    stim = make_stimulus(c, model.conductances(), model.source_voltages({"x": x}, 3))
    with pytest.raises(SimulatorError, match="did not converge") as e:
        DeviceLayeredBackend(max_iterations=2).solve(c, stim, sample_offset=10)
    assert e.value.sample >= 10
    strict = DeviceLayeredBackend(check_tol=0.0)  # a tolerance no float64 residual meets
    with pytest.raises(SimulatorError, match="KCL check"):
        strict.solve(c, stim)


def test_get_backend_on_a_device_builds_the_device_solver():
    backend = get_backend("native", device="strict")
    assert isinstance(backend, DeviceLayeredBackend) and backend.xp is STRICT
    with pytest.raises(ValidationError, match="device='strict' runs the layered native solver"):
        get_backend("ngspice", device="strict")
    with pytest.raises(ValidationError, match="device must be one of"):
        get_backend("native", device="tpu")


def test_training_through_the_device_solver_matches_the_cpu():
    """Model(device=...) with the device solver itself (not a stand-in backend): three epochs of
    symmetric EP with Adam give the CPU's weights, losses and predictions to rounding."""
    from ebana.training import MSE, Adam
    from ebana.training.data import DataLoader
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (192, 32))
    y = np.eye(4)[rng.integers(0, 4, 192)] / 300
    runs = {}
    for device in ("cpu", "strict"):
        model = rectified_mlp(32, 16, 4, backend="native-layered", device=device, seed=1)
        history = model.fit(DataLoader({"x": x, "out": y}, batch_size=32, shuffle=True, seed=0), epochs=3,
                            loss_fn=MSE(), optimizer=Adam(lr=1e-9), beta=1e-7, symmetric=True, verbose=0)
        runs[device] = (model, history.history["loss"], model.predict({"x": x})["out"])
    (cpu, cpu_loss, cpu_out), (dev, dev_loss, dev_out) = runs["cpu"], runs["strict"]
    assert isinstance(dev.backend, DeviceLayeredBackend)
    for name, w in cpu.get_weights().items():
        assert np.abs(dev.get_weights()[name] - w).max() <= 1e-12 * np.abs(w).max(), name
    assert np.allclose(dev_loss, cpu_loss, rtol=1e-12, atol=0)
    assert np.abs(dev_out - cpu_out).max() < 1e-12


def test_import_ebana_never_imports_cupy():
    import subprocess
    code = "import sys, ebana, ebana.backends.gpu.backend; print('cupy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
