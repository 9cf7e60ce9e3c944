"""The 4x4 crossbar: Ngspice against closed forms, Manhattan signs, seeds, statistics."""
import numpy as np
import pytest

from ebana.crossbar import CrossbarCircuit, InSituTrainer, TrainerConfig, training_set, unseen_patterns
from ebana.crossbar.circuit import shared_backend
from ebana.crossbar.plots import save_training_plots
from ebana.crossbar.statistics import chip_statistics
from ebana.crossbar.wires import wire_resistance_effect
from ebana.devices import DeviceVariation, ExponentialMemristor, SP291D1NR100Fit
from ebana.errors import ShapeError, ValidationError


@pytest.fixture(scope="module")
def backend():
    # The process's shared backend: other tests' Ngspice backends may load circuits
    # in between, so every test here must survive a reload (it reloads on change).
    return shared_backend()


def nodal_currents(g, v, r_wire):
    """Independent reference: nodal analysis of the crossbar with wire segments (numpy)."""
    R, C = g.shape
    gw = 1.0 / r_wire
    n = 2 * R * C                           # unknowns: row nodes r[j,k], then column nodes c[j,k]
    row = lambda j, k: j * C + k            # noqa: E731
    col = lambda j, k: R * C + j * C + k    # noqa: E731
    out = []
    for vb in v:
        A, b = np.zeros((n, n)), np.zeros(n)

        def stamp(p, q, gg, vq=None):       # conductance between unknown p and unknown q (or a fixed vq)
            A[p, p] += gg
            if q is None:
                b[p] += gg * vq
            else:
                A[q, q] += gg
                A[p, q] -= gg
                A[q, p] -= gg
        for j in range(R):
            stamp(row(j, 0), None, gw, vb[j])                    # source -> first cross-point
            for k in range(C):
                stamp(row(j, k), col(j, k), g[j, k])
                if k + 1 < C:
                    stamp(row(j, k), row(j, k + 1), gw)
                if j + 1 < R:
                    stamp(col(j, k), col(j + 1, k), gw)
                else:
                    stamp(col(j, k), None, gw, 0.0)              # last segment -> sense at 0 V
        x = np.linalg.solve(A, b)
        out.append([gw * x[col(R - 1, k)] for k in range(C)])    # current into the sense source
    return np.array(out)


def test_ngspice_equals_closed_form_without_wires(backend, rng):
    g = rng.uniform(4e-7, 6e-7, (4, 4))
    v = rng.choice([-0.1, 0.1], (8, 4))
    i = CrossbarCircuit(4, 4, backend=backend).column_currents(g, v)
    np.testing.assert_allclose(i, v @ g, rtol=1e-9, atol=1e-20)


def test_ngspice_with_wires_matches_nodal_reference(backend, rng):
    g = rng.uniform(4e-7, 6e-7, (4, 4))
    v = rng.choice([-0.1, 0.1], (3, 4))
    xb = CrossbarCircuit(4, 4, r_wire=1e4, backend=backend)
    assert xb.n_wires == 32 and xb.circuit.n_res == 48
    np.testing.assert_allclose(xb.column_currents(g, v), nodal_currents(g, v, 1e4), rtol=1e-7)


def test_wire_resistance_grows_the_ir_drop(backend):
    g = np.full((4, 4), 5e-7)
    effect = wire_resistance_effect(g, [[0.1] * 4], [0.0, 1e2, 1e4], backend=backend)
    d = effect.relative_change
    assert d[0] < 1e-12 and 1e-4 < d[1] < d[2] < 0.2
    # All rows at +0.1 V: wires only lose current.
    assert np.all(effect.currents[2] < effect.ideal)


def test_crossbar_validation(backend):
    xb = CrossbarCircuit(4, 4, backend=backend)
    with pytest.raises(ShapeError, match=r"\(4, 4\)"):
        xb.column_currents(np.full((4, 3), 5e-7), [[0.1] * 4])
    with pytest.raises(ShapeError, match="batch, 4"):
        xb.column_currents(np.full((4, 4), 5e-7), [[0.1] * 3])
    with pytest.raises(ValidationError, match="> 0 S"):
        xb.column_currents(np.zeros((4, 4)), [[0.1] * 4])
    with pytest.raises(ValidationError, match="r_wire"):
        CrossbarCircuit(4, 4, r_wire=-1.0, backend=backend)


def identical_chip(update, backend):
    dev = ExponentialMemristor(g_min=4.5e-7, g_max=5.2e-7, n_pulses=50, nonlinearity=3.0)
    return InSituTrainer(dev, DeviceVariation(shift_d2d=0.0), TrainerConfig(epochs=1, update=update),
                         seed=0, backend=backend)


