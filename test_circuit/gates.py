"""Train the two-input logic gates AND, OR, NAND, NOR and XOR as circuits with Equilibrium Propagation.

Run:  python test_circuit/gates.py [--backend ngspice|native] [--epochs N] [--gates and,xor] [--out DIR]

Every gate gets its own network (the XOR circuit of xor.py: 2 differential
inputs and a bias pair -> 8 diode-clamped hidden nets -> x4 amplifiers -> one
differential output pair). Inputs 0/1 become -1 V / +1 V; the target output
is +0.2 V for 1 and -0.2 V for 0. For each gate it saves the optimizer state
(pickle), the history (HDF5) and a training curve under DIR/<gate>/.
"""
import argparse
import os
import pathlib
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy: BLAS threads only slow small solves
import numpy as np  # noqa: E402

from ebana.networks import clamped_mlp
from ebana.datasets import GATES, load_gate
from ebana.training import MSE, Adam, DataLoader
from ebana.training.artifacts import save_run


def build_model(backend="ngspice", seed=2):
    """2 inputs (V) and a +-1 V bias pair -> 8 clamped hidden nets -> one differential output."""
    return clamped_mlp(2, 8, 1, clamp=0.3, gain=4.0, backend=backend, seed=seed)


def train_gate(gate, backend="ngspice", epochs=300, seed=2, out=None):
    """Train one gate; return ``(correct out of 4, predictions (V), history, seconds)``."""
    bits, labels = load_gate(gate)
    x = 2.0 * bits - 1.0                      # V
    y = np.where(labels > 0.5, 0.2, -0.2)     # V, differential target
    model = build_model(backend, seed)
    optimizer = Adam(lr=2e-6)                 # S per step
    loader = DataLoader({"x": x, "out": y}, batch_size=4, shuffle=True, seed=seed)
    start = time.perf_counter()
    history = model.fit(loader, epochs=epochs, loss_fn=MSE(), optimizer=optimizer, beta=1e-6,
                        symmetric=True, verbose=False)
    elapsed = time.perf_counter() - start
    pred = model.predict({"x": x})["out"][:, 0]
    correct = int(np.sum((pred > 0) == (labels[:, 0] > 0.5)))
    if out is not None:
        save_run(out, optimizer, history, f"{gate.upper()} gate ({backend})")
    return correct, pred, history, elapsed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="ngspice", choices=["ngspice", "native"])
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--gates", default=",".join(GATES), help="comma-separated subset of " + ",".join(GATES))
    parser.add_argument("--out", default="results/gates")
    args = parser.parse_args(argv)

    results = {}
    total = 0.0
    for gate in args.gates.lower().split(","):
        bits = load_gate(gate)[0]
        correct, pred, history, elapsed = train_gate(gate, args.backend, args.epochs, args.seed,
                                                     pathlib.Path(args.out) / gate)
        total += elapsed
        table = "  ".join(f"{int(a)}{int(b)}->{p:+.3f} V" for (a, b), p in zip(bits, pred))
        print(f"{gate.upper():4s} {correct}/4 correct  loss {history['loss'][-1]:.2e} V^2  {table}  ({elapsed:.1f} s)")
        results[gate] = correct
    print(f"gates: {sum(results.values())}/{4 * len(results)} correct after {args.epochs} epochs each, "
          f"{total:.1f} s in all ({args.backend}); saved under {args.out}/<gate>/")
    return results


if __name__ == "__main__":
    main()
