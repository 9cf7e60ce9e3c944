"""Non-converging operating points: retried in real Ngspice, then rejected with sample and text."""
import numpy as np
import pytest

from ebana import CurrentLayer, DenseLayer, InputVoltageLayer, Model, SimulatorError
from ebana.backends import make_stimulus
from ebana.backends.ngspice import NgspiceBackend
from ebana.backends.retry import Attempt, RetryingBackend
from ebana.circuit import CircuitBuilder
from ebana.layers.base import Layer
from ebana.training import MSE, SGD, DataLoader
from ebana.training.fit import fit, train_step


def cubic_circuit():
    """A node held by i = (V - Vs)^3 + 1e-9 (V - Vs): plain Newton solves it, but
    with ``noopiter`` (skip straight to gmin stepping) Ngspice 39 finds no point."""
    b = CircuitBuilder()
    s, n = b.nodes("s", 1), b.nodes("n", 1)
    b.vsources("src", s, 0, 5.0)
    b.resistors("r", s[:, None], np.array([[0]]))
    b.spice_block("cube", "bcube n__0 0 i = (v(n__0) - v(s__0))^3 + 1e-9*(v(n__0) - v(s__0))")
    return b.build()


def test_retry_ladder_rescues_a_sample_real_ngspice():
    c = cubic_circuit()
    stim = make_stimulus(c, np.array([1.0]), vs=np.array([[1.0], [5.0], [2.0]]))
    plain = NgspiceBackend(options={"noopiter": 1})
    with pytest.raises(SimulatorError) as info:
        plain.solve(c, stim)
    assert info.value.sample == 0 and "gmin" in info.value.output
    retrying = RetryingBackend(NgspiceBackend(options={"noopiter": 1}))
    op = retrying.solve(c, stim)
    np.testing.assert_allclose(op.v[:, 2], [1.0, 5.0, 2.0], atol=1e-6)
    assert retrying.rescued == [(0, "more Newton iterations"), (1, "more Newton iterations"),
                                (2, "more Newton iterations")]
    assert retrying.inner.options == {"noopiter": 1}  # the user's options are restored


def test_unsolvable_sample_is_rejected_with_index_and_ngspice_text():
    """i = 1 mA + 1 mA/V^2 V^2 out of a node tied to ground by 1 kOhm has no real solution."""
    b = CircuitBuilder()
    n = b.nodes("n", 1)
    b.vsources("src", b.nodes("s", 1), 0, 1.0)
    b.resistors("r", n[:, None], np.array([[0]]))
    b.spice_block("bad", "bbad n__0 0 i = 1e-3 + 1e-3*v(n__0)*v(n__0)")
    c = b.build()
    backend = RetryingBackend("ngspice")
    with pytest.raises(SimulatorError) as info:
        backend.solve(c, make_stimulus(c, np.array([1e-3]), vs=np.zeros((2, 1))), sample_offset=10)
    err = info.value
    assert err.sample == 10
    assert "retried with more Newton iterations, gmin stepping, source stepping" in str(err)
    assert "gmin" in err.output.lower() or "source" in err.output.lower()


class QuadraticLoad(Layer):
    """Test layer: from input net k, 1 kOhm to a private node drawing 1 mA/V^2 * V^2.

    KCL gives V^2 + V - x = 0: a solution exists only for x >= -0.25 V, so a
    sample with a more negative input has no operating point at all.
    """

    def lower(self, builder, input_nodes):
        names = [builder._names[k] for k in input_nodes]
        lines = []
        for k, net in enumerate(names):
            lines += [f"rq{k} {net} {self.name}__q{k} 1000", f"bq{k} {self.name}__q{k} 0 i = 1e-3*v({self.name}__q{k})^2"]
        builder.nodes(self.name, len(names), suffix="q")
        builder.spice_block(self.name, "\n".join(lines))
        return input_nodes


def loaded_model():
    x = InputVoltageLayer(units=2, name="x")
    h = QuadraticLoad(name="load")(x)
    h = DenseLayer(units=2, name="d1", initializer=("uniform", 1e-5, 1e-4))(h)
    out = CurrentLayer(name="out")(h)
    return Model(inputs=[x], outputs=[out], backend="ngspice", seed=3)


X = np.array([[0.1, 0.2], [0.3, -0.1], [-1.0, 0.2], [0.2, 0.2]])
Y = np.full((4, 2), 0.1)


def test_failed_batch_changes_no_weight_and_no_optimizer_state():
    model = loaded_model()
    opt = SGD(lr=1e-6, momentum=0.9)
    before = {k: v.copy() for k, v in model.parameters().items()}
    with pytest.raises(SimulatorError) as info:
        train_step(model, {"x": X, "out": Y}, MSE(), opt, 1e-6)
    assert info.value.sample == 2
    for k, v in model.parameters().items():
        np.testing.assert_array_equal(v, before[k])
    assert opt.steps == 0


def test_fit_on_failure_stop_names_the_dataset_sample():
    model = loaded_model()
    loader = DataLoader({"x": X, "out": Y}, batch_size=2, shuffle=True, seed=1)
    opt = SGD(lr=1e-6)
    with pytest.raises(SimulatorError, match=r"dataset sample 2") as info:
        fit(model, loader, 1, MSE(), opt, 1e-6, verbose=False, on_failure="stop")
    assert info.value.sample == 2


def test_fit_on_failure_skip_trains_on_the_other_batches():
    model = loaded_model()
    loader = DataLoader({"x": X, "out": Y}, batch_size=1)
    opt = SGD(lr=1e-6)
    with pytest.warns(RuntimeWarning, match="skipped batch 2"):
        history = fit(model, loader, 2, MSE(), opt, 1e-6, verbose=False, on_failure="skip")
    assert history["skipped_batches"] == [1.0, 1.0]
    assert opt.steps == 6


def test_on_failure_must_be_known():
    from ebana import ValidationError
    with pytest.raises(ValidationError, match="on_failure"):
        fit(loaded_model(), {"x": X, "out": Y}, 1, MSE(), SGD(), 1e-6, on_failure="ignore")


def test_native_backend_is_retried_with_more_iterations():
    from networks import xor_like

    from ebana.backends.dense.backend import DenseBackend
    model = xor_like(RetryingBackend(DenseBackend(max_iterations=2), attempts=[
        Attempt("more Newton iterations", max_iterations=200)]), kind="real")
    reference = xor_like("native", kind="real")
    x = {"x": np.array([[1.0, -1.0], [-1.0, 1.0]])}
    np.testing.assert_allclose(model.solve(x).v, reference.solve(x).v, atol=1e-9)
    assert model.backend.rescued and model.backend.inner.max_iterations == 2
