"""Image layers lower to the circuit their docstrings describe: geometry against brute-force
loops, voltages against a hand-written nodal formula, the structure rules of the layered
solver, and clear errors for bad shapes."""
import numpy as np
import pytest

import networks
from ebana import (AveragePooling2DLayer, CurrentLayer, DenseLayer, FlattenLayer, GraphError, InputVoltageLayer,
                   LocallyConnected2DLayer, Model, ReshapeLayer, ShapeError, ValidationError)


def _pairs(model, name):
    sl = model.circuit.slice("res", name)
    return model.circuit.res_a[sl], model.circuit.res_b[sl]


@pytest.mark.parametrize("rows, cols, channels, kernel, strides, filters", [
    (6, 6, 2, 3, 1, 3), (7, 5, 1, (3, 2), (2, 1), 2), (8, 8, 3, 4, 4, 1)])
def test_local_layer_joins_each_window_to_its_own_nets(rows, cols, channels, kernel, strides, filters):
    x = InputVoltageLayer(shape=(rows, cols, channels), name="x")
    layer = LocallyConnected2DLayer(filters, kernel, name="l1", strides=strides)
    out = CurrentLayer(name="out")(layer(x))
    model = Model(inputs=[x], outputs=[out], backend="native")
    kr, kc = (kernel, kernel) if isinstance(kernel, int) else kernel
    sr, sc = (strides, strides) if isinstance(strides, int) else strides
    out_r, out_c = (rows - kr) // sr + 1, (cols - kc) // sc + 1
    assert layer.shape == (out_r, out_c, filters) and layer.units == out_r * out_c * filters
    assert layer.g.shape == (out_r * out_c, kr * kc * channels, filters)
    x_nodes, l_nodes = model.nodes[id(x)], model.nodes[id(layer)]
    expected = []  # brute force, in the documented order (window, position in window, filter)
    for i in range(out_r):
        for j in range(out_c):
            for r in range(kr):
                for c in range(kc):
                    for ch in range(channels):
                        for f in range(filters):
                            src = ((i * sr + r) * cols + (j * sc + c)) * channels + ch
                            dst = (i * out_c + j) * filters + f
                            expected.append((x_nodes[src], l_nodes[dst]))
    a, b = _pairs(model, "l1")
    assert list(zip(a.tolist(), b.tolist())) == [(int(p), int(q)) for p, q in expected]
    np.testing.assert_array_equal(model.conductances(), layer.g.ravel())


