"""Classify Fashion-MNIST with a deep resistive network trained by Equilibrium Propagation, then re-solve test images in Ngspice.

Run:  python test_circuit/fashion_mnist.py [--config rectified|best|rectified-local|dense|local] [--train N] [--test N]
          [--epochs N] [--hidden N[,N..]] [--ngspice-check N] [--batch-size N] [--lr S] [--hidden-lr S] [--beta S]
          [--loss mse|cross-entropy] [--logit-scale 1/V] [--schedule S] [--flip] [--out DIR] [--data DIR]
          [--device cuda]

Data: the four IDX files of Fashion-MNIST (``apt-get install dataset-fashion-mnist``, or
``--data DIR``; see :func:`ebana.datasets.load_fashion_mnist`). Each pixel (0..255)
becomes a differential pair of input voltages ``(+v, -v)``, ``v = volts * pixel / 255``.

Configurations (prediction = the largest readout):

* ``rectified`` (default): 2x784 input sources and a +-1 V bias pair -> ``--hidden`` nets,
  half held at V >= 0 and half at V <= 0 by one diode each to ground -> crossbar (with the
  bias pair) -> 10 output nets; MSE targets ``--target`` V (1/300 V) for the class, 0 V
  for the others (:func:`ebana.networks.rectified_mlp`, the deep resistive network of
  Scellier's papers). ``--hidden 1024,1024`` stacks hidden layers of that kind, each
  crossbar with the bias pair (not checked in Ngspice by default: it is very slow on them).
* ``best``: the most accurate circuit measured here, ``rectified-local`` (below) with 80 filters
  per window, trained on softmax cross-entropy (``--loss cross-entropy``: the readouts times
  ``--logit-scale``, 2400 logits per volt, as logits) with its window crossbars stepped
  ``--hidden-lr 1e-10`` S: 91.13 % (31 min with the Ngspice check).
* ``rectified-local``: the pixels as a (28, 28, 2) image of sources -> per ``--kernel``
  window moved by ``--strides``, ``--filters`` nets (default 64), half rectified each way
  by one diode to ground as in ``rectified`` -> crossbar (with a bias pair) -> 10 output
  nets, targets as in ``rectified`` (:func:`ebana.networks.rectified_local_network`).
* ``dense``: 2x784 input sources and a bias pair -> ``--hidden`` nets clamped by two
  diode layers to +-0.1 V -> x4 amplifiers -> 10 differential output pairs, targets
  +-0.2 V (:func:`ebana.networks.clamped_mlp`).
* ``local``: the pixels as a (28, 28, 2) image of sources -> a LocallyConnected2D
  crossbar per ``--kernel`` window moved by ``--strides`` (``--filters`` nets each;
  default: as many conductances as the dense configuration) -> diode clamps -> x4
  amplifiers -> ``--pool`` average pooling (fixed conductances) -> differential outputs
  as in ``dense`` (:func:`ebana.image_networks.local_network`).

Adam on the conductances; ``--schedule`` shrinks the learning rate over the epochs (rectified:
cosine down to 2 % at the last epoch); ``--flip`` mirrors half the training images left-right
at random in every batch.

Training is native (``--backend``), on the CPU or, with ``--device cuda``, on a GPU
(``pip install ebana[gpu]``; the rectified and dense configurations); afterwards the first ``--ngspice-check`` test
images (default 1000 rectified and rectified-local, 100 dense, 20 local) are re-solved in Ngspice with the
trained conductances, as the steps of DC sweeps (``ngspice-sweep``: one matrix ordering per sweep
rather than per image), and the script prints how many predictions are identical and the
largest readout difference.
Saves into ``--out``: ``weights.pkl``, ``model.json``, ``optimizer.pkl``,
``history.h5``, ``training.png``, ``confusion.png``, ``misclassified.png``.
"""
import argparse
import json
import os
import pathlib
import time

import numpy as np
from threadpoolctl import threadpool_limits

from ebana import Model
from ebana.datasets import FASHION_CLASSES, load_fashion_mnist, one_hot, random_flip
from ebana.networks import clamped_mlp, local_network, rectified_local_network, rectified_mlp
from ebana.plots import plot_confusion, plot_images
from ebana.training import MSE, Adam, CrossEntropy, DataLoader
from ebana.training.artifacts import print_confusion, save_run
from ebana.training.callbacks import LearningRateScheduler, cosine_decay, exponential_decay

