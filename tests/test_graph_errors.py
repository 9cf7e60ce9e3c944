"""Every invalid graph and name raises a clear error before anything is simulated."""
import numpy as np
import pytest

from ebana import (BiasVoltageLayer, ConcatenateLayer, CurrentLayer, DenseLayer, DiodeLayer, GraphError,
                   InputVoltageLayer, Model, ShapeError, ValidationError, AmplificationLayer)
from ebana.circuit import CircuitBuilder


def test_cycle_is_refused():
    x = InputVoltageLayer(units=2, name="x")
    d1 = DenseLayer(units=2, name="d1")
    d2 = DenseLayer(units=2, name="d2")
    d1.units = 2  # pretend d1 was connected so that d2 can take it
    d2(d1)
    d1._called = False
    d1(ConcatenateLayer(name="j")([x, d2]))
    out = CurrentLayer(name="out")(d1)
    with pytest.raises(GraphError, match="cycle"):
        Model(inputs=[x], outputs=[out])


def test_layer_used_twice_is_refused():
    x = InputVoltageLayer(units=2, name="x")
    d = DenseLayer(units=2, name="d")
    d(x)
    with pytest.raises(GraphError, match="only once"):
        d(x)


def test_unconnected_input_is_refused():
    x = InputVoltageLayer(units=2, name="x")
    y = InputVoltageLayer(units=2, name="y")
    out = CurrentLayer(name="out")(DenseLayer(units=2, name="d")(x))
    with pytest.raises(GraphError, match="not connected"):
        Model(inputs=[x, y], outputs=[out])


def test_input_not_listed_is_refused():
    x = InputVoltageLayer(units=2, name="x")
    y = InputVoltageLayer(units=2, name="y")
    out = CurrentLayer(name="out")(DenseLayer(units=2, name="d")(ConcatenateLayer(name="j")([x, y])))
    with pytest.raises(GraphError, match="not listed"):
        Model(inputs=[x], outputs=[out])


def test_calling_on_unconnected_layer_is_refused():
    with pytest.raises(GraphError, match="not connected yet"):
        DenseLayer(units=2, name="d")(DenseLayer(units=3, name="e"))


def test_duplicate_names_ignoring_case_are_refused():
    x = InputVoltageLayer(units=2, name="x")
    h = DenseLayer(units=2, name="Dense")(x)
    h = DenseLayer(units=2, name="dense")(h)
    out = CurrentLayer(name="out")(h)
    with pytest.raises(GraphError, match="unique"):
        Model(inputs=[x], outputs=[out])


def test_output_must_be_current_layer():
    x = InputVoltageLayer(units=2, name="x")
    h = DenseLayer(units=2, name="d")(x)
    with pytest.raises(GraphError, match="CurrentLayer"):
        Model(inputs=[x], outputs=[h])


def test_source_layers_take_no_parents():
    x = InputVoltageLayer(units=2, name="x")
    with pytest.raises(GraphError, match="source"):
        BiasVoltageLayer(units=1, name="b")(x)


def test_dense_takes_one_parent():
    x = InputVoltageLayer(units=2, name="x")
    b = BiasVoltageLayer(units=1, name="b")
    with pytest.raises(GraphError, match="ConcatenateLayer"):
        DenseLayer(units=2, name="d")([x, b])


def test_shape_mismatch_names_layers():
    x = InputVoltageLayer(units=4, name="x")
    b = BiasVoltageLayer(units=2, name="b")
    j = ConcatenateLayer(name="j1")([x, b])
    d = DenseLayer(units=3, name="d1", initializer=np.full((4, 3), 1e-5))(j)
    out = CurrentLayer(name="out")(d)
    with pytest.raises(ShapeError, match=r"DenseLayer 'd1' expected initial conductances of shape \(6, 3\)"):
        Model(inputs=[x], outputs=[out])


def test_fold_needs_pairs():
    x = InputVoltageLayer(units=3, name="x")
    with pytest.raises(ShapeError, match="even"):
        CurrentLayer(name="out", fold=True)(DenseLayer(units=3, name="d")(x))


@pytest.mark.parametrize("bad", [
    "", "1abc", "a b", "a\nb", "a;b", "a__b", "a_", "x.control", ".include", "shell rm",
    "a" * 41, "n\n.control\nshell touch /tmp/x\n.endc", None, 3,
])
def test_invalid_names_are_refused(bad):
    with pytest.raises(ValidationError):
        DenseLayer(units=2, name=bad)
    with pytest.raises(ValidationError):
        CircuitBuilder().nodes(bad, 1)


