"""The native solvers' fast paths (cached linear part, Schur reduction) agree with its general path."""
import numpy as np
import pytest
from networks import mlp_64_32_20, mlp_inputs, xor_like

from ebana.backends import get_backend, make_stimulus
from ebana.backends.dense.backend import DenseBackend


def test_per_sample_conductances_match_one_sample_at_a_time(rng):
    model = mlp_64_32_20("native")
    c, B = model.circuit, 4
    data = mlp_inputs(B, rng)
    vs = model.source_voltages(data, B)
    g = model.conductances() * rng.uniform(0.8, 1.2, size=(B, c.n_res))
    isrc = rng.normal(0, 1e-6, size=(B, c.n_is))
    batched = DenseBackend().solve(c, make_stimulus(c, g, vs, isrc))  # general (B, M, M) path
    single = DenseBackend()
    for b in range(B):
        op = single.solve(c, make_stimulus(c, g[b], vs[b:b + 1], isrc[b:b + 1]))  # shared-g Schur path
        np.testing.assert_allclose(op.v[0], batched.v[b], rtol=0, atol=1e-12)
        np.testing.assert_allclose(op.i_vs[0], batched.i_vs[b], rtol=1e-9, atol=1e-18)


@pytest.mark.parametrize("solver", ["native-dense", "native-layered"])
def test_cached_linear_part_follows_conductance_updates(rng, solver):
    model = xor_like(solver)
    x = {"x": rng.uniform(-1, 1, size=(5, 2))}
    before = model.solve(x).v
    layer = model.layer("d1")
    layer.g *= 1.5  # in place, as optimizers update
    after = model.solve(x).v
    fresh = get_backend(solver).solve(model.circuit, make_stimulus(model.circuit, model.conductances(),
                                                                    model.source_voltages(x, 5)))
    assert np.abs(after - before).max() > 1e-6
    np.testing.assert_array_equal(after, fresh.v)