N_PIXELS, N_CLASSES = 784, 10
# Per configuration: loss, Adam step (S), beta (S, for MSE; cross-entropy scales it, see parse),
# conductance range (S), learning-rate schedule, Ngspice-checked test images. The rectified crossbars use
# conductances far below their diodes' 1/RON (0.01 S) summed over 1570 inputs, so that the
# diodes act as ideal rectifiers; the dense ones stay below the clamps' 1/RON for the same
# reason (with 1e-7..2e-4 S the hidden layer stays nearly linear).
DEFAULTS = {
    "rectified": dict(loss="mse", lr=1.5e-10, beta=5e-7, g_min=1e-12, g_max=1e-6, schedule="cosine", ngspice_check=1000),
    # rectified-local: its window crossbars step 1/24 of the output crossbar's: a local net sums 98
    # conductances, not 1570, so a step moves it more (3 epochs on 12,000 images: 83.8 %, against 79.0 %
    # with one step of 1.5e-10 S for all; docs/fashion.md). One Ngspice op of it costs 3.4 s (a matrix
    # ordering for 4,096 rectified nets on the same 10 outputs); as steps of DC sweeps, 1,000 images fit in minutes
    "rectified-local": dict(loss="mse", lr=1.2e-9, hidden_lr=5e-11, beta=5e-7, g_min=1e-12, g_max=1e-6, schedule="cosine",
                            filters=64, ngspice_check=1000),
    "dense": dict(loss="mse", lr=5e-8, beta=1e-8, g_min=1e-9, g_max=2e-6, schedule="none", ngspice_check=100),
    "local": dict(loss="mse", lr=2e-6, beta=1e-6, g_min=1e-9, g_max=2e-6, schedule="none", ngspice_check=20),
}
# best: rectified-local with 80 filters trained on cross-entropy, its window crossbars stepped 1e-10 S:
# 91.13 % (64 filters 90.95 %, on MSE 89.50 %; rectified with 2048 nets on cross-entropy 90.52 %; docs/fashion.md)
DEFAULTS["best"] = dict(DEFAULTS["rectified-local"], loss="cross-entropy", hidden_lr=1e-10, filters=80)
#: the network each configuration builds
NETWORKS = {"best": "rectified-local"}


def to_inputs(images, config, volts=1.0):
    """Input voltages (V): dense ``(n, 1568)`` = ``[v, -v]``; local ``(n, 28, 28, 2)``."""
    v = images.astype(float) * (volts / 255.0)
    if not is_local(config):
        flat = v.reshape(len(v), -1)
        return np.hstack([flat, -flat])
    return np.stack([v, -v], axis=-1)


def is_local(config):
    """Whether ``config`` takes the pixels as an image (locally connected first layer)."""
    return config in ("local", "rectified-local")


