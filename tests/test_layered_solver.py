"""The layered native solver against the dense native solver and Ngspice (within 1 uV)."""
import numpy as np
import pytest
from networks import mlp_64_32_20, mlp_inputs, random_layered_network

from ebana.backends import make_stimulus
from ebana.backends.arrays import Reflection
from ebana.backends.auto import AutoNativeBackend
from ebana.backends.layered.backend import LayeredBackend
from ebana.backends.layered.plan import NotLayered
from ebana.circuit import CircuitBuilder
from ebana.circuit.elements import BehavioralDiode
from ebana.errors import ShapeError


def _phases(models, data, n_out, rng):
    """Free and nudged solutions of every model (same data, same currents)."""
    currents = {"out": rng.normal(0, 1e-5, size=(len(data["x"]), n_out))}
    return [(m.solve(data), m.solve(data, currents)) for m in models]


@pytest.mark.parametrize("trial", range(20))
def test_random_layered_networks_agree(trial):
    builds = [random_layered_network(np.random.default_rng(500 + trial), b)
              for b in ("native-layered", "native-dense", "ngspice")]
    (layered, n_in), (dense, _), (ngspice, _) = builds
    assert layered.backend.inner.name == "native-layered"
    np.testing.assert_array_equal(layered.conductances(), ngspice.conductances())
    rng = np.random.default_rng(trial)
    data = {"x": rng.uniform(-1.5, 1.5, size=(6, n_in))}
    (lf, ln), (df, dn), (nf, nn) = _phases([layered, dense, ngspice], data, layered.outputs[0].units * 2, rng)
    for a, b in ((lf, df), (ln, dn)):
        assert np.abs(a.v - b.v).max() < 1e-9
        assert np.abs(a.i_vs - b.i_vs).max() < 1e-12 + 1e-9 * np.abs(b.i_vs).max()
    for a, b in ((lf, nf), (ln, nn)):
        assert np.abs(a.v - b.v).max() < 1e-6
    # the nudged phase moved, and the solvers agree on how far
    assert np.abs(ln.v - lf.v).max() > 1e-9


def test_design_network_layered_matches_ngspice(rng):
    layered, ngspice = mlp_64_32_20("native-layered"), mlp_64_32_20("ngspice")
    assert layered.solver() == "native-layered"
    assert mlp_64_32_20("native").solver() == "native-dense (small circuit: 52 unknowns)"
    data = mlp_inputs(16, rng)
    assert np.abs(layered.solve(data).v - ngspice.solve(data).v).max() < 1e-6


def test_per_sample_conductances_match_dense(rng):
    (layered, n_in), (dense, _) = [random_layered_network(np.random.default_rng(7), b)
                                   for b in ("native-layered", "native-dense")]
    g = layered.conductances() * rng.uniform(0.5, 1.5, size=(5, layered.circuit.n_res))
    data = {"x": rng.uniform(-1, 1, size=(5, n_in))}
    assert np.abs(layered.solve(data, g=g).v - dense.solve(data, g=g).v).max() < 1e-9


def test_batch_split_over_threads_is_identical(rng):
    """Two threads on halves of a batch give the same voltages as one thread, to the rounding the
    mixed-precision products allow (each chunk picks float32 or float64 for itself, within
    ``product_tol`` = 1e-11 V as a Newton step); with float64 products, to the sweeps' tolerance."""
    model, n_in = random_layered_network(np.random.default_rng(3), "native-layered")
    data = {"x": rng.uniform(-1, 1, size=(200, n_in))}
    stim = make_stimulus(model.circuit, model.conductances(), model.source_voltages(data, 200))
    for precision, tol in (("mixed", 1e-10), ("double", 1e-12)):
        one = LayeredBackend(threads=1, precision=precision).solve(model.circuit, stim)
        two = LayeredBackend(threads=2, precision=precision).solve(model.circuit, stim)
        assert np.abs(one.v - two.v).max() < tol
        np.testing.assert_allclose(one.i_vs, two.i_vs, rtol=1e-9, atol=1e-18)


def test_chunks_of_a_batch_share_one_binding_and_keep_their_constants_across_phases(rng):
    """Shared conductances are bound once for every chunk, before the threads: each chunk's
    per-batch constants (the input crossbar's product) are then made in the first phase only.
    Bound by each thread, the last binding would win, and the other chunks' constants would be
    made again in every phase."""
    model, n_in = random_layered_network(np.random.default_rng(3), "native-layered")
    data = {"x": rng.uniform(-1, 1, size=(200, n_in))}
    stim = make_stimulus(model.circuit, model.conductances(), model.source_voltages(data, 200))
    backend = LayeredBackend(threads=2)
    backend.solve(model.circuit, stim)
    shared = backend._bound[None][2]
    constants = {key: entry[2] for key, entry in backend._norton.items()}
    assert len(constants) == 2 and all(entry[0] is shared for entry in backend._norton.values())
    backend.solve(model.circuit, stim)  # the next phase: same conductances, same sources
    assert all(backend._norton[key][2] is made for key, made in constants.items())


