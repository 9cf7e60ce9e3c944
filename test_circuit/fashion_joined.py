"""Join trained rectified and rectified-local Fashion-MNIST circuits on one set of outputs, fine-tune by EP, check in Ngspice.

Run:  python test_circuit/fashion_joined.py [--rectified DIR] [--local DIR] [--epochs N] [--train N] [--test N]
          [--ngspice-check N] [--out DIR]

``--rectified`` and ``--local`` are folders that ``fashion_mnist.py`` saved (``--config rectified``
with one hidden layer, and ``--config rectified-local`` or ``best``), trained on the same loss. The joined circuit keeps both hidden
layers and wires both readout crossbars onto one set of 10 output nets: each output net then sits
at the conductance-weighted mean of what the two networks would drive it to. The fully connected
network's conductances are all scaled by ``k`` (its total readout conductance against the local
one's): a rectified network is positively homogeneous, so its own voltages do not move, and the
two weigh the same on the outputs. The bias pair's two readout rows are parallel devices on the
same sources: their conductances add.

Prints the joined circuit's test accuracy before and after ``--epochs`` epochs of EP (Adam with
fixed steps: window crossbars 5e-12 S, fully connected ones 1.5e-11 S times ``k``, readout
1.2e-10 S, a tenth to a twentieth of the runs' own; cosine schedule; the loss and beta the two
runs trained with, read from their ``history.h5``), then checks ``--ngspice-check`` test
images in Ngspice. Saves into ``--out``: ``weights.pkl``, ``model.json``, ``optimizer.pkl``,
``history.h5``, ``training.png``.
"""
import argparse
import json
import pathlib

import numpy as np
from threadpoolctl import threadpool_limits

import fashion_mnist as single
from ebana import (BiasVoltageLayer, ConcatenateLayer, CurrentLayer, DenseLayer, DiodeLayer, FlattenLayer,
                   InputVoltageLayer, LocallyConnected2DLayer, Model)
from ebana.datasets import load_fashion_mnist
from ebana.training import MSE, Adam, CrossEntropy, DataLoader, History
from ebana.training.artifacts import save_run
from ebana.training.callbacks import LearningRateScheduler, cosine_decay

def _same_diodes(source, name):
    """A DiodeLayer named ``name`` with the settings (direction, bias, model) of the trained ``source``."""
    return DiodeLayer.from_config({**source.get_config(), "name": name})


def trained_loss(rectified, local):
    """The loss both runs trained on, read from their ``history.h5``: ``(name, loss, beta)``
    (name as ``fashion_mnist.py --loss`` spells it; beta in S for MSE, A for cross-entropy).
    The joined circuit is fine-tuned on it with the rectified run's beta."""
    found = []
    for folder in (rectified, local):
        settings = History.load(pathlib.Path(folder) / "history.h5").info.get("hyperparameters", {})
        loss = settings.get("loss", {})
        if loss.get("class") not in ("MSE", "CrossEntropy") or "beta" not in settings:
            raise SystemExit(f"{folder}/history.h5 does not say which loss and beta the run used "
                             f"(a run of fashion_mnist.py saves them)")
        found.append((loss, settings["beta"]))
    (loss, beta), (other, _) = found
    if other.get("class") != loss.get("class") or other.get("scale") != loss.get("scale"):
        raise SystemExit(f"--rectified trained on {loss} and --local on {other}: join runs of the same loss")
    if loss["class"] == "CrossEntropy":
        return "cross-entropy", CrossEntropy(scale=loss["scale"]), beta
    return "mse", MSE(), beta