@pytest.mark.parametrize("update", ["set", "reset", "both"])
def test_manhattan_signs(update, backend):
    # Identical devices: every current is 0, f = 0, so d = (t - 0) beta_a has the sign of the target.
    chip = identical_chip(update, backend)
    x, y = np.array([[0, 0, 0, 1]]), np.array([[0, 1]])     # V = (-, -, -, +) 0.1 V
    start = chip.devices.m.copy()
    history = chip.fit(x, y)
    # D_jk = V_j d_k: d = (-, +) -> rows 0-2: (+, -); row 3: (-, +).
    expected = np.array([[1, -1], [1, -1], [1, -1], [-1, 1]])
    np.testing.assert_array_equal(history.pulses[0], expected)
    moved = chip.devices.m - start
    sets = {"set": 1, "reset": 0, "both": 1}[update]
    resets = {"set": 0, "reset": 1, "both": 1}[update]
    # A positive sign SETs G+ (col 2k) / RESETs G- (col 2k+1); a negative one the opposite pair.
    plus, minus = expected > 0, expected < 0
    np.testing.assert_array_equal(moved[:, 0::2], sets * plus)            # G+ only goes up when +
    np.testing.assert_array_equal(moved[:, 1::2], sets * minus)           # G- only goes up when -
    # (RESET at m = 0 stays put and is counted as saturated.)
    assert chip.devices.saturated == resets * 8
    f = chip.predict(x)[0]
    if sets:
        assert f[0] < 0 < f[1]                                            # moved towards the target


def test_fit_and_predict_reproducible_from_seed(backend):
    x, y = training_set()
    runs = []
    for _ in range(2):
        chip = InSituTrainer(seed=7, backend=backend)
        runs.append((chip.fit(x, y), chip.predict(unseen_patterns())))
    (h1, p1), (h2, p2) = runs
    assert h1.epochs_to_converge == h2.epochs_to_converge
    np.testing.assert_array_equal(h1.conductance, h2.conductance)
    np.testing.assert_array_equal(p1, p2)
    assert h1.converged and h1.conductance.shape == (h1.epochs_to_converge + 1, 4, 4)
    assert h1.weights.shape == (h1.epochs_to_converge + 1, 4, 2)
    # Converged: every training pattern is classified right.
    np.testing.assert_array_equal(chip.classify(x), y)


def test_fit_validation(backend):
    chip = InSituTrainer(seed=0, backend=backend)
    with pytest.raises(ShapeError, match=r"\(patterns, 4\)"):
        chip.fit(np.zeros((6, 3)), np.zeros((6, 2)))
    with pytest.raises(ValidationError, match="bits 0 or 1"):
        chip.fit(np.full((6, 4), 2), np.zeros((6, 2)))
    with pytest.raises(ValidationError, match="6 input patterns but 5"):
        chip.fit(np.zeros((6, 4)), np.zeros((5, 2)))
    with pytest.raises(ValidationError, match="update"):
        TrainerConfig(update="depress")
    with pytest.raises(ValidationError, match="target"):
        TrainerConfig(target=1.0)


def test_statistics_five_chips(backend, tmp_path):
    stats = chip_statistics(5, seed=0, backend=backend, progress=False)
    assert stats.converged.sum() >= 4
    assert stats.predictions.shape == (5, 10, 2)
    assert "converged within 48 epochs" in stats.summary()
    # Chip i does not depend on how many chips are drawn.
    again = chip_statistics(3, seed=0, backend=backend, progress=False)
    np.testing.assert_array_equal(again.epochs, stats.epochs[:3])
    np.testing.assert_array_equal(again.predictions, stats.predictions[:3])


def test_training_plots_are_written(backend, tmp_path):
    x, y = training_set()
    history = InSituTrainer(seed=3, backend=backend).fit(x, y)
    paths = save_training_plots(history, x, tmp_path)
    assert [p.name for p in paths] == ["conductances.png", "weights.png", "activations.png",
                                       "error.png", "training.png"]
    assert all(p.stat().st_size > 1000 for p in paths)


@pytest.mark.slow
def test_hundred_chips_converge(backend):
    stats = chip_statistics(100, seed=0, device=SP291D1NR100Fit(), backend=backend, progress=False)
    assert stats.convergence_rate >= 0.95
    # The reference rule (deltas pull outputs back to +-target) converges far less often.
    plain = chip_statistics(100, seed=0, config=TrainerConfig(hinge=False), backend=backend, progress=False)
    assert plain.convergence_rate < stats.convergence_rate - 0.1


def test_crossbars_without_a_backend_share_one():
    g1, g2, v = np.full((4, 4), 5e-7), np.full((4, 4), 2e-7), [[0.1] * 4]
    a, b = CrossbarCircuit(), CrossbarCircuit()
    assert a.backend is b.backend
    a.column_currents(g1, v)
    b.column_currents(g2, v)
    np.testing.assert_allclose(a.column_currents(g1, v), np.array(v) @ g1, rtol=1e-9)
