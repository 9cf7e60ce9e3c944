"""Inputs of the wrong kind or units, currents of the wrong shape, a model moved to a process
pool, and what model.solver() reports after a fallback (issue 25, items 10, 11, 12 and the
units and pooling frictions)."""
import warnings

import numpy as np
import pytest
from networks import xor_like

from ebana import AveragePooling2DLayer, InputVoltageLayer, ShapeError, ValidationError
from ebana.validation import check_array


@pytest.fixture(scope="module")
def model():
    return xor_like("native", seed=1)


@pytest.mark.parametrize("x, words", [
    (np.array([[0.1 + 0.5j, 0.2]]), "complex array"),
    ([[0.1, 0.2j]], "complex"),
    (np.array([["0.1", "0.2"]]), "text"),
    ([[0.1, "abc"]], "text"),
    ([[0.1, None]], r"entry \(0, 1\) is NoneType"),
])
def test_complex_and_text_inputs_are_refused(model, x, words):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's ComplexWarning must not be the only word
        with pytest.raises(ValidationError, match=r"InputVoltageLayer 'x' input voltages \(V\).*" + words):
            model.predict({"x": x})


@pytest.mark.parametrize("g", [np.array([1e-5 + 1e-6j]), ["1e-5"], [1e-5, "x"]])
def test_complex_and_text_conductances_are_refused(g):
    with pytest.raises(ValidationError, match="conductances"):
        check_array(g, "conductances (S)", 0, 1)


def test_raw_integer_images_warn_and_integer_volts_do_not(model):
    with pytest.warns(UserWarning, match=r"integer inputs \(uint8\) up to 255.*scale_to_volts"):
        model.predict({"x": np.array([[0, 255]], dtype=np.uint8)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.predict({"x": np.array([[0, 1]], dtype=np.int64)})  # small integer volts: no word


def test_pooling_that_does_not_divide_the_image_is_refused_and_gaps_warn():
    x = InputVoltageLayer(shape=(5, 4, 1), name="img")
    with pytest.raises(ShapeError, match=r"'p'.*does not divide the \(5, 4\) image.*last 1 row\(s\) and 0 column"):
        AveragePooling2DLayer(2, name="p")(x)
    with pytest.raises(ShapeError, match=r"'e'.*last 0 row\(s\) and 1 column"):  # a gap and the edge
        AveragePooling2DLayer(2, name="e", strides=(2, 3))(InputVoltageLayer(shape=(4, 6, 1), name="i6"))
    with pytest.warns(UserWarning, match=r"'g'.*: 0 row\(s\) and 1 column\(s\) between windows"):  # a gap
        AveragePooling2DLayer(2, name="g", strides=(2, 3))(InputVoltageLayer(shape=(4, 5, 1), name="i5"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        AveragePooling2DLayer(2, name="q")(InputVoltageLayer(shape=(4, 4, 1), name="img2"))


@pytest.mark.parametrize("currents, error, words", [
    ({"out": np.zeros((3, 5))}, ShapeError, r"'out' must have shape \(batch, nets\) = \(2, 2\).*\(3, 5\)"),
    ({"nope": np.zeros((2, 1))}, ShapeError, "not an output"),
    ({"out": np.array([[1j], [0]])}, ValidationError, "complex"),
    ([1.0], ValidationError, "must be a dict"),
])
def test_currents_of_the_wrong_shape_are_named(model, currents, error, words):
    with pytest.raises(error, match=words):
        model.solve({"x": np.zeros((2, 2))}, currents=currents)


def test_a_model_moves_to_a_process_pool_and_back():
    m = xor_like("native", seed=1)
    x = {"x": np.array([[0.1, -0.2], [0.3, 0.4]])}
    expected = m.predict(x)["out"]
    try:
        m.to("native:2")
        assert m.backend_name == "native:2" and m.solver() == "native in 2 worker processes"
        np.testing.assert_allclose(m.predict(x)["out"], expected, atol=1e-12)
    finally:
        m.to("native")
    with pytest.raises(ValidationError, match="name:workers"):
        m.to("native:two")


def test_solver_reports_a_fallback_and_the_count_and_warns_once(rng):
    from ebana.networks import clamped_mlp
    model = clamped_mlp(20, 40, 2, backend="native")
    auto = model.backend.inner
    data = {"x": rng.uniform(-1, 1, size=(4, 20))}
    assert model.solver() == "native-layered"
    auto.layered.check_tol = 1e-30  # every layered solve now fails its KCL check
    with pytest.warns(RuntimeWarning, match="solved by the dense solver") as record:
        model.solve(data)
        model.solve(data)
    assert len([w for w in record if issubclass(w.category, RuntimeWarning)]) == 1
    assert model.solver().startswith("native-dense (fallback: the layered solver failed")
    assert "2 fallbacks so far" in model.solver()
    auto.layered.check_tol = 1e-9
    model.solve(data)
    assert model.solver() == "native-layered"


def test_solver_of_a_user_backend_without_inner_is_its_name():
    from ebana.backends.base import Backend
    from ebana.backends.dense.backend import DenseBackend

    class Mine(Backend):
        name = "mine"

        def __init__(self):
            self.dense = DenseBackend()

        def solve(self, circuit, stimulus, initial=None, sample_offset=0):
            return self.dense.solve(circuit, stimulus, initial=initial, sample_offset=sample_offset)

    m = xor_like(Mine(), seed=1)
    assert m.solver() == "mine"
