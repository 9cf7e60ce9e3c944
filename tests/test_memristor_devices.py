"""Memristor pulse models: loaders, curves, saturation, d2d masks, seeds."""
import pathlib

import numpy as np
import pytest

from ebana.devices import (DeviceVariation, ExponentialMemristor, MemristorArray, SP291D1NR100Fit,
                           TabulatedMemristor, load_pulse_curve, parse_csv, parse_dat, sample_mask)
from ebana.errors import ShapeError, ValidationError

MEASURED = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data" / "SP291D1NR100.dat"

SYNTHETIC_DAT = """Number of Pulses: 2
Read Voltage (V):50.000000E-3
Temperature (K): 300
Time stamp (s), Voltage (V), Current (A), Voltage (V), Current (A),Resistance (Ohm)
1.0,-2.000000E+0,-001.413E-03,,,1.415428E+3
2.0,0.000000E+0,-000.001E-03,,,0.000000E+0
3.0,5.000000E-2,2.5E-8,-5.000000E-2,-2.5E-8,2.000000E+6
4.0,2.000000E+0,+001.817E-03,,,1.100715E+3
5.0,0.000000E+0,-000.001E-03,,,0.000000E+0
6.0,5.000000E-2,5.0E-8,-5.000000E-2,-5.0E-8,1.000000E+6
7.0,2.000000E+0,+001.817E-03,,,1.100715E+3
8.0,5.000000E-2,1.0E-7,-5.000000E-2,-1.0E-7,5.000000E+5
"""


# loaders ---------------------------------------------------------------------
def test_synthetic_dat_keeps_read_rows_only(tmp_path):
    path = tmp_path / "dev.dat"
    path.write_text(SYNTHETIC_DAT)
    curve = load_pulse_curve(path)
    np.testing.assert_allclose(curve.resistance, [2e6, 1e6, 5e5])
    np.testing.assert_allclose(curve.conductance, [5e-7, 1e-6, 2e-6])
    assert curve.header["Number of Pulses"] == "2"
    assert curve.header["Temperature (K)"] == "300"
    assert TabulatedMemristor.from_file(path).n_pulses == 2


@pytest.mark.skipif(not MEASURED.is_file(), reason="measured file ../shared/data/SP291D1NR100.dat absent")
def test_measured_dat():
    curve = load_pulse_curve(MEASURED)
    assert curve.conductance.shape == (51,)
    assert len(curve.header) == 10
    assert 1.85e6 < curve.resistance.min() < 1.95e6
    assert 2.15e6 < curve.resistance.max() < 2.25e6
    assert curve.resistance[0] == pytest.approx(2.200317e6)
    # Potentiation: the first pulse lowers R by far the most.
    assert curve.conductance[1] - curve.conductance[0] > 0.4 * np.ptp(curve.conductance)


def test_csv_two_columns(tmp_path):
    path = tmp_path / "dev.csv"
    path.write_text("# a comment\npulse,G\n0,1e-6\n1,1.5e-6\n2,1.75e-6\n")
    curve = load_pulse_curve(path)
    np.testing.assert_allclose(curve.conductance, [1e-6, 1.5e-6, 1.75e-6])


@pytest.mark.parametrize("text, match", [
    ("0,1e-6\n2,2e-6\n", "0, 1, 2"),
    ("0,1e-6\n1,-2e-6\n", "> 0"),
    ("0,1e-6,3\n1,2e-6,3\n", "2 columns"),
    ("0,1e-6\n", "at least 2"),
])
def test_csv_errors(text, match):
    with pytest.raises(ValidationError, match=match):
        parse_csv(text, "bad.csv")


def test_dat_errors(tmp_path):
    with pytest.raises(ValidationError, match="not 'key: value'"):
        parse_dat("no colon here\n")
    with pytest.raises(ValidationError, match="no read rows"):
        parse_dat("a: 1\nt,V,I,V,I,R\n1,2,3,,,4\n")
    with pytest.raises(ValidationError, match="does not exist"):
        load_pulse_curve(tmp_path / "missing.dat")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(ValidationError, match="unknown suffix"):
        load_pulse_curve(tmp_path / "x.json")


# curves and pulses -------------------------------------------------------------
def test_exponential_curve_ends_and_linear_limit():
    dev = ExponentialMemristor(g_min=1e-6, g_max=3e-6, n_pulses=20, nonlinearity=5.0)
    c = dev.curve()
    assert c[0] == pytest.approx(1e-6) and c[-1] == pytest.approx(3e-6)
    assert np.all(np.diff(c) > 0) and np.all(np.diff(c, 2) < 0)  # saturating: steps shrink
    lin = ExponentialMemristor(g_min=1e-6, g_max=3e-6, n_pulses=20, nonlinearity=0.0).curve()
    np.testing.assert_allclose(np.diff(lin), 1e-7)
    # Depression walks the same curve backwards from the end.
    np.testing.assert_allclose(dev.depression(np.arange(21)), c[::-1])


