"""Wire resistance and device variability together: accuracy over simulated chips whose
crossbars have both IR drop and device-to-device spread.

Run:  python test_circuit/wires_chips.py [--dataset digits|fashion|fashion28] [--quick]
          [--r 0 10 100] [--sigmas 0 0.1 0.2 0.3] [--chips 50] [--train-sigma 0.3]
          [--masks-per-batch G] [--epochs N] [--wired-epochs N] [--train-subset N]
          [--test-subset N] [--ngspice-chips N] [--ngspice-images N] [--data DIR] [--out DIR]

The networks of test_circuit/wires.py: ``digits`` (default), the 8x8 digits, 128 differential
inputs and a +-1 V bias pair -> 32 clamped hidden nets -> x4 amplifiers -> 10 differential
outputs, the first crossbar (130 x 32) in tiles of 32 x 16, the second (32 x 20) in one tile;
``fashion``, Fashion-MNIST at 14x14, 392 inputs -> 64 hidden nets in tiles of 64 x 64 (first
6,000 training and 1,000 test images); ``fashion28``, the same at 28x28 in 25 tiles. Every
segment ``r`` Ohm, every access ``2 r`` Ohm. Trained once without wires (``--epochs``: digits
20, fashion 10), then for every r:

* (a) deployed: the wire-free network on the wired tiles;
* (b) + EP with wires: ``--wired-epochs`` more epochs (digits 5, fashion 2) by EP with the
  wires in the circuit;
* (c) + noise-aware EP with wires: the same epochs with fresh Gaussian masks of spread
  ``--train-sigma`` on every device, the wires as built: one mask per sample for digits,
  ``--masks-per-batch G`` masks a batch (default 2 for fashion; 0: one per sample). Each
  distinct mask is one reduction of the wired tiles per phase.

At r = 0 (b) and (c) train the same epochs without wires (the controls). Each model is judged
on ``--chips`` chips per sigma: chip-scope Gaussian masks on the devices of both crossbars
(``Model.evaluate_robustness``), the wire segments as built (metal does not vary), over the
test images (digits: all 359). ``--ngspice-chips N`` re-solves the first N chips of (c) at the largest r and
sigma in Ngspice (every segment a resistor; each chip one DC sweep over the test images, or
the first ``--ngspice-images``: at 14x14 an image takes Ngspice seconds) and compares the
accuracies. Every model's accuracies per chip go to ``OUT/results.h5``
(``RobustnessResult.load(path, "c_r100")``), the table to ``OUT/wires_chips.md`` and the
plot to ``OUT/wires_chips.png``. The trained conductances are kept in ``OUT/models_<digest>/``
(``base.pkl``, ``b_r{r}.pkl``, ``c_r{r}.pkl``; the settings that made them in
``settings.json``) and reused by a run with the same settings. ``--quick``: 300 training and
100 test images, r in {0, 100}, sigmas {0, 0.3}, 3 chips, where not given otherwise (a CI
check). Output: ``--out``, default ``results/wires_chips`` (``_fashion``, ``_fashion28`` for
those; ``_quick`` added for ``--quick``).
"""
import argparse
import hashlib
import json
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy: BLAS threads only slow small solves
import numpy as np  # noqa: E402

import wires  # noqa: E402  (test_circuit/wires.py: the network, the data, the training)
from ebana import Wires  # noqa: E402
from ebana.devices import Variability  # noqa: E402
from ebana.errors import EbanaError  # noqa: E402
from ebana.training import MSE  # noqa: E402

