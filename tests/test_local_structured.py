"""Local layers at matrix-product speed: the layered solver multiplies a crossbar per window
(LocallyConnected2D) and pooling as structured products (:mod:`ebana.backends.layered.windows`).
Checked against the generic sparse path, the dense native solver and Ngspice; the products'
sums, bounds and offsets against the conductance list; EP gradients against finite
differences; bad image layers and circuits the layered solver cannot structure."""
import warnings

import numpy as np
import pytest

from ebana import (AmplificationLayer, AveragePooling2DLayer, CurrentLayer, DenseLayer, DiodeLayer, FlattenLayer,
                   InputVoltageLayer, LocallyConnected2DLayer, Model)
from ebana.backends import make_stimulus
from ebana.backends.auto import AutoNativeBackend
from ebana.backends.layered import backend as layered_backend
from ebana.backends.layered.backend import LayeredBackend
from ebana.backends.layered.links import BoundLink
from ebana.backends.layered.windows import WindowLink
from ebana.errors import GraphError, ShapeError, SimulatorError, ValidationError
from ebana.networks import local_network
from ebana.training import MSE
from ebana.training.ep import ep_step
from networks import finite_differences

INIT = ("uniform", 1e-5, 1e-4)


def two_local(backend, filters=8, seed=0):
    """(7, 7, 2) image -> 3x3/2 local layer -> clamps -> x2 amplifiers -> 2x2/1 local layer (windows
    overlap, inputs are nets) -> clamps -> x3 amplifiers -> 2x2 pooling -> dense -> 2 pairs."""
    x = InputVoltageLayer(shape=(7, 7, 2), name="x")
    h = LocallyConnected2DLayer(filters, 3, name="l1", strides=2, initializer=INIT)(x)
    h = DiodeLayer(name="c1", direction="down", bias_voltage=0.1)(h)
    h = DiodeLayer(name="c2", direction="up", bias_voltage=-0.1)(h)
    h = AmplificationLayer(name="a1", param={"gain": 2.0})(h)
    h = LocallyConnected2DLayer(filters, 2, name="l2", initializer=INIT)(h)
    h = DiodeLayer(name="c3", direction="down", bias_voltage=0.1)(h)
    h = DiodeLayer(name="c4", direction="up", bias_voltage=-0.1)(h)
    h = AmplificationLayer(name="a2", param={"gain": 3.0})(h)
    h = AveragePooling2DLayer(2, name="p1", conductance=1e-4)(h)
    h = DenseLayer(units=4, name="d3", initializer=INIT)(FlattenLayer(name="f")(h))
    return Model(inputs=[x], outputs=[CurrentLayer(name="out", fold=True)(h)], backend=backend, seed=seed)


def _batch(n, seed=0):
    rng = np.random.default_rng(seed)
    return {"x": rng.uniform(-1, 1, size=(n, 7, 7, 2))}, {"out": rng.normal(0, 2e-6, size=(n, 4))}


def _bound(model):
    """The links the layered solver bound for ``model``'s last solve, by owner and side groups."""
    solver = model.backend.inner
    solver = getattr(solver, "layered", solver)
    return list(solver._bound.values())[0][2].values()


def test_the_plan_finds_the_windows():
    model = local_network((28, 28, 2), 16, 10, backend="native")
    plan = LayeredBackend().structure(model.circuit)
    found = {link.owner: (link.windows[0].shape, link.windows[1]) for link in plan.links if link.windows is not None}
    assert found == {"l1": ((64, 98), 16), "p1": ((256, 4), 1)}
    assert [link.dense for link in plan.links if link.owner == "d2"] == [True, True]
    plan = LayeredBackend().structure(two_local("native-layered").circuit)
    found = {link.owner: (link.windows[0].shape, link.windows[1], link.a.group) for link in plan.links
             if link.windows is not None}
    assert set(found) == {"l1", "l2", "p1"}
    assert found["l2"][:2] == ((4, 4 * 8), 8) and found["l2"][2] >= 0  # fed by the nets of l1


@pytest.mark.parametrize("filters, blocks", [(8, True), (2, False)])
def test_structured_generic_dense_and_ngspice_agree(monkeypatch, filters, blocks):
    data, nudge = _batch(5)
    structured, dense, spice = (two_local(b, filters) for b in ("native-layered", "native-dense", "ngspice"))
    runs = {"structured": [structured.solve(data, c) for c in (None, nudge)]}
    assert {bl.blocks for bl in _bound(structured) if isinstance(bl, WindowLink) and bl.G.shape[2] > 1} == {blocks}
    monkeypatch.setattr(layered_backend, "bind", lambda link, g: BoundLink(link, g))
    generic = two_local("native-layered", filters)
    runs["generic"] = [generic.solve(data, c) for c in (None, nudge)]
    assert not any(isinstance(bl, WindowLink) for bl in _bound(generic))
    runs["dense"] = [dense.solve(data, c) for c in (None, nudge)]
    runs["ngspice"] = [spice.solve(data, c) for c in (None, nudge)]
    for name, tol in (("generic", 1e-12), ("dense", 1e-9), ("ngspice", 1e-6)):
        for mine, ref in zip(runs["structured"], runs[name]):
            assert np.abs(mine.v - ref.v).max() < tol, name
    for mine, ref in zip(runs["structured"], runs["dense"]):
        np.testing.assert_allclose(mine.i_vs, ref.i_vs, rtol=1e-7, atol=1e-15)
    hidden = runs["structured"][0].v[:, structured.nodes[id(structured.layer("l1"))]]
    assert (np.abs(hidden) > 0.1).any() and (np.abs(hidden) < 0.1).any()  # the clamps are in play


