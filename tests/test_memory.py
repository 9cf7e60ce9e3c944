"""Memory stays flat over many in-process Ngspice solves."""
import numpy as np
from networks import mlp_64_32_20, mlp_inputs

from ebana.analysis.diagnostics import rss_mb


def test_rss_growth_over_2000_solves_is_below_30_mb(rng):
    model = mlp_64_32_20("ngspice")
    batch = mlp_inputs(50, rng)
    model.solve(batch)  # warm up: library loaded, circuit loaded, vectors allocated
    before = rss_mb()
    for _ in range(40):
        op = model.solve(batch)
    after = rss_mb()
    assert model.backend.solves >= 2000
    assert np.all(np.isfinite(op.v))
    assert after - before < 30.0, f"RSS grew by {after - before:.1f} MB over 2000 solves"