def test_a_reflected_start_made_per_chunk_is_the_array_it_stands_for(rng):
    """The -beta phase's start, ``2 free - plus``, left unmade (:class:`Reflection`): the layered
    solver makes the columns each chunk reads and gives the same voltages, bit for bit, as from
    the whole array, which any other reader gets from ``np.asarray``."""
    center, point = rng.normal(size=(5, 7)), rng.normal(size=(5, 7))
    r = Reflection(center, point)
    whole = np.asarray(r)
    np.testing.assert_array_equal(whole, 2.0 * center - point)
    np.testing.assert_array_equal(r[1:4][:, 2:5], whole[1:4, 2:5])
    np.testing.assert_array_equal(r[np.array([0, 3])][:, [1, 6]], whole[[0, 3]][:, [1, 6]])
    with pytest.raises(ShapeError, match="reflection"):
        Reflection(center, point[:, :3])
    model, n_in = random_layered_network(np.random.default_rng(3), "native-layered")
    data = {"x": rng.uniform(-1, 1, size=(200, n_in))}
    stim = make_stimulus(model.circuit, model.conductances(), model.source_voltages(data, 200))
    backend = LayeredBackend(threads=2)
    free = backend.solve(model.circuit, stim).v
    plus = free + 1e-4 * rng.normal(size=free.shape)
    lazy = backend.solve(model.circuit, stim, initial=Reflection(free, plus))
    made = backend.solve(model.circuit, stim, initial=2.0 * free - plus)
    np.testing.assert_array_equal(lazy.v, made.v)
    assert backend.sweeps >= 1


def _two_nets_joined():
    """A crossbar layer whose two nets are also joined by a resistor: not layered."""
    b = CircuitBuilder()
    src, h = b.nodes("x", 1), b.nodes("h", 2)
    b.vsources("x", src, 0, 1.0)
    b.resistors("w", src, h)
    b.resistors("lateral", h[:1], h[1:])
    bias = b.nodes("c", 1, suffix="bias")
    b.vsources("c", bias, 0, 0.2)
    b.diodes("c", h, bias[0], BehavioralDiode())
    return b.build()


def test_circuits_without_layers_use_the_dense_solver():
    c = _two_nets_joined()
    with pytest.raises(NotLayered, match="joins two nets"):
        LayeredBackend().structure(c)
    auto = AutoNativeBackend()
    assert auto.which(c).startswith("native-dense")
    op = auto.solve(c, make_stimulus(c, np.array([1e-3, 1e-3, 5e-4])))
    assert auto.dense.solves == 1 and op.v[0, c.node_names.index("h__0")] > 0.2


def test_native_picks_the_layered_solver_for_wide_networks():
    from ebana.networks import clamped_mlp
    assert clamped_mlp(20, 40, 2, backend="native").solver() == "native-layered"


def test_an_empty_batch_solves_to_an_empty_result():
    """A batch of 0 samples (an empty split) gives 0 rows, not a broadcasting error."""
    from ebana.networks import clamped_mlp
    model = clamped_mlp(80, [70], 4, backend="native-layered")
    op = model.solve({"x": np.zeros((0, 80))})
    assert op.v.shape == (0, model.circuit.n_nodes)


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_image_layers_solve_layered(rng, padding):
    """Locally connected crossbars (sparse links, padding to ground) and average pooling."""
    from networks import image_inputs, image_network
    layered, ngspice = (image_network(b, padding=padding) for b in ("native-layered", "ngspice"))
    assert layered.solver() == "native-layered"
    data = {"x": image_inputs(5, rng)}
    currents = {"out": rng.normal(0, 1e-6, size=(5, 4))}
    for c in (None, currents):
        assert np.abs(layered.solve(data, c).v - ngspice.solve(data, c).v).max() < 1e-6


def test_auto_backend_solves_densely_when_the_layered_solver_fails(rng):
    from ebana.networks import clamped_mlp
    model = clamped_mlp(20, 40, 2, backend="native")
    auto = model.backend.inner
    data = {"x": rng.uniform(-1, 1, size=(4, 20))}
    expected = clamped_mlp(20, 40, 2, backend="native-dense").solve(data).v
    auto.layered.check_tol = 1e-30  # every layered solve now fails its KCL check
    assert np.abs(model.solve(data).v - expected).max() < 1e-12
    assert auto.fallbacks == 1 and auto.dense.solves == 4
