"""Stuck-at faults and drift: the models, fault-aware training, chips, saving, bad input."""
import numpy as np
import pytest

from ebana import load_model
from ebana.analysis import drift_study, fault_study
from ebana.backends import make_stimulus
from ebana.devices import ChipDevices, FaultMap, PowerLawDrift, StuckAtFaults, global_compensation, scale_to_range
from ebana.errors import EbanaError, ValidationError
from ebana.networks import rectified_mlp
from ebana.training import MSE, Adam, FaultAware
from ebana.training.ep import loss_and_nudge, targets_of

rng = np.random.default_rng(0)
X = rng.uniform(-1, 1, size=(64, 6))
Y = np.where(X[:, :1] + X[:, 1:2] > 0, [[1 / 300, 0.0]], [[0.0, 1 / 300]])
DATA = {"x": X, "out": Y}


def model():
    return rectified_mlp(6, 8, 2, g_min=1e-12, g_max=1e-6, initializer=("uniform", 1e-9, 1e-7),
                         backend="native", seed=1)


def readouts(m, g):
    """Output voltages (V) of ``m`` on X with conductances ``g`` (S)."""
    n = len(X)
    stim = make_stimulus(m.circuit, g, m.source_voltages({"x": X}, n), m.output_currents(None, n))
    return loss_and_nudge(m, m.backend.solve(m.circuit, stim).v, targets_of(m, DATA, n), MSE(), 1.0)[1]["out"]


def test_fault_map_is_reproducible_nested_in_p_and_has_the_asked_fractions():
    a = StuckAtFaults(p=0.1, high_fraction=0.3).draw((400, 50), seed=3, key="d1p")
    b = StuckAtFaults(p=0.1, high_fraction=0.3).draw((400, 50), seed=3, key="d1p")
    small = StuckAtFaults(p=0.02, high_fraction=0.3).draw((400, 50), seed=3, key="d1p")
    other = StuckAtFaults(p=0.1, high_fraction=0.3).draw((400, 50), seed=3, key="d1n")
    assert a == b and a != other
    assert np.all(a.stuck[small.stuck])  # a chip stuck at 2 % keeps those devices stuck at 10 %
    assert abs(a.fraction - 0.1) < 0.01
    assert abs(a.high.sum() / a.stuck.sum() - 0.3) < 0.04
    g = np.full(a.shape, 5e-7)
    g_eff = a.apply(g, g_min=1e-12, g_max=1e-6)
    assert np.all(g_eff[a.high] == 1e-6) and np.all(g_eff[a.stuck & ~a.high] == 1e-12)
    assert np.all(g_eff[~a.stuck] == 5e-7)
    assert np.all(a.freeze(np.ones(a.shape))[a.stuck] == 0)


def test_zero_p_changes_nothing_and_zero_nu_does_not_drift():
    g = rng.uniform(1e-9, 1e-6, (5, 4))
    fmap = StuckAtFaults(p=0.0).draw(g.shape, seed=0, key="x")
    np.testing.assert_array_equal(fmap.apply(g, 1e-12, 1e-6), g)
    drift = PowerLawDrift(nu_mean=0.0, nu_std=0.0)
    np.testing.assert_array_equal(drift.apply(g, drift.draw_nu(g, 1e-6, 0, "x"), t=3.15e7), g)


def test_power_law_and_pcm_exponents():
    drift = PowerLawDrift(nu_mean=0.1, nu_std=0.0, t0=2.0)
    np.testing.assert_allclose(drift.apply(np.array([1e-6]), np.array([0.1]), t=2000.0), [1e-6 * 1000 ** -0.1])
    pcm = PowerLawDrift(dependence="pcm")
    mean, std = pcm.nu_statistics(np.array([1e-6, 1e-7, 1e-12]), g_max=1e-6)
    np.testing.assert_allclose(mean, [0.049, -0.0155 * np.log(0.1) + 0.0244, 0.1])  # fit clipped at both ends
    np.testing.assert_allclose(std, [0.008, -0.0125 * np.log(0.1) - 0.0059, 0.045])
    nu = pcm.draw_nu(np.full(20000, 1e-7), 1e-6, seed=2, key="d2")
    assert abs(nu.mean() - mean[1]) < 0.002 and nu.min() >= 0


@pytest.mark.parametrize("make, word", [
    (lambda: StuckAtFaults(p=1.5), "StuckAtFaults.p"),
    (lambda: StuckAtFaults(p=-0.1), "StuckAtFaults.p"),
    (lambda: StuckAtFaults(p=0.1, high_fraction=2), "high_fraction"),
    (lambda: PowerLawDrift(nu_mean=-0.05), "nu_mean"),
    (lambda: PowerLawDrift(nu_std=-1), "nu_std"),
    (lambda: PowerLawDrift(t0=0), "t0"),
    (lambda: PowerLawDrift(dependence="rram"), "dependence"),
    (lambda: PowerLawDrift(t0=20.0).factor(np.array([0.1]), t=1.0), "t (s"),
    (lambda: ChipDevices(faults=0.1), "faults"),
    (lambda: FaultMap(np.zeros(3, bool), np.zeros(4, bool)), "FaultMap"),
])
def test_bad_settings_name_the_argument(make, word):
    with pytest.raises(EbanaError, match=word.replace("(", r"\(")):
        make()


