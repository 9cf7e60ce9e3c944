"""The layered solver is never silently wrong: KCL check, retry ladder, and the two
cases a new user found (huge diode currents; a saturation current Ngspice changes)."""
import numpy as np
import pytest

from ebana import BiasVoltageLayer, ConcatenateLayer, CurrentLayer, DenseLayer, DiodeLayer, InputVoltageLayer, Model
from ebana.backends import make_stimulus
from ebana.backends.layered.backend import LayeredBackend
from ebana.backends.retry import RetryingBackend
from ebana.errors import SimulatorError, ValidationError
from ebana.networks import clamped_mlp


def series_clamps(backend, param, low=-0.85, high=0.92):
    """Nets clamped from above to ``low`` and from below to ``high``: both junctions forward,
    in series between the two bias sources."""
    x = InputVoltageLayer(units=2, name="x")
    b = BiasVoltageLayer(units=1, name="b", bias_voltage=0.5)
    h = DenseLayer(units=3, name="d1", initializer=("uniform", 1e-5, 1e-4))(ConcatenateLayer(name="j")([x, b]))
    h = DiodeLayer(name="c1", direction="down", bias_voltage=low, kind="real", param=param)(h)
    h = DiodeLayer(name="c2", direction="up", bias_voltage=high, kind="real", param=param)(h)
    h = DenseLayer(units=2, name="d2", initializer=("uniform", 1e-5, 1e-4))(h)
    return Model(inputs=[x], outputs=[CurrentLayer(name="out", fold=True)(h)], backend=backend, seed=1)


def test_kiloampere_series_junctions_agree_with_ngspice():
    data = {"x": np.array([[0.3, -0.2], [1.0, 1.0]])}
    param = {"IS": 1.25e-11, "N": 1.0}
    ops = [series_clamps(b, param).solve(data) for b in ("native-layered", "native-dense", "ngspice")]
    current = np.abs(ops[2].i_vs).max()
    assert 2e4 < current < 4e4  # each bias source carries three nets of about 9 kA
    for op in ops[:2]:
        assert np.abs(op.v - ops[2].v).max() < 1e-6
        assert np.abs(op.i_vs - ops[2].i_vs).max() < 1e-9 * current


def test_saturation_current_below_ngspice_floor_is_refused():
    # Ngspice silently raises IS below 1e-28 A to 1e-28 A; the native solvers would not.
    with pytest.raises(ValidationError, match="1e-28"):
        series_clamps("native", {"IS": 1e-30})
    ops = [series_clamps(b, {"IS": 1e-28, "N": 1.0}, low=0.1, high=-0.1).solve({"x": [[3.0, 2.5], [-3.0, 1.0]]})
           for b in ("native", "ngspice")]
    assert np.abs(ops[0].v - ops[1].v).max() < 1e-6


def _stimulus(model, n, seed=0):
    x = np.random.default_rng(seed).uniform(-1, 1, (n, model.inputs[0].units))
    return make_stimulus(model.circuit, model.conductances(), model.source_voltages({"x": x}, n))


def test_failed_kcl_check_names_the_sample():
    model = clamped_mlp(6, [5, 4], 2, backend="native")
    with pytest.raises(SimulatorError, match=r"sample 0: .*KCL check"):
        LayeredBackend(check_tol=1e-30).solve(model.circuit, _stimulus(model, 3))


def test_retry_ladder_rescues_with_more_sweeps_then_reports():
    model = clamped_mlp(6, [5, 4], 2, backend="native")
    stim = _stimulus(model, 4)
    reference = LayeredBackend().solve(model.circuit, stim)
    short = LayeredBackend(max_iterations=1)
    retrying = RetryingBackend(short)
    op = retrying.solve(model.circuit, stim)
    assert np.abs(op.v - reference.v).max() < 1e-9
    assert {name for _, name in retrying.rescued} == {"more Newton iterations"}
    assert short.max_iterations == 1  # the ladder restores the settings
    hopeless = RetryingBackend(LayeredBackend(check_tol=1e-30))
    with pytest.raises(SimulatorError, match=r"sample 0: .*retried with more Newton iterations, gmin stepping, "
                                             r"source stepping, all failed"):
        hopeless.solve(model.circuit, stim)


@pytest.mark.parametrize("options", [{"gminsteps": 8}, {"srcsteps": 8}])
def test_gmin_and_source_stepping_reach_the_same_point(options):
    model = series_clamps("native", {})
    stim = make_stimulus(model.circuit, model.conductances(), model.source_voltages({"x": [[0.3, -0.2]]}, 1))
    plain = LayeredBackend().solve(model.circuit, stim)
    stepped = LayeredBackend(options=options).solve(model.circuit, stim)
    assert np.abs(plain.v - stepped.v).max() < 1e-9
