"""Wire resistance in tiled crossbars (issue 22): the lowering, its limits, agreement of the
dense native solver with Ngspice, EP gradients through the wires, and the layered solver's refusal."""
import os
import shutil
import subprocess

import networks
import numpy as np
import pytest

from ebana import BiasVoltageLayer, ConcatenateLayer, CurrentLayer, DenseLayer, DiodeLayer, InputVoltageLayer, Model
from ebana.errors import SimulatorError, ValidationError
from ebana.layers.wires import Wires
from ebana.training import MSE
from ebana.training.ep import ep_step


def wired_network(backend, wires, n_in=5, hidden=6, seed=0, g_max=1e-3, variability=None):
    """``n_in`` inputs + bias -> ``hidden`` nets clamped at +-0.3 V (active for inputs of
    +-1.5 V) -> 2 differential outputs; the first crossbar carries ``wires``; ``variability``:
    the model's default (every crossbar's)."""
    x = InputVoltageLayer(units=n_in, name="x")
    b = BiasVoltageLayer(units=1, name="b", bias_voltage=0.5)
    h = ConcatenateLayer(name="j")([x, b])
    h = DenseLayer(units=hidden, name="d1", g_min=1e-7, g_max=g_max, initializer=("uniform", 1e-5, g_max),
                   wires=wires)(h)
    h = DiodeLayer(name="c1", direction="down", bias_voltage=0.3)(h)
    h = DiodeLayer(name="c2", direction="up", bias_voltage=-0.3)(h)
    h = DenseLayer(units=2, name="d2", g_min=1e-7, g_max=g_max, initializer=("uniform", 1e-5, g_max))(h)
    out = CurrentLayer(name="out", fold=True)(h)
    return Model(inputs=[x], outputs=[out], backend=backend, seed=seed, variability=variability)


def inputs(n_in, batch=6, seed=1):
    return {"x": np.random.default_rng(seed).uniform(-1.5, 1.5, size=(batch, n_in))}


