"""Both backends against closed forms: divider, crossbar, diode I-V, amplifier."""
import numpy as np
import pytest

from ebana.backends import get_backend, make_stimulus
from ebana.backends.junctions import VT_NOMINAL
from ebana.circuit import BehavioralDiode, CircuitBuilder, ShockleyDiode


def test_resistor_divider(backend_name):
    b = CircuitBuilder()
    top, mid = b.nodes("src", 1), b.nodes("mid", 1)
    b.vsources("src", top, 0, 3.0)
    b.resistors("r1", top, mid)
    b.resistors("r2", mid, 0)
    c = b.build()
    g = np.array([1 / 1000.0, 1 / 2000.0])
    op = get_backend(backend_name).solve(c, make_stimulus(c, g))
    assert op.v[0, mid[0]] == pytest.approx(2.0, abs=1e-12)
    # 1 mA flows out of the + terminal: SPICE reports -1 mA
    assert op.i_vs[0, 0] == pytest.approx(-1e-3, rel=1e-9)


def test_random_crossbar_matches_closed_form(backend_name, rng):
    """Columns held at known voltages: the current into column j is sum_i G_ij (V_i - U_j)."""
    n_rows, n_cols = 7, 5
    b = CircuitBuilder()
    rows, cols = b.nodes("row", n_rows), b.nodes("col", n_cols)
    b.vsources("row", rows, 0, 0.0)
    b.vsources("col", cols, 0, 0.0)
    b.resistors("xbar", rows[:, None], cols[None, :])
    c = b.build()
    G = rng.uniform(1e-6, 1e-4, size=(n_rows, n_cols))
    V = rng.uniform(-1, 1, size=(3, n_rows))
    U = rng.uniform(-0.2, 0.2, size=(3, n_cols))
    op = get_backend(backend_name).solve(c, make_stimulus(c, G.ravel(), np.hstack([V, U])))
    expected = np.einsum("ij,bij->bj", G, V[:, :, None] - U[:, None, :])
    # current arriving at a column flows into the + terminal of its source
    np.testing.assert_allclose(op.i_vs[:, n_rows:], expected, rtol=1e-9, atol=1e-15)


def _diode_iv(backend_name, model, direction, bias, volts):
    b = CircuitBuilder()
    net, bn = b.nodes("net", 1), b.nodes("bias", 1)
    b.vsources("net", net, 0, 0.0)
    b.vsources("bias", bn, 0, bias)
    if direction == "down":
        b.diodes("dio", net, bn, model)
    else:
        b.diodes("dio", bn, net, model)
    c = b.build()
    vs = np.column_stack([volts, np.full(len(volts), bias)])
    op = get_backend(backend_name).solve(c, make_stimulus(c, np.ones(0), vs))
    return -op.i_vs[:, 0]  # current leaving the net into the diode


@pytest.mark.parametrize("direction", ["down", "up"])
@pytest.mark.parametrize("vth", [0.0, 0.3])
def test_behavioral_diode_iv(backend_name, direction, vth):
    model = BehavioralDiode(vth=vth, ron=200.0, roff=1e8)
    bias = 0.5
    volts = np.linspace(-1.0, 2.0, 31)
    i = _diode_iv(backend_name, model, direction, bias, volts)
    vd = (volts - bias) if direction == "down" else (bias - volts)
    expected = vd / model.roff + np.where(vd > vth, (vd - vth) * (1 / model.ron - 1 / model.roff), 0.0)
    if direction == "up":
        expected = -expected
    np.testing.assert_allclose(i, expected, rtol=1e-7, atol=1e-14)
    # conducts only beyond bias +- VTH
    on = np.abs(i) > 1e-6
    assert np.array_equal(on, vd > vth + 1e-6 * 200)


def test_shockley_diode_iv(backend_name):
    model = ShockleyDiode.from_library()
    volts = np.linspace(-0.5, 0.7, 13)
    i = _diode_iv(backend_name, model, "down", 0.0, volts)
    vt = model.n * VT_NOMINAL
    # SPICE's level-1 junction: exponential above -3 VT, its reverse-bias form below
    arg = (3 * vt / (np.e * np.where(volts < 0, volts, -1.0))) ** 3
    expected = np.where(volts >= -3 * vt, model.is_ * np.expm1(volts / vt), -model.is_ * (1 + arg))
    expected += 1e-12 * volts
    np.testing.assert_allclose(i, expected, rtol=1e-6, atol=1e-15)


@pytest.mark.parametrize("gain,shift", [(4.0, 0.0), (0.5, 0.2), (-2.0, 0.1)])
def test_amplifier_gain_and_backward_current(backend_name, gain, shift):
    b = CircuitBuilder()
    src, inp, out = b.nodes("src", 1), b.nodes("inp", 1), b.nodes("out", 1)
    b.vsources("src", src, 0, 0.3)
    b.resistors("rin", src, inp)
    b.amplifiers("amp", inp, out, gain, shift)
    b.resistors("load", out, 0)
    c = b.build()
    g_in, g_load = 1e-3, 2e-4
    op = get_backend(backend_name).solve(c, make_stimulus(c, np.array([g_in, g_load])))
    v_in, v_out = op.v[0, inp[0]], op.v[0, out[0]]
    assert v_out == pytest.approx(gain * v_in + shift, abs=1e-12)
    # the input draws (load current)/gain through r_in
    i_load = g_load * v_out
    assert g_in * (0.3 - v_in) == pytest.approx(i_load / gain, rel=1e-9)


def test_two_ngspice_backends_in_turn_do_not_mix_circuits():
    """libngspice holds one circuit per process; two backend objects must not see each other's."""
    from ebana.backends.ngspice import NgspiceBackend

    def divider(top_volts):
        b = CircuitBuilder()
        top, mid = b.nodes("src", 1), b.nodes("mid", 1)
        b.vsources("src", top, 0, top_volts)
        b.resistors("r1", top, mid)
        b.resistors("r2", mid, 0)
        return b.build(), mid[0]

    (c1, m1), (c2, m2) = divider(1.0), divider(1.0)
    first, second = NgspiceBackend(), NgspiceBackend()
    g = np.array([1e-3, 1e-3])
    for volts in (1.0, 3.0, 1.0):
        a = first.solve(c1, make_stimulus(c1, g, np.array([[volts]])))
        b = second.solve(c2, make_stimulus(c2, 2 * g, np.array([[2 * volts]])))
        assert a.v[0, m1] == pytest.approx(volts / 2, abs=1e-12)
        assert b.v[0, m2] == pytest.approx(volts, abs=1e-12)
