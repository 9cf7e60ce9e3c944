"""A saved model's config is checked before anything is built: malformed entries are
ebana errors naming the file, the layer and the field, and declared sizes must match
the stored arrays (no memory bomb). A saved model remembers its backend (issue 25,
items 3 and 4, and the backend friction)."""
import time
import tracemalloc

import numpy as np
import pytest
from networks import xor_like

import ebana
from ebana import GraphError, ShapeError, ValidationError
from ebana.errors import EbanaError
from ebana.saving.safe_io import atomic_pickle, safe_load_pickle

X = np.array([[0.1, -0.2], [0.3, 0.4]])


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "m.ebana"
    xor_like("native", seed=3).save(path)
    return safe_load_pickle(path)


def _layer(d, name):
    return next(e for e in d["config"]["layers"] if e["config"].get("name") == name)


def _write(tmp_path, d):
    path = tmp_path / "edited.ebana"
    atomic_pickle(d, path)  # a valid checksum: the content itself is what is wrong
    return path


EDITS = {
    "unknown_key": (lambda d: _layer(d, "d1")["config"].__setitem__("bogus", 1), r"'d1'.*unknown field.*bogus"),
    "no_parents": (lambda d: _layer(d, "d1").pop("parents"), r"layer \d+.*keys"),
    "string_entry": (lambda d: d["config"]["layers"].__setitem__(2, "DenseLayer"), r"layer 2.*a str"),
    "seed_text": (lambda d: d["config"].__setitem__("seed", "abc"), r"field 'seed'.*'abc'"),
    "bias_text": (lambda d: _layer(d, "c1")["config"].__setitem__("bias_voltage", "0.1 shell"),
                  r"'c1'.*field 'bias_voltage'.*number"),
    "units_text": (lambda d: _layer(d, "d1")["config"].__setitem__("units", "4"), r"'d1'.*field 'units'"),
    "missing_field": (lambda d: _layer(d, "d1")["config"].pop("units"), r"'d1'.*missing field.*units"),
    "layers_not_list": (lambda d: d["config"].__setitem__("layers", 5), r"field 'layers'"),
    "config_not_dict": (lambda d: _layer(d, "d1").__setitem__("config", [1]), r"field 'config'"),
    "parents_not_names": (lambda d: _layer(d, "d1").__setitem__("parents", [3]), r"'d1'.*field 'parents'"),
    "bool_text": (lambda d: _layer(d, "d1")["config"].__setitem__("trainable", "yes"), r"'d1'.*'trainable'"),
    "unknown_top_key": (lambda d: d["config"].__setitem__("extra", 1), r"unknown config key.*extra"),
    "bad_class": (lambda d: _layer(d, "d1").__setitem__("class", ["x"]), r"unknown layer class"),
    "bad_backend": (lambda d: d.__setitem__("backend", 5), r"field 'backend'"),
    "huge_levels": (lambda d: _layer(d, "d1")["config"].__setitem__("levels", 10 ** 30), r"'d1'.*levels=.*MAX_LEVELS"),
    "dict_initializer": (lambda d: _layer(d, "d1")["config"].__setitem__("initializer", {"a": 1}),
                         r"'d1'.*field 'initializer' must be"),
}


@pytest.mark.parametrize("case", sorted(EDITS))
def test_malformed_configs_are_ebana_errors_naming_file_layer_field(tmp_path, saved, case):
    import copy
    d = copy.deepcopy(saved)
    edit, pattern = EDITS[case]
    edit(d)
    path = _write(tmp_path, d)
    with pytest.raises(EbanaError, match=r"edited\.ebana.*" + pattern):
        ebana.load_model(path, backend="native")


@pytest.mark.parametrize("field, value", [("units", 10 ** 7), ("units", 10 ** 12)])
def test_a_huge_declared_size_is_refused_before_allocating(tmp_path, saved, field, value):
    import copy
    d = copy.deepcopy(saved)
    _layer(d, "d1")["config"][field] = value
    path = _write(tmp_path, d)
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises((ShapeError, ValidationError), match=r"edited\.ebana.*'d1'"):
            ebana.load_model(path, backend="native")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2 ** 20 and time.perf_counter() - start < 5


def test_filters_bomb_in_a_locally_connected_layer(tmp_path):
    from ebana import CurrentLayer, FlattenLayer, InputVoltageLayer, LocallyConnected2DLayer, Model
    from ebana.layers import DenseLayer
    x = InputVoltageLayer(shape=(4, 4, 1), name="img")
    h = LocallyConnected2DLayer(filters=2, kernel_size=2, strides=2, name="lc")(x)
    h = FlattenLayer(name="f")(h)
    out = CurrentLayer(name="out")(DenseLayer(units=2, name="d")(h))
    path = tmp_path / "lc.ebana"
    Model(inputs=[x], outputs=[out], backend="native").save(path)
    d = safe_load_pickle(path)
    _layer(d, "lc")["config"]["filters"] = 10 ** 6  # under the per-layer limit: the stored shape decides
    atomic_pickle(d, path)
    tracemalloc.start()
    try:
        with pytest.raises(ShapeError, match=r"lc\.ebana.*'lc'.*shape \(4, 4, 1000000\).*\(4, 4, 2\)"):
            ebana.load_model(path, backend="native")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2 ** 20


def test_a_duplicate_layer_is_a_graph_error_naming_the_file(tmp_path, saved):
    import copy
    d = copy.deepcopy(saved)
    d["config"]["layers"].append(copy.deepcopy(_layer(d, "out")))
    with pytest.raises(GraphError, match=r"edited\.ebana.*twice"):
        ebana.load_model(_write(tmp_path, d), backend="native")


def test_a_saved_model_remembers_its_backend_and_says_so_once(tmp_path, capsys, monkeypatch):
    from ebana.saving import restore
    monkeypatch.setattr(restore, "_announced", set())
    model = xor_like("native-dense", seed=3)
    model.save(tmp_path / "m.ebana")
    first = ebana.load_model(tmp_path / "m.ebana")
    second = ebana.load_model(tmp_path / "m.ebana")
    assert first.backend_name == second.backend_name == "native-dense"
    out = capsys.readouterr().out
    assert out.count("running on backend 'native-dense'") == 1
    assert ebana.load_model(tmp_path / "m.ebana", backend="ngspice").backend_name == "ngspice"
    np.testing.assert_allclose(first.predict({"x": X})["out"], model.predict({"x": X})["out"])


def test_a_file_without_a_backend_loads_on_ngspice(tmp_path, saved, capsys, monkeypatch):
    from ebana.saving import restore
    monkeypatch.setattr(restore, "_announced", set())
    d = dict(saved)
    d.pop("backend", None)
    assert ebana.load_model(_write(tmp_path, d)).backend_name == "ngspice"
    assert "the file names none" in capsys.readouterr().out
