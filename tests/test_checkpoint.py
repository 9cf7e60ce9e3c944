"""Crash-safe checkpoints: SIGKILL mid-epoch, resume, same weights; safe loading of weight files."""
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from conftest import ROOT
from networks import diode_network, xor_like

from ebana import ShapeError, ValidationError
from ebana.saving.checkpoint import load_checkpoint
from ebana.saving.safe_io import safe_load_pickle
from ebana.training import MSE, SGD, Adam, DataLoader
from ebana.training.fit import fit

X = np.random.default_rng(0).uniform(-1, 1, size=(8, 2))
Y = np.where(X[:, :1] * X[:, 1:] > 0, -0.2, 0.2)
EPOCHS = 5

SCRIPT = textwrap.dedent("""
    import sys, time
    import numpy as np
    sys.path.insert(0, {tests!r})
    from networks import xor_like
    from ebana.training import MSE, Adam, DataLoader
    from ebana.training.fit import fit

    class SlowLoader(DataLoader):
        # Stands in for a slow simulation, so the parent can kill us mid-epoch.
        def __iter__(self):
            for batch in super().__iter__():
                time.sleep(float(sys.argv[2]))
                yield batch

    X, Y = np.load(sys.argv[3]), np.load(sys.argv[4])
    model = xor_like("ngspice", seed=4)
    loader = SlowLoader({{"x": X, "out": Y}}, batch_size=2, shuffle=True, seed=9)
    fit(model, loader, {epochs}, MSE(), Adam(lr=2e-6), 1e-6, symmetric=True, verbose=False,
        checkpoint=sys.argv[1], checkpoint_every=1)
    np.save(sys.argv[5], np.concatenate([p.ravel() for p in model.parameters().values()]))
""")


def run_script(tmp_path, delay):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT.format(tests=str(ROOT / "tests"), epochs=EPOCHS))
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "Y.npy", Y)
    env = dict(os.environ, PYTHONPATH=str(ROOT), EBANA_PROGRESS="0")
    args = [sys.executable, str(script), str(tmp_path / "ckpt.pkl"), str(delay),
            str(tmp_path / "X.npy"), str(tmp_path / "Y.npy"), str(tmp_path / "weights.npy")]
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_sigkill_mid_epoch_then_resume_matches_uninterrupted_run(tmp_path):
    ckpt = tmp_path / "ckpt.pkl"
    proc = run_script(tmp_path, delay=0.05)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if ckpt.exists():
                pos = safe_load_pickle(ckpt)["position"]
                if pos["epoch"] >= 1 and pos["batch"] >= 1:
                    break
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.01)
        else:
            pytest.fail("no mid-epoch checkpoint within 60 s")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    killed_at = safe_load_pickle(ckpt)["position"]
    print("killed at", killed_at)
    assert 1 <= killed_at["epoch"] < EPOCHS and not (tmp_path / "weights.npy").exists()

    resumed = run_script(tmp_path, delay=0.0)
    _, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err.decode()
    got = np.load(tmp_path / "weights.npy")

    model = xor_like("ngspice", seed=4)
    loader = DataLoader({"x": X, "out": Y}, batch_size=2, shuffle=True, seed=9)
    fit(model, loader, EPOCHS, MSE(), Adam(lr=2e-6), 1e-6, symmetric=True, verbose=False)
    want = np.concatenate([p.ravel() for p in model.parameters().values()])
    np.testing.assert_array_equal(got, want)
    assert safe_load_pickle(ckpt)["position"] == {"epoch": EPOCHS, "batch": 0, "end_epoch": EPOCHS,
                                                  "start_epoch": 0, "epochs": EPOCHS}