@pytest.mark.parametrize("make", [
    lambda: DenseLayer(units=0, name="d"),
    lambda: DenseLayer(units=2, name="d", g_min=1e-4, g_max=1e-5),
    lambda: DenseLayer(units=2, name="d", g_min=-1.0),
    lambda: DiodeLayer(name="c", direction="sideways"),
    lambda: DiodeLayer(name="c", kind="magic"),
    lambda: DiodeLayer(name="c", param={"VTH": float("nan")}),
    lambda: DiodeLayer(name="c", param={"RON": 1e6, "ROFF": 1e3}),
    lambda: DiodeLayer(name="c", param={"VTH": "0.1\n.control"}),
    lambda: DiodeLayer(name="c", param={"SHELL": 1}),
    lambda: DiodeLayer(name="c", bias_voltage=float("inf")),
    lambda: DiodeLayer(name="c", kind="real", param={"model": "no_such_model"}),
    lambda: AmplificationLayer(name="a", param={"gain": 0.0}),
    lambda: AmplificationLayer(name="a", param={"gain": "2; shell"}),
    lambda: BiasVoltageLayer(units=2, name="b", bias_voltage=[1.0, 2.0, 3.0]),
])
def test_invalid_parameters_are_refused(make):
    with pytest.raises((ValidationError, ShapeError)):
        make()


def test_bad_batches_are_refused_before_solving():
    from networks import xor_like
    m = xor_like("native")
    with pytest.raises(ShapeError, match="no key 'x'"):
        m.solve({"y": np.zeros((2, 2))})
    with pytest.raises(ShapeError, match=r"\(batch, 2\)"):
        m.solve({"x": np.zeros((2, 3))})
    with pytest.raises(ValidationError, match="sample 1"):
        m.solve({"x": np.array([[0, 0], [np.nan, 1]])})


@pytest.mark.parametrize("text", [
    ".control\nshell touch /tmp/ebana_pwned\n.endc",
    "r1 a b 1k\n.include /etc/passwd",
    "* ok\nshell touch /tmp/x",
    "!echo hi",
])
def test_user_spice_blocks_cannot_run_commands(text):
    with pytest.raises(ValidationError):
        CircuitBuilder().spice_block("user", text)


def test_crafted_name_creates_no_file(tmp_path):
    """A name that would make Ngspice create a file if it were executed never reaches Ngspice."""
    target = tmp_path / "pwned"
    name = f"x\n.control\nshell touch {target}\n.endc\n"
    with pytest.raises(ValidationError):
        InputVoltageLayer(units=1, name=name)
    with pytest.raises(ValidationError):
        DiodeLayer(name="c", kind="real", param={"model": f"m\n.control\nshell touch {target}\n.endc"})
    assert not target.exists()


CRAFTED = "x\n.control\nshell touch {target}\n.endc\n*"


def test_crafted_title_and_option_name_never_reach_ngspice(tmp_path):
    """The free-text parts of a netlist (title, option names) refuse a line break too."""
    from networks import xor_like
    from ebana.backends.ngspice import NgspiceBackend
    target = tmp_path / "pwned"
    model = xor_like("ngspice")
    with pytest.raises(ValidationError, match="title"):
        model.write_netlist(tmp_path / "n.cir", {"x": [1.0, 0.0]}, title=CRAFTED.format(target=target))
    evil = xor_like(NgspiceBackend(options={CRAFTED.format(target=target): 1}))
    with pytest.raises(ValidationError, match="option name"):
        evil.solve({"x": np.zeros((1, 2))})
    assert not target.exists() and not (tmp_path / "n.cir").exists()


def test_crafted_block_would_run_if_ngspice_saw_it(tmp_path):
    """Control for the tests above: the same text, fed to Ngspice directly, does create the
    file, so 'the file is absent' really means 'the text never ran'."""
    import shutil
    import subprocess
    if shutil.which("ngspice") is None:
        pytest.skip("ngspice executable not installed")
    target = tmp_path / "pwned"
    deck = tmp_path / "evil.cir"
    deck.write_text("* " + CRAFTED.format(target=target) + "\nr1 a 0 1k\nv1 a 0 1\n.end\n")
    subprocess.run(["ngspice", "-b", str(deck)], capture_output=True, timeout=30)
    assert target.exists()


def test_long_real_diode_layer_name_is_accepted():
    name = "a" * 40
    layer = DiodeLayer(name=name, kind="real", param={"IS": 1e-12})
    other = DiodeLayer(name="a" * 39 + "b", kind="real", param={"IS": 2e-12})
    assert layer.model.name != other.model.name and len(layer.model.name) <= 40
