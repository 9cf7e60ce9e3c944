"""Optimizers: update rules, in-place steps, exact resume, safe state loading."""
import os
import pickle

import numpy as np
import pytest

from ebana.errors import ShapeError, ValidationError
from ebana.training import SGD, Adam

# Toy quadratic loss L = 0.5 * sum (A p - b)^2 over two parameter groups.
RNG = np.random.default_rng(7)
TARGET = {"w": RNG.normal(size=(3, 2)), "b": RNG.normal(size=(2,))}


def init_params():
    return {"w": np.zeros((3, 2)), "b": np.ones(2)}


def grads_of(params):
    return {k: 2.0 * (params[k] - TARGET[k]) ** 3 + (params[k] - TARGET[k]) for k in params}


def run(opt, params, steps, lrs=None):
    for _ in range(steps):
        opt.step(params, grads_of(params), lrs=lrs)
    return params


def test_sgd_plain_and_momentum_match_hand_computation():
    p = {"w": np.array([1.0, -2.0])}
    g = {"w": np.array([0.5, 1.0])}
    SGD(lr=0.1).step(p, g)
    np.testing.assert_allclose(p["w"], [0.95, -2.1])
    p = {"w": np.zeros(1)}
    opt = SGD(lr=1.0, momentum=0.5)
    opt.step(p, {"w": np.ones(1)})   # v = 1
    opt.step(p, {"w": np.ones(1)})   # v = 0.5 + 1
    np.testing.assert_allclose(p["w"], [-2.5])


def test_adam_matches_reference_formula():
    g_seq = [np.array([0.3, -2.0]), np.array([0.1, 1.0]), np.array([-0.4, 0.5])]
    p = {"w": np.array([1.0, 1.0])}
    opt = Adam(lr=0.01, beta1=0.8, beta2=0.9, eps=1e-6)
    ref, m, v = p["w"].copy(), np.zeros(2), np.zeros(2)
    for t, g in enumerate(g_seq, 1):
        opt.step(p, {"w": g})
        m = 0.8 * m + 0.2 * g
        v = 0.9 * v + 0.1 * g * g
        ref = ref - 0.01 * (m / (1 - 0.8 ** t)) / (np.sqrt(v / (1 - 0.9 ** t)) + 1e-6)
    np.testing.assert_allclose(p["w"], ref, rtol=1e-12)
    assert opt.steps == 3


@pytest.mark.parametrize("make", [lambda: SGD(lr=0.05, momentum=0.9), lambda: Adam(lr=0.05)])
def test_updates_in_place_and_decrease_the_loss(make):
    params = init_params()
    held = params["w"]  # what a layer would hold
    loss0 = sum(np.sum((params[k] - TARGET[k]) ** 2) for k in params)
    run(make(), params, 60)
    assert params["w"] is held
    loss1 = sum(np.sum((params[k] - TARGET[k]) ** 2) for k in params)
    assert loss1 < 0.1 * loss0


def test_per_group_learning_rates():
    p = {"a": np.zeros(1), "b": np.zeros(1)}
    g = {"a": np.ones(1), "b": np.ones(1)}
    SGD(lr=0.1).step(p, g, lrs={"a": 0.5, "b": None})
    np.testing.assert_allclose([p["a"][0], p["b"][0]], [-0.5, -0.1])
    with pytest.raises(ValidationError, match="unknown parameter 'c'"):
        SGD().step(p, g, lrs={"c": 0.1})


@pytest.mark.parametrize("make", [lambda: SGD(lr=0.02, momentum=0.8),
                                  lambda: Adam(lr=0.03, beta1=0.85, beta2=0.99)])
def test_resume_from_saved_state_is_bit_identical(tmp_path, make):
    lrs = {"w": None, "b": 0.01}
    straight = run(make(), init_params(), 12, lrs)

    first = make()
    params = run(first, init_params(), 5, lrs)
    path = tmp_path / "opt.pkl"
    first.save_state(path)
    del first
    second = type(make())(lr=123.0)  # wrong hyperparameters: load must restore them
    second.load_state(path)
    resumed = run(second, params, 7, lrs)
    for k in straight:
        assert np.array_equal(straight[k], resumed[k]), k
    assert second.steps == 12
    # no temporary files left beside the state
    assert os.listdir(tmp_path) == ["opt.pkl"]


def test_load_checks_signature_now_or_at_next_step(tmp_path):
    opt = Adam(lr=1e-3)
    run(opt, init_params(), 2)
    path = tmp_path / "state.pkl"
    opt.save_state(path)

    seen = Adam(lr=1e-3)
    seen.step({"w": np.zeros((4, 2)), "b": np.zeros(2)}, {"w": np.zeros((4, 2)), "b": np.zeros(2)})
    with pytest.raises(ShapeError, match=r"state\.pkl.*'w'.*\(4, 2\).*\(3, 2\)"):
        seen.load_state(path)

    fresh = Adam(lr=1e-3)
    fresh.load_state(path)
    with pytest.raises(ShapeError, match=r"state\.pkl.*'extra'"):
        fresh.step({**init_params(), "extra": np.zeros(1)},
                   {**grads_of(init_params()), "extra": np.zeros(1)})


