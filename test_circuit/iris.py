"""Classify Fisher's Iris with a circuit trained by Equilibrium Propagation.

Run:  python test_circuit/iris.py [--backend ngspice|native] [--epochs N] [--out DIR]

The 150 flowers are split into 120 for training and 30 held out (stratified,
seeded). Each of the 4 features is scaled to [-1, 1] V with the training
set's range and applied as a differential pair (+x, -x), so a positive
conductance can act as a negative weight. Network: 8 inputs and a +-1 V
bias pair -> 16 hidden nets clamped to +-0.1 V by diodes -> x4 amplifiers
-> 3 differential output pairs, one per class. MSE targets: +0.2 V for the
true class, -0.2 V for the others; the prediction is the largest output.
Saves the optimizer state (pickle), the history (HDF5) and a training curve.
"""
import argparse
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy: BLAS threads only slow small solves
import numpy as np  # noqa: E402

from ebana.networks import clamped_mlp
from ebana.datasets import differential_split, load_iris
from ebana.training import MSE, Adam, CrossEntropy, DataLoader
from ebana.training.artifacts import print_confusion, save_run

CLASSES = ("setosa", "versicolor", "virginica")


def build_model(backend="ngspice", hidden=16, seed=1, clamp=0.1, gain=4.0):
    """8 differential inputs (V) and a bias pair -> ``hidden`` clamped nets -> 3 differential outputs."""
    return clamped_mlp(8, hidden, 3, clamp=clamp, gain=gain, backend=backend, seed=seed)


def load_data(seed=1, test_fraction=0.2):
    """Return ``(x_train, x_test, y_train, y_test, labels_train, labels_test)``; x in V (differential), y in V."""
    features, labels = load_iris()
    return differential_split(features, labels, 3, test_fraction, seed=seed)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="ngspice", choices=["ngspice", "native"])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--hidden", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=2e-6, help="Adam step (S)")
    parser.add_argument("--beta", type=float, default=1e-6, help="nudging strength (S)")
    parser.add_argument("--loss", default="mse", choices=["mse", "cross-entropy"],
                        help="MSE on +-0.2 V targets, or softmax cross-entropy over 10/V * outputs")
    parser.add_argument("--seed", type=int, default=1, help="seeds the split, the conductances and the shuffle")
    parser.add_argument("--out", default="results/iris")
    args = parser.parse_args(argv)

    x_train, x_test, y_train, y_test, l_train, l_test = load_data(args.seed)
    model = build_model(args.backend, args.hidden, args.seed)
    loss_fn = MSE() if args.loss == "mse" else CrossEntropy(scale=10.0)  # scale in 1/V
    optimizer = Adam(lr=args.lr)
    unit = "V^2"
    if args.loss == "cross-entropy":
        y_train, y_test, unit = l_train, l_test, ""     # integer labels; the loss is unitless
    loader = DataLoader({"x": x_train, "out": y_train}, batch_size=args.batch_size, shuffle=True, seed=args.seed)
    start = time.perf_counter()
    history = model.fit(loader, epochs=args.epochs, loss_fn=loss_fn, optimizer=optimizer, beta=args.beta,
                        test_dataloader={"x": x_test, "out": y_test}, symmetric=True, verbose=False)
    elapsed = time.perf_counter() - start
    for epoch in sorted(set(list(range(0, args.epochs, max(1, args.epochs // 10))) + [args.epochs - 1])):
        print(f"epoch {epoch + 1:4d}  loss {history['loss'][epoch]:.5f} {unit:3s}  train {history['accuracy'][epoch]:.3f}"
              f"  test {history['val_accuracy'][epoch]:.3f}")
    pred = np.argmax(model.predict({"x": x_test})["out"], axis=1)
    test_acc = float(np.mean(pred == l_test))
    train_acc = float(np.mean(np.argmax(model.predict({"x": x_train})["out"], axis=1) == l_train))
    print_confusion(l_test, pred, CLASSES)
    print(f"Iris: test accuracy {test_acc:.3f} ({int(np.sum(pred == l_test))}/{len(l_test)}), train {train_acc:.3f}"
          f" after {args.epochs} epochs in {elapsed:.1f} s ({args.backend})")

    save_run(args.out, optimizer, history, title=f"Iris ({args.backend})")
    return test_acc


if __name__ == "__main__":
    main()
