"""Accuracy against power: the digits network trained at several conductance scales.

Run:  python test_circuit/energy.py [--scales 1e-5 1e-4 1e-3 0.01 0.1 1] [--epochs N] [--out DIR]

The same network as test_circuit/digits.py (128 differential inputs and a
+-1 V bias pair -> 32 diode-clamped nets -> x4 amplifiers -> 10 differential
outputs) is trained natively once per scale ``s``: the conductance bounds,
the initial conductances, the Adam step (S) and the nudging strength beta (S)
are all multiplied by ``s``, so the network keeps its voltages while its
currents, and so its power, shrink with ``s``. What does not scale is the
rest of the circuit: the diodes (RON 100 Ohm, ROFF 10 GOhm) and the ideal
amplifiers. For each scale it reports the held-out accuracy, the mean
free-phase power per inference (W, ``model.power``) split by layer, and the
energy per inference for a stated read time (J). Writes ``pareto.png``
(accuracy against power) and ``pareto.json`` (the numbers) into ``--out``.
"""
import argparse
import json
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy: BLAS threads only slow small solves
import numpy as np  # noqa: E402

from ebana.datasets import differential_split, load_digits
from ebana.networks import clamped_mlp
from ebana.training import MSE, Adam, DataLoader


def build_model(scale, backend="native", hidden=32, seed=0):
    """The digits network with every conductance (S) multiplied by ``scale``."""
    return clamped_mlp(128, hidden, 10, clamp=0.1, gain=4.0, g_min=1e-7 * scale, g_max=2e-4 * scale,
                       initializer=("uniform", 1e-6 * scale, 1e-4 * scale), backend=backend, seed=seed)


def run_scale(scale, data, args):
    """Train at one scale; return the numbers of one point of the Pareto plot."""
    x_train, x_test, y_train, y_test, _, l_test = data
    model = build_model(scale, args.backend, args.hidden, args.seed)
    loader = DataLoader({"x": x_train, "out": y_train}, batch_size=args.batch_size, shuffle=True, seed=args.seed)
    start = time.perf_counter()
    history = model.fit(loader, epochs=args.epochs, loss_fn=MSE(), optimizer=Adam(lr=2e-6 * scale),
                        beta=1e-6 * scale, test_dataloader={"x": x_test, "out": y_test}, symmetric=True,
                        verbose=False, record_power=True)
    elapsed = time.perf_counter() - start
    pred = np.argmax(model.predict({"x": x_test})["out"], axis=1)
    report = model.power({"x": x_test})
    power = float(report.total().mean())
    accuracy = float(np.mean(pred == l_test))
    return {"scale": scale, "test_accuracy": accuracy, "power_W": power,
            "energy_J": power * args.read_time,
            "accuracy_per_uW": accuracy / (power * 1e6),
            "dissipated_W": {k: float(v.mean()) for k, v in report.dissipated.items()},
            "delivered_W": {k: float(v.mean()) for k, v in report.delivered.items()},
            "history_val_power_W": history["val_power_W"], "train_time_s": elapsed}


def plot(points, path, read_time):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(6, 4))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    p = np.array([pt["power_W"] for pt in points]) * 1e6
    a = np.array([pt["test_accuracy"] for pt in points]) * 100
    ax.plot(p, a, "o-")
    for pt, x, y in zip(points, p, a):
        ax.annotate(f"x{pt['scale']:g}", (x, y), textcoords="offset points", xytext=(5, -12), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlim(p.min() / 3, p.max() * 3)
    ax.set_ylim(max(0.0, a.min() - 10), 100)  # the full scale: small differences stay small
    ax.set_xlabel("mean power per inference (uW)")
    ax.set_ylabel("held-out accuracy (%)")
    top = ax.secondary_xaxis("top", functions=(lambda w: w * read_time * 1e6, lambda e: e / read_time / 1e6))
    top.set_xlabel(f"energy per inference at a {read_time * 1e6:g} us read (pJ)")
    ax.grid(alpha=0.3, which="both")
    ax.set_title("8x8 digits: accuracy against power (conductance scale)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="native", choices=["ngspice", "native"])
    parser.add_argument("--scales", type=float, nargs="+", default=[1e-5, 1e-4, 1e-3, 0.01, 0.1, 1.0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--read-time", type=float, default=1e-6, help="time (s) the circuit is held per inference")
    parser.add_argument("--train-subset", type=int, default=None, help="train on the first N images (quick checks)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="results/energy")
    args = parser.parse_args(argv)

    pixels, labels = load_digits()
    data = differential_split(pixels, labels, 10, 0.2, seed=args.seed, x_min=0.0, x_max=16.0)
    if args.train_subset:
        data = tuple(d[:args.train_subset] if k in (0, 2, 4) else d for k, d in enumerate(data))
    points = []
    print(f"{'scale':>6} {'test acc':>9} {'power (uW)':>11} {'energy (pJ)':>12} {'acc/uW':>8} {'time (s)':>9}")
    for scale in args.scales:
        pt = run_scale(scale, data, args)
        points.append(pt)
        print(f"{scale:6g} {pt['test_accuracy']:9.3f} {pt['power_W'] * 1e6:11.3f} {pt['energy_J'] * 1e12:12.3f} "
              f"{pt['accuracy_per_uW']:8.3g} {pt['train_time_s']:9.1f}", flush=True)
    best = max(points, key=lambda pt: pt["accuracy_per_uW"])
    print(f"energy: best accuracy per microwatt at scale {best['scale']:g} "
          f"({best['test_accuracy']:.3f} at {best['power_W'] * 1e6:.3f} uW)")
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "pareto.json"), "w") as f:
        json.dump({"args": vars(args), "points": points}, f, indent=1)
    plot(points, os.path.join(args.out, "pareto.png"), args.read_time)
    return points


if __name__ == "__main__":
    main()
