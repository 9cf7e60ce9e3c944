"""8x8 digits against wire resistance: accuracy of (a) a network trained without wires and
deployed on wired tiles, (b) the same network further trained by EP with the wires in the circuit.

Run:  python test_circuit/wires.py [--quick] [--r 0 1 2.5 5 10] [--out DIR]

Network (as test_circuit/digits.py): 128 differential inputs and a +-1 V bias
pair -> 32 clamped hidden nets -> x4 amplifiers -> 10 differential outputs.
Wired: the first crossbar (130 x 32) in tiles of 32 x 16 and the second
(32 x 20) in one tile of 32 x 20; every segment ``r`` (Ohm), access
resistances ``2 r`` (Ohm). Every solve is native: the wire-free network on
the layered solver, the wired ones on 'native-wires' (wire nodes eliminated
exactly, agreeing with Ngspice within 1 uV: tests/test_wires.py). (b) starts
from the wire-free weights and trains ``--wired-epochs`` more epochs by EP
with the wires in the circuit.
``--quick``: 300 training and 100 test images, r in {0, 10} Ohm (a CI check).
"""
import argparse
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy: BLAS threads only slow small solves
import numpy as np  # noqa: E402

from ebana import (AmplificationLayer, BiasVoltageLayer, ConcatenateLayer, CurrentLayer, DenseLayer,  # noqa: E402
                   DiodeLayer, InputVoltageLayer, Model, Wires)
from ebana.datasets import differential_split, load_digits  # noqa: E402
from ebana.training import MSE, Adam, DataLoader  # noqa: E402

HIDDEN, TILE_1, TILE_2 = 32, (32, 16), (32, 20)


def build_model(r, backend, seed=0, clamp=0.1, gain=4.0):
    """The digits network with segments of ``r`` Ohm (access ``2 r``) in both crossbars."""
    def wires(tile):
        return None if r == 0 else Wires(tile=tile, r_segment=r, r_access=2 * r)
    init = ("uniform", 1e-6, 1e-4)
    x = InputVoltageLayer(units=128, name="x")
    b = BiasVoltageLayer(units=2, name="b", bias_voltage=[1.0, -1.0])
    h = ConcatenateLayer(name="j")([x, b])
    h = DenseLayer(units=HIDDEN, name="d1", initializer=init, g_max=2e-4, wires=wires(TILE_1))(h)
    h = DiodeLayer(name="c1", direction="down", bias_voltage=clamp)(h)
    h = DiodeLayer(name="c2", direction="up", bias_voltage=-clamp)(h)
    h = AmplificationLayer(name="a1", param={"gain": gain})(h)
    h = DenseLayer(units=20, name="d2", initializer=init, g_max=2e-4, wires=wires(TILE_2))(h)
    return Model(inputs=[x, b], outputs=[CurrentLayer(name="out", fold=True)(h)], backend=backend, seed=seed)


def accuracy(model, x, labels):
    return float(np.mean(np.argmax(model.predict({"x": x})["out"], axis=1) == labels))


def train(model, x, y, epochs, seed):
    loader = DataLoader({"x": x, "out": y}, batch_size=8, shuffle=True, seed=seed)
    model.fit(loader, epochs=epochs, loss_fn=MSE(), optimizer=Adam(lr=2e-6), beta=1e-6, symmetric=True,
              verbose=False)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--r", type=float, nargs="+", default=[0.0, 1.0, 2.5, 5.0, 10.0, 100.0, 1000.0],
                        help="segment resistances (Ohm)")
    parser.add_argument("--epochs", type=int, default=20, help="wire-free training epochs")
    parser.add_argument("--wired-epochs", type=int, default=5, help="EP epochs with the wires, for (b)")
    parser.add_argument("--train-subset", type=int, default=None)
    parser.add_argument("--test-subset", type=int, default=None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="results/wires")
    args = parser.parse_args(argv)
    if args.quick:
        args.r, args.epochs, args.wired_epochs, args.train_subset, args.test_subset = [0.0, 10.0], 5, 1, 300, 100
    pixels, labels = load_digits()
    x_tr, x_te, y_tr, y_te, l_tr, l_te = differential_split(pixels, labels, 10, 0.2, seed=args.seed,
                                                            x_min=0.0, x_max=16.0)
    x_tr, y_tr = x_tr[:args.train_subset], y_tr[:args.train_subset]
    x_te, l_te = x_te[:args.test_subset], l_te[:args.test_subset]
    start = time.perf_counter()
    base = build_model(0.0, "native", args.seed)
    train(base, x_tr, y_tr, args.epochs, args.seed)
    weights = base.get_weights()
    ideal = base.predict({"x": x_te})["out"]
    print(f"wire-free training: {args.epochs} epochs on {len(x_tr)} images, "
          f"{time.perf_counter() - start:.0f} s", flush=True)
    rows = []
    for r in args.r:
        t0 = time.perf_counter()
        model = build_model(r, "native", args.seed)
        model.set_weights(weights)
        readout = model.predict({"x": x_te})["out"]
        deployed = float(np.mean(np.argmax(readout, axis=1) == l_te))
        shift = float(np.abs(readout - ideal).max())
        # r = 0: the same extra epochs without wires (the control for (b))
        train(model, x_tr, y_tr, args.wired_epochs, args.seed)
        trained = accuracy(model, x_te, l_te)
        rows.append((r, shift, deployed, trained))
        print(f"r = {r:g} Ohm: readouts moved by up to {shift:.4f} V, deployed {deployed:.3f}, "
              f"trained with wires {trained:.3f} "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    write_results(args, rows, len(x_tr), len(x_te))
    return rows


def write_results(args, rows, n_train, n_test):
    os.makedirs(args.out, exist_ok=True)
    lines = [f"digits, {n_train} training / {n_test} test images, wire-free epochs {args.epochs}, "
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