def test_load_refuses_wrong_class_missing_file_and_bad_layout(tmp_path):
    path = tmp_path / "sgd.pkl"
    SGD(momentum=0.5).save_state(path)
    with pytest.raises(ValidationError, match=r"sgd\.pkl.*'SGD'"):
        Adam().load_state(path)
    with pytest.raises(ValidationError, match="does not exist"):
        Adam().load_state(tmp_path / "missing.pkl")
    junk = tmp_path / "junk.pkl"
    junk.write_bytes(pickle.dumps({"format": "something"}, protocol=4))
    with pytest.raises(ValidationError, match=r"junk\.pkl.*expected a dict with keys"):
        SGD().load_state(junk)
    text = tmp_path / "text.pkl"
    text.write_text("not a pickle")
    with pytest.raises(ValidationError, match=r"text\.pkl"):
        SGD().load_state(text)


class _Exploit:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


class _OpenExploit:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


@pytest.mark.parametrize("exploit", [_Exploit, _OpenExploit])
def test_malicious_pickle_refused_and_no_file_created(tmp_path, exploit):
    created = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"format": exploit(str(created))}, protocol=4))
    with pytest.raises(ValidationError, match=r"evil\.pkl.*(system|open)"):
        Adam().load_state(path)
    assert not created.exists()


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_safe_unpickler_reads_numpy_in_every_protocol(tmp_path, protocol):
    from ebana.saving.safe_io import safe_load_pickle
    blob = {"a": np.arange(6.0).reshape(2, 3), "f": np.asfortranarray(np.ones((2, 2))),
            "s": np.float64(2.5), "i": np.int32(3), "t": (1, 2), "c": 1 + 2j}
    path = tmp_path / "p.pkl"
    path.write_bytes(pickle.dumps(blob, protocol=protocol))
    back = safe_load_pickle(path)
    np.testing.assert_array_equal(back["a"], blob["a"])
    np.testing.assert_array_equal(back["f"], blob["f"])
    assert back["s"] == 2.5 and back["i"] == 3 and back["t"] == (1, 2) and back["c"] == 1 + 2j


def test_step_validation():
    p = {"w": np.zeros(2)}
    with pytest.raises(ShapeError, match=r"'w'.*\(3,\).*\(2,\)"):
        SGD().step(p, {"w": np.zeros(3)})
    with pytest.raises(ValidationError, match="same names"):
        SGD().step(p, {"v": np.zeros(2)})
    with pytest.raises(ValidationError, match="non-finite"):
        SGD().step(p, {"w": np.array([0.0, np.nan])})
    with pytest.raises(ValidationError, match="in place"):
        SGD().step({"w": [0.0, 0.0]}, {"w": np.zeros(2)})
    with pytest.raises(ValidationError):
        Adam(beta1=1.0)
    with pytest.raises(ValidationError):
        SGD(lr=-1.0)


@pytest.mark.parametrize("size", [7, 300_001])
def test_adams_fused_pass_is_the_array_arithmetic_bit_for_bit(size):
    """The compiled pass (ebana/training/host_kernels.py), in one thread for a small array and
    split over threads for a large one, against Adam's step written as NumPy expressions."""
    from ebana.training.host_kernels import adam_step_host
    rng = np.random.default_rng(size)
    m, v, p = rng.normal(0, 1e-3, size), rng.uniform(0, 1e-6, size), rng.uniform(1e-9, 1e-6, size)
    m_ref, v_ref, p_ref = m.copy(), v.copy(), p.copy()
    g = rng.normal(0, 1e-3, size)
    b1, b2, eps, c1, c2, rate = 0.9, 0.999, 1e-8, 1 - 0.9 ** 3, 1 - 0.999 ** 3, 1e-9
    adam_step_host(g, b1, 1 - b1, b2, 1 - b2, 1 / np.sqrt(c2), eps, 1 / c1, m, v, p, rate)
    m_ref = m_ref * b1 + (1 - b1) * g
    v_ref = v_ref * b2 + (g * g) * (1 - b2)
    p_ref -= rate * (m_ref / (np.sqrt(v_ref) * (1 / np.sqrt(c2)) + eps) * (1 / c1))
    for got, want in ((m, m_ref), (v, v_ref), (p, p_ref)):
        np.testing.assert_array_equal(got, want)


def test_adams_fused_pass_refuses_an_array_it_would_copy():
    from ebana.training.host_kernels import adam_step_host
    a = np.zeros((4, 6))[:, ::2]
    with pytest.raises(ValueError, match="C-contiguous"):
        adam_step_host(a, 0.9, 0.1, 0.999, 0.001, 1.0, 1e-8, 1.0, a, a, a, 1e-9)


def test_adam_steps_a_parameter_view_in_place():
    """A parameter that is a strided view of a layer's array still changes in place."""
    base = np.full((4, 6), 1e-6)
    view = base[:, ::2]
    Adam(lr=1e-9).step({"w": view}, {"w": np.ones((4, 3))})
    np.testing.assert_allclose(base[:, ::2], 1e-6 - 1e-9)
    np.testing.assert_array_equal(base[:, 1::2], 1e-6)