def local_filters(hidden, kernel, strides, rows=28):
    """Filters giving the local crossbar about as many conductances as the dense one of ``hidden`` nets."""
    windows = ((rows - kernel) // strides + 1) ** 2
    return max(1, round(hidden * (2 * N_PIXELS + 2) / (windows * kernel * kernel * 2)))


def build_model(args, backend):
    device = {} if args.device == "cpu" else {"device": args.device}
    if args.network == "rectified":
        return rectified_mlp(2 * N_PIXELS, args.hidden, N_CLASSES, bias_voltage=args.volts, g_min=args.g_min,
                             g_max=args.g_max, initializer=("uniform", args.g_min, args.g_max / 40),
                             hidden_lr=args.hidden_lr, backend=backend, seed=args.seed, **device)
    if args.network == "rectified-local":
        return rectified_local_network((28, 28, 2), args.filters, N_CLASSES, kernel_size=args.kernel,
                                       strides=args.strides, bias_voltage=args.volts, g_min=args.g_min,
                                       g_max=args.g_max, initializer=("uniform", args.g_min, args.g_max / 40),
                                       hidden_lr=args.hidden_lr, backend=backend, seed=args.seed, **device)
    common = dict(clamp=args.clamp, gain=args.gain, backend=backend, seed=args.seed, **device)
    if args.network == "dense":
        # Conductances well below the clamps' 1/RON (0.01 S) even summed over 1570 inputs,
        # so that the diodes really clamp (with 1e-7..2e-4 S the hidden layer stays nearly
        # linear and accuracy stalls near a linear classifier's).
        return clamped_mlp(2 * N_PIXELS, args.hidden, N_CLASSES, g_min=args.g_min, g_max=args.g_max,
                           initializer=("uniform", args.g_max / 200, args.g_max / 2), **common)
    filters = args.filters or local_filters(args.hidden, args.kernel, args.strides)
    return local_network((28, 28, 2), filters, N_CLASSES, kernel_size=args.kernel, strides=args.strides,
                         pool_size=args.pool or None, pool_conductance=args.pool_conductance, **common)


def ngspice_check(model, weights, x, native_readouts, workers):
    """Re-solve ``x`` (the inputs ``x``, or a dict of every input layer's) in Ngspice with the trained
    weights; return (identical predictions, max |dV|, seconds).

    Ngspice solves the images as the steps of DC sweeps (``ngspice-sweep``: one matrix ordering per
    sweep instead of one per image; :mod:`ebana.backends.ngspice.sweep`), split over ``workers``."""
    backend = "ngspice-sweep" if workers <= 1 else f"ngspice-sweep:{workers}"
    spice = Model.from_config(model.get_config(), backend=backend)
    spice.load_weights(weights)
    start = time.perf_counter()
    data = x if isinstance(x, dict) else {"x": x}
    readouts = spice.predict(data, batch_size=len(native_readouts))["out"]  # one batch: few sweeps
    seconds = time.perf_counter() - start
    same = int(np.sum(np.argmax(readouts, axis=1) == np.argmax(native_readouts, axis=1)))
    return same, float(np.abs(readouts - native_readouts).max()), seconds


def report_ngspice_check(model, weights, x, native_readouts, workers):
    """:func:`ngspice_check`, printed as the line the tests and docs read."""
    same, diff, seconds = ngspice_check(model, weights, x, native_readouts, workers)
    print(f"ngspice check: {same}/{len(native_readouts)} identical predictions, largest readout difference "
          f"{diff:.3g} V ({seconds:.1f} s)")


def save_figures(out, images, labels, predicted, confusion, title, count=8):
    plot_confusion(out / "confusion.png", confusion, FASHION_CLASSES, title=title)
    wrong = np.flatnonzero(predicted != labels)[:count]
    if len(wrong):
        plot_images(out / "misclassified.png", images[wrong],
                    [f"#{i}: {FASHION_CLASSES[labels[i]]}\nread as {FASHION_CLASSES[predicted[i]]}" for i in wrong])
    print(f"saved {out}/confusion.png" + (", misclassified.png" if len(wrong) else ""))


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="rectified", choices=list(DEFAULTS))
    p.add_argument("--train", type=int, default=60000, help="training images (the first N)")
    p.add_argument("--test", type=int, default=10000, help="test images (the first N)")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--hidden", type=widths, default=None,
                   help="hidden nets (rectified, dense); sets the local size too. Rectified: a comma list of "
                        "widths for several hidden layers (1024,1024; then no Ngspice check unless "
                        "--ngspice-check is given)")
    p.add_argument("--ngspice-check", type=int, default=None,
                   help="test images re-solved in Ngspice, as the steps of DC sweeps (0: none; default 1000 "
                        "rectified and rectified-local, 100 dense, 20 local: 1,000 images of the rectified and "
                        "rectified-local networks take minutes, the full-size local one 1-3 s per image)")
    p.add_argument("--ngspice-workers", type=int, default=2, help="Ngspice processes for the check")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=None, help="Adam step (S; default per --config, see DEFAULTS)")
    p.add_argument("--hidden-lr", "--local-lr", dest="hidden_lr", type=float, default=None,
                   help="rectified, rectified-local: Adam step of the crossbars into the hidden nets (S; "
                        "default per --config, else --lr); --lr then steps the output crossbar")
    p.add_argument("--beta", type=float, default=None,
                   help="nudging strength (MSE: S; cross-entropy: A per unit of loss gradient; default per "
                        "--config, scaled for cross-entropy so that an output one target swing off is nudged "
                        "by the same current as with MSE)")
    p.add_argument("--loss", default=None, choices=["mse", "cross-entropy"],
                   help="mse: squared error against target voltages; cross-entropy: softmax over the readouts "
                        "times --logit-scale (default per --config)")
    p.add_argument("--logit-scale", type=float, default=None,
                   help="cross-entropy: logits per volt of readout (1/V; default 8 per target swing: 2400 for "
                        "the rectified configurations, 20 for the +-0.2 V pairs)")
    p.add_argument("--schedule", default=None, choices=["cosine", "exponential", "none"],
                   help="learning rate over the epochs: cosine down to 2 %% at the last one, exponential "
                        "(x --decay per epoch) or constant (default per --config)")
    p.add_argument("--decay", type=float, default=0.92, help="exponential schedule: factor per epoch")
    p.add_argument("--flip", action="store_true", help="mirror half the training images left-right at random")
    p.add_argument("--g-min", type=float, default=None, help="rectified, dense: smallest conductance (S)")
    p.add_argument("--g-max", type=float, default=None,
                   help="rectified, dense: largest conductance (S); initial ones are uniform in "
                        "[g_min, g_max/40] (rectified) or [g_max/200, g_max/2] (dense)")
    p.add_argument("--target", type=float, default=1 / 300,
                   help="rectified: target voltage of the right class's output (V; the others 0 V)")
    p.add_argument("--volts", type=float, default=1.0, help="input voltage of a white pixel (V)")
    p.add_argument("--clamp", type=float, default=0.1, help="dense, local: diode clamp bias (V)")
    p.add_argument("--gain", type=float, default=4.0, help="dense, local: amplifier gain (V/V)")
    p.add_argument("--kernel", type=int, default=7, help="local: window size (pixels)")
    p.add_argument("--strides", type=int, default=3, help="local: window step (pixels)")
    p.add_argument("--filters", type=int, default=None,
                   help="local: nets per window (default: from --hidden); rectified-local: even, default 64 "
                        "(best: 80)")
    p.add_argument("--pool", type=int, default=2, help="local: pooling window (0: no pooling)")
    p.add_argument("--pool-conductance", type=float, default=1e-3, help="local: pooling conductance (S)")
    p.add_argument("--backend", default="native", help="training backend: native, ngspice or 'name:workers'")
    p.add_argument("--device", default="cpu", help="'cuda': train on a GPU (CuPy; the rectified and dense "
                   "configurations); the Ngspice check stays on the CPU")
    p.add_argument("--blas-threads", type=int, default=os.cpu_count() or 1,
                   help="BLAS threads for the large crossbar products (default: every core, whatever "
                        "OPENBLAS_NUM_THREADS says)")
    p.add_argument("--seed", type=int, default=0, help="seeds the conductances, the shuffle and the flips")
    p.add_argument("--data", default=None, help="folder holding the four IDX files (default: the search path)")
    p.add_argument("--recheck", default=None, metavar="DIR",
                   help="train nothing: re-solve the first --ngspice-check test images with the run saved in DIR "
                        "(weights.pkl, model.json; by this script or fashion_joined.py), natively and in Ngspice")
    p.add_argument("--out", default=None, help="output folder (default: results/fashion_mnist_<config>)")
    args = p.parse_args(argv)
    for name in ("train", "test", "epochs", "batch_size", "blas_threads"):
        if getattr(args, name) < (0 if name == "epochs" else 1):
            p.error(f"--{name.replace('_', '-')} must be positive")
    args.network = NETWORKS.get(args.config, args.config)
    if args.hidden is None:
        args.hidden = DEFAULTS[args.config].get("hidden", 1024)
    layers = args.hidden if isinstance(args.hidden, list) else [args.hidden]
    if min(layers) < 1:
        p.error(f"--hidden: every width must be positive, received {args.hidden}")
    if len(layers) > 1 and args.network != "rectified":
        p.error(f"--hidden {','.join(map(str, layers))}: several hidden layers need --config rectified")
    # several hidden layers: no Ngspice check unless asked (Ngspice had not re-solved 10 test images of
    # 1568-1024-1024-10 after 18 min, where the one-layer network takes about 0.1 s per image)
    args.deep_unchecked = len(layers) > 1 and args.ngspice_check is None
    if args.deep_unchecked:
        args.ngspice_check = 0
    if args.hidden_lr is not None and not args.network.startswith("rectified"):
        p.error(f"--hidden-lr: the {args.network} configuration has one step for all crossbars (--lr)")
    beta_given = args.beta is not None
    for name, value in DEFAULTS[args.config].items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    swing = target_swing(args.network, args.target)
    if args.logit_scale is None:
        args.logit_scale = 8.0 / swing
    if args.logit_scale <= 0:
        p.error("--logit-scale must be positive")
    if args.loss == "cross-entropy" and not beta_given:
        # the default beta (S) nudges an output one swing off its MSE target by beta * swing (A);
        # cross-entropy's gradient there is about logit_scale (1/V): the same current needs this beta
        args.beta *= swing / args.logit_scale
    if args.ngspice_check < 0 or args.ngspice_workers < 1:
        p.error("--ngspice-check must be >= 0 and --ngspice-workers >= 1")
    if not 0 < args.decay <= 1:
        p.error("--decay must lie in (0, 1]")
    if args.network == "rectified-local" and args.filters is not None and (args.filters < 2 or args.filters % 2):
        p.error(f"--filters {args.filters}: rectified-local needs an even count of at least 2 (two halves)")
    if args.network == "rectified" and any(w % 2 for w in layers):
        p.error("--hidden: every width must be even for the rectified configuration (two halves)")
    return args