MODELS = ("a", "b", "c")
LABELS = {"a": "(a) deployed", "b": "(b) + EP with wires", "c": "(c) + noise-aware EP with wires"}


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="digits", choices=list(wires.SETUPS))
    p.add_argument("--data", default=None, help="fashion, fashion28: folder of the Fashion-MNIST IDX files")
    p.add_argument("--r", type=float, nargs="+", default=None, help="segment resistances (Ohm; default 0 10 100)")
    p.add_argument("--sigmas", type=float, nargs="+", default=None,
                   help="chip spreads (Gaussian masks, relative; default 0 0.1 0.2 0.3)")
    p.add_argument("--chips", type=int, default=None, help="chips per sigma (default 50)")
    p.add_argument("--train-sigma", type=float, default=0.3, help="spread of (c)'s training masks")
    p.add_argument("--masks-per-batch", type=int, default=None,
                   help="(c): distinct training masks per batch, 0: one per sample (default: digits 0, fashion 2)")
    p.add_argument("--epochs", type=int, default=None, help="wire-free training epochs (digits 20, fashion 10)")
    p.add_argument("--wired-epochs", type=int, default=None, help="epochs of (b) and (c) (digits 5, fashion 2)")
    p.add_argument("--ngspice-chips", type=int, default=0, help="chips of (c) re-solved in Ngspice")
    p.add_argument("--ngspice-images", type=int, default=None,
                   help="test images of those chips (default: all; an image-scale netlist takes seconds each)")
    p.add_argument("--train-subset", type=int, default=None)
    p.add_argument("--test-subset", type=int, default=None)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    setup = wires.SETUPS[args.dataset]
    # what is not given: --quick's values (a CI check), else the study's and the dataset's defaults
    quick = dict(r=[0.0, 100.0], sigmas=[0.0, 0.3], chips=3, epochs=5, wired_epochs=1, train_subset=300, test_subset=100)
    full = dict(r=[0.0, 10.0, 100.0], sigmas=[0.0, 0.1, 0.2, 0.3], chips=50, epochs=setup["epochs"],
                wired_epochs=setup["wired_epochs"], train_subset=setup["train"], test_subset=setup["test"])
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.masks_per_batch is None:
        args.masks_per_batch = 0 if args.dataset == "digits" else 2
    args.out = args.out or ("results/wires_chips" + ("" if args.dataset == "digits" else f"_{args.dataset}")
                            + ("_quick" if args.quick else ""))  # a quick check never replaces a study's results
    for r in args.r:  # every r builds (accesses of 2 r): refused here, before anything is trained
        try:
            Wires(tile=(1, 1), r_segment=r, r_access=2 * r)
        except EbanaError as e:
            p.error(f"--r {r:g}: {e}")
    if len({f"{r:g}" for r in args.r}) < len(args.r):
        p.error(f"--r: each resistance once (they name the saved models and results), received {args.r}")
    if any(not np.isfinite(s) or s < 0 for s in args.sigmas + [args.train_sigma]):
        p.error(f"--sigmas, --train-sigma: spreads must be finite and >= 0, received {args.sigmas}, {args.train_sigma}")
    for name in ("chips", "epochs", "wired_epochs", "train_subset", "test_subset", "ngspice_chips", "ngspice_images",
                 "masks_per_batch"):
        value = getattr(args, name)
        if value is not None and value < (1 if name in ("chips", "train_subset", "test_subset", "ngspice_images")
                                          else 0):
            p.error(f"--{name.replace('_', '-')} must be positive, received {value}")
    return args, setup


class Cache:
    """Trained conductances under ``folder/models_<digest of settings>/`` (with ``settings.json``):
    a run with the same settings reuses them, one with other settings trains into its own
    folder (no trained model is overwritten; the table, plot and results.h5 are the last run's)."""

    def __init__(self, folder, settings):
        text = json.dumps(settings, sort_keys=True)
        self.folder = os.path.join(folder, "models_" + hashlib.sha1(text.encode()).hexdigest()[:10])
        os.makedirs(self.folder, exist_ok=True)
        with open(os.path.join(self.folder, "settings.json"), "w") as f:
            f.write(text + "\n")

    def trained(self, name, model, train):
        """``model`` with the weights kept as ``name``, or trained by ``train(model)`` and kept."""
        path = os.path.join(self.folder, f"{name}.pkl")
        if os.path.exists(path):
            model.load_weights(path)
            return model, False
        train(model)
        model.save_weights(path)
        return model, True


