"""Accuracy against wire resistance: (a) a network trained without wires and deployed on
wired tiles, (b) the same network further trained by EP with the wires in the circuit.

Run:  python test_circuit/wires.py [--dataset digits|fashion|fashion28] [--quick] [--r 0 1 2.5 5 10]
          [--out DIR] [--train-subset N] [--test-subset N] [--epochs N] [--wired-epochs N] [--data DIR]
          [--ngspice-check N]

Networks (the clamped network of test_circuit/digits.py): differential inputs and a
+-1 V bias pair -> clamped hidden nets -> x4 amplifiers -> 10 differential outputs,
conductances in [1e-7, 2e-4] S.

* ``digits`` (default): the 8x8 digits, 128 inputs -> 32 hidden nets; the first
  crossbar (130 x 32) in tiles of 32 x 16, the second (32 x 20) in one tile.
* ``fashion``: Fashion-MNIST averaged down to 14x14 (2x2 pixel means), 392 inputs
  -> 64 hidden nets; the first crossbar (394 x 64) in tiles of 64 x 64 (six full
  and one of 10 rows), the second (64 x 20) in one tile. Default: the first 6,000
  training and 1,000 test images.
* ``fashion28``: the same at the full 28x28 resolution, 1568 inputs -> 64 hidden nets;
  the first crossbar (1570 x 64) in 25 tiles of 64 x 64 (24 full and one of 34 rows),
  203,520 wire nodes in all. The same defaults.

Every segment is ``r`` (Ohm), every access resistance ``2 r`` (Ohm). Every solve
is native: the wire-free network on the layered solver, the wired ones on
'native-wires' (wire nodes eliminated exactly, agreeing with Ngspice within
1 uV: tests/test_wires.py). (b) starts from the wire-free weights and trains
``--wired-epochs`` more epochs by EP with the wires in the circuit (at r = 0 the
same epochs without wires: the control).
``--quick``: 300 training and 100 test images, r in {0, 10} Ohm (a CI check).
Each r's trained conductances (b) go to ``OUT/weights_r{r}.pkl`` (``Model.load_weights``);
``--ngspice-check N`` re-solves the first N test images with the last wired network in
Ngspice (its full netlist, every segment a resistor) and compares the predictions.
"""
import argparse
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy: BLAS threads only slow small solves
import numpy as np  # noqa: E402

from ebana import (AmplificationLayer, BiasVoltageLayer, ConcatenateLayer, CurrentLayer, DenseLayer,  # noqa: E402
                   DiodeLayer, InputVoltageLayer, Model, Wires)
from ebana.datasets import differential_split, load_digits, load_fashion_mnist, one_hot  # noqa: E402
from ebana.training import MSE, Adam, DataLoader  # noqa: E402

# per dataset: inputs, hidden nets, the two crossbars' tiles (rows, cols), training batch,
# wire-free and wired epochs, and default subsets (None: all)
SETUPS = {
    "digits": dict(inputs=128, hidden=32, tiles=((32, 16), (32, 20)), batch=8, epochs=20, wired_epochs=5,
                   train=None, test=None),
    "fashion": dict(inputs=392, hidden=64, tiles=((64, 64), (64, 20)), batch=32, epochs=10, wired_epochs=2,
                    train=6000, test=1000),
    "fashion28": dict(inputs=1568, hidden=64, tiles=((64, 64), (64, 20)), batch=32, epochs=10, wired_epochs=2,
                      train=6000, test=1000),
}


def build_model(r, backend, setup, seed=0, clamp=0.1, gain=4.0, variability=None):
    """The clamped network of ``setup`` (a SETUPS entry) with segments of ``r`` Ohm (access ``2 r``)
    in both crossbars; ``variability``: the devices' (both crossbars), for noise-aware training."""
    def wires(tile):
        return None if r == 0 else Wires(tile=tile, r_segment=r, r_access=2 * r)
    init = ("uniform", 1e-6, 1e-4)
    tile_1, tile_2 = setup["tiles"]
    x = InputVoltageLayer(units=setup["inputs"], name="x")
    b = BiasVoltageLayer(units=2, name="b", bias_voltage=[1.0, -1.0])
    h = ConcatenateLayer(name="j")([x, b])
    h = DenseLayer(units=setup["hidden"], name="d1", initializer=init, g_max=2e-4, wires=wires(tile_1))(h)
    h = DiodeLayer(name="c1", direction="down", bias_voltage=clamp)(h)
    h = DiodeLayer(name="c2", direction="up", bias_voltage=-clamp)(h)
    h = AmplificationLayer(name="a1", param={"gain": gain})(h)
    h = DenseLayer(units=20, name="d2", initializer=init, g_max=2e-4, wires=wires(tile_2))(h)
    return Model(inputs=[x, b], outputs=[CurrentLayer(name="out", fold=True)(h)], backend=backend, seed=seed,
                 variability=variability)


