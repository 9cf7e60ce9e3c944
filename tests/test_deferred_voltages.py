"""A wired solve's inner voltages made when read (ebana.backends.deferred): readouts, warm
starts and chips read the nets only and never make them; whatever reads them gets exactly the
voltages of the solve that gave them, KCL-checked, even after the conductances changed."""
import pickle
import time

import numpy as np
import pytest

from ebana import Wires
from ebana.analysis.chips import chip_accuracy, prepare_batches
from ebana.backends import eliminate
from ebana.backends.base import OperatingPoint
from ebana.backends.deferred import DeferredVoltages
from ebana.backends.eliminate import WireEliminatingBackend
from ebana.backends.threads import thread_map
from ebana.training import MSE
from ebana.training.ep import ep_step
from test_wires import inputs, wired_network

WIRES = Wires(tile=(3, 4), r_segment=2.0, r_access=1.0)


@pytest.fixture
def expansions(monkeypatch):
    """How many times the inner voltages of a solve were made."""
    made = []
    original = eliminate.WireElimination.expand_v

    def counted(self, *args, **kwargs):
        made.append(1)
        return original(self, *args, **kwargs)
    monkeypatch.setattr(eliminate.WireElimination, "expand_v", counted)
    return made


def _deferred(n_nodes=6, batch=3, seconds=0.0):
    """Nodes 0, 2 and 5 known (their values 10 * sample + node); the others made on demand
    (taking ``seconds``)."""
    known = np.array([0, 2, 5])
    values = 10.0 * np.arange(batch)[:, None] + known[None, :]
    made = []

    def complete():
        made.append(1)
        time.sleep(seconds)
        return 10.0 * np.arange(batch)[:, None] + np.arange(n_nodes)[None, :]
    return DeferredVoltages(known, values, n_nodes, complete), made


def test_known_nodes_are_read_without_making_the_rest():
    d, made = _deferred()
    assert d.shape == (3, 6) and len(d) == 3
    np.testing.assert_array_equal(d[:, [5, 0]], [[5, 0], [15, 10], [25, 20]])
    np.testing.assert_array_equal(d[1:, np.array([2])], [[12], [22]])
    np.testing.assert_array_equal(d[[0, 2], [5, 2]], [5, 22])  # numpy's pointwise pairs, as an array's
    np.testing.assert_array_equal(d[:, (0, 2)], [[0, 2], [10, 12], [20, 22]])
    assert d[2, 5] == 25 and d[-1, 0] == 20
    with pytest.raises(ValueError):  # reads may be views of what the inner nodes are made from
        d[:, 5][0] = 1.0
    part = d[1:]  # samples only: still unmade
    assert isinstance(part, DeferredVoltages) and part.shape == (2, 6)
    np.testing.assert_array_equal(part[:, [2]], [[12], [22]])
    assert made == []


def test_any_other_read_makes_the_whole_array_once():
    d, made = _deferred()
    np.testing.assert_array_equal(d[1:][:, [1, 2]], [[11, 12], [21, 22]])  # node 1 is deferred
    assert made == [1]
    np.testing.assert_array_equal(np.asarray(d), d.whole())
    np.testing.assert_array_equal(d[:, 1:3], [[1, 2], [11, 12], [21, 22]])
    assert d[2, 4] == 24 and made == [1]
    fresh, made = _deferred()
    assert fresh[:, 3:4].shape == (3, 1) and made == [1]  # a slice of nodes reads the array
    fresh, made = _deferred()
    np.testing.assert_array_equal(fresh[np.array([[0], [2]])], fresh.whole()[[[0], [2]]])  # not 1-D: whole
    pickled, made = _deferred()
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(pickled[1:])), d.whole()[1:])  # as the array
    assert made == [1]


def test_threads_reading_together_make_it_once():
    d, made = _deferred(n_nodes=50, batch=40, seconds=0.2)  # every reader arrives while it is made
    parts = thread_map(lambda rows: np.asarray(d[rows]), [slice(k, k + 5) for k in range(0, 40, 5)], threads=4)
    np.testing.assert_array_equal(np.concatenate(parts), d.whole())
    assert made == [1]


