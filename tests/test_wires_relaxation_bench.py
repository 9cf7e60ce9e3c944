"""bench/wires_relaxation.py: its line relaxation converges to the exact wired solve, and the
benchmark runs end to end (the measurement behind #22's note on line relaxation)."""
import os
import re
import subprocess
import sys

import numpy as np

from conftest import ROOT

sys.path.insert(0, str(ROOT))
from bench.wires import network  # noqa: E402
from bench.wires_relaxation import LineRelaxation  # noqa: E402


def _tile(tile, r, g_low, g_high):
    """A wired network's tile block, its Reduction, and one free phase's node voltages (V)."""
    rng = np.random.default_rng(1)
    model = network(tile, True, r=r, g_d1=rng.uniform(g_low, g_high, size=(tile, tile)))
    v = model.solve({"x": rng.uniform(-1, 1, size=(3, tile - 2))}).v
    backend = model.backend.inner if hasattr(model.backend, "inner") else model.backend
    block = backend.wires.plan(model.circuit).blocks[0]
    return block, block.reduce(model.conductances()[block.res])[1], v


def test_line_relaxation_converges_to_the_exact_inner_voltages():
    block, reduction, v = _tile(12, 1.0, 1e-6, 1e-3)
    relax = LineRelaxation(reduction.a_ii, reduction.a_ip, 12, 12)
    exact = v[:, block.inner].T
    f = -(reduction.a_ip @ v[:, block.ports].T)
    x = relax.wire_free_guess(v[:, block.ports])
    first = np.abs(x - exact).max()
    assert first > 1e-4  # the wires carry drops: the guess is not the answer
    errors = []
    for _ in range(60):
        relax.sweep(x, f)
        errors.append(np.abs(x - exact).max())
    assert errors[-1] < 1e-13 and all(b <= a * 1.0001 + 1e-15 for a, b in zip(errors, errors[1:]))


def test_wire_free_guess_puts_each_line_at_its_port():
    block, reduction, v = _tile(6, 0.1, 1e-7, 1.1e-7)  # weak devices, short wires: the lines sit near their ports
    relax = LineRelaxation(reduction.a_ii, reduction.a_ip, 6, 6)
    assert np.abs(relax.wire_free_guess(v[:, block.ports]) - v[:, block.inner].T).max() < 1e-6


def test_relaxation_benchmark_runs():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "wires_relaxation.py"), "--tiles", "16",
                          "--batch", "8", "--repeats", "1"], capture_output=True, text=True, timeout=300, cwd=ROOT,
                         env=dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1"))
    assert out.returncode == 0, out.stderr[-2000:]
    rows = re.findall(r"^\| 16 x 16 \| (free|\+beta) \([a-z -]+\) \| (\d+) \|", out.stdout, re.M)
    assert [p for p, _ in rows] == ["free", "+beta"], out.stdout
    assert all(0 < int(n) < 300 for _, n in rows)