@pytest.mark.parametrize("filters", [8, 2])
def test_window_products_sums_bounds_and_offsets_match_the_conductance_list(filters):
    """Every number the sweeps and the KCL check take from a window link, against a dense
    matrix made from the resistors one by one (the check's guarantee rests on coupling_bound)."""
    model = two_local("native-layered", filters)
    model.solve(_batch(2)[0])
    rng = np.random.default_rng(3)
    windows = [bl for bl in _bound(model) if isinstance(bl, WindowLink)]
    assert len(windows) == 3
    for bl in windows:
        link = bl.link
        G = np.zeros((len(link.a.nodes), len(link.b.nodes)))
        np.add.at(G, (link.rows, link.cols), model.conductances()[link.res])
        ua, ub = rng.normal(size=(3, G.shape[0])), rng.normal(size=(3, G.shape[1]))
        np.testing.assert_allclose(bl.toward("b", ua), ua @ G, rtol=1e-12, atol=1e-18)
        np.testing.assert_allclose(bl.toward("a", ub), ub @ G.T, rtol=1e-12, atol=1e-18)
        np.testing.assert_allclose(bl.sums["a"], G.sum(axis=1), rtol=1e-12)
        np.testing.assert_allclose(bl.sums["b"], G.sum(axis=0), rtol=1e-12)
        if link.a.group < 0:
            continue
        a, b = link.a, link.b
        Sa = G * b.alpha[None, :] / a.alpha[:, None]  # nets of b -> currents into a, over alpha
        np.testing.assert_allclose(bl.coupling_bound("a"), np.abs(Sa).sum(axis=1), rtol=1e-12)
        np.testing.assert_allclose(bl.coupling_bound("b"), np.abs(Sa * (a.alpha ** 2)[:, None]
                                                                    / (b.alpha ** 2)[None, :]).sum(axis=0), rtol=1e-12)
        np.testing.assert_allclose(bl.offset["a"], G @ b.beta / a.alpha, rtol=1e-12, atol=1e-18)
        np.testing.assert_allclose(bl.offset["b"], G.T @ a.beta / b.alpha, rtol=1e-12, atol=1e-18)
        va, vb = rng.normal(size=(3, a.size)), rng.normal(size=(3, b.size))
        want_b = np.zeros((3, b.size))
        np.add.at(want_b.T, b.loc, ((va[:, a.loc] * a.alpha) @ G / b.alpha).T)
        np.testing.assert_allclose(bl.from_nets("b", va), want_b, rtol=1e-12, atol=1e-18)
        want_a = np.zeros((3, a.size))
        np.add.at(want_a.T, a.loc, ((vb[:, b.loc] * b.alpha) @ G.T / a.alpha).T)
        np.testing.assert_allclose(bl.from_nets("a", vb), want_a, rtol=1e-12, atol=1e-18)


def test_a_solve_stopped_early_fails_the_kcl_check():
    """Stopped after a sweep or two (vtol 1 mV), the nets solved before the others moved are off:
    the window links' coupling bounds carry that into the check, which refuses the result."""
    model = two_local("native-layered")
    data, _ = _batch(3)
    vs = model.source_voltages({"x": data["x"].reshape(3, -1)}, 3)
    stimulus = make_stimulus(model.circuit, model.conductances(), vs)
    LayeredBackend().solve(model.circuit, stimulus)  # converged: passes
    with pytest.raises(SimulatorError, match="KCL check"):
        LayeredBackend(vtol=1e-3, anderson_depth=0).solve(model.circuit, stimulus)


def test_ep_gradient_of_structured_local_layers_matches_finite_differences():
    model = two_local("native-layered", filters=8, seed=1)
    rng = np.random.default_rng(0)
    batch = {"x": rng.uniform(-1, 1, size=(4, 7, 7, 2)), "out": np.array([[0.02, -0.02], [-0.02, 0.02]] * 2)}
    names = ("l1", "l2", "d3")
    picks = {n: [tuple(int(rng.integers(s)) for s in model.layer(n).g.shape) for _ in range(25)] for n in names}
    fd = finite_differences(model, batch, MSE(), names, picks)
    r = ep_step(model, batch, MSE(), beta=1e-7, symmetric=True)
    ep = np.concatenate([r.grads[n][tuple(np.array(picks[n]).T)] for n in names])
    cos = ep @ fd / np.linalg.norm(ep) / np.linalg.norm(fd)
    assert cos >= 0.99 and np.linalg.norm(ep - fd) <= 0.05 * np.linalg.norm(fd), cos