@pytest.mark.parametrize("rows, cols, kernel, strides", [(5, 7, 3, 2), (6, 6, 4, 1), (3, 4, 5, 3)])
def test_same_padding_follows_keras_and_grounds_the_padded_positions(rng, rows, cols, kernel, strides):
    """Keras' 'same': ceil(size / stride) windows, padding split with the smaller half before;
    a padded position is a 0 V pixel, so its resistor goes to ground. Checked by the nodal formula."""
    x = InputVoltageLayer(shape=(rows, cols, 1), name="x")
    layer = LocallyConnected2DLayer(2, kernel, name="l1", strides=strides, padding="same")
    out = CurrentLayer(name="out")(layer(x))
    model = Model(inputs=[x], outputs=[out], backend="native")
    out_r, out_c = -(-rows // strides), -(-cols // strides)
    assert layer.shape == (out_r, out_c, 2)
    pad_r = max((out_r - 1) * strides + kernel - rows, 0) // 2
    pad_c = max((out_c - 1) * strides + kernel - cols, 0) // 2
    v = rng.uniform(-1, 1, size=(2, rows, cols))
    padded = np.zeros((2, rows + 2 * kernel, cols + 2 * kernel))  # 0 V around the image
    padded[:, kernel:kernel + rows, kernel:kernel + cols] = v
    inside = np.zeros(padded.shape[1:], dtype=bool)
    inside[kernel:kernel + rows, kernel:kernel + cols] = True
    want, outside = np.zeros((2, out_r, out_c, 2)), 0
    for i in range(out_r):
        for j in range(out_c):
            r0, c0 = kernel + i * strides - pad_r, kernel + j * strides - pad_c
            window = padded[:, r0:r0 + kernel, c0:c0 + kernel].reshape(2, -1)
            g = layer.g[i * out_c + j]
            want[:, i, j, :] = window @ g / g.sum(axis=0)
            outside += int((~inside[r0:r0 + kernel, c0:c0 + kernel]).sum())
    got = model.readouts(model.solve({"x": v[..., None]}).v)["out"]
    np.testing.assert_allclose(got, want.reshape(2, -1), atol=1e-12)
    grounded = int((model.circuit.res_a[model.circuit.slice("res", "l1")] == 0).sum())
    assert outside > 0 and grounded == 2 * outside  # one grounded resistor per padded position and filter


def test_unloaded_nets_sit_at_the_conductance_weighted_mean(rng):
    """Local layer and pooling alone (outputs open): V_out = sum(G V_in) / sum(G), checked by hand."""
    x = InputVoltageLayer(shape=(5, 4, 2), name="x")
    local = LocallyConnected2DLayer(2, (3, 2), name="l1", strides=(2, 2), initializer=("uniform", 1e-6, 1e-4))
    out1 = CurrentLayer(name="o1")(local(x))
    y = InputVoltageLayer(shape=(4, 5, 3), name="y")  # column 2 lies between the windows
    pool = AveragePooling2DLayer(2, name="p1", strides=(2, 3))
    out2 = CurrentLayer(name="o2")(pool(y))
    model = Model(inputs=[x, y], outputs=[out1, out2], backend="native")
    vx, vy = rng.uniform(-1, 1, size=(3, 5, 4, 2)), rng.uniform(-1, 1, size=(3, 4, 5, 3))
    got = model.readouts(model.solve({"x": vx, "y": vy}).v)
    want = np.zeros((3, 2, 2, 2))
    for i in range(2):
        for j in range(2):
            window = vx[:, 2 * i:2 * i + 3, 2 * j:2 * j + 2, :].reshape(3, -1)
            g = local.g[i * 2 + j]  # (12, 2)
            want[:, i, j, :] = window @ g / g.sum(axis=0)
    np.testing.assert_allclose(got["o1"], want.reshape(3, -1), atol=1e-12)
    assert pool.shape == (2, 2, 3)
    want = np.zeros((3, 2, 2, 3))
    for i in range(2):
        for j in range(2):
            want[:, i, j, :] = vy[:, 2 * i:2 * i + 2, 3 * j:3 * j + 2, :].mean(axis=(1, 2))
    np.testing.assert_allclose(got["o2"], want.reshape(3, -1), atol=1e-12)
    assert pool.parameters() == {} and np.all(pool.conductances() == 1e-4)


def test_structure_rules_of_the_layered_solver():
    """Each layer's nets come from builder.nodes(name, count); its resistors are one block from
    its input nets to its own nets; no element joins two nets created by the same layer."""
    model = networks.image_network("native", padding="same", strides=2)
    circuit = model.circuit
    assert (circuit.res_a[circuit.slice("res", "l1")] == 0).any()
    creator = [name.split("__")[0] for name in circuit.node_names]
    for layer in model.layers:
        sl = circuit.blocks["res"].get(layer.name)
        if sl is None:
            continue
        own = set(np.flatnonzero(np.array(creator) == layer.name.lower()).tolist())
        assert set(circuit.res_b[sl].tolist()) == own
        # input nets, or ground for a padded window position (a 0 V pixel)
        assert set(circuit.res_a[sl].tolist()) <= set(np.asarray(layer.input_nodes).tolist()) | {0}
    assert sum(sl.stop - sl.start for sl in circuit.blocks["res"].values()) == circuit.n_res
    for a, b in [(circuit.res_a, circuit.res_b), (circuit.d_anode, circuit.d_cathode),
                 (circuit.amp_in, circuit.amp_out)]:
        for p, q in zip(a.tolist(), b.tolist()):
            assert p == 0 or q == 0 or creator[p] != creator[q], (circuit.node_names[p], circuit.node_names[q])


def test_shapes_flow_and_batches_may_come_as_images(rng):
    model = networks.image_network("native")
    assert [model.layer(n).shape for n in ("x", "l1", "c2", "a1", "p1", "f", "d2")] == \
        [(6, 6, 2), (4, 4, 3), (4, 4, 3), (4, 4, 3), (2, 2, 3), (12,), (4,)]
    images = networks.image_inputs(2, rng)
    np.testing.assert_array_equal(model.solve({"x": images}).v, model.solve({"x": images.reshape(2, -1)}).v)
    with pytest.raises(ShapeError, match=r"\(batch, 72\) or \(batch, 6, 6, 2\), received \(2, 6, 5, 2\)"):
        model.solve({"x": images[:, :, :5]})


def test_reshape_and_flatten():
    x = InputVoltageLayer(units=32, name="x")
    img = ReshapeLayer((4, 4, 2), name="img")(x)
    assert img.shape == (4, 4, 2) and img.units == 32
    h = LocallyConnected2DLayer(1, 2, name="l1", strides=2)(img)
    flat = FlattenLayer(name="f")(h)
    assert flat.shape == (4,)
    with pytest.raises(ShapeError, match="cannot lay out 32 nets as"):
        ReshapeLayer((5, 5), name="r2")(InputVoltageLayer(units=32, name="x2"))
    with pytest.raises(ValidationError, match="target_shape"):
        ReshapeLayer((4, 0), name="r3")


@pytest.mark.parametrize("make, error, words", [
    (lambda: LocallyConnected2DLayer(2, 3, name="l1")(InputVoltageLayer(units=36, name="x")),
     ShapeError, r"LocallyConnected2DLayer 'l1' expected an image input .* \(36,\) from InputVoltageLayer 'x'"),
    (lambda: LocallyConnected2DLayer(2, 7, name="l1")(InputVoltageLayer(shape=(6, 6, 1), name="x")),
     ShapeError, r"window \(7, 7\) is larger than its input image \(6, 6\)"),
    (lambda: LocallyConnected2DLayer(2, 3, name="l1", padding="full"), ValidationError,
     "padding must be 'valid' or 'same'"),
    (lambda: LocallyConnected2DLayer(0, 3, name="l1"), ShapeError, "filters"),
    (lambda: LocallyConnected2DLayer(2, (3, 0), name="l1"), ValidationError, "kernel_size"),
    (lambda: LocallyConnected2DLayer(2, 3, name="l1", g_min=1e-4, g_max=1e-5), ValidationError, "g_max"),
    (lambda: AveragePooling2DLayer(2, name="p", conductance=0.0), ValidationError, "conductance of Average"),
    (lambda: AveragePooling2DLayer(2, name="p")(DenseLayer(4, name="d")(InputVoltageLayer(units=2, name="x"))),
     ShapeError, "AveragePooling2DLayer 'p' expected an image input"),
    (lambda: InputVoltageLayer(units=10, shape=(3, 3), name="x"), ShapeError, "disagrees with shape"),
    (lambda: InputVoltageLayer(shape=(3, -1), name="x"), ShapeError, "positive integer"),
    (lambda: InputVoltageLayer(name="x"), ShapeError, "units= or shape="),
])
def test_bad_image_layers_are_refused_with_names(make, error, words):
    with pytest.raises(error, match=words):
        make()


def test_a_layer_is_still_used_once():
    x = InputVoltageLayer(shape=(4, 4, 1), name="x")
    layer = LocallyConnected2DLayer(1, 2, name="l1")
    layer(x)
    with pytest.raises(GraphError, match="already connected"):
        layer(x)


@pytest.mark.parametrize("chunk_bytes", [1, 3000, 1 << 30])
def test_local_gradient_by_chunks_of_windows_is_the_per_sample_sum(monkeypatch, chunk_bytes):
    """The batch-summed EP gradient of a local layer, computed a few windows at a time (down to
    one), equals its per-sample gradients summed, with moving inputs and 'same' padding too."""
    import ebana.layers.locally_connected as lc
    monkeypatch.setattr(lc, "_CHUNK_BYTES", chunk_bytes)
    x = InputVoltageLayer(shape=(6, 7, 2), name="x")
    layer = LocallyConnected2DLayer(3, 3, name="l1", strides=(2, 1), padding="same")
    model = Model(inputs=[x], outputs=[CurrentLayer(name="out")(layer(x))], backend="native")
    rng = np.random.default_rng(4)
    v_low = rng.normal(size=(5, model.circuit.n_nodes))
    v_high = v_low + rng.normal(scale=1e-3, size=v_low.shape)   # every node moves, inputs too
    v_low[:, 0] = v_high[:, 0] = 0.0                              # ground
    total = layer.ep_gradient(v_low, v_high, 2e-3)
    expected = layer.ep_gradient(v_low, v_high, 2e-3, per_sample=True).sum(axis=0)
    assert total.shape == layer.g.shape
    np.testing.assert_allclose(total, expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())


def test_local_gradient_in_threads_is_the_same_to_the_bit(monkeypatch):
    """The chunks of windows run in ebana's threads (ebana.backends.threads.thread_map); each
    window's sum is its own, so one thread or three give the same bits."""
    import ebana.layers.locally_connected as lc
    monkeypatch.setattr(lc, "_CHUNK_BYTES", 2000)
    x = InputVoltageLayer(shape=(8, 8, 2), name="x")
    layer = LocallyConnected2DLayer(4, 3, name="l1")
    model = Model(inputs=[x], outputs=[CurrentLayer(name="out")(layer(x))], backend="native")
    rng = np.random.default_rng(5)
    v_low = rng.normal(size=(6, model.circuit.n_nodes))
    v_high = v_low + rng.normal(scale=1e-3, size=v_low.shape)
    results = []
    for threads in ("1", "3"):
        monkeypatch.setenv("EBANA_THREADS", threads)
        results.append(layer.ep_gradient(v_low, v_high, 2e-3))
    np.testing.assert_array_equal(results[0], results[1])


def test_local_gradient_of_held_inputs_is_the_general_formula_to_the_bit():
    """Inputs held by sources take one product, doubled: the same bits as the general formula
    with ``da = 0`` and ``sa = 2 a`` (doubling is exact)."""
    from ebana.layers.locally_connected import _window_gradient
    rng = np.random.default_rng(6)
    a = rng.normal(size=(7, 3, 5))                       # (B, W, K)
    lo_b = rng.normal(size=(7, 3, 4))                    # (B, W, F)
    hi_b = lo_b + rng.normal(scale=1e-4, size=lo_b.shape)
    held = _window_gradient(np, None, a, lo_b, hi_b)
    np.testing.assert_array_equal(held, _window_gradient(np, a.copy(), a, lo_b, hi_b))
    assert np.abs(held).max() > 0
