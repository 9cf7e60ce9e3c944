"""fit / evaluate / predict end to end, resumption, reproducibility."""
import importlib.util

import numpy as np
import pytest

from conftest import ROOT
from ebana.training import MSE, SGD, Adam, DataLoader, History


def load_example(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "test_circuit" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


xor = load_example("xor")
X = np.array([[-1, -1], [-1, 1], [1, -1], [1, 1.0]])
Y = np.array([[-0.2], [0.2], [0.2], [-0.2]])


def train(model, epochs, optimizer, seed=0):
    loader = DataLoader({"x": X, "out": Y}, batch_size=2, shuffle=True, seed=seed)
    return model.fit(loader, epochs=epochs, loss_fn=MSE(), optimizer=optimizer, beta=1e-6,
                     symmetric=True, verbose=False)


def test_xor_example_trains_in_ngspice(tmp_path):
    correct = xor.main(["--epochs", "200", "--out", str(tmp_path)])
    assert correct == 4
    h = History.load(tmp_path / "history.h5")
    assert h["accuracy"][-1] == 1.0 and h["loss"][-1] < h["loss"][0] / 100
    assert (tmp_path / "optimizer.pkl").exists()


def test_fit_evaluate_predict(backend_name):
    model = xor.build_model(backend_name, seed=2)
    history = train(model, 150, Adam(lr=2e-6))
    result = model.evaluate({"x": X, "out": Y})
    assert result["accuracy"] == 1.0
    assert result["loss"] < history["loss"][0]
    pred = model.predict({"x": X})["out"]
    assert pred.shape == (4, 1) and np.all(np.sign(pred) == np.sign(Y))
    for layer in (model.layer("d1"), model.layer("d2")):
        assert layer.g.min() >= layer.g_min and layer.g.max() <= layer.g_max


@pytest.mark.parametrize("make_optimizer", [lambda: SGD(lr=1e-6, momentum=0.9), lambda: Adam(lr=2e-6)])
def test_resumed_training_is_bit_identical(tmp_path, make_optimizer):
    straight = xor.build_model("ngspice", seed=5)
    loader = DataLoader({"x": X, "out": Y}, batch_size=2, shuffle=False)
    opt = make_optimizer()
    straight.fit(loader, 6, MSE(), opt, 1e-6, verbose=False)

    first = xor.build_model("ngspice", seed=5)
    opt1 = make_optimizer()
    first.fit(loader, 3, MSE(), opt1, 1e-6, verbose=False)
    opt1.save_state(tmp_path / "opt.pkl")
    saved = {k: v.copy() for k, v in first.parameters().items()}

    resumed = xor.build_model("ngspice", seed=5)
    for k, v in resumed.parameters().items():
        v[...] = saved[k]
    opt2 = make_optimizer()
    opt2.load_state(tmp_path / "opt.pkl")
    resumed.fit(loader, 3, MSE(), opt2, 1e-6, verbose=False)
    for k, v in straight.parameters().items():
        np.testing.assert_array_equal(v, resumed.parameters()[k])


def test_training_is_reproducible_from_seed():
    a, b = xor.build_model("native", seed=7), xor.build_model("native", seed=7)
    train(a, 20, Adam(lr=2e-6), seed=3)
    train(b, 20, Adam(lr=2e-6), seed=3)
    for k, v in a.parameters().items():
        np.testing.assert_array_equal(v, b.parameters()[k])


def test_callback_can_stop_training():
    model = xor.build_model("native")
    seen = []
    history = model.fit(
        DataLoader({"x": X, "out": Y}, batch_size=4), 50, MSE(), Adam(lr=2e-6), 1e-6, verbose=False,
        callbacks=[lambda epoch, metrics, m: seen.append(epoch) or epoch >= 4])
    assert seen == [0, 1, 2, 3, 4] and history.num_epochs == 5


def test_history_keeps_phase_voltages(tmp_path):
    model = xor.build_model("ngspice", seed=2)
    loader = DataLoader({"x": X, "out": Y}, batch_size=4)
    history = model.fit(loader, 2, MSE(), Adam(lr=2e-6), 1e-6, verbose=False, record_voltages=True)
    history.save(tmp_path / "h.h5")
    loaded = History.load(tmp_path / "h.h5")
    free, nudged = loaded.voltages[(1, "free")], loaded.voltages[(1, "nudged")]
    assert free.shape == (4, model.circuit.n_nodes)
    # the nudge moved the outputs, and only by a little (beta = 1 uS)
    out_nodes = model.layer("out").nodes
    shift = np.abs(nudged[:, out_nodes] - free[:, out_nodes]).max()
    assert 0 < shift < 0.05


def test_predict_takes_a_loader_or_a_dict():
    model = xor.build_model("native", seed=2)
    from_dict = model.predict({"x": X})["out"]
    from_loader = model.predict(DataLoader({"x": X, "out": Y}, batch_size=3))["out"]
    np.testing.assert_allclose(from_dict, from_loader, rtol=0, atol=1e-12)  # batch size changes roundoff only