def widths(text):
    """``--hidden``: one width (int) or a comma list of them (list of ints, several hidden layers)."""
    try:
        values = [int(w) for w in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a width or a comma list of widths, received {text!r}") from None
    return values[0] if len(values) == 1 else values


def targets(labels, config, target, loss="mse"):
    """What the loss compares the readouts with: for MSE, voltages (rectified: ``target`` for
    the class and 0 V; otherwise +-0.2 V pairs); for cross-entropy, the class labels."""
    if loss == "cross-entropy":
        return np.asarray(labels)
    if config.startswith("rectified"):
        return one_hot(labels, N_CLASSES, on=target, off=0.0)
    return one_hot(labels, N_CLASSES, on=0.2, off=-0.2)


def target_swing(config, target):
    """Voltage (V) between the right class's MSE target and the others' (``target`` rectified, 0.4 V pairs)."""
    return target if config.startswith("rectified") else 0.4


def loss_function(args):
    """The loss ``--loss`` names; cross-entropy's logits are the readouts times ``--logit-scale`` (1/V)."""
    return CrossEntropy(scale=args.logit_scale) if args.loss == "cross-entropy" else MSE()


def schedule(args):
    """The learning-rate scale per epoch for ``--schedule``."""
    if args.schedule == "cosine":
        return cosine_decay(args.epochs, final=0.02)
    if args.schedule == "exponential":
        return exponential_decay(args.decay)
    return lambda epoch, scale: 1.0


def flips(config):
    """Random left-right flips of half the training images, for the layout of ``to_inputs``."""
    if is_local(config):
        return random_flip("x", (28, 28, 2), axis=1)
    return random_flip("x", (2, 28, 28), axis=2)


def load_run(folder, backend="native"):
    """The trained model a run of this example saved in ``folder`` (``model.json``, ``weights.pkl``)."""
    folder = pathlib.Path(folder)
    for name in ("model.json", "weights.pkl"):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder / name} is missing: {folder} is not a folder a run of "
                                    f"test_circuit/fashion_mnist.py saved (--out)")
    model = Model.from_config(json.loads((folder / "model.json").read_text()), backend=backend)
    model.load_weights(folder / "weights.pkl")
    return model


