"""What long or surprising runs say: predict's progress bar, the numba compile line, a slow
layered solve, and a script without a main guard given worker processes (issue 25 frictions)."""
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from conftest import ROOT
from networks import xor_like

import ebana.model.functional as functional


def test_predict_shows_a_bar_for_many_batches_only(monkeypatch):
    calls = []
    real = functional.progress

    def spy(iterable, total=None, desc=None, enabled=True):
        calls.append((total, desc, enabled))
        return real(iterable, total=total, desc=desc, enabled=enabled)

    monkeypatch.setattr(functional, "progress", spy)
    model = xor_like("native", seed=1)
    x = np.zeros((20, 2))
    model.predict({"x": x}, batch_size=2)
    model.predict({"x": x}, batch_size=10)
    assert calls == [(10, "predict", True), (2, "predict", False)]


def _run(code, env=None, timeout=120):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=ROOT)


def test_the_numba_compile_is_announced_once_and_only_when_the_cache_is_cold(tmp_path):
    code = textwrap.dedent("""
        import numpy as np
        from ebana.networks import clamped_mlp
        m = clamped_mlp(20, 80, 2, backend="native-layered")
        m.solve({"x": np.zeros((2, 20))}); m.solve({"x": np.ones((2, 20))})
    """)
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "numba")}  # an empty cache: cold
    cold = _run(code, env)
    assert cold.returncode == 0, cold.stderr
    assert cold.stderr.count("compiling the layered solver's numba kernels") == 1
    warm = _run(code, env)
    assert warm.returncode == 0 and "compiling" not in warm.stderr


def test_a_solve_needing_far_more_sweeps_than_usual_says_why_once():
    from ebana.backends.layered.backend import LayeredBackend
    backend = LayeredBackend()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(5):
            backend.sweeps = 12
            backend._note_sweeps(4)
    with pytest.warns(RuntimeWarning, match=r"needed 400 sweeps, about 33 times the usual 12.*once") as record:
        for _ in range(3):
            backend.sweeps = 400
            backend._note_sweeps(4)
    assert len(record) == 1


def test_a_script_without_a_main_guard_is_refused_before_workers_start(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent("""
        import numpy as np
        from ebana.networks import clamped_mlp
        m = clamped_mlp(4, 6, 2, backend="native:2")
        m.predict({"x": np.zeros((4, 4))})
    """))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode != 0
    assert "has no `if __name__ == \"__main__\":` block" in run.stderr and "spawn" in run.stderr
    assert "bootstrapping" not in run.stderr