@pytest.mark.parametrize("backend", ["native", "wires"])
def test_predict_and_chips_of_a_wired_model_make_no_inner_voltage(expansions, backend):
    """Also through the default backend: retries around the automatic choice of native-wires."""
    model = wired_network("native" if backend == "native" else WireEliminatingBackend(), WIRES)
    data = inputs(5, batch=7)
    readouts = model.predict(data)["out"]
    assert expansions == []
    op = model.solve(data)
    assert isinstance(op.lazy_v, DeferredVoltages) and expansions == []
    np.testing.assert_array_equal(model.readouts(op.v)["out"], readouts)  # from every node's voltage
    assert expansions == [1]
    batches = prepare_batches(model, {"x": data["x"], "out": np.sign(readouts)}, 4)
    assert chip_accuracy(model, model.backend, batches, model.conductances(), MSE()) == 1.0
    assert expansions == [1]


def test_per_sample_conductances_are_made_at_once(expansions):
    model = wired_network(WireEliminatingBackend(), WIRES)
    data = inputs(5, batch=3)
    g = np.tile(model.conductances(), (3, 1)) * np.array([[1.0], [0.9], [1.1]])
    op = model.solve(data, g=g)
    assert isinstance(op.lazy_v, np.ndarray) and expansions == [1, 1, 1]
    np.testing.assert_array_equal(op.v[1], model.solve({"x": data["x"][1:2]}, g=g[1]).v[0])


def test_a_factor_that_fails_its_check_stops_even_a_readout(monkeypatch):
    """Readouts never make the inner voltages: the factor is checked at its reduction instead."""
    from ebana.errors import SimulatorError
    model = wired_network(WireEliminatingBackend(), WIRES)
    original = eliminate.factorize

    def off_by_a_millionth(*args, **kwargs):
        factor = original(*args, **kwargs)
        solve = factor.solve
        factor.solve = lambda f: solve(f) * (1 + 1e-6)
        return factor
    monkeypatch.setattr(eliminate, "factorize", off_by_a_millionth)
    with pytest.raises(SimulatorError, match="factor of the wire nodes of 'd1' fails its check"):
        model.predict(inputs(5, batch=2))


def test_a_symmetric_step_makes_the_nudged_phases_only_and_the_free_one_when_read(expansions, monkeypatch):
    model = wired_network(WireEliminatingBackend(), WIRES)
    data = dict(inputs(5, batch=5), out=np.full((5, 1), 0.2))
    result = ep_step(model, data, MSE(), beta=1e-6, symmetric=True)
    assert expansions == [1, 1]  # +beta and -beta: the gradient reads their devices' drops
    free = result.v_free
    assert expansions == [1, 1, 1] and isinstance(free, np.ndarray)
    np.testing.assert_array_equal(free, model.solve(data).v)  # the same solve, made later
    # every phase made whole at once, as before the deferral: the same step to the bit
    monkeypatch.setattr(OperatingPoint, "lazy_v", property(lambda op: op.v))
    eager = ep_step(wired_network(WireEliminatingBackend(), WIRES), data, MSE(), beta=1e-6, symmetric=True)
    for name in ("d1", "d2"):
        assert np.abs(result.grads[name]).max() > 0
        np.testing.assert_array_equal(eager.grads[name], result.grads[name])
    np.testing.assert_array_equal(eager.v_nudged, result.v_nudged)


def test_read_after_the_conductances_changed_gives_the_first_solve(expansions):
    """A solve read late (after other conductance sets were reduced) keeps its own: the same
    voltages to the bit as read at once, and still within 1 uV of Ngspice for them."""
    model = wired_network(WireEliminatingBackend(), WIRES)
    data = inputs(5, batch=4)
    at_once = model.solve(data).v
    late = model.solve(data)
    g = model.layer("d1").g.copy()
    model.layer("d1").g[...] = g[::-1]  # another conductance set, reduced and solved
    other = model.solve(data).v
    assert np.abs(other - at_once).max() > 1e-3
    np.testing.assert_array_equal(late.v, at_once)
    model.layer("d1").g[...] = g
    ref = wired_network("ngspice", WIRES)
    ref.set_weights(model.get_weights())
    assert np.abs(ref.solve(data).v - late.v).max() < 1e-6