def saved_inputs(model, images, volts=1.0):
    """The input voltages (V) of every input layer of a saved run's ``model``: an image-shaped layer
    takes the ``(28, 28, 2)`` layout, a flat one ``[v, -v]`` (a joined run has one of each)."""
    return {layer.name: to_inputs(images, "rectified-local" if len(layer.shape) == 3 else "rectified", volts)
            for layer in model.inputs}


def main(argv=None):
    args = parse(argv)
    # the layered solver's input projection and gradient are large products: they use every
    # core, while the rest of the solver stays on one thread
    with threadpool_limits(args.blas_threads, user_api="blas"):
        return recheck(args) if args.recheck else run(args)


def recheck(args):
    """``--recheck DIR``: re-solve the first ``--ngspice-check`` test images with the run saved in
    ``DIR``, natively and in Ngspice (nothing is trained or written); returns their accuracy."""
    folder = pathlib.Path(args.recheck)
    model = load_run(folder)
    _, (test_images, test_labels) = load_fashion_mnist(args.data)
    n = min(args.ngspice_check, len(test_labels))
    if n < 1:
        raise SystemExit("--recheck: --ngspice-check must name at least one test image")
    x = saved_inputs(model, test_images[:n], args.volts)
    readouts = model.predict(x)["out"]
    accuracy = float(np.mean(np.argmax(readouts, axis=1) == test_labels[:n]))
    print(f"{folder}: test accuracy {accuracy:.4f} on the first {n} test images (native)")
    report_ngspice_check(model, folder / "weights.pkl", x, readouts, args.ngspice_workers)
    return accuracy


