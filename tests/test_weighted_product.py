"""The dense solver's g-weighted sparse products, their patterns found once
(ebana/backends/dense/weighted_product.py): the matrices SciPy's products make, to the bit."""
import numpy as np
import pytest
import scipy.sparse as sp

from ebana.backends.dense.plan import incidence
from ebana.backends.dense.weighted_product import WeightedProduct


def scipy_product(a, w, b):
    return (a @ sp.diags(w) @ b).tocsr()


def test_the_laplacian_of_parallel_resistors_is_scipys_to_the_bit():
    """Resistors in any order, some in parallel and some to ground (row 0 dropped by incidence):
    the same entries, in the same order, with the same values, for several weight vectors."""
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 30, size=(2, 400))
    b = np.where(a == b, (b + 1) % 30, b)
    a[:20], b[:20] = 3, 7  # twenty in parallel
    k = incidence(30, a, b)
    product = WeightedProduct(k, k.T)
    for _ in range(3):
        g = rng.uniform(1e-7, 1e-3, size=400)
        ours, theirs = product(g), scipy_product(k, g, k.T)
        assert np.array_equal(ours.indptr, theirs.indptr) and np.array_equal(ours.indices, theirs.indices)
        assert np.array_equal(ours.data, theirs.data)
        v = rng.normal(size=(30, 5))
        assert np.array_equal(ours @ v, theirs @ v)


def test_the_solvers_products_are_scipys_to_the_bit():
    """The two products a LinearSystem makes for a shared g, on a network's circuit."""
    from ebana.backends.dense.linear import LinearSystem
    from ebana.backends.dense.plan import Plan
    from ebana.networks import clamped_mlp
    model = clamped_mlp(12, 8, 3, backend="native", seed=0)
    plan = Plan(model.circuit)
    g = np.random.default_rng(1).uniform(1e-6, 1e-3, size=model.circuit.n_res)
    system = LinearSystem(plan, g)
    res = plan.res
    for ours, theirs in ((system.fixed, scipy_product(res.fixed, g[res.fx_elem], res.fx_select)),
                         (system.laplacian, scipy_product(plan.kcl_res, g, plan.kcl_res.T))):
        assert ours.nnz > 0
        for field in ("indptr", "indices", "data"):
            assert np.array_equal(getattr(ours, field), getattr(theirs, field)), field


def test_entries_other_than_unit_and_cancelling_patterns_are_refused():
    with pytest.raises(ValueError, match=r"\+-1"):
        WeightedProduct(sp.csr_matrix(np.array([[2.0, 1.0]])), sp.csr_matrix(np.ones((2, 1))))
    # (1, 1) . (1, -1): the only entry is 1 - 1 = 0 with unit weights
    with pytest.raises(ValueError, match="cancel"):
        WeightedProduct(sp.csr_matrix(np.array([[1.0, 1.0]])), sp.csr_matrix(np.array([[1.0], [-1.0]])))


def test_a_resistor_on_one_node_falls_back_to_scipys_products():
    """A resistor with both ends on one node leaves a 0 in the incidence matrix: the patterns are
    refused, and the solver makes SciPy's products as before: the same matrices, and the
    operating point of the circuit without that resistor (it carries no current)."""
    import dataclasses

    from ebana.backends import make_stimulus
    from ebana.backends.dense.backend import DenseBackend
    from ebana.backends.dense.linear import LinearSystem
    from ebana.backends.dense.plan import Plan
    from ebana.networks import clamped_mlp
    model = clamped_mlp(4, 3, 2, backend="native", seed=0)
    c = model.circuit
    node = int(c.res_a[0])
    looped = dataclasses.replace(c, res_a=np.append(c.res_a, node), res_b=np.append(c.res_b, node))
    plan = Plan(looped)
    g = np.append(model.conductances(), 1e-3)
    system = LinearSystem(plan, g)
    np.testing.assert_array_equal(system.laplacian.toarray(),
                                  scipy_product(plan.kcl_res, g, plan.kcl_res.T).toarray())
    x = np.random.default_rng(2).uniform(-1, 1, size=(3, 4))
    vs = model.source_voltages({"x": x}, 3)
    with_loop = DenseBackend().solve(looped, make_stimulus(looped, g, vs))
    without = DenseBackend().solve(c, make_stimulus(c, g[:-1], vs))
    np.testing.assert_allclose(with_loop.v, without.v, rtol=0, atol=1e-15)


def test_products_share_a_read_only_pattern():
    rng = np.random.default_rng(4)
    a = rng.integers(0, 6, 20)
    k = incidence(6, a, (a + rng.integers(1, 6, 20)) % 6)  # never both ends on one node
    product = WeightedProduct(k, k.T)
    m = product(rng.uniform(size=20))
    with pytest.raises(ValueError):
        m.indices[0] = 1