def test_uniform_drift_cancels_and_compensation_restores_the_sum():
    m = model()
    m.fit(DATA, epochs=2, loss_fn=MSE(), optimizer=Adam(lr=2e-8), beta=1e-7, symmetric=True, verbose=0)
    chip = ChipDevices(drift=PowerLawDrift(nu_mean=0.1, nu_std=0.0), seed=0)
    v0 = readouts(m, m.conductances())
    g_year = chip.conductances(m, t=3.15e7)
    np.testing.assert_allclose(g_year, m.conductances() * 3.15e7 ** -0.1, rtol=1e-12)
    # ratios only: every voltage stays within the ideal-diode error (ron = 100 Ohm against G of 1e-7 S)
    np.testing.assert_allclose(readouts(m, g_year), v0, atol=1e-3 * np.abs(v0).max())
    assert np.abs(v0).max() > 1e-4
    assert global_compensation([np.ones(3)], [0.5 * np.ones(3)]) == pytest.approx(2.0)


def test_studies_are_reproducible_and_p_zero_is_the_nominal_accuracy():
    m = model()
    nominal = m.evaluate(DATA, loss_fn=MSE())["accuracy"]
    a = fault_study(m, DATA, [0.0, 0.3], chips=4, seed=1, loss_fn=MSE())
    b = fault_study(m, DATA, [0.0, 0.3], chips=4, seed=1, loss_fn=MSE())
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a[0], nominal)
    d = drift_study(m, DATA, [1.0, 3.15e7], chips=3, seed=1, loss_fn=MSE())
    np.testing.assert_allclose(d[0], nominal)
    with pytest.raises(ValidationError, match=r"times\[1\]"):
        drift_study(m, DATA, [1.0, 0.5], chips=1, loss_fn=MSE())


def test_device_studies_on_a_process_pool_are_the_in_process_ones_bit_for_bit():
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
    m = model()
    here_f = fault_study(m, DATA, [0.0, 0.2], chips=3, seed=2, loss_fn=MSE())
    here_d = drift_study(m, DATA, [1.0, 3.15e7], compensate=True, chips=3, seed=2, loss_fn=MSE())
    assert len(np.unique(here_f[1])) > 1  # the faulty chips differ, so the comparison sees each chip
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        np.testing.assert_array_equal(fault_study(m, DATA, [0.0, 0.2], chips=3, seed=2, loss_fn=MSE(),
                                                  backend="native", executor=pool), here_f)
        np.testing.assert_array_equal(drift_study(m, DATA, [1.0, 3.15e7], compensate=True, chips=3, seed=2,
                                                  loss_fn=MSE(), backend="native", executor=pool), here_d)
    with ThreadPoolExecutor(1) as threads, pytest.raises(ValidationError, match="needs the backend by name"):
        fault_study(m, DATA, [0.1], chips=1, loss_fn=MSE(), backend=m.backend, executor=threads)
    with pytest.raises(ValidationError, match="executor must be"):
        fault_study(m, DATA, [0.1], chips=1, loss_fn=MSE(), executor="two processes")


def test_fault_aware_training_never_moves_a_stuck_device_and_restores_the_latent_values():
    m = model()
    before = {k: v.copy() for k, v in m.parameters().items()}
    opt = FaultAware(Adam(lr=1e-8), m, StuckAtFaults(p=0.2, high_fraction=0.5), seed=4, fresh=False)
    maps = opt.maps
    for name, fmap in maps.items():  # the circuit holds the faults during training
        np.testing.assert_array_equal(m.parameters()[name], fmap.apply(before[name], 1e-12, 1e-6))
    m.fit(DATA, epochs=2, loss_fn=MSE(), optimizer=opt, beta=1e-7, symmetric=True, verbose=0)
    opt.finish()
    moved = 0
    for name, fmap in maps.items():
        g = m.parameters()[name]
        np.testing.assert_array_equal(g[fmap.stuck], before[name][fmap.stuck])  # never programmed
        moved += np.count_nonzero(g[~fmap.stuck] != before[name][~fmap.stuck])
        assert g.min() >= 1e-12
    assert moved > 0
    # the chip's own map is the one ChipDevices draws for the same seed
    chip = ChipDevices(faults=StuckAtFaults(p=0.2, high_fraction=0.5), seed=4)
    assert all(chip.fault_map(l) == maps[l.name] for l in m.resistive_layers)


def test_fresh_maps_change_every_step():
    m = model()
    opt = FaultAware(Adam(lr=1e-8), m, StuckAtFaults(p=0.3), seed=0)
    first = opt.maps
    opt.step(m.parameters(), {k: np.zeros_like(v) for k, v in m.parameters().items()})
    assert any(first[k] != opt.maps[k] for k in first)
    opt.lr_scale = 0.5  # schedules act on the wrapped optimizer
    assert opt.inner.lr_scale == 0.5
    with pytest.raises(ValidationError, match="FaultAware"):
        FaultAware("adam", m, StuckAtFaults(p=0.1))


