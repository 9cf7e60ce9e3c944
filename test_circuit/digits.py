"""Classify the 8x8 handwritten digits with a 64-input circuit trained by Equilibrium Propagation.

Run:  python test_circuit/digits.py [--backend ngspice|native] [--epochs N] [--out DIR]

The 1797 images are split into 1438 for training and 359 held out
(stratified, seeded). Each pixel (0..16) becomes a differential pair of
input voltages (+v, -v) with v in [-1, 1] V, so a positive conductance can
act as a negative weight. Network: 128 input nets and a +-1 V bias pair ->
32 hidden nets clamped by diodes -> x4 amplifiers -> 10 differential output
pairs, one per digit. MSE targets: +0.2 V for the true digit, -0.2 V for the
others; the prediction is the largest output. Saves the optimizer state
(pickle), the history (HDF5) and a training curve.
"""
import argparse
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy: BLAS threads only slow small solves
import numpy as np  # noqa: E402

from ebana.networks import clamped_mlp
from ebana.datasets import differential_split, load_digits
from ebana.training import MSE, Adam, DataLoader
from ebana.training.artifacts import print_confusion, save_run


def build_model(backend="ngspice", hidden=32, seed=0, clamp=0.1, gain=4.0):
    """128 differential inputs (V) and a bias pair -> ``hidden`` clamped nets -> 10 differential outputs."""
    return clamped_mlp(128, hidden, 10, clamp=clamp, gain=gain, backend=backend, seed=seed)


def load_data(seed=0, test_fraction=0.2):
    """Return ``(x_train, x_test, y_train, y_test, labels_train, labels_test)``; x in V (differential), y in V."""
    pixels, labels = load_digits()
    return differential_split(pixels, labels, 10, test_fraction, seed=seed, x_min=0.0, x_max=16.0)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="ngspice", choices=["ngspice", "native"])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=2e-6, help="Adam step (S)")
    parser.add_argument("--beta", type=float, default=1e-6, help="nudging strength (S)")
    parser.add_argument("--clamp", type=float, default=0.1)
    parser.add_argument("--gain", type=float, default=4.0)
    parser.add_argument("--train-subset", type=int, default=None,
                        help="train on only the first N training images (quick checks)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the split, the conductances and the shuffle")
    parser.add_argument("--out", default="results/digits")
    args = parser.parse_args(argv)

    x_train, x_test, y_train, y_test, l_train, l_test = load_data(args.seed)
    if args.train_subset:
        x_train, y_train, l_train = x_train[:args.train_subset], y_train[:args.train_subset], l_train[:args.train_subset]
    model = build_model(args.backend, args.hidden, args.seed, args.clamp, args.gain)
    optimizer = Adam(lr=args.lr)
    loader = DataLoader({"x": x_train, "out": y_train}, batch_size=args.batch_size, shuffle=True, seed=args.seed)
    start = time.perf_counter()
    history = model.fit(loader, epochs=args.epochs, loss_fn=MSE(), optimizer=optimizer, beta=args.beta,
                        test_dataloader={"x": x_test, "out": y_test}, symmetric=True, verbose=False,
                        callbacks=[lambda epoch, m, _: print(
                            f"epoch {epoch + 1:3d}  loss {m['loss']:.5f} V^2  train {m['accuracy']:.3f}  "
                            f"test {m['val_accuracy']:.3f}  ({m['epoch_time_s']:.1f} s)", flush=True)])
    elapsed = time.perf_counter() - start
    pred = np.argmax(model.predict({"x": x_test})["out"], axis=1)
    test_acc = float(np.mean(pred == l_test))
    print_confusion(l_test, pred, list(range(10)))
    print(f"digits: test accuracy {test_acc:.3f} ({int(np.sum(pred == l_test))}/{len(l_test)}), "
          f"train {history['accuracy'][-1]:.3f} (during the last epoch), "
          f"after {args.epochs} epochs on {len(l_train)} images in {elapsed:.1f} s ({args.backend})")

    save_run(args.out, optimizer, history, title=f"8x8 digits ({args.backend})")
    return test_acc


if __name__ == "__main__":
    main()