def run(args):
    out = pathlib.Path(args.out or f"results/fashion_mnist_{args.config}")
    (train_images, train_labels), (test_images, test_labels) = load_fashion_mnist(args.data)
    train_images, train_labels = train_images[:args.train], train_labels[:args.train]
    test_images, test_labels = test_images[:args.test], test_labels[:args.test]
    x_train, x_test = (to_inputs(i, args.network, args.volts) for i in (train_images, test_images))
    y_train, y_test = (targets(l, args.network, args.target, args.loss) for l in (train_labels, test_labels))

    model = build_model(args, args.backend)
    print(f"fashion-mnist ({args.config}): {model.conductances().size} conductances, "
          f"{model.circuit.n_nodes - 1} nets; {len(train_labels)} training and {len(test_labels)} test images")
    optimizer = Adam(lr=args.lr)
    loader = DataLoader({"x": x_train, "out": y_train}, batch_size=args.batch_size, shuffle=True, seed=args.seed,
                        transform=flips(args.network) if args.flip else None)
    start = time.perf_counter()
    loss_fn = loss_function(args)
    unit = "" if loss_fn.unit == "1" else f" {loss_fn.unit}"  # cross-entropy has none
    history = model.fit(loader, epochs=args.epochs, loss_fn=loss_fn, optimizer=optimizer, beta=args.beta,
                        test_dataloader=DataLoader({"x": x_test, "out": y_test}, batch_size=256),
                        symmetric=True, verbose=False,
                        callbacks=[LearningRateScheduler(schedule(args)), lambda epoch, m, _: print(
                            f"epoch {epoch + 1:3d}  loss {m['loss']:.4g}{unit}  train {m['accuracy']:.4f}  "
                            f"test {m['val_accuracy']:.4f}  ({m['epoch_time_s']:.1f} s)", flush=True)])
    elapsed = time.perf_counter() - start

    readouts = model.predict({"x": x_test})["out"]
    predicted = np.argmax(readouts, axis=1)
    accuracy = float(np.mean(predicted == test_labels))
    confusion = print_confusion(test_labels, predicted, list(range(N_CLASSES)))
    print(f"fashion-mnist: test accuracy {accuracy:.4f} ({int(np.sum(predicted == test_labels))}/{len(test_labels)})"
          f" after {args.epochs} epochs on {len(train_labels)} images in {elapsed:.1f} s ({args.backend}, "
          f"{args.device}, {args.config})")

    out.mkdir(parents=True, exist_ok=True)
    model.save_weights(out / "weights.pkl")
    (out / "model.json").write_text(json.dumps(model.get_config(), indent=1))
    save_run(out, optimizer, history, title=f"Fashion-MNIST, {args.config} ({args.backend})")
    save_figures(out, test_images, test_labels, predicted, confusion,
                 title=f"Fashion-MNIST {args.config}: test accuracy {accuracy:.4f}")

    n_check = min(args.ngspice_check, len(test_labels))
    if args.deep_unchecked:
        print("ngspice check: not run by default with several hidden layers (Ngspice is very slow on them: "
              "10 images of 1568-1024-1024-10 had not finished in 18 min); --ngspice-check N runs it")
    if n_check:
        report_ngspice_check(model, out / "weights.pkl", x_test[:n_check], readouts[:n_check], args.ngspice_workers)
    return accuracy


if __name__ == "__main__":
    main()