def test_saved_model_keeps_fault_maps_and_drift(tmp_path):
    m = model()
    m.devices = ChipDevices(StuckAtFaults(p=0.25, high_fraction=0.2), PowerLawDrift(dependence="pcm", t0=20.0), 9)
    g = m.devices.conductances(m, t=86400.0)
    m.save(tmp_path / "chip.ebana")
    back = load_model(tmp_path / "chip.ebana", backend="native")
    assert back.devices.faults == m.devices.faults and back.devices.drift == m.devices.drift
    assert back.devices.seed == 9
    assert all(back.devices.fault_maps[k] == v for k, v in m.devices.fault_maps.items())
    np.testing.assert_array_equal(back.devices.conductances(back, t=86400.0), g)
    plain = model()
    plain.save(tmp_path / "plain.ebana")
    assert load_model(tmp_path / "plain.ebana", backend="native").devices is None


def test_scale_to_range_keeps_the_predictions_and_fills_the_range():
    m = model()
    v0 = readouts(m, m.conductances())
    k = scale_to_range(m)
    assert k > 5  # the initializer stops at g_max / 10
    assert max(float(l.circuit_g().max()) / l.g_max for l in m.resistive_layers) == pytest.approx(1.0)
    np.testing.assert_allclose(readouts(m, m.conductances()), v0, atol=2e-3 * np.abs(v0).max())
    with pytest.raises(ValidationError, match="fraction"):
        scale_to_range(m, fraction=0)


def test_scale_to_range_at_a_percentile_puts_it_at_g_max_and_clips_only_what_lies_above():
    m = model()
    pooled = np.concatenate([np.ravel(w) for w in m.get_weights().values()])
    p99 = np.percentile(pooled, 99.0)
    k = scale_to_range(m, percentile=99.0)
    assert k == pytest.approx(1e-6 / p99)
    after = np.concatenate([np.ravel(w) for w in m.get_weights().values()])
    assert after.max() == 1e-6 and np.mean(after == 1e-6) == pytest.approx(np.mean(pooled >= p99), abs=2 / pooled.size)
    below = pooled < p99
    np.testing.assert_allclose(after[below], np.maximum(pooled[below] * k, 1e-12), rtol=1e-12)
    for bad in (0, 101, float("nan")):
        with pytest.raises(ValidationError, match="percentile"):
            scale_to_range(model(), percentile=bad)


def test_a_hidden_bias_pair_at_a_lower_voltage_is_its_own_source_and_bounds_a_stuck_bias_device():
    """With ``hidden_bias_voltage`` the output crossbar's bias rows are driven by their own pair: a
    device of it stuck at g_max (10 times the others here) pulls its output towards 0.05 V instead of
    1 V, so it moves it several times less (0.17 V against 0.83 V)."""
    shared, own = model(), rectified_mlp(6, 8, 2, g_min=1e-12, g_max=1e-6, initializer=("uniform", 1e-9, 1e-7),
                                         backend="native", seed=1, hidden_bias_voltage=0.05)
    assert own.layer("bh").bias_voltage.tolist() == [0.05, -0.05]
    own.set_weights(shared.get_weights())
    shifts = []
    for m in (shared, own):
        v0 = readouts(m, m.conductances())
        g = m.conductances().copy()
        g[-4] = 1e-6  # the + bias row of the output crossbar, output 0 (rows x columns, C order)
        shifts.append(np.abs(readouts(m, g)[:, 0] - v0[:, 0]).max())
    assert shifts[0] > 4 * shifts[1] > 0
    with pytest.raises(ValidationError, match="hidden_bias_voltage"):
        rectified_mlp(6, 8, 2, backend="native", hidden_bias_voltage=0.0)


def test_chip_vectors_of_a_wired_layer_hold_its_wire_segments():
    """A wired layer's circuit holds its wire segments too: a chip's vector keeps them after the
    devices (the whole circuit's length, the stimulus builds), and a chip without faults or
    drift is the model itself (tests/test_wires.py checks the draws and Ngspice)."""
    from ebana import CurrentLayer, DenseLayer, InputVoltageLayer, Model
    from ebana.analysis.chips import chip_conductances
    from ebana.devices import Variability
    from ebana.layers import Wires
    x = InputVoltageLayer(units=4, name="x")
    out = CurrentLayer(name="out")(DenseLayer(units=2, name="dw", wires=Wires(tile=(4, 2), r_segment=1.0))(x))
    model = Model(inputs=[x], outputs=[out], backend="native")
    g = chip_conductances(model, Variability(kind="gaussian", sigma=0.1, scope="chip"), 1)
    assert g.shape == model.conductances().shape and np.array_equal(g[8:], model.conductances()[8:])
    assert not np.array_equal(g[:8], model.conductances()[:8])  # the 8 devices vary
    make_stimulus(model.circuit, g, model.source_voltages({"x": np.zeros((1, 4))}, 1), np.zeros((1, 2)))
    assert np.array_equal(ChipDevices(seed=1).conductances(model), model.conductances())