def fashion(folder=None, pool=2):
    """Fashion-MNIST (from ``folder``, or the search path) averaged over ``pool x pool`` pixels
    (2: 14x14; 1: the full 28x28), as differential inputs in [-1, 1] V, and +-0.2 V targets:
    ``(x_train, x_test, y_train, y_test, labels_train, labels_test)``."""
    (xi, li), (ti, lt) = load_fashion_mnist(folder)
    side = 28 // pool

    def volts(images):
        small = images.reshape(len(images), side, pool, side, pool).mean(axis=(2, 4)).reshape(len(images), -1)
        v = 2.0 * small / 255.0 - 1.0
        return np.hstack([v, -v])
    return volts(xi), volts(ti), one_hot(li, 10, 0.2, -0.2), one_hot(lt, 10, 0.2, -0.2), li, lt


def data(dataset, seed, folder=None):
    if dataset.startswith("fashion"):
        return fashion(folder, pool=1 if dataset == "fashion28" else 2)
    pixels, labels = load_digits()
    return differential_split(pixels, labels, 10, 0.2, seed=seed, x_min=0.0, x_max=16.0)


def accuracy(model, x, labels):
    return float(np.mean(np.argmax(model.predict({"x": x})["out"], axis=1) == labels))


def train(model, x, y, epochs, seed, batch):
    loader = DataLoader({"x": x, "out": y}, batch_size=batch, shuffle=True, seed=seed)
    model.fit(loader, epochs=epochs, loss_fn=MSE(), optimizer=Adam(lr=2e-6), beta=1e-6, symmetric=True,
              verbose=False)


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits", choices=list(SETUPS))
    parser.add_argument("--r", type=float, nargs="+", default=[0.0, 1.0, 2.5, 5.0, 10.0, 100.0, 1000.0],
                        help="segment resistances (Ohm)")
    parser.add_argument("--epochs", type=int, default=None, help="wire-free training epochs (digits 20, fashion 10)")
    parser.add_argument("--wired-epochs", type=int, default=None,
                        help="EP epochs with the wires, for (b) (digits 5, fashion 2)")
    parser.add_argument("--train-subset", type=int, default=None, help="training images (fashion: 6000)")
    parser.add_argument("--test-subset", type=int, default=None, help="test images (fashion: 1000)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default=None, help="fashion, fashion28: folder of the Fashion-MNIST IDX files")
    parser.add_argument("--out", default=None, help="output folder (default results/wires[_fashion])")
    parser.add_argument("--ngspice-check", type=int, default=0, metavar="N",
                        help="re-solve the first N test images in Ngspice with the last wired network trained "
                             "(its full netlist, every segment a resistor) and compare predictions")
    args = parser.parse_args(argv)
    setup = SETUPS[args.dataset]
    if args.quick:
        args.r, args.epochs, args.wired_epochs, args.train_subset, args.test_subset = [0.0, 10.0], 5, 1, 300, 100
    for name, key in (("epochs", "epochs"), ("wired_epochs", "wired_epochs"), ("train_subset", "train"),
                      ("test_subset", "test")):
        if getattr(args, name) is None:
            setattr(args, name, setup[key])
    if args.ngspice_check < 0:
        parser.error(f"--ngspice-check must be >= 0, received {args.ngspice_check}")
    for name in ("epochs", "wired_epochs", "train_subset", "test_subset"):
        value = getattr(args, name)
        if value is not None and value < (0 if "epochs" in name else 1):
            parser.error(f"--{name.replace('_', '-')} must be positive, received {value}")
    if any(not np.isfinite(r) or r < 0 for r in args.r):
        parser.error(f"--r: segment resistances must be finite and >= 0 Ohm, received {args.r}")
    args.out = args.out or ("results/wires" if args.dataset == "digits" else f"results/wires_{args.dataset}")
    return args, setup


def main(argv=None):
    args, setup = parse(argv)
    x_tr, x_te, y_tr, y_te, l_tr, l_te = data(args.dataset, args.seed, args.data)
    x_tr, y_tr = x_tr[:args.train_subset], y_tr[:args.train_subset]
    x_te, l_te = x_te[:args.test_subset], l_te[:args.test_subset]
    start = time.perf_counter()
    base = build_model(0.0, "native", setup, args.seed)
    train(base, x_tr, y_tr, args.epochs, args.seed, setup["batch"])
    weights = base.get_weights()
    ideal = base.predict({"x": x_te})["out"]
    print(f"wire-free training: {args.epochs} epochs on {len(x_tr)} images, "
          f"{time.perf_counter() - start:.0f} s", flush=True)
    rows, last = [], None
    os.makedirs(args.out, exist_ok=True)
    for r in args.r:
        t0 = time.perf_counter()
        model = build_model(r, "native", setup, args.seed)
        model.set_weights(weights)
        readout = model.predict({"x": x_te})["out"]
        deployed = float(np.mean(np.argmax(readout, axis=1) == l_te))
        shift = float(np.abs(readout - ideal).max())
        # r = 0: the same extra epochs without wires (the control for (b))
        train(model, x_tr, y_tr, args.wired_epochs, args.seed, setup["batch"])
        trained = accuracy(model, x_te, l_te)
        model.save_weights(os.path.join(args.out, f"weights_r{r:g}.pkl"))  # (b)'s conductances, S
        rows.append((r, shift, deployed, trained))
        last = (r, model) if r > 0 else last
        print(f"r = {r:g} Ohm: readouts moved by up to {shift:.4f} V, deployed {deployed:.3f}, "
              f"trained with wires {trained:.3f} "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    write_results(args, rows, len(x_tr), len(x_te))
    if args.ngspice_check and last is not None:
        ngspice_check(last[1], setup, last[0], x_te[:args.ngspice_check], args.seed)
    return rows


def ngspice_check(model, setup, r, x, seed):
    """The trained wired ``model`` against Ngspice on inputs ``x``: the same network with the same
    conductances as a full netlist (every wire segment a resistor), solved as one DC sweep."""
    t0 = time.perf_counter()
    ref = build_model(r, "ngspice-sweep", setup, seed)
    ref.set_weights(model.get_weights())
    mine, theirs = (m.predict({"x": x})["out"] for m in (model, ref))
    same = int(np.sum(np.argmax(mine, axis=1) == np.argmax(theirs, axis=1)))
    print(f"Ngspice check at r = {r:g} Ohm: {same}/{len(x)} identical predictions, largest readout difference "
          f"{np.abs(mine - theirs).max():.2e} V ({time.perf_counter() - t0:.0f} s)", flush=True)


def write_results(args, rows, n_train, n_test):
    os.makedirs(args.out, exist_ok=True)
    lines = [f"{args.dataset}, {n_train} training / {n_test} test images, wire-free epochs {args.epochs}, "
             f"wired epochs {args.wired_epochs}", "",
             "| r_segment (Ohm) | max readout change (V) | (a) trained without wires | (b) + EP with wires |",
             "|---|---|---|---|"]
    lines += [f"| {r:g} | {d:.4f} | {a:.3f} | {b:.3f} |" for r, d, a, b in rows]
    with open(os.path.join(args.out, "wires.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    r, _, a, b = np.array(rows).T
    r = np.maximum(r, 0.1)  # r = 0 drawn at 0.1 Ohm on the log axis
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.set_xscale("log")
    ax.plot(r, a, "o-", label="(a) trained without wires")
    ax.plot(r, b, "s--", label="(b) + EP with wires")
    ax.set_xlabel("wire segment resistance (Ohm; 0 drawn at 0.1)")
    ax.set_ylabel("test accuracy")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "wires.png"), dpi=120)


if __name__ == "__main__":
    main()