def test_zero_resistance_is_exactly_the_wire_free_circuit():
    plain = wired_network("native", None)
    zero = wired_network("native", Wires(tile=(2, 4), r_segment=0.0, r_access=0.0))
    a, b = plain.circuit, zero.circuit
    for field in ("res_a", "res_b", "vs_pos", "d_anode", "d_cathode"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert a.node_names == b.node_names
    np.testing.assert_array_equal(plain.conductances(), zero.conductances())
    data = inputs(5)
    assert plain.netlist({"x": data["x"][:1]}) == zero.netlist({"x": data["x"][:1]})
    np.testing.assert_array_equal(plain.solve(data).v, zero.solve(data).v)
    from ebana.backends.layered.plan import LayeredPlan
    LayeredPlan(zero.circuit)  # still layered


def test_lowering_counts_and_shorts():
    # 6 inputs x 6 units in tiles of 2 x 4: 3 x 2 tiles (the second column of tiles 2 wide)
    m = wired_network("native", Wires(tile=(2, 4), r_segment=1.0, r_access=2.0))
    d1 = m.layer("d1")
    w = d1.wired
    # row lines: 6 inputs x 2 tile columns, each 1 access + (width - 1) segments
    row_wires = 6 * ((1 + 3) + (1 + 1))
    col_wires = 6 * 3 * (1 + 1)            # 6 units x 3 tile rows, each 1 access + 1 segment
    assert len(w.wire_g) == row_wires + col_wires
    assert np.sum(w.wire_g == 0.5) == 6 * 2 + 6 * 3
    assert d1.conductances().size == 36 + len(w.wire_g)
    assert len(np.unique(w.row_nodes)) == 36 and len(np.unique(w.col_nodes)) == 36
    # shorted segments: one node per line in a tile
    m = wired_network("native", Wires(tile=(2, 4), r_segment=0.0, r_access=2.0))
    w = m.layer("d1").wired
    assert len(np.unique(w.row_nodes)) == 6 * 2 and len(np.unique(w.col_nodes)) == 6 * 3
    assert np.all(w.wire_g == 0.5)


@pytest.mark.parametrize("kwargs, match", [
    ({"r_segment": -1.0}, "r_segment"), ({"r_access": float("nan")}, "r_access"),
    ({"tile": (0, 2)}, "at least 1"), ({"tile": (2,)}, "two ints"), ({"tile": "ab"}, "two ints"),
    ({"r_segment": 1e-9}, "below 1e-06 Ohm.*use 0 for a short")])
def test_bad_wire_settings_are_refused(kwargs, match):
    with pytest.raises(ValidationError, match=match):
        Wires(**kwargs)


def test_tile_larger_than_the_layer_is_refused():
    with pytest.raises(ValidationError, match="DenseLayer 'd1'.*larger than the crossbar"):
        wired_network("native", Wires(tile=(7, 2), r_segment=1.0))
    with pytest.raises(ValidationError, match="DenseLayer 'd1': wires must be"):
        DenseLayer(units=2, name="d1", wires=3.0)


def test_wires_round_trip_through_the_config():
    layer = DenseLayer(units=3, name="d1", wires=Wires(tile=(2, 2), r_segment=0.5, r_access=1.5))
    cfg = layer.get_config()
    assert cfg["wires"] == {"tile": [2, 2], "r_segment": 0.5, "r_access": 1.5}
    again = DenseLayer.from_config(cfg)
    assert again.wires == layer.wires and again.get_config() == cfg
    assert DenseLayer.from_config(DenseLayer(units=3, name="d2").get_config()).wires is None


def test_variability_on_a_wired_layer_varies_its_devices_and_solves_as_ngspice_does():
    """Noise-aware EP on a wired crossbar: the masks act on the devices, the wire segments keep their
    conductance in every sample, and the native phases are Ngspice's for the masked circuit."""
    from ebana.devices import Variability
    from ebana.training.ep import noisy_ep_step
    wires = Wires(tile=(2, 4), r_segment=1.0, r_access=2.0)
    model = wired_network("native", wires, variability=Variability(sigma=0.3))
    d1 = model.layer("d1")
    n_dev, n_wires = d1.g.size, len(d1.wired.wire_g)
    data = inputs(5, batch=4)
    batch = dict(data, out=np.random.default_rng(2).uniform(-0.2, 0.2, size=(4, 1)))
    result = noisy_ep_step(model, batch, MSE(), 1e-6, symmetric=True)
    g = model.noise.effective()  # the step's per-sample masks ('sample' scope: kept until the next step)
    assert g.shape == (4, model.conductances().size)
    assert np.array_equal(g[:, n_dev:n_dev + n_wires], np.broadcast_to(d1.wired.wire_g, (4, n_wires)))
    devices = g[:, :n_dev]
    assert np.array_equal(devices, d1.noise.effective().reshape(4, -1))
    assert not np.allclose(devices, d1.g.ravel())  # the devices do vary
    assert result.grads["d1"].shape == d1.g.shape and np.isfinite(result.grads["d1"]).all()
    ref = wired_network("ngspice", wires)
    ref.set_weights(model.get_weights())
    assert np.abs(ref.solve(data, g=g).v - result.v_free).max() < 1e-6


@pytest.mark.parametrize("backend", ["native-dense", "native"])
@pytest.mark.parametrize("r, r_access", [(0.1, 0.2), (1.0, 2.0), (10.0, 20.0), (1.0, 0.0), (0.0, 1.0)])
def test_native_agrees_with_ngspice(r, r_access, backend):
    """The dense solver on the full circuit, and 'native' (wire nodes eliminated, then dense): tiles
    by row blocks; shorted accesses (each row line starts at its input net) split a tile's last row
    line off as a piece of its own (sparse LU), and shorted lines are no tile of distinct nodes."""
    wires = Wires(tile=(2, 4), r_segment=r, r_access=r_access)
    native = wired_network(backend, wires)
    ref = wired_network("ngspice", wires)
    if backend == "native":
        pieces = {(0.0, 1.0): "0 tiles by row blocks, 6 other", (1.0, 0.0): "12 tiles by row blocks, 6 other"}
        expected = pieces.get((r, r_access), "6 tiles by row blocks, 0 other")
        assert f"eliminated exactly: {expected} pieces by sparse LU; then native-dense" in native.solver()
        assert native.solver().startswith("native-wires (")
        assert "DenseLayer 'd1' has wire resistance" in native.solver()
    data = inputs(5)
    currents = {"out": np.random.default_rng(2).normal(0, 1e-4, size=(6, 2))}
    a, b = native.solve(data, currents), ref.solve(data, currents)
    assert np.abs(a.v - b.v).max() < 1e-6
    assert np.abs(a.i_vs - b.i_vs).max() < 1e-9
    # the clamps conduct, and the wires change the hidden voltages by more than the tolerance
    c1 = ref.layer("c1")
    hidden = a.v[:, ref.layer("d1").output_nodes]
    assert np.any(hidden > 0.3) and np.any(hidden < -0.3), c1
    plain = wired_network("native", None).solve(data, currents).v
    assert np.abs(plain[:, ref.layer("d1").output_nodes] - hidden).max() > 1e-5


@pytest.mark.parametrize("r", [0.1, 1.0, 10.0])
def test_one_large_tile_by_row_blocks_agrees_with_ngspice(r):
    """A 32 x 32 tile (32 row blocks of 32 columns: 2048 wire nodes) at devices up to 1e-3 S
    (bench/wires.py --ngspice does 64 x 64 and 128 x 128)."""
    wires = Wires(tile=(32, 32), r_segment=r, r_access=2 * r)
    native = wired_network("native", wires, n_in=31, hidden=32)
    ref = wired_network("ngspice", wires, n_in=31, hidden=32)
    assert "2048 wire nodes eliminated exactly: 1 tiles by row blocks, 0 other" in native.solver()
    data = inputs(31, batch=4)
    currents = {"out": np.random.default_rng(3).normal(0, 1e-4, size=(4, 2))}
    a, b = native.solve(data, currents), ref.solve(data, currents)
    assert np.abs(a.v - b.v).max() < 1e-6
    assert np.abs(a.i_vs - b.i_vs).max() < 1e-9
    d1 = ref.layer("d1")
    along_rows = np.abs(a.v[:, d1.wired.row_nodes] - a.v[:, d1.input_nodes[:, None]])
    assert along_rows.max() > 1e-3 * r   # the wires matter: row lines lose millivolts along the tile


def test_per_sample_conductances_are_reduced_per_sample():
    from ebana.backends import make_stimulus
    wires = Wires(tile=(2, 4), r_segment=5.0, r_access=5.0)
    native, ref = wired_network("native", wires), wired_network("ngspice", wires)
    data = {"x": np.repeat(inputs(5, batch=1)["x"], 3, axis=0)}   # one input, three conductance sets
    g = np.tile(native.conductances(), (3, 1))
    g[1, :36] *= np.random.default_rng(4).uniform(0.5, 1.5, 36)   # sample 1 sees other devices
    vs = native.source_voltages(native.check_inputs(data)[1], 3)
    a = native.backend.solve(native.circuit, make_stimulus(native.circuit, g, vs, np.zeros((3, 2))))
    b = ref.backend.solve(ref.circuit, make_stimulus(ref.circuit, g, vs, np.zeros((3, 2))))
    assert np.abs(a.v - b.v).max() < 1e-6
    assert np.abs(a.v[1] - a.v[0]).max() > 1e-3 and np.abs(a.v[2] - a.v[0]).max() < 1e-12


def test_wire_drop_grows_with_resistance():
    data = inputs(5)
    plain = wired_network("native", None)
    hidden = plain.layer("d1").output_nodes
    v0 = plain.solve(data).v[:, hidden]
    gaps = []
    for r in (0.1, 1.0, 10.0):
        m = wired_network("native", Wires(tile=(2, 4), r_segment=r, r_access=r))
        gaps.append(np.abs(m.solve(data).v[:, m.layer("d1").output_nodes] - v0).max())
    assert gaps[0] < gaps[1] < gaps[2]


@pytest.mark.skipif(shutil.which("ngspice") is None, reason="the ngspice command is not installed")
def test_standalone_netlist_solves_the_wire_network(tmp_path):
    from test_netlist_standalone import read_ascii_raw
    m = wired_network("ngspice", Wires(tile=(2, 4), r_segment=5.0, r_access=5.0))
    x = inputs(5, batch=1)
    cir = m.write_netlist(tmp_path / "wired.cir", x)
    assert open(cir).read().lower().count("\nrd1__") == m.layer("d1").conductances().size  # every segment
    raw = tmp_path / "wired.raw"
    subprocess.run([shutil.which("ngspice"), "-b", "-r", str(raw), str(cir)], check=True, capture_output=True,
                   env=dict(os.environ, SPICE_ASCIIRAWFILE="1"), timeout=60, cwd=tmp_path)
    batch = read_ascii_raw(raw)
    v = m.solve(x).v[0]
    names = m.circuit.node_names
    assert sum(n.startswith("d1__w") for n in names) == 2 * 36
    for k in range(1, len(names)):
        assert batch[f"v({names[k]})"] == pytest.approx(v[k], abs=1e-6), names[k]


BATCH = {"x": np.array([[0, 0], [0, 1], [1, 0], [1, 1.0]]), "out": np.array([[-0.05], [0.05], [0.05], [-0.05]])}


def small_wired(backend, variability=None):
    x = InputVoltageLayer(units=2, name="x")
    b = BiasVoltageLayer(units=1, name="b", bias_voltage=1.0)
    h = ConcatenateLayer(name="j")([x, b])
    # 1e-4 S devices on 500 Ohm segments: wire drops of several per cent
    h = DenseLayer(units=4, name="d1", g_max=1e-3, initializer=("uniform", 1e-4, 1e-3),
                   wires=Wires(tile=(2, 2), r_segment=500.0, r_access=200.0))(h)
    h = DiodeLayer(name="c1", direction="down", bias_voltage=0.45)(h)
    h = DiodeLayer(name="c2", direction="up", bias_voltage=0.35)(h)
    h = DenseLayer(units=2, name="d2", initializer=("uniform", 1e-5, 1e-4))(h)
    return Model(inputs=[x], outputs=[CurrentLayer(name="out", fold=True)(h)], backend=backend, seed=3,
                 variability=variability)


@pytest.mark.parametrize("backend_name", ["ngspice", "native", "native-dense"])
def test_ep_gradient_through_the_wires(backend_name):
    model = small_wired(backend_name)
    loss = MSE()
    fd = networks.finite_differences(model, BATCH, loss, ("d1", "d2"))
    r = ep_step(model, BATCH, loss, beta=1e-6, symmetric=True)
    ep = np.concatenate([r.grads[k].ravel() for k in ("d1", "d2")])
    cos = ep @ fd / np.linalg.norm(ep) / np.linalg.norm(fd)
    assert cos >= 0.99, cos
    # the wires matter here: the rule on the drops between the layer's nets (ignoring the
    # wires) is measurably off
    d1 = model.layer("d1")
    low, high = (model.solve(BATCH, {"out": c}).v for c in nudges(model, loss))
    naive = _wire_free_rule(d1, low, high, 2e-6)
    assert np.linalg.norm(naive.ravel() - ep[:d1.g.size]) > 0.01 * np.linalg.norm(ep[:d1.g.size])


def test_ep_gradient_through_the_wires_of_a_varied_chip():
    """Chip-scope masks (lognormal: never clipped) on a wired network: the EP gradient of the
    masked circuit, mapped to the nominal conductances by the masks, equals central finite
    differences of the masked circuit's loss in those conductances (to 1e-4 relative); the
    masks matter (the nominal circuit's gradient is off by half its size)."""
    from ebana.devices import Variability
    from ebana.training.ep import noisy_ep_step
    model = small_wired("native", variability=Variability(kind="lognormal", sigma=0.3, scope="chip"))
    loss, size = MSE(), len(BATCH["x"])

    def masked(model, batch):  # the chip's masks on the current nominal conductances
        model.noise.begin_step(size)
        return model.solve(batch, g=model.noise.effective()[0]).v
    fd = networks.finite_differences(model, BATCH, loss, ("d1", "d2"), solve=masked)
    grads = noisy_ep_step(model, BATCH, loss, 1e-6, symmetric=True).grads
    ep = np.concatenate([grads[k].ravel() for k in ("d1", "d2")])
    assert np.linalg.norm(ep - fd) <= 1e-4 * np.linalg.norm(fd)  # measured: 7e-10
    nominal = ep_step(model, BATCH, loss, beta=1e-6, symmetric=True).grads
    plain = np.concatenate([nominal[k].ravel() for k in ("d1", "d2")])
    assert np.linalg.norm(plain - ep) > 0.05 * np.linalg.norm(ep)


def nudges(model, loss, beta=1e-6):
    """Nudging currents (A) of the -beta and +beta phases of BATCH."""
    from ebana.training.ep import loss_and_nudge
    _, _, c = loss_and_nudge(model, model.solve(BATCH).v, BATCH, loss, beta)
    return -c["out"], c["out"]


def _wire_free_rule(layer, low, high, span):
    d_h = high[:, layer.input_nodes][:, :, None] - high[:, layer.output_nodes][:, None, :]
    d_l = low[:, layer.input_nodes][:, :, None] - low[:, layer.output_nodes][:, None, :]
    return ((d_h - d_l) * (d_h + d_l)).sum(axis=0) / (2 * span)


def test_layered_solver_refuses_wires_with_the_reason():
    from ebana.backends.layered.plan import LayeredPlan, NotLayered
    m = wired_network("native", Wires(tile=(2, 4), r_segment=1.0))
    with pytest.raises(NotLayered, match="DenseLayer 'd1' has wire resistance"):
        LayeredPlan(m.circuit)
    with pytest.raises(NotLayered, match="DenseLayer 'd1' has wire resistance"):
        wired_network("native-layered", Wires(tile=(2, 4), r_segment=1.0)).solve(inputs(5))
    assert m.solver().startswith("native-wires (") and "DenseLayer 'd1' has wire resistance" in m.solver()


def test_study_quick(tmp_path):
    """test_circuit/wires.py --quick (about 10 s): table and plot, the wires move the readouts, the trained
    wired network agrees with Ngspice on 3 test images."""
    from test_examples import run_example
    stdout = run_example("wires", "--quick", "--ngspice-check", "3", "--out", tmp_path, timeout=300)
    rows = {float(m[0]): [float(x) for x in m[1:]]
            for m in (line.strip("| ").split(" | ") for line in stdout.splitlines() if line.startswith("| ")
                      and not line.startswith("| r_"))}
    assert sorted(rows) == [0.0, 10.0]
    assert rows[0.0][0] == 0.0 and rows[10.0][0] > 0.01   # max readout change (V)
    assert rows[0.0][1] >= 0.7                             # chance: 0.1
    assert (tmp_path / "wires.md").exists() and (tmp_path / "wires.png").exists()
    assert (tmp_path / "weights_r10.pkl").exists()                 # (b)'s trained conductances
    assert "Ngspice check at r = 10 Ohm: 3/3 identical predictions" in stdout


def test_chips_study_quick(tmp_path):
    """test_circuit/wires_chips.py --quick (about 20 s): every (r, sigma) row for the three models, the
    wires and the chips move the accuracy, Ngspice gives the same accuracy on a chip; a second run with
    the same settings reuses the trained conductances (and gives the same table); other settings train
    into a folder of their own, the first one kept."""
    from test_examples import run_example
    first = run_example("wires_chips", "--quick", "--ngspice-chips", "1", "--out", tmp_path, timeout=300)

    def table(stdout):
        return {tuple(float(x) for x in cells[:2]): cells[2:] for cells in
                (line.strip("| ").split(" | ") for line in stdout.splitlines() if line.startswith("| ")
                 and not line.startswith("| r_"))}
    rows = table(first)
    assert sorted(rows) == [(0.0, 0.0), (0.0, 0.3), (100.0, 0.0), (100.0, 0.3)]
    assert all(len(cells) == 3 for cells in rows.values())
    median = {key: [float(c.split()[0]) for c in cells] for key, cells in rows.items()}
    assert median[(0.0, 0.0)][0] >= 70.0                            # chance: 10 %
    assert median[(100.0, 0.0)][0] < median[(0.0, 0.0)][0]         # 100 Ohm segments cost the deployed network
    assert "1 identical accuracies" in first
    for name in ("wires_chips.md", "wires_chips.png", "results.h5"):
        assert (tmp_path / name).exists(), name
    (models,) = tmp_path.glob("models_*")
    for name in ("base.pkl", "b_r100.pkl", "c_r100.pkl", "settings.json"):
        assert (models / name).exists(), name
    stamp = (models / "c_r100.pkl").stat().st_mtime_ns
    again = run_example("wires_chips", "--quick", "--out", tmp_path, timeout=300)
    assert table(again) == rows and (models / "c_r100.pkl").stat().st_mtime_ns == stamp
    run_example("wires_chips", "--quick", "--masks-per-batch", "1", "--out", tmp_path, timeout=300)
    assert len(list(tmp_path.glob("models_*"))) == 2 and (models / "c_r100.pkl").stat().st_mtime_ns == stamp


def test_wire_kcl_check_catches_a_wrong_inner_voltage():
    from ebana.backends.eliminate import WireEliminatingBackend
    from ebana.errors import SimulatorError
    m = wired_network(WireEliminatingBackend(), Wires(tile=(2, 4), r_segment=1.0, r_access=1.0))
    data = inputs(5, batch=3)
    v = m.solve(data).v
    plan = m.backend.plan(m.circuit)
    block = plan.blocks[0]
    assert block.kcl_step(v).max() < 1e-12          # the exact solution
    v[2, block.inner[5]] += 1e-6
    step = block.kcl_step(v)
    assert step[2] > 1e-7 and step[:2].max() < 1e-12
    with pytest.raises(SimulatorError, match="sample 7.*KCL at the wire nodes of 'd1'"):
        m.backend._check(plan, [b.kcl_step(v, m.backend.check_tol) for b in plan.blocks], np.arange(5, 8))


def test_saved_wired_model_loads_with_its_wires(tmp_path):
    from ebana import load_model
    m = wired_network("native", Wires(tile=(2, 4), r_segment=3.0, r_access=1.0))
    m.save(tmp_path / "wired")
    again = load_model(tmp_path / "wired", backend="native")
    assert again.layer("d1").wires == m.layer("d1").wires
    data = inputs(5)
    np.testing.assert_array_equal(again.solve(data).v, m.solve(data).v)


def test_each_tile_is_eliminated_on_its_own_and_the_check_bound_holds():
    """A crossbar of 3 x 2 tiles is 6 pieces, each with only its own ports; the KCL check's
    cheap bound (max residual x max(A_II^-1 1)) is never below the step it bounds."""
    from ebana.backends.eliminate import WireEliminatingBackend
    m = wired_network(WireEliminatingBackend(), Wires(tile=(2, 4), r_segment=2.0, r_access=1.0))
    data = inputs(5, batch=4)
    v = m.solve(data).v
    plan = m.backend.plan(m.circuit)
    d1 = [b for b in plan.blocks if b.owner == "d1"]
    assert len(d1) == 6
    assert sorted(len(b.ports) for b in d1) == [4, 4, 4, 6, 6, 6]  # 2 row lines + 2 or 4 column lines
    inner = np.concatenate([b.inner for b in d1])
    assert len(np.unique(inner)) == len(inner) == plan.n_inner
    rng = np.random.default_rng(0)
    for _ in range(5):
        w = v.copy()
        w[:, inner] += rng.normal(scale=1e-7, size=(len(w), len(inner)))
        for b in d1:
            exact = b.kcl_step(w)
            assert np.all(b.kcl_step(w, tol=np.inf) >= exact)   # the bound, for every sample
            np.testing.assert_array_equal(b.kcl_step(w, tol=0.0), exact)  # nothing within 0 V: solved


@pytest.mark.parametrize("threads", [2, 3, 8])
def test_threads_split_the_batch_and_the_tiles_to_rounding(threads, monkeypatch):
    """'native-wires' in several threads gives the one-thread voltages to rounding, and its KCL
    check still names the right sample. The inner voltages are found by blocks when there are
    at least as many as threads (six tiles here), else by chunks of the batch (8 threads)."""
    from ebana.backends import eliminate
    from ebana.backends.eliminate import WireEliminatingBackend
    monkeypatch.setattr(eliminate, "MIN_CHUNK", 4)
    wires = Wires(tile=(2, 4), r_segment=2.0, r_access=1.0)
    data = inputs(5, batch=13)
    one = wired_network(WireEliminatingBackend(threads=1), wires).solve(data).v
    split = wired_network(WireEliminatingBackend(threads=threads), wires)
    plan = split.backend.plan(split.circuit)
    assert len(plan.blocks) == 6
    seen = []
    original = eliminate.WireBlock.expand_into

    def recorded(block, v, rows, reduction, tol=None):
        seen.append((rows.start, rows.stop))
        return original(block, v, rows, reduction, tol)
    monkeypatch.setattr(eliminate.WireBlock, "expand_into", recorded)
    np.testing.assert_allclose(split.solve(data).v, one, rtol=0, atol=1e-14)
    assert sorted(set(seen)) == ([(0, 13)] if threads <= 6 else [(0, 4), (4, 8), (8, 13)])
    assert len(seen) == 6 * len(set(seen))  # every block, every part of the batch

    def wrong_in_sample_9(block, v, rows, reduction, tol=None):  # a solve gone wrong in one block
        step = original(block, v, rows, reduction, tol)
        if block is plan.blocks[3] and rows.start <= 9 < rows.stop:
            step = step.copy()
            step[9 - rows.start] = 1.0
        return step
    monkeypatch.setattr(eliminate.WireBlock, "expand_into", wrong_in_sample_9)
    with pytest.raises(SimulatorError, match="KCL at the wire nodes") as info:
        split.solve(data).v  # the inner voltages, made when read, and their check
    assert info.value.sample == 9


def test_study_settings_per_dataset_and_bad_input(capsys):
    """wires.py: each dataset's defaults, and bad settings refused before anything runs."""
    import importlib.util
    from conftest import ROOT
    spec = importlib.util.spec_from_file_location("wires_example", ROOT / "test_circuit" / "wires.py")
    study = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(study)
    args, setup = study.parse(["--dataset", "fashion"])
    assert (args.epochs, args.wired_epochs, args.train_subset, args.test_subset) == (10, 2, 6000, 1000)
    assert args.out == "results/wires_fashion" and setup["tiles"][0] == (64, 64)
    model = study.build_model(1.0, "native", setup)
    assert model.layer("d1").wires.tile == (64, 64) and model.layer("d1").g.shape == (394, 64)
    assert study.parse([])[0].train_subset is None  # digits: every image
    args, setup = study.parse(["--dataset", "fashion28"])
    assert setup["inputs"] == 1568 and args.train_subset == 6000 and args.out == "results/wires_fashion28"
    with pytest.raises(SystemExit):
        study.parse(["--ngspice-check", "-1"])
    for argv, message in ((["--r", "0", "-1"], "finite and >= 0"), (["--epochs", "-1"], "must be positive"),
                          (["--test-subset", "0"], "must be positive")):
        with pytest.raises(SystemExit):
            study.parse(argv)
        assert message in capsys.readouterr().err


def memristor_wired(backend, wires, seed=4):
    """``wired_network``'s circuit with a memristor crossbar (0.1 uS to 1 mS curve) carrying ``wires``."""
    from ebana.devices import ExponentialMemristor
    from ebana.layers.memristor_dense import MemristorDenseLayer
    x = InputVoltageLayer(units=5, name="x")
    b = BiasVoltageLayer(units=1, name="b", bias_voltage=0.5)
    h = ConcatenateLayer(name="j")([x, b])
    h = MemristorDenseLayer(units=6, name="d1", device=ExponentialMemristor(1e-7, 1e-3, 50), wires=wires)(h)
    h = DiodeLayer(name="c1", direction="down", bias_voltage=0.3)(h)
    h = DiodeLayer(name="c2", direction="up", bias_voltage=-0.3)(h)
    h = DenseLayer(units=2, name="d2", g_min=1e-7, g_max=1e-3, initializer=("uniform", 1e-5, 1e-3))(h)
    return Model(inputs=[x], outputs=[CurrentLayer(name="out", fold=True)(h)], backend=backend, seed=seed)


def test_memristor_crossbar_with_wires():
    """MemristorDenseLayer takes wires like DenseLayer: tiles checked, the same circuit in Ngspice
    and natively (within 1 uV), rebuilt from its config with them, and trained by pulses through
    them (the devices move, the wire segments do not)."""
    from ebana.layers.memristor_dense import MemristorDenseLayer
    from ebana.training import SGD
    with pytest.raises(ValidationError, match="MemristorDenseLayer 'm'.*tile .* is larger than the crossbar"):
        x = InputVoltageLayer(units=3, name="x")
        m = MemristorDenseLayer(units=2, name="m", wires=Wires(tile=(4, 2), r_segment=1.0))(x)
        Model(inputs=[x], outputs=[CurrentLayer(name="out")(m)])
    wires = Wires(tile=(2, 4), r_segment=2.0, r_access=4.0)
    native, ref = memristor_wired("native", wires), memristor_wired("ngspice", wires)
    assert "tiles by row blocks" in native.solver()
    data = inputs(5)
    currents = {"out": np.random.default_rng(2).normal(0, 1e-4, size=(6, 2))}
    a, b = native.solve(data, currents), ref.solve(data, currents)
    assert np.abs(a.v - b.v).max() < 1e-6
    plain = memristor_wired("native", None).solve(data, currents).v
    assert np.abs(plain[:, ref.layer("d1").output_nodes] - a.v[:, ref.layer("d1").output_nodes]).max() > 1e-5
    again = Model.from_config(native.get_config(), backend="native")   # a device model is no file data
    assert again.layer("d1").wires == wires and again.circuit.n_nodes == native.circuit.n_nodes
    d1 = native.layer("d1")
    wire_g, devices = d1.wired.wire_g.copy(), d1.g.copy()
    native.compile(optimizer=SGD(lr=1e-2), loss=MSE(), beta=1e-6)
    native.fit({"x": data["x"], "out": np.full((6, 1), 0.1)}, epochs=1, batch_size=3, verbose=0)
    assert np.any(d1.g != devices) and d1.array.pulse_count.sum() > d1.initial_pulses_sent.sum()
    np.testing.assert_array_equal(d1.conductances()[devices.size:], wire_g)


def local_wired(backend, wires, padding="valid", seed=5, g_range=(1e-5, 1e-3), variability=None):
    """A 5x5x2 image -> LocallyConnected2DLayer (3x3 windows, stride 2, 2 filters; ``wires``) ->
    clamps at +-0.2 V -> 2 differential outputs; ``variability``: the model's default."""
    from ebana import FlattenLayer, LocallyConnected2DLayer
    x = InputVoltageLayer(shape=(5, 5, 2), name="x")
    h = LocallyConnected2DLayer(2, 3, name="l1", strides=2, padding=padding, g_max=1e-3,
                                initializer=("uniform",) + g_range, wires=wires)(x)
    h = DiodeLayer(name="c1", direction="down", bias_voltage=0.2)(h)
    h = DiodeLayer(name="c2", direction="up", bias_voltage=-0.2)(h)
    h = DenseLayer(units=2, name="d2", g_max=1e-3, initializer=("uniform", 1e-5, 1e-4))(FlattenLayer(name="f")(h))
    return Model(inputs=[x], outputs=[CurrentLayer(name="out", fold=True)(h)], backend=backend, seed=seed,
                 variability=variability)


def test_variability_and_chips_on_a_wired_local_layer():
    """A locally connected layer's windows (devices ``(W, K, filters)``, then every window's
    segments): masks per sample and chip masks vary the devices in that order and leave the
    segments as built; the masked circuit solves natively as in Ngspice."""
    from ebana.analysis.chips import chip_conductances
    from ebana.devices import Variability
    wires = Wires(tile=(6, 1), r_segment=3.0, r_access=1.0)
    model = local_wired("native", wires)
    l1 = model.layer("l1")
    n_dev, wire_g = l1.g.size, l1.wired.wire_g
    plain = local_wired("native", None)
    plain.set_weights(model.get_weights())
    chip = Variability(kind="gaussian", sigma=0.3, scope="chip")
    g = chip_conductances(model, chip, 11)
    ref = chip_conductances(plain, chip, 11)
    assert np.array_equal(g, np.concatenate([ref[:n_dev], wire_g, ref[n_dev:]]))
    noisy = local_wired("native", wires, variability=Variability(sigma=0.3))
    noisy.set_weights(model.get_weights())
    noisy.noise.begin_step(3)
    effective = noisy.noise.effective()
    assert effective.shape == (3, model.conductances().size)
    assert np.array_equal(effective[:, n_dev:n_dev + len(wire_g)], np.broadcast_to(wire_g, (3, len(wire_g))))
    assert np.array_equal(effective[:, :n_dev], noisy.layer("l1").noise.effective().reshape(3, -1))
    data = {"x": np.random.default_rng(1).uniform(-1, 1, size=(3, 5, 5, 2))}
    spice = local_wired("ngspice", wires)
    spice.set_weights(model.get_weights())
    for g_test in (g, effective):
        assert np.abs(model.solve(data, g=g_test).v - spice.solve(data, g=g_test).v).max() < 1e-6


@pytest.mark.parametrize("padding, tile, r", [("valid", None, 1.0), ("valid", (3, 2), 10.0), ("same", (9, 2), 2.0)])
def test_local_layer_with_wires_agrees_with_ngspice(padding, tile, r):
    """Every window's crossbar on its own tiled lines (padded positions: row lines from ground)."""
    wires = Wires(tile=tile, r_segment=r, r_access=2 * r)
    native, ref = local_wired("native", wires, padding), local_wired("ngspice", wires, padding)
    assert "has wire resistance" in native.solver() and "tiles by row blocks" in native.solver()
    windows, per_window = native.layer("l1").windows.shape
    rows, cols = tile or (per_window, 2)
    assert native.layer("l1").wired.row_nodes.shape == (windows, per_window, 2)
    assert len(native.circuit.line_grids["l1"]) == windows * -(-per_window // rows) * -(-2 // cols)
    data = {"x": np.random.default_rng(1).uniform(-1, 1, size=(4, 5, 5, 2))}
    currents = {"out": np.random.default_rng(2).normal(0, 1e-4, size=(4, 2))}
    a, b = native.solve(data, currents), ref.solve(data, currents)
    assert np.abs(a.v - b.v).max() < 1e-6 and np.abs(a.i_vs - b.i_vs).max() < 1e-9
    hidden = a.v[:, native.layer("l1").output_nodes]
    assert np.any(np.abs(hidden) > 0.2)                                   # clamps conduct
    plain = local_wired("native", None, padding).solve(data, currents).v
    assert np.abs(plain[:, native.layer("l1").output_nodes] - hidden).max() > 1e-5


def test_local_layer_ep_gradient_through_the_wires():
    """EP through a wired local layer (200 Ohm segments on 1e-4..1e-3 S devices) against finite differences."""
    model = local_wired("native", Wires(r_segment=200.0, r_access=100.0), g_range=(1e-4, 1e-3))
    batch = {"x": np.random.default_rng(3).uniform(-1, 1, size=(3, 5, 5, 2)),
             "out": np.array([[0.1], [-0.1], [0.05]]) * np.ones((3, 1))}
    loss = MSE()
    fd = networks.finite_differences(model, batch, loss, ("l1",))
    ep = ep_step(model, batch, loss, beta=1e-6, symmetric=True).grads["l1"].ravel()
    assert ep @ fd / np.linalg.norm(ep) / np.linalg.norm(fd) >= 0.99


def test_local_layer_wires_are_checked_and_kept(tmp_path):
    from ebana import LocallyConnected2DLayer, load_model
    x = InputVoltageLayer(shape=(5, 5, 2), name="x")
    with pytest.raises(ValidationError, match="LocallyConnected2DLayer 'l1'.*tile .* is larger than the crossbar"):
        layer = LocallyConnected2DLayer(2, 3, name="l1", wires=Wires(tile=(19, 2), r_segment=1.0))
        Model(inputs=[x], outputs=[CurrentLayer(name="out")(layer(x))])
    model = local_wired("native", Wires(tile=(6, 1), r_segment=3.0, r_access=1.0))
    model.save(tmp_path / "local")
    again = load_model(tmp_path / "local", backend="native")
    assert again.layer("l1").wires == model.layer("l1").wires
    data = {"x": np.random.default_rng(1).uniform(-1, 1, size=(2, 5, 5, 2))}
    np.testing.assert_array_equal(again.solve(data).v, model.solve(data).v)


def test_chip_studies_vary_the_devices_of_wired_layers_and_keep_their_wires():
    """Chip masks, stuck-at faults, drift and read noise act on a wired crossbar's devices exactly as
    on the wire-free one's (the same draws), the wire segments are put back unchanged (never
    stuck, drifted or rescaled), and the chip's circuit solves natively as in Ngspice."""
    from ebana.analysis.chips import chip_accuracy, chip_conductances, prepare_batches, read_noise_accuracy
    from ebana.devices import PowerLawDrift, StuckAtFaults, Variability
    from ebana.devices.chip import ChipDevices
    from ebana.errors import ShapeError
    wires = Wires(tile=(2, 4), r_segment=1.0, r_access=2.0)
    model, plain = wired_network("native", wires), wired_network("native", None)
    plain.set_weights(model.get_weights())
    n_dev, wire_g = model.layer("d1").g.size, model.layer("d1").wired.wire_g

    def with_wires(g):  # a wire-free model's vector with the wired layer's segments in place
        return np.concatenate([g[:n_dev], wire_g, g[n_dev:]])
    variability = Variability(kind="gaussian", sigma=0.3, scope="chip")
    g_chip = chip_conductances(model, variability, 7)
    assert np.array_equal(g_chip, with_wires(chip_conductances(plain, variability, 7)))
    chip = ChipDevices(faults=StuckAtFaults(p=0.2), drift=PowerLawDrift(), seed=3)
    twin = ChipDevices(faults=StuckAtFaults(p=0.2), drift=PowerLawDrift(), seed=3)
    drifted = chip.conductances(model, t=3600.0, compensate=True)
    assert np.array_equal(drifted, with_wires(twin.conductances(plain, t=3600.0, compensate=True)))
    data = inputs(5, batch=4)
    ref = wired_network("ngspice", wires)
    ref.set_weights(model.get_weights())
    for g in (g_chip, drifted):
        assert np.abs(model.solve(data, g=g).v - ref.solve(data, g=g).v).max() < 1e-6
    batch = dict(data, out=np.where(np.random.default_rng(3).random((4, 1)) < 0.5, 0.2, -0.2))
    batches = prepare_batches(model, batch, 4)
    noiseless = Variability(kind="gaussian", sigma=0.0, scope="read", gradient="straight_through")
    assert read_noise_accuracy(model, model.backend, batches, g_chip, MSE(), noiseless, 0) == \
        chip_accuracy(model, model.backend, batches, g_chip, MSE())
    with pytest.raises(ShapeError, match=f"g must hold the {g_chip.size} conductances"):
        read_noise_accuracy(model, model.backend, batches, g_chip[:-1], MSE(), noiseless, 0)


def test_block_laplacian_from_its_pattern_equals_the_sparse_one():
    """A block's nodal matrix is summed into a pattern found once: parallel resistors, resistors
    between two ports and inner-to-port resistors all land where a sparse matrix built afresh puts them."""
    import scipy.sparse as sp

    from ebana.backends.eliminate import _Laplacian
    rng = np.random.default_rng(3)
    n, k = 9, 6  # inner nodes 0..5, ports 6..8
    la = np.array([0, 1, 2, 3, 4, 5, 0, 1, 6, 2, 7], dtype=np.int64)
    lb = np.array([1, 2, 3, 4, 5, 6, 1, 7, 8, 8, 8], dtype=np.int64)  # (0, 1) twice; (6, 8), (7, 8): port to port
    lap = _Laplacian(la, lb, n, k)
    for _ in range(2):  # the pattern serves every conductance set
        g = rng.uniform(1e-6, 1.0, len(la))
        full = sp.csr_matrix((np.concatenate([g, g, -g, -g]), (np.concatenate([la, lb, la, lb]),
                                                                np.concatenate([la, lb, lb, la]))), shape=(n, n))
        ii, ip, pp = lap.blocks(g)
        np.testing.assert_allclose(ii.toarray(), full[:k, :k].toarray(), rtol=1e-15, atol=0)
        np.testing.assert_allclose(ip.toarray(), full[:k, k:].toarray(), rtol=1e-15, atol=0)
        np.testing.assert_allclose(pp, full[k:, k:].toarray(), rtol=1e-15, atol=0)
        assert ii.has_sorted_indices and ip.has_sorted_indices


def test_compiled_tile_expansion_matches_the_numpy_one():
    """The usual tile's inner voltages and KCL residual in one compiled pass (tile_expand) equal
    the NumPy/SciPy path's (the same arithmetic in the same order), chunk by chunk of the batch."""
    from ebana.backends.eliminate import WireEliminatingBackend
    model = wired_network(WireEliminatingBackend(threads=1), Wires(tile=(3, 4), r_segment=2.0, r_access=1.0))
    data = inputs(5, batch=7)
    v = model.solve(data).v
    plan = model.backend.plan(model.circuit)
    reductions = plan.reduce_g(model.conductances())[1]
    compiled = 0
    for b, reduction in zip(plan.blocks, reductions):
        if reduction.factor is None or reduction.factor.tile_arrays() is None:
            continue
        compiled += 1
        w = v.copy()
        w[:, b.inner] = np.nan  # written by the pass, never read
        rows = slice(2, 6)
        step = b.expand_into(w, rows, reduction, tol=0.0)
        x, reference = b.inner_voltages(v[rows, b.ports], reduction, tol=0.0)
        np.testing.assert_array_equal(w[rows][:, b.inner], x)
        np.testing.assert_array_equal(step, reference)
        assert np.isnan(w[:2][:, b.inner]).all()  # other samples untouched
        w[4, b.ports[0]] = np.nan  # a port voltage gone bad in one sample: its check says so
        step = b.expand_into(w, rows, reduction, tol=0.0)
        assert np.isnan(step[2]) and np.isfinite(np.delete(step, 2)).all()
        with pytest.raises(SimulatorError, match="KCL at the wire nodes") as info:
            model.backend._check(plan, [step], np.arange(2, 6))
        assert info.value.sample == 4
    assert compiled >= 2


def test_wired_gradient_in_one_pass_equals_the_numpy_expression():
    """The batch-summed wired EP gradient in one compiled pass (device_phase_sums) equals, to the
    bit, NumPy's gathers of the devices' drops, their products and the sum over the batch; a
    per-sample gradient and phases not stored sample by sample take the expression."""
    from ebana.layers.wires import device_drops, wired_ep_gradient
    rng = np.random.default_rng(5)
    v_low, v_high = rng.normal(size=(2, 9, 40))
    row_nodes, col_nodes = rng.integers(0, 40, size=(2, 6, 7))
    d_high, d_low = device_drops(row_nodes, col_nodes, v_high), device_drops(row_nodes, col_nodes, v_low)
    per = (d_high - d_low) * (d_high + d_low) / (2.0 * 3e-7)
    fused = wired_ep_gradient(row_nodes, col_nodes, v_low, v_high, 3e-7)
    assert fused.shape == (6, 7) and np.array_equal(fused, per.sum(axis=0))
    np.testing.assert_array_equal(wired_ep_gradient(row_nodes, col_nodes, v_low, v_high, 3e-7, per_sample=True), per)
    strided = wired_ep_gradient(row_nodes, col_nodes, np.asfortranarray(v_low), np.asfortranarray(v_high), 3e-7)
    np.testing.assert_allclose(strided, fused, rtol=1e-12, atol=0)
    # one device: NumPy sums its (B,) run pairwise, so the expression is kept (a large batch tells)
    v_low, v_high = rng.normal(size=(2, 1000, 3))
    one_r, one_c = np.array([[0]]), np.array([[2]])
    d_high, d_low = device_drops(one_r, one_c, v_high), device_drops(one_r, one_c, v_low)
    expected = ((d_high - d_low) * (d_high + d_low) / (2.0 * 3e-7)).sum(axis=0)
    assert np.array_equal(wired_ep_gradient(one_r, one_c, v_low, v_high, 3e-7), expected)
