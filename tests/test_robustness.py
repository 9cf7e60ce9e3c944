"""Robustness over simulated chips: reproducible from the seed, Ngspice = native, files and plot."""
import numpy as np
import pytest
from test_noise_training import network

from ebana.analysis.robustness import RobustnessResult, chip_conductances, chip_seed, plot_robustness
from ebana.devices import Variability
from ebana.errors import ShapeError, ValidationError
from ebana.training import MSE

rng = np.random.default_rng(0)
X = rng.uniform(0, 1, size=(24, 2))
DATA = {"x": X, "out": np.where((X[:, :1] > 0.5) ^ (X[:, 1:] > 0.5), 0.05, -0.05)}


def test_same_seed_same_numbers_other_seed_other_numbers():
    model = network()
    a = model.evaluate_robustness(DATA, sigmas=[0.0, 0.3, 0.8], chips=12, seed=4, loss_fn=MSE(), verbose=False)
    b = model.evaluate_robustness(DATA, sigmas=[0.0, 0.3, 0.8], chips=12, seed=4, loss_fn=MSE(), verbose=False)
    c = model.evaluate_robustness(DATA, sigmas=[0.0, 0.3, 0.8], chips=12, seed=5, loss_fn=MSE(), verbose=False)
    np.testing.assert_array_equal(a.accuracy, b.accuracy)
    assert not np.array_equal(a.accuracy[2], c.accuracy[2])
    assert a.accuracy.shape == (3, 12)


def test_zero_sigma_gives_the_nominal_accuracy_on_every_chip():
    model = network()
    res = model.evaluate_robustness(DATA, sigmas=[0.0], chips=5, seed=0, loss_fn=MSE(), verbose=False)
    nominal = model.evaluate(DATA, loss_fn=MSE())["accuracy"]
    np.testing.assert_allclose(res.accuracy[0], nominal)
    st = res.summary()[0.0]
    assert st["iqr"] == 0 and st["min"] == st["max"] == pytest.approx(nominal)


def test_chip_draws_are_fixed_per_chip_and_scale_with_sigma():
    model = network()
    g = model.conductances()
    small = chip_conductances(model, Variability(kind="gaussian", sigma=0.01, scope="chip"), chip_seed(0, 3))
    large = chip_conductances(model, Variability(kind="gaussian", sigma=0.02, scope="chip"), chip_seed(0, 3))
    other = chip_conductances(model, Variability(kind="gaussian", sigma=0.01, scope="chip"), chip_seed(0, 4))
    np.testing.assert_allclose(large - g, 2 * (small - g), rtol=1e-9)   # the same devices, twice the spread
    assert not np.allclose(small, other)
    n1 = model.layer("d1").g.size  # the layers of one chip are independent
    assert not np.allclose((small[:n1] / g[:n1])[:4], (small[n1:] / g[n1:])[:4])
    huge = chip_conductances(model, Variability(kind="gaussian", sigma=3.0, scope="chip"), 1)
    assert huge.min() > 0


def test_ngspice_and_native_agree_chip_by_chip():
    model = network()
    kw = dict(sigmas=[0.2, 0.6], chips=3, seed=2, loss_fn=MSE(), verbose=False)
    spice = model.evaluate_robustness(DATA, backend="ngspice", **kw)
    native = model.evaluate_robustness(DATA, backend="native", **kw)
    np.testing.assert_array_equal(spice.accuracy, native.accuracy)


def test_saved_file_and_box_plot(tmp_path):
    model = network(levels=2)
    res = model.evaluate_robustness(DATA, sigmas=[0.0, 0.5], chips=4, seed=1, loss_fn=MSE(), kind="lognormal",
                                    path=tmp_path / "r.h5", name="binary", plot=tmp_path / "r.png", verbose=False)
    back = RobustnessResult.load(tmp_path / "r.h5", "binary")
    np.testing.assert_array_equal(back.accuracy, res.accuracy)
    assert back.kind == "lognormal" and back.seed == 1 and back.backend == res.backend
    assert (tmp_path / "r.png").stat().st_size > 1000
    plot_robustness({"a": res, "b": back}, tmp_path / "two.png")
    assert "| binary | 0.5 |" in res.table("binary")
    with pytest.raises(ValidationError, match="no ebana robustness result named 'nope'"):
        RobustnessResult.load(tmp_path / "r.h5", "nope")


def test_errors_are_explicit():
    model = network()
    with pytest.raises(ValidationError, match="loss_fn"):
        model.evaluate_robustness(DATA, sigmas=[0.1], chips=2)
    with pytest.raises(ValidationError, match="chips"):
        model.evaluate_robustness(DATA, sigmas=[0.1], chips=0, loss_fn=MSE())
    with pytest.raises(ValidationError, match=r"sigmas\[1\]"):
        model.evaluate_robustness(DATA, sigmas=[0.1, -1], chips=2, loss_fn=MSE())


def test_read_noise_is_drawn_per_group_reproducibly_and_vanishes_at_zero_sigma():
    from ebana.analysis.chips import chip_accuracy, prepare_batches, read_noise_accuracy
    model = network()
    batches = prepare_batches(model, DATA, 10)
    g = model.conductances()
    nominal = chip_accuracy(model, model.backend, batches, g, MSE())
    quiet = Variability(kind="gaussian", sigma=0.0, scope="read", gradient="straight_through")
    assert read_noise_accuracy(model, model.backend, batches, g, MSE(), quiet, seed=1, group=3) == nominal
    loud = Variability(kind="gaussian", sigma=0.8, scope="read", gradient="straight_through")
    runs = [read_noise_accuracy(model, model.backend, batches, g, MSE(), loud, seed=s, group=1) for s in (1, 1, 2, 3)]
    assert runs[0] == runs[1]  # the seed fixes the draws
    assert len(set(runs)) > 1  # other seeds, other draws
    assert all(0.0 <= r <= 1.0 for r in runs)


@pytest.mark.parametrize("bad, match", [(dict(group=0), "group"), (dict(group=2.5), "group"),
                                        (dict(variability=Variability(sigma=0.1, scope="chip")), "scope 'read'"),
                                        (dict(g=np.ones(3)), "g must hold the 20 conductances")])
def test_read_noise_arguments_are_checked(bad, match):
    from ebana.analysis.chips import prepare_batches, read_noise_accuracy
    model = network()
    args = dict(g=model.conductances(), group=4,
                variability=Variability(sigma=0.1, scope="read", gradient="straight_through"))
    args.update(bad)
    with pytest.raises((ValidationError, ShapeError), match=match):
        read_noise_accuracy(model, model.backend, prepare_batches(model, DATA, 10), args["g"], MSE(),
                            args["variability"], seed=0, group=args["group"])