def test_fit_preset_follows_measurement():
    dev = SP291D1NR100Fit()
    assert dev.g0 == pytest.approx(1 / 2.200317e6, rel=1e-3)
    assert 1 / dev.curve()[-1] == pytest.approx(1.92e6, rel=0.02)
    if MEASURED.is_file():
        g = load_pulse_curve(MEASURED).conductance
        assert np.std(dev.curve() - g) / dev.span < 0.15


def test_saturation_is_counted_not_raised():
    dev = TabulatedMemristor([1e-6, 2e-6, 3e-6])
    arr = MemristorArray(dev, (2,), rng=0)
    for _ in range(2):
        assert arr.pulse(np.array([1, 0])) == 0
    assert arr.pulse(np.array([1, -1])) == 2     # one at the top, one at the bottom
    assert arr.saturated == 2 and arr.pulses_sent == 4
    np.testing.assert_allclose(arr.conductance, [3e-6, 1e-6])
    arr.pulse(np.array([-1, 0]))
    np.testing.assert_allclose(arr.conductance, [2e-6, 1e-6])


def test_reset_step_and_validation():
    dev = ExponentialMemristor(n_pulses=10, reset_step=3)
    m, sat = dev.step(np.array([5, 2, 0]), np.array([-1, -1, -1]))
    np.testing.assert_array_equal(m, [2, 0, 0])
    np.testing.assert_array_equal(sat, [False, False, True])
    with pytest.raises(ValidationError, match="g_max"):
        ExponentialMemristor(g_min=2e-6, g_max=1e-6)
    with pytest.raises(ValidationError, match="reset_step"):
        ExponentialMemristor(reset_step=0)
    arr = MemristorArray(dev, (2, 2), rng=0)
    with pytest.raises(ShapeError, match=r"\(2, 2\)"):
        arr.pulse(np.ones(4, dtype=int))
    with pytest.raises(ValidationError, match="-1"):
        arr.pulse(np.full((2, 2), 2))


# device-to-device masks and seeds -------------------------------------------------
@pytest.mark.parametrize("dist", ["exponential", "lognormal"])
def test_mask_moments(dist):
    m = sample_mask(dist, 0.2, (200_000,), np.random.default_rng(3))
    assert m.mean() == pytest.approx(1.0, abs=0.003)
    assert m.std() == pytest.approx(0.2, rel=0.02)
    assert m.min() > 0
    np.testing.assert_array_equal(sample_mask(dist, 0.0, (3,), 0), np.ones(3))


def test_mask_errors():
    with pytest.raises(ValidationError, match="unknown"):
        sample_mask("gaussian", 0.1, (2,), 0)
    with pytest.raises(ValidationError, match="< 1"):
        sample_mask("exponential", 1.0, (2,), 0)


def test_zero_variation_gives_the_nominal_device():
    dev = SP291D1NR100Fit(c2c=0.0)
    arr = MemristorArray(dev, (4, 4), DeviceVariation(shift_d2d=0.0), k_scale=2.0, rng=0)
    np.testing.assert_allclose(arr.conductance, 2.0 * dev.g0)
    arr.pulse(np.ones((4, 4), dtype=int))
    np.testing.assert_allclose(arr.conductance, 2.0 * dev.curve()[1])


def test_scale_mask_multiplies_the_swing():
    dev = TabulatedMemristor([1e-6, 2e-6])
    arr = MemristorArray(dev, (1000,), DeviceVariation(shift_d2d=0.0, scale_d2d=0.3), rng=1)
    arr.pulse(np.ones(1000, dtype=int))
    np.testing.assert_allclose(arr.conductance, 1e-6 + arr.scale * 1e-6)
    assert arr.scale.std() == pytest.approx(0.3, rel=0.15)


def test_same_seed_same_chip():
    dev = SP291D1NR100Fit()   # with c2c noise: the pulses draw from the same generator
    chips = []
    for _ in range(2):
        arr = MemristorArray(dev, (4, 4), DeviceVariation(), rng=42)
        for _ in range(5):
            arr.pulse(np.ones((4, 4), dtype=int))
        chips.append(arr.conductance)
    np.testing.assert_array_equal(chips[0], chips[1])
    other = MemristorArray(dev, (4, 4), DeviceVariation(), rng=43).conductance
    assert not np.allclose(other, MemristorArray(dev, (4, 4), DeviceVariation(), rng=42).conductance)


def test_c2c_noise_is_redrawn_per_pulse_only():
    dev = ExponentialMemristor(c2c=0.1)
    arr = MemristorArray(dev, (3,), rng=0)
    arr.pulse(np.array([1, 1, 0]))
    first = arr.conductance.copy()
    assert first[2] == pytest.approx(dev.g0)          # unpulsed device: no error
    arr.pulse(np.array([0, 1, 0]))
    assert arr.conductance[0] == first[0]             # the error stays until the next pulse
    assert arr.conductance[1] != first[1]