def main(argv=None):
    args, setup = parse(argv)
    x_tr, x_te, y_tr, y_te, _, _ = wires.data(args.dataset, args.seed, args.data)
    x_tr, y_tr = x_tr[:args.train_subset], y_tr[:args.train_subset]
    test = {"x": x_te[:args.test_subset], "out": y_te[:args.test_subset]}
    settings = ("dataset", "data", "epochs", "wired_epochs", "train_sigma", "masks_per_batch", "seed", "train_subset",
                "test_subset")
    cache = Cache(args.out, {k: getattr(args, k) for k in settings})
    batch = setup["batch"]
    start = time.perf_counter()
    base, _ = cache.trained("base", wires.build_model(0.0, "native", setup, args.seed),
                            lambda m: wires.train(m, x_tr, y_tr, args.epochs, args.seed, batch))
    print(f"wire-free network: {time.perf_counter() - start:.0f} s", flush=True)
    noise = Variability(kind="gaussian", sigma=args.train_sigma, scope="sample",
                        masks_per_batch=args.masks_per_batch or None)  # 0: one mask per sample
    results, rows = {}, []
    for r in args.r:
        t0 = time.perf_counter()
        models = {"a": wires.build_model(r, "native", setup, args.seed),
                  "b": wires.build_model(r, "native", setup, args.seed),
                  "c": wires.build_model(r, "native", setup, args.seed, variability=noise)}
        for name, model in models.items():
            model.set_weights(base.get_weights())
            if name != "a":
                models[name], _ = cache.trained(f"{name}_r{r:g}", model, lambda m: wires.train(
                    m, x_tr, y_tr, args.wired_epochs, args.seed, batch))
        for name, model in models.items():
            results[(r, name)] = model.evaluate_robustness(
                test, sigmas=args.sigmas, chips=args.chips, seed=args.seed + 1000, loss_fn=MSE(), verbose=False,
                path=os.path.join(args.out, "results.h5"), name=f"{name}_r{r:g}")
        summaries = {name: results[(r, name)].summary() for name in MODELS}
        for s in args.sigmas:
            rows.append((r, s, *[(summaries[n][float(s)]["median"], summaries[n][float(s)]["min"]) for n in MODELS]))
            print(f"r = {r:g} Ohm, sigma {s:g}: " + ", ".join(
                f"{LABELS[n]} median {100 * summaries[n][float(s)]['median']:.1f} % (worst "
                f"{100 * summaries[n][float(s)]['min']:.1f} %)" for n in MODELS), flush=True)
        print(f"r = {r:g} Ohm: {time.perf_counter() - t0:.0f} s", flush=True)
        if r == max(args.r):
            checked = models["c"]
    check = ngspice_check(checked, test, args) if args.ngspice_chips else None
    write_results(args, rows, results, check, len(x_tr), len(test["x"]))
    print(f"total {time.perf_counter() - start:.0f} s")
    return rows


def ngspice_check(model, test, args):
    """(c) at the largest r: its first ``--ngspice-chips`` chips at the largest sigma re-solved in
    Ngspice on the first ``--ngspice-images`` test images (every segment a resistor; one DC sweep
    per chip); their accuracies against native on the same images."""
    t0 = time.perf_counter()
    sigma = max(args.sigmas)
    test = {k: v[:args.ngspice_images] for k, v in test.items()}
    native, spice = (model.evaluate_robustness(test, sigmas=[sigma], chips=args.ngspice_chips, seed=args.seed + 1000,
                                               loss_fn=MSE(), backend=backend, verbose=False).accuracy[0]
                     for backend in ("native", "ngspice-sweep"))
    same = int(np.sum(native == spice))
    print(f"Ngspice: (c) at r = {max(args.r):g} Ohm, sigma {sigma:g}, {len(native)} chips x {len(test['x'])} images: "
          f"{same} identical "
          f"accuracies, largest difference {100 * np.abs(native - spice).max():.2f} points "
          f"({time.perf_counter() - t0:.0f} s)", flush=True)
    return len(native), same, float(np.abs(native - spice).max()), len(test["x"])


def write_results(args, rows, results, check, n_train, n_test):
    masks = "one per sample" if not args.masks_per_batch else f"{args.masks_per_batch} per batch"
    lines = [f"{args.dataset}, {n_train} training / {n_test} test images, wire-free epochs {args.epochs}, "
             f"wired epochs {args.wired_epochs}, (c)'s training masks sigma {args.train_sigma:g} ({masks}), "
             f"{args.chips} chips per sigma; accuracy median (worst chip), %", "",
             "| r_segment (Ohm) | chip sigma | " + " | ".join(LABELS[n] for n in MODELS) + " |",
             "|---|---|---|---|---|"]
    lines += [f"| {r:g} | {s:g} | " + " | ".join(f"{100 * m:.1f} ({100 * w:.1f})" for m, w in cells) + " |"
              for r, s, *cells in rows]
    if check:
        lines += ["", f"Ngspice: {check[0]} chips of (c) at r = {max(args.r):g} Ohm, sigma {max(args.sigmas):g}, on "
                      f"{check[3]} test images: {check[1]} identical accuracies (largest difference "
                      f"{100 * check[2]:.2f} points)"]
    with open(os.path.join(args.out, "wires_chips.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(args.r), figsize=(3.2 * len(args.r), 3.2), sharey=True, squeeze=False)
    for ax, r in zip(axes[0], args.r):
        for name, style in zip(MODELS, ("o-", "s--", "^-.")):
            res = results[(r, name)]
            acc = 100 * np.asarray(res.accuracy)
            (line,) = ax.plot(res.sigmas, np.median(acc, axis=1), style, label=LABELS[name])
            ax.fill_between(res.sigmas, acc.min(axis=1), acc.max(axis=1), color=line.get_color(), alpha=0.15)
        ax.set_title(f"r = {r:g} Ohm / segment")
        ax.set_xlabel("chip spread sigma")
    axes[0][0].set_ylabel("test accuracy (%): median,\nband from worst to best chip")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "wires_chips.png"), dpi=120)


if __name__ == "__main__":
    main()