@pytest.mark.parametrize("name", ["l1", "l2"])
def test_per_window_gradient_products_equal_the_drops_formula(name):
    """l1's inputs are held by sources (the input products are skipped), l2's are nets."""
    model = two_local("native-layered")
    data, nudge = _batch(4)
    low, high = model.solve(data).v, model.solve(data, nudge, initial=None).v
    layer = model.layer(name)
    direct = ((layer.drops(high) ** 2 - layer.drops(low) ** 2) / (2 * 1e-7)).sum(axis=0)
    assert np.abs(direct).max() > 0
    np.testing.assert_allclose(layer.ep_gradient(low, high, 1e-7), direct, rtol=1e-7, atol=1e-9 * np.abs(direct).max())


@pytest.mark.parametrize("make, error, words", [
    (lambda: LocallyConnected2DLayer(-2, 3, name="lneg"), ShapeError, r"'lneg' \(filters\).*-2"),
    (lambda: LocallyConnected2DLayer(2, 3, name="l0", strides=0), ValidationError, r"strides of .*'l0'"),
    (lambda: LocallyConnected2DLayer(2, (9, 3), name="lbig")(InputVoltageLayer(shape=(8, 8, 1), name="x")),
     ShapeError, r"'lbig'.*window \(9, 3\) is larger than its input image \(8, 8\)"),
    (lambda: AveragePooling2DLayer(2, name="p0", strides=(0, 2)), ValidationError, r"strides of .*'p0'"),
    (lambda: AveragePooling2DLayer(0, name="pz"), ValidationError, r"pool_size of .*'pz'"),
    (lambda: AveragePooling2DLayer(5, name="pbig")(InputVoltageLayer(shape=(4, 4, 1), name="x")),
     ShapeError, r"'pbig'.*window \(5, 5\) is larger than its input image"),
    (lambda: AveragePooling2DLayer(2, name="podd")(InputVoltageLayer(shape=(7, 8, 3), name="x")),
     ShapeError, r"'podd'.*does not divide the \(7, 8\) image from InputVoltageLayer 'x'"),
])
def test_bad_local_and_pooling_layers_name_themselves(make, error, words):
    with pytest.raises(error, match=words):
        make()


def _lateral(n):
    """``n`` nets fed from a source, clamped, two of them joined by a resistor: not layered."""
    from ebana.circuit import CircuitBuilder
    from ebana.circuit.elements import BehavioralDiode
    b = CircuitBuilder()
    src, h = b.nodes("x", 1), b.nodes("h", n)
    b.vsources("x", src, 0, 1.0)
    b.resistors("w", src, h)
    b.resistors("lateral", h[:1], h[1:2])
    bias = b.nodes("c", 1, suffix="bias")
    b.vsources("c", bias, 0, 0.2)
    b.diodes("c", h, bias[0], BehavioralDiode())
    return b.build()


def test_an_unstructured_circuit_falls_back_with_a_word_or_is_refused_with_the_reason():
    c = _lateral(100)
    g = np.full(c.n_res, 1e-3)
    with pytest.warns(RuntimeWarning, match=r"cannot structure this circuit \(resistor .* joins two nets.*dense"):
        op = AutoNativeBackend().solve(c, make_stimulus(c, g))
    assert np.all(op.v[0, [c.node_names.index("h__0"), c.node_names.index("h__99")]] > 0.2)
    small = _lateral(10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # small: the dense solver is the usual choice, nothing to say
        AutoNativeBackend().solve(small, make_stimulus(small, np.full(small.n_res, 1e-3)))
    auto = AutoNativeBackend()
    auto.dense_limit = 50
    with pytest.raises(GraphError, match=r"cannot solve this circuit.*joins two nets.*10\d x 10\d matrix"):
        auto.solve(c, make_stimulus(c, g))


def test_the_dense_size_estimate_is_the_dense_solvers_matrix():
    from ebana.backends.auto import _dense_unknowns
    from ebana.backends.dense.plan import Plan
    from ebana.networks import clamped_mlp, rectified_mlp
    for c in (_lateral(12), rectified_mlp(20, 8, 3, backend="native").circuit,
              clamped_mlp(20, [8, 6], 3, backend="native").circuit):  # grounded sources, amplifiers
        assert _dense_unknowns(c) == Plan(c).M


def test_per_sample_conductances_take_the_generic_path_and_agree():
    model = two_local("native-layered")
    data, _ = _batch(3)
    g = model.conductances()
    shared = model.solve(data).v
    vs = model.source_voltages({"x": data["x"].reshape(3, -1)}, 3)
    stimulus = make_stimulus(model.circuit, np.repeat(g[None], 3, axis=0), vs)
    per_sample = LayeredBackend().solve(model.circuit, stimulus).v
    assert np.abs(per_sample - shared).max() < 1e-12


def test_consecutive_nodes_are_read_as_a_slice():
    from ebana.layers.base import consecutive_slice
    assert consecutive_slice(np.arange(5, 17).reshape(3, 4)) == slice(5, 17)
    assert consecutive_slice(np.array([[5, 6], [8, 9]])) is None
    assert consecutive_slice(np.array([3, 3, 4])) is None and consecutive_slice(np.array([], dtype=int)) is None
