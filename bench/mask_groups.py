"""Noise-aware training at image scale: how many distinct masks a batch needs, and what they cost.

    PYTHONPATH=. python bench/mask_groups.py            # Fashion-MNIST 1568-1024-10, about 30 minutes on 2 cores
    PYTHONPATH=. python bench/mask_groups.py --quick    # 1568-64-10 on 2,000 images, about 1 minute

A-Connect-style training draws a variability mask per training sample
(``Variability(kind='folded', sigma=0.3)``). On the Fashion-MNIST circuit that is
128 x 1.6 M effective conductances per step and one matrix-vector product per
sample. ``Variability(masks_per_batch=G)`` draws G masks per step for groups of
samples, each group solved as a batch with one conductance vector.

For the clean network (the baseline, trained in the same run), then for each G:

* seconds per training epoch and the ratio to the clean epoch;
* for ``--timed-groups`` and one mask per sample (G = batch): seconds per epoch
  extrapolated from a few timed training steps, against the clean network timed
  the same way in the same run (not trained);
* robustness: test accuracy of the trained network on ``--chips`` simulated
  chips (chip-scope gaussian masks of ``--chip-sigma``, the full test set per
  chip): median, quartiles and minimum, and the ideal network's accuracy.

The example's settings are used (``test_circuit/fashion_mnist.py``: Adam, symmetric
EP, batch 128, cosine schedule over ``--epochs``). Trained weights are cached in
``--out`` (a rerun only evaluates; ``--retrain`` trains again).
"""
import argparse
import json
import os
import pathlib
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "test_circuit")]

BATCH = 128  # the example's batch


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="1568-64-10 on 2,000 training and 500 test images")
    p.add_argument("--groups", default="1,8", help="masks per batch to train with (comma-separated)")
    p.add_argument("--timed-groups", default="1,2,4,8,32",
                   help="masks per batch timed on a few steps only, not trained (comma-separated; may be empty)")
    p.add_argument("--sigma", type=float, default=0.3, help="training mask spread (folded gaussian)")
    p.add_argument("--chip-sigma", type=float, default=0.3, help="chip-scope spread of the robustness chips")
    p.add_argument("--chips", type=int, default=20)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--train", type=int, default=60000)
    p.add_argument("--test", type=int, default=10000)
    p.add_argument("--hidden", type=int, default=1024)
    p.add_argument("--steps", type=int, default=3,
                   help="training steps timed for --timed-groups and for one mask per sample (0: skip those rows)")
    p.add_argument("--data", default=None, help="folder of the Fashion-MNIST IDX files")
    p.add_argument("--out", default=None, help="where trained weights are cached (default results/mask_groups, "
                   "or results/mask_groups_quick with --quick)")
    p.add_argument("--retrain", action="store_true")
    a = p.parse_args(argv)
    if a.quick:
        a.train, a.test, a.hidden, a.chips, a.epochs, a.groups, a.timed_groups, a.steps = \
            2000, 500, 64, 4, 1, "1,4", "1,8", 2
    a.out = a.out or ("results/mask_groups_quick" if a.quick else "results/mask_groups")
    a.groups = [int(g) for g in a.groups.split(",") if g.strip()]
    a.timed_groups = [int(g) for g in a.timed_groups.split(",") if g.strip()]
    return a


def settings():
    """The example's Adam step, beta and conductance range (S) for the rectified network."""
    import fashion_mnist as fm
    return fm.DEFAULTS["rectified"]


def build(a, masks_per_batch):
    """The example's network; ``masks_per_batch``: None clean, 0 one mask per sample, else G."""
    from ebana.devices import Variability
    from ebana.networks import rectified_mlp
    var = None
    if masks_per_batch is not None:
        var = Variability(kind="folded", sigma=a.sigma, masks_per_batch=masks_per_batch or None)
    s = settings()
    return rectified_mlp(1568, a.hidden, 10, g_min=s["g_min"], g_max=s["g_max"],
                         initializer=("uniform", s["g_min"], s["g_max"] / 40), backend="native-layered", seed=0,
                         variability=var)