def joined_network(rect, loc):
    """The joined circuit of the trained ``rect`` (rectified_mlp, one hidden layer) and ``loc``
    (rectified_local_network), with their conductances (S) set; returns it and the scale ``k``."""
    names = {layer.name for layer in rect.layers}
    if not {"d1p", "d1n", "d2"} <= names or "d3" in names:
        raise SystemExit("--rectified: not a one-hidden-layer run of fashion_mnist.py --config rectified")
    if not {"l1p", "l1n", "d2"} <= {layer.name for layer in loc.layers}:
        raise SystemExit("--local: not a run of fashion_mnist.py --config rectified-local")
    k = float(loc.layer("d2").g.sum() / rect.layer("d2").g.sum())
    lo = min(rect.layer("d2").g_min, loc.layer("d2").g_min)
    hi = max(k * rect.layer("d2").g_max, loc.layer("d2").g_max)
    x = InputVoltageLayer(shape=(28, 28, 2), name="x")
    xf = InputVoltageLayer(units=2 * single.N_PIXELS, name="xf")
    b = BiasVoltageLayer(units=2, name="b", bias_voltage=[1.0, -1.0])
    j = ConcatenateLayer(name="j")([xf, b])
    halves = []
    for half in ("p", "n"):
        l1 = loc.layer(f"l1{half}")
        h = LocallyConnected2DLayer(l1.filters, l1.kernel_size, name=f"l1{half}", strides=l1.strides,
                                    g_min=lo, g_max=hi)(x)
        halves.append(FlattenLayer(name=f"f1{half}")(_same_diodes(loc.layer(f"r1{half}"), f"r1{half}")(h)))
    for half in ("p", "n"):
        h = DenseLayer(units=rect.layer(f"d1{half}").g.shape[1], name=f"d1{half}", g_min=lo, g_max=hi)(j)
        halves.append(_same_diodes(rect.layer(f"r1{half}"), f"s1{half}")(h))
    h = DenseLayer(units=single.N_CLASSES, name="d2", g_min=lo, g_max=hi)(ConcatenateLayer(name="h1")(halves + [b]))
    model = Model(inputs=[x, xf, b], outputs=[CurrentLayer(name="out")(h)], backend="native")
    for name in ("l1p", "l1n"):
        model.layer(name).g[...] = loc.layer(name).g
    for name in ("d1p", "d1n"):
        model.layer(name).g[...] = k * rect.layer(name).g
    gl, gr = loc.layer("d2").g, rect.layer("d2").g
    model.layer("d2").g[...] = np.vstack([gl[:-2], k * gr[:-2], gl[-2:] + k * gr[-2:]])
    return model, k


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rectified", default="results/fashion_mnist_rectified", help="a rectified run's folder")
    p.add_argument("--local", default="results/fashion_mnist_rectified-local", help="a rectified-local run's folder")
    p.add_argument("--epochs", type=int, default=2, help="epochs of EP on the joined circuit")
    p.add_argument("--train", type=int, default=60000)
    p.add_argument("--test", type=int, default=10000)
    p.add_argument("--ngspice-check", type=int, default=1000,
                   help="test images re-solved in Ngspice, as the steps of DC sweeps (1,000 of the full-size joined "
                        "circuit: about 2.5 min with 2 workers)")
    p.add_argument("--ngspice-workers", type=int, default=2)
    p.add_argument("--blas-threads", type=int, default=2)
    p.add_argument("--out", default="results/fashion_joined")
    args = p.parse_args(argv)
    if min(args.train, args.test) < 1 or args.epochs < 0 or args.ngspice_check < 0:
        p.error("--train and --test must be positive, --epochs and --ngspice-check at least 0")
    return args


def main(argv=None):
    args = parse(argv)
    with threadpool_limits(args.blas_threads, user_api="blas"):
        return run(args)


def run(args):
    model, k = joined_network(single.load_run(args.rectified), single.load_run(args.local))
    loss_name, loss_fn, beta = trained_loss(args.rectified, args.local)
    (train_images, train_labels), (test_images, test_labels) = load_fashion_mnist()
    train_images, train_labels = train_images[:args.train], train_labels[:args.train]
    test_images, test_labels = test_images[:args.test], test_labels[:args.test]

    # the image layout for the local part's input, the flat one for the other's
    x_train, x_test = single.saved_inputs(model, train_images), single.saved_inputs(model, test_images)
    test = {**x_test, "out": single.targets(test_labels, "rectified", 1 / 300, loss_name)}
    print(f"fashion-joined: {model.conductances().size} conductances, fully connected part scaled by {k:.3g}; "
          f"EP on {loss_name} (beta {beta:.3g})")
    before = float(np.mean(np.argmax(model.predict(x_test)["out"], axis=1) == test_labels))
    print(f"joined, before EP: test accuracy {before:.4f}", flush=True)
    for name, lr in (("l1p", 5e-12), ("l1n", 5e-12), ("d1p", 1.5e-11 * k), ("d1n", 1.5e-11 * k), ("d2", 1.2e-10)):
        model.layer(name).lr = lr  # fixed steps, see the docstring (the scaled part's scaled with it)
    optimizer = Adam(lr=1.2e-10)
    loader = DataLoader({**x_train, "out": single.targets(train_labels, "rectified", 1 / 300, loss_name)},
                        batch_size=128, shuffle=True, seed=0)
    history = model.fit(loader, epochs=args.epochs, loss_fn=loss_fn, optimizer=optimizer, beta=beta,
                        test_dataloader=DataLoader(test, batch_size=256), symmetric=True, verbose=False,
                        callbacks=[LearningRateScheduler(cosine_decay(max(args.epochs, 1), final=0.02)),
                                   lambda epoch, m, _: print(
                                       f"epoch {epoch + 1:3d}  train {m['accuracy']:.4f}  test {m['val_accuracy']:.4f}"
                                       f"  ({m['epoch_time_s']:.1f} s)", flush=True)])
    readouts = model.predict(x_test)["out"]
    accuracy = float(np.mean(np.argmax(readouts, axis=1) == test_labels))
    print(f"fashion-joined: test accuracy {accuracy:.4f} after {args.epochs} epochs of EP on the joined circuit")
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_weights(out / "weights.pkl")
    (out / "model.json").write_text(json.dumps(model.get_config(), indent=1))
    save_run(out, optimizer, history, title="Fashion-MNIST, joined rectified circuits")
    n = min(args.ngspice_check, len(test_labels))
    if n:
        first = {name: v[:n] for name, v in x_test.items()}
        single.report_ngspice_check(model, out / "weights.pkl", first, readouts[:n], args.ngspice_workers)
    return accuracy


if __name__ == "__main__":
    main()
