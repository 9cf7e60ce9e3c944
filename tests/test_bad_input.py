"""Malformed batches are refused before any solve, and no weight or optimizer state changes."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ebana import EbanaError, ShapeError, ValidationError
from ebana.training import MSE, Adam
from ebana.training.fit import train_step
from networks import xor_like

MODEL = xor_like("native", seed=3)
OPT = Adam(lr=1e-6)
GOOD_X = np.array([[0.5, -0.5], [-0.2, 0.3], [0.1, 0.1]])
GOOD_Y = np.array([[0.1], [-0.1], [0.2]])
BAD_VALUES = st.sampled_from([np.nan, np.inf, -np.inf, 1e6, -1e9])


@st.composite
def malformed_batches(draw):
    """A good batch with one defect: missing key, wrong shape, bad value, mismatched lengths."""
    x, y = GOOD_X.copy(), GOOD_Y.copy()
    defect = draw(st.sampled_from(["no_x", "no_y", "x_cols", "y_cols", "x_rows", "y_rows", "x_value",
                                   "y_value", "x_rank", "y_text", "not_dict"]))
    row = draw(st.integers(0, 2))
    if defect == "x_value":
        x[row, draw(st.integers(0, 1))] = draw(BAD_VALUES)
    elif defect == "y_value":
        y[row, 0] = draw(st.sampled_from([np.nan, np.inf]))
    elif defect == "x_cols":
        x = np.zeros((3, draw(st.sampled_from([1, 3, 5]))))
    elif defect == "y_cols":
        y = np.zeros((3, draw(st.sampled_from([2, 4]))))
    elif defect == "x_rows":
        x = np.zeros((draw(st.sampled_from([1, 2, 4])), 2))
    elif defect == "y_rows":
        y = np.zeros((draw(st.sampled_from([1, 2, 5])), 1))
    elif defect == "x_rank":
        x = np.zeros((3, 2, draw(st.integers(1, 3))))
    elif defect == "y_text":
        y = np.array([["a"], ["b"], ["c"]])
    batch = {"x": x, "out": y}
    if defect == "no_x":
        del batch["x"]
    elif defect == "no_y":
        del batch["out"]
    elif defect == "not_dict":
        return list(batch.items())
    return batch


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(malformed_batches())
def test_malformed_batches_are_refused_and_weights_unchanged(batch):
    before = {k: v.copy() for k, v in MODEL.parameters().items()}
    steps, solves = OPT.steps, MODEL.backend.solves
    with pytest.raises(EbanaError) as info:
        train_step(MODEL, batch, MSE(), OPT, 1e-6)
    assert isinstance(info.value, (ShapeError, ValidationError))
    assert MODEL.backend.solves == solves, "a refused batch must not reach the simulator"
    assert OPT.steps == steps
    for k, v in MODEL.parameters().items():
        np.testing.assert_array_equal(v, before[k])


def test_errors_name_the_layer_and_sample():
    with pytest.raises(ValidationError, match=r"InputVoltageLayer 'x'.*sample 2"):
        train_step(MODEL, {"x": np.array([[0, 0], [0, 0], [0, np.inf]]), "out": GOOD_Y}, MSE(), OPT, 1e-6)
    with pytest.raises(ValidationError, match=r"CurrentLayer 'out'.*sample 1"):
        train_step(MODEL, {"x": GOOD_X, "out": np.array([[0], [np.nan], [0]])}, MSE(), OPT, 1e-6)
    with pytest.raises(ShapeError, match=r"CurrentLayer 'out'.*\(3, 1\)"):
        train_step(MODEL, {"x": GOOD_X, "out": np.zeros((3, 2))}, MSE(), OPT, 1e-6)


def test_a_good_batch_still_trains():
    before = MODEL.layer("d2").g.copy()
    train_step(MODEL, {"x": GOOD_X, "out": GOOD_Y}, MSE(), OPT, 1e-6)
    assert not np.array_equal(before, MODEL.layer("d2").g)


ZERO = r"\(0, 1000000.0\]; entry \(1234,\) is 0.0 \(a zero conductance is an open circuit"


@pytest.mark.parametrize("bad, words", [(0.0, ZERO), (-1e-6, "must lie in"), (np.nan, "non-finite"),
                                        (2e6, "must lie in")])
@pytest.mark.parametrize("n_in, large", [(10, False), (80, True)])
def test_bad_conductances_are_refused_before_solving(n_in, large, bad, words):
    """Every conductance is checked (> 0 S, finite, at most 1e6 S), by the masks small arrays
    take and by the two reductions of large ones (more than 4096 conductances)."""
    from ebana.backends import make_stimulus
    from ebana.networks import clamped_mlp
    model = clamped_mlp(n_in, [70], 4, backend="native")
    g = model.conductances().copy()
    assert (g.size > 4096) == large
    g[1234] = bad
    with pytest.raises(ValidationError, match=words):
        make_stimulus(model.circuit, g)