def train(a, model, data, label):
    """Train ``model`` (or load its cached weights); seconds per epoch (None when cached)."""
    from ebana.training import MSE, Adam, DataLoader
    from ebana.training.callbacks import LearningRateScheduler, cosine_decay
    path = pathlib.Path(a.out) / f"{label}.pkl"
    meta = pathlib.Path(a.out) / f"{label}.json"
    trained_with = {"epochs": a.epochs, "train": a.train, "hidden": a.hidden, "sigma": a.sigma}
    if path.exists() and meta.exists() and not a.retrain:
        cached = json.loads(meta.read_text())
        if all(cached.get(k) == v for k, v in trained_with.items()):
            model.load_weights(path)
            return cached["epoch_s"]
    loader = DataLoader(data, batch_size=BATCH, shuffle=True, seed=0)
    history = model.fit(loader, epochs=a.epochs, loss_fn=MSE(), optimizer=Adam(lr=settings()["lr"]),
                        beta=settings()["beta"], symmetric=True, verbose=False,
                        callbacks=[LearningRateScheduler(cosine_decay(a.epochs, final=0.02))])
    epoch_s = float(np.mean(history.history["epoch_time_s"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save_weights(path)
    meta.write_text(json.dumps({"epoch_s": epoch_s, **trained_with}))
    return epoch_s


def timed_epoch_s(a, data, masks_per_batch, steps):
    """Seconds per epoch with ``masks_per_batch`` masks (0: one per sample, None: clean), from
    ``steps`` timed training steps."""
    from ebana.training import MSE, Adam
    from ebana.training.fit import train_step
    model = build(a, masks_per_batch)
    optimizer = Adam(lr=settings()["lr"])
    B = BATCH
    batch = {k: v[:B] for k, v in data.items()}
    train_step(model, batch, MSE(), optimizer, settings()["beta"], symmetric=True)  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        train_step(model, batch, MSE(), optimizer, settings()["beta"], symmetric=True)
    return (time.perf_counter() - start) / steps * len(data["x"]) / B


def robustness(a, model, test):
    """Ideal accuracy and the accuracies of ``a.chips`` chips (fractions)."""
    from ebana.analysis.chips import chip_accuracy, chip_conductances, chip_seed, prepare_batches
    from ebana.devices import Variability
    from ebana.training import MSE
    batches = prepare_batches(model, test, 1000)
    backend = model.backend
    ideal = chip_accuracy(model, backend, batches, model.conductances(), MSE())
    var = Variability(kind="gaussian", sigma=a.chip_sigma, scope="chip")
    chips = [chip_accuracy(model, backend, batches, chip_conductances(model, var, chip_seed(7, c)), MSE())
             for c in range(a.chips)]
    return ideal, np.array(chips)


def main(argv=None):
    a = parse(argv)
    from threadpoolctl import threadpool_limits

    import fashion_mnist as fm
    from ebana.datasets import load_fashion_mnist
    (tr_x, tr_y), (te_x, te_y) = load_fashion_mnist(a.data)
    train_data = {"x": fm.to_inputs(tr_x[:a.train], "rectified"), "out": fm.targets(tr_y[:a.train], "rectified", 1 / 300)}
    test = {"x": fm.to_inputs(te_x[:a.test], "rectified"), "out": fm.targets(te_y[:a.test], "rectified", 1 / 300)}
    print(f"mask groups: rectified_mlp(1568, {a.hidden}, 10), {a.train} training images, {a.epochs} epochs, "
          f"batch {BATCH}; training masks folded sigma {a.sigma}; {a.chips} chips at chip-scope "
          f"gaussian sigma {a.chip_sigma} on {a.test} test images\n")
    print("| training | s / epoch | x clean | ideal | chips median | quartiles | min |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    rows = [("clean", None)] + [(f"{g} masks / batch", g) for g in a.groups]
    clean_s = None
    with threadpool_limits(os.cpu_count() or 1, user_api="blas"):  # as the example: every core for the products
        warm = build(a, None)  # compiles the solver's kernels outside the timed epochs
        warm.fit({k: v[:256] for k, v in train_data.items()}, epochs=1, batch_size=BATCH, verbose=0,
                 optimizer="adam", loss="mse")
        for label, g in rows:
            model = build(a, g)
            epoch_s = train(a, model, train_data, "clean" if g is None else f"groups{g}")
            clean_s = epoch_s if g is None else clean_s
            ideal, chips = robustness(a, model, test)
            q1, med, q3 = np.percentile(chips, [25, 50, 75])
            print(f"| {label} | {epoch_s:.1f} | {epoch_s / clean_s:.2f} | {ideal:.4f} | {med:.4f} | "
                  f"{q1:.4f}-{q3:.4f} | {chips.min():.4f} |", flush=True)
        if a.steps:
            print(f"\nTimed on {a.steps} training steps each (epoch extrapolated), clean timed the same way:\n")
            print("| training | s / epoch | x clean |")
            print("|---|---:|---:|")
            clean_steps = timed_epoch_s(a, train_data, None, a.steps)
            print(f"| clean | {clean_steps:.1f} | 1.00 |", flush=True)
            for g in a.timed_groups + [0]:
                s = timed_epoch_s(a, train_data, g, a.steps)
                label = f"{g} masks / batch" if g else f"one mask per sample ({BATCH} / batch)"
                print(f"| {label} | {s:.1f} | {s / clean_steps:.2f} |", flush=True)


if __name__ == "__main__":
    main()
