"""Train XOR as a circuit in Ngspice with Equilibrium Propagation.

Run:  python test_circuit/xor.py [--backend ngspice|native] [--epochs N] [--out DIR]

Inputs 0/1 become -1 V / +1 V; the output is a differential pair whose
voltage difference should be +0.2 V for XOR = 1 and -0.2 V for XOR = 0.
Saves the optimizer state (pickle), the history (HDF5) and a training curve.
"""
import argparse
import time

import numpy as np

from ebana.networks import clamped_mlp
from ebana.datasets import load_xor
from ebana.training import MSE, Adam, DataLoader
from ebana.training.artifacts import save_run


def build_model(backend="ngspice", seed=2):
    """2 inputs (V) and a +-1 V bias pair -> 8 nets clamped at +-0.3 V -> x4 amplifiers -> one
    differential output (see ebana/networks.py for the layer graph)."""
    return clamped_mlp(2, 8, 1, clamp=0.3, gain=4.0, backend=backend, seed=seed)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="ngspice", choices=["ngspice", "native"])
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--out", default="results/xor")
    args = parser.parse_args(argv)

    bits, labels = load_xor()
    x = 2.0 * bits - 1.0                      # V
    y = np.where(labels > 0.5, 0.2, -0.2)     # V, differential target
    model = build_model(args.backend, args.seed)
    optimizer = Adam(lr=2e-6)                 # S per step
    loader = DataLoader({"x": x, "out": y}, batch_size=4, shuffle=True, seed=args.seed)
    start = time.perf_counter()
    history = model.fit(loader, epochs=args.epochs, loss_fn=MSE(), optimizer=optimizer, beta=1e-6,
                        symmetric=True, verbose=False)
    elapsed = time.perf_counter() - start
    for epoch in list(range(0, args.epochs, max(1, args.epochs // 10))) + [args.epochs - 1]:
        print(f"epoch {epoch + 1:4d}  loss {history['loss'][epoch]:.6f} V^2  accuracy {history['accuracy'][epoch]:.2f}")
    pred = model.predict({"x": x})["out"][:, 0]
    correct = int(np.sum((pred > 0) == (labels[:, 0] > 0.5)))
    for b, p in zip(bits, pred):
        print(f"  {int(b[0])} XOR {int(b[1])} -> {p:+.4f} V -> {int(p > 0)}")
    print(f"XOR: {correct}/4 correct after {args.epochs} epochs in {elapsed:.1f} s ({args.backend})")

    save_run(args.out, optimizer, history, title="XOR in Ngspice")
    return correct


if __name__ == "__main__":
    main()