def test_resume_in_process_is_bit_identical_and_keeps_history(tmp_path):
    ckpt = tmp_path / "c.pkl"

    def loader():
        return DataLoader({"x": X, "out": Y}, batch_size=3, shuffle=True, seed=2)

    straight = xor_like("native", seed=1)
    h_straight = fit(straight, loader(), 4, MSE(), SGD(lr=1e-6, momentum=0.9), 1e-6, verbose=False)

    class Crash(Exception):
        pass

    first = xor_like("native", seed=1)
    with pytest.raises(Crash):
        fit(first, loader(), 4, MSE(), SGD(lr=1e-6, momentum=0.9), 1e-6, verbose=False, checkpoint=ckpt,
            callbacks=[lambda epoch, m, model: (_ for _ in ()).throw(Crash()) if epoch == 1 else None])
    resumed = xor_like("native", seed=1)  # fresh weights: all state comes from the file
    h = fit(resumed, loader(), 4, MSE(), SGD(lr=1e-6, momentum=0.9), 1e-6, verbose=False, checkpoint=ckpt)
    for k, v in straight.parameters().items():
        np.testing.assert_array_equal(v, resumed.parameters()[k])
    assert h.num_epochs == 4 and h["loss"] == h_straight["loss"]


def test_checkpoint_of_another_model_is_refused_and_changes_nothing(tmp_path):
    ckpt = tmp_path / "c.pkl"
    fit(xor_like("native", seed=1), {"x": X, "out": Y}, 1, MSE(), Adam(), 1e-6, verbose=False, checkpoint=ckpt)
    other = diode_network("native", seed=2)
    other.layers[-2].name = "d9"  # another layer name (renamed before any compile use)
    before = {k: v.copy() for k, v in other.parameters().items()}
    opt = Adam()
    with pytest.raises(ShapeError, match=r"c\.pkl.*\['d1', 'd2'\].*\['d1', 'd9'\]"):
        load_checkpoint(ckpt, other, opt, DataLoader({"x": X}))
    for k, v in other.parameters().items():
        np.testing.assert_array_equal(v, before[k])
    assert opt.steps == 0


def test_weights_out_of_bounds_or_wrong_shape_name_file_and_layer(tmp_path):
    model = xor_like("native")
    path = tmp_path / "w.pkl"
    model.save_weights(path)
    d = safe_load_pickle(path)
    d["weights"]["d2"] = d["weights"]["d2"] * 1e9
    (tmp_path / "big.pkl").write_bytes(pickle.dumps(d, protocol=4))
    with pytest.raises(ValidationError, match=r"big\.pkl.*DenseLayer 'd2'.*outside"):
        model.load_weights(tmp_path / "big.pkl")
    d["weights"]["d2"] = np.ones((3, 3))
    (tmp_path / "shape.pkl").write_bytes(pickle.dumps(d, protocol=4))
    with pytest.raises(ShapeError, match=r"shape\.pkl.*DenseLayer 'd2'.*\(3, 3\)"):
        model.load_weights(tmp_path / "shape.pkl")
    other = xor_like("native", seed=8)
    other.load_weights(path)
    for k, v in model.parameters().items():
        np.testing.assert_array_equal(v, other.parameters()[k])


class _Exploit:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


@pytest.mark.parametrize("kind", ["weights", "checkpoint"])
def test_malicious_weight_or_checkpoint_file_runs_nothing(tmp_path, kind):
    created = tmp_path / "pwned"
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"format": _Exploit(created)}, protocol=4))
    model = xor_like("native")
    with pytest.raises(ValidationError, match=r"evil\.pkl.*posix\.system|evil\.pkl.*os\.system"):
        if kind == "weights":
            model.load_weights(evil)
        else:
            fit(model, {"x": X, "out": Y}, 1, MSE(), Adam(), 1e-6, verbose=False, checkpoint=evil)
    assert not created.exists()


def test_optimizer_state_of_another_model_refused_before_any_solve(tmp_path):
    small = diode_network("native")
    opt = Adam()
    fit(small, {"x": X, "out": Y}, 1, MSE(), opt, 1e-6, verbose=False)
    state = tmp_path / "adam.pkl"
    opt.save_state(state)
    big = xor_like("native")
    big.layer("d2").g = np.full((8, 2), 5e-5)  # a model whose 'd2' has another shape
    fresh = Adam()
    fresh.load_state(state)
    solves = big.backend.solves
    with pytest.raises(ShapeError, match=r"adam\.pkl.*'d2'"):
        fit(big, {"x": X, "out": Y}, 1, MSE(), fresh, 1e-6, verbose=False)
    assert big.backend.solves == solves
