"""Ctrl-C during Ngspice training stops fit/evaluate/predict within a second, at a safe point."""
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
from conftest import ROOT

from ebana.interrupt import check, deferred_sigint
from ebana.saving.safe_io import safe_load_pickle

CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    sys.path.insert(0, {tests!r})
    from networks import xor_like
    from ebana.training import MSE, Adam, DataLoader
    from ebana.training.fit import fit

    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(400, 2))
    Y = np.where(X[:, :1] * X[:, 1:] > 0, -0.2, 0.2)
    model = xor_like("ngspice", seed=4)
    for k, what in enumerate(sys.argv[2:]):
        print("START", flush=True)
        try:
            if what == "fit":
                fit(model, DataLoader({{"x": X, "out": Y}}, batch_size=4, shuffle=True, seed=1), 1000, MSE(),
                    Adam(lr=1e-6), 1e-6, verbose=False, checkpoint=sys.argv[1], checkpoint_every=1)
            elif what == "evaluate":
                for _ in range(1000):
                    model.evaluate({{"x": X, "out": Y}}, MSE())
            else:
                for _ in range(1000):
                    model.predict({{"x": X}}, batch_size=50)
        except KeyboardInterrupt:
            print("INTERRUPTED", flush=True)
            np.save(sys.argv[1] + f".{{k}}.npy", np.concatenate([p.ravel() for p in model.parameters().values()]))
            print("SAVED", flush=True)
    print("DONE", flush=True)
""")


def _next(lines, timeout):
    """The child's next line, or 'nothing within {timeout} s'."""
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        return f"nothing within {timeout} s"


def test_ctrl_c_stops_ngspice_fit_evaluate_predict_within_a_second(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(tests=str(ROOT / "tests")))
    ckpt = tmp_path / "c.pkl"
    # fit three times: a press lost inside a cffi callback (half of them, before the fix) would show
    plan = ["fit", "fit", "fit", "evaluate", "predict"]
    env = dict(os.environ, PYTHONPATH=str(ROOT), EBANA_PROGRESS="0")
    proc = subprocess.Popen([sys.executable, str(script), str(ckpt), *plan], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(l.strip()) for l in proc.stdout], daemon=True).start()
    try:
        for k, what in enumerate(plan):
            assert _next(lines, 60) == "START"
            time.sleep(1.0)  # well inside the Ngspice solves
            sent = time.perf_counter()
            proc.send_signal(signal.SIGINT)
            assert _next(lines, 10) == "INTERRUPTED", f"Ctrl-C during {what} was lost"
            assert time.perf_counter() - sent < 1.0, f"{what} took over a second to stop"
            assert _next(lines, 10) == "SAVED"
            if what == "fit":  # weights as after the last completed step, which the checkpoint holds
                saved = safe_load_pickle(ckpt)["weights"]
                np.testing.assert_array_equal(np.load(f"{ckpt}.{k}.npy"),
                                              np.concatenate([saved[n].ravel() for n in ("d1", "d2")]))
        assert _next(lines, 10) == "DONE"
    finally:
        proc.kill()
        proc.wait()


def test_deferred_sigint_raises_at_the_next_check_only():
    with deferred_sigint():
        signal.raise_signal(signal.SIGINT)  # deferred: no exception here
        raised = False
        try:
            check()
        except KeyboardInterrupt:
            raised = True
    assert raised
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
