"""Real chips at image scale: noise-aware, multi-scale, two-phase and few-level training of the
Fashion-MNIST circuit, judged over many simulated chips.

Run:  python test_circuit/fashion_chips.py            (the full study: see docs/chips.md for its time)
      python test_circuit/fashion_chips.py --quick    (1568-64-10 on 2,000 images, CI-sized)

Every model is the example's network (``test_circuit/fashion_mnist.py``:
``rectified_mlp(1568, hidden, 10)``, symmetric EP, Adam, batch 128, cosine schedule)
trained by EP on Fashion-MNIST with the layered native solver:

* ``vanilla``: nominal conductances;
* ``aconnect``: a folded Gaussian mask ``|1 + sigma z|`` on every conductance, drawn
  per group of samples (``--masks-per-batch`` groups per batch; bench/mask_groups.py
  measures the choice), mask-weighted gradient (A-Connect);
* ``mat``: clean training, then the last ``--mat-epochs`` epochs with the same
  masks, whose gradients update the nominal conductances (Memristor-Aware Training);
  with ``--vanilla``, the example's run is the clean phase, and ``--mat-epochs`` noisy
  epochs follow it at the learning rates of its schedule's last epochs;
* ``multiscale``: as aconnect with the spread drawn per group from ``--train-sigmas``;
* ``binary``, ``levels4``, ``levels16``: every device takes 2, 4 or 16 evenly spaced
  conductances in [g_min, ``--level-g-max``] (straight-through training of latent values);
  binary's output crossbar has its own bias pair at ``+-binary-bias`` V.

Each trained model is evaluated on the full test set over ``--chips`` simulated chips
(chip-scope Gaussian masks, device to device; ``--workers`` processes) at each sigma in ``--sigmas``, and under
read noise: a fresh Gaussian mask of ``--read-sigma`` for every read, drawn per group of
100 test images, ``--reads`` passes over the test set
(:func:`ebana.analysis.chips.read_noise_accuracy`).
The first ``--spice-chips`` chips at ``--spice-sigma`` are re-solved in Ngspice on
``--spice-images`` test images (the same chips, natively and in Ngspice).
Writes ``results.h5`` (one group per model, resumable), ``read_noise.json``,
``robustness.png`` and ``table.md`` to ``--out``; trained weights are cached there (``<model>.pkl``), so a
rerun only evaluates what is missing (``--retrain`` trains and evaluates again).
"""
import argparse
import concurrent.futures
import contextlib
import hashlib
import json
import multiprocessing
import os
import pathlib
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import fashion_mnist as fm  # noqa: E402  (inputs and targets as the training example makes them)

from ebana.analysis.robustness import RobustnessResult, plot_robustness  # noqa: E402
from ebana.datasets import load_fashion_mnist  # noqa: E402
from ebana.devices import Variability  # noqa: E402
from ebana.networks import rectified_mlp  # noqa: E402
from ebana.training import MSE, Adam, DataLoader  # noqa: E402
from ebana.training.artifacts import save_table  # noqa: E402
from ebana.training.history import History  # noqa: E402
from ebana.training.callbacks import LearningRateScheduler, cosine_decay  # noqa: E402

MODELS = ("vanilla", "aconnect", "mat", "multiscale", "binary", "levels4", "levels16")
SETTINGS = fm.DEFAULTS["rectified"]  # lr, beta, g_min, g_max (S)


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, from {MODELS}")
    p.add_argument("--quick", action="store_true", help="1568-64-10, 2,000 training and 500 test images, "
                   "2 epochs, 5 chips: minutes (CI)")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--mat-epochs", type=int, default=5, help="mat: noisy epochs at the end of --epochs (with --vanilla: after the example's run)")
    p.add_argument("--train-sigma", type=float, default=0.3, help="aconnect, mat: mask spread")
    p.add_argument("--train-sigmas", default="0.1,0.2,0.3,0.5", help="multiscale: spreads drawn per group")
    p.add_argument("--masks-per-batch", type=int, default=2,
                   help="distinct masks per training batch (2: an epoch within 3x the clean one, bench/mask_groups.py)")
    p.add_argument("--level-lr", type=float, default=SETTINGS["lr"], help="Adam step for the few-level models (S)")
    p.add_argument("--level-g-max", type=float, default=5e-8,
                   help="few-level models: the highest level (S; the lowest is g_min). The default spans the "
                        "conductances a clean network learns (99.9 %% of them below 5e-8 S): levels up to the "
                        "example's g_max, 1e-6 S, would leave most devices on the lowest two")
    p.add_argument("--binary-bias", type=float, default=0.05,
                   help="binary: the output crossbar's bias pair (V; rectified_mlp(hidden_bias_voltage=)). On the "
                        "+-1 V input pair one binary bias device moves an output by about 10 mV, more than the "
                        "outputs' margins of a few mV")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="processes that evaluate chips (one BLAS thread each; 1: in this process)")
    p.add_argument("--sigmas", default="0,0.1,0.2,0.3,0.5", help="chip spreads of the study")
    p.add_argument("--chips", type=int, default=100)
    p.add_argument("--spice-chips", type=int, default=1,
                   help="chips per model re-solved in Ngspice at --spice-sigma (0: none)")
    p.add_argument("--spice-sigma", type=float, default=0.3)
    p.add_argument("--spice-images", type=int, default=100, help="test images of the Ngspice re-check")
    p.add_argument("--read-sigma", type=float, default=0.1, help="read noise: spread of a fresh mask per read")
    p.add_argument("--reads", type=int, default=10, help="read noise: passes over the test set")
    p.add_argument("--train", type=int, default=60000)
    p.add_argument("--test", type=int, default=10000)
    p.add_argument("--hidden", type=int, default=1024)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default=None, help="folder of the Fashion-MNIST IDX files")
    p.add_argument("--out", default="results/fashion_chips")
    p.add_argument("--retrain", action="store_true")
    p.add_argument("--vanilla", default=None,
                   help="folder of a test_circuit/fashion_mnist.py run (--out) to use as the vanilla model instead "
                        "of training it here (the example itself; its network must be this study's)")
    a = p.parse_args(argv)
    if a.quick:
        a.hidden, a.train, a.test, a.epochs, a.mat_epochs, a.chips, a.reads, a.spice_images = \
            64, 2000, 500, 2, 1, 5, 3, 20
    a.models = [m.strip() for m in a.models.split(",") if m.strip()]
    unknown = sorted(set(a.models) - set(MODELS))
    if unknown:
        p.error(f"unknown models {unknown}; choose from {MODELS}")
    if not 0 < a.mat_epochs < a.epochs:
        p.error(f"--mat-epochs must be between 1 and --epochs - 1 ({a.epochs - 1}), received {a.mat_epochs}")
    a.sigmas = [float(s) for s in a.sigmas.split(",")]
    a.train_sigmas = tuple(float(s) for s in a.train_sigmas.split(","))
    if not SETTINGS["g_min"] < a.level_g_max <= SETTINGS["g_max"]:
        p.error(f"--level-g-max must lie in ({SETTINGS['g_min']:g}, {SETTINGS['g_max']:g}] S, received {a.level_g_max}")
    if not a.binary_bias > 0:
        p.error(f"--binary-bias must be > 0 V, received {a.binary_bias}")
    if a.workers < 1:
        p.error(f"--workers must be >= 1, received {a.workers}")
    return a


def masks(a, name):
    """The training masks of model ``name`` (None: clean)."""
    common = dict(kind="folded", masks_per_batch=a.masks_per_batch, gradient="mask")
    if name in ("aconnect", "mat"):
        return Variability(sigma=a.train_sigma, **common)
    if name == "multiscale":
        return Variability(sigmas=a.train_sigmas, **common)
    return None


def build(a, name, variability=None):
    levels = {"binary": 2, "levels4": 4, "levels16": 16}.get(name)
    lo, hi = SETTINGS["g_min"], (a.level_g_max if levels else SETTINGS["g_max"])
    # the continuous start, up to 1/40 of g_max (2.5e-8 S); few-level latents start over the lower half
    # of their levels, and binary ones over both (a lower start leaves every device off: a dead network)
    init = ("uniform", lo, hi if levels == 2 else hi / 2) if levels else ("uniform", lo, hi / 40)
    return rectified_mlp(1568, a.hidden, 10, g_min=lo, g_max=hi, initializer=init, backend="native-layered",
                         seed=a.seed, levels=levels, variability=variability,
                         hidden_bias_voltage=a.binary_bias if name == "binary" else None)


def fit(a, model, data, test, epochs, lr, start_epoch=0, total=None):
    """``epochs`` epochs of the example's training; the cosine schedule spans ``total`` epochs."""
    total = total or epochs
    loader = DataLoader(data, batch_size=128, shuffle=True, seed=a.seed + start_epoch)
    scale = cosine_decay(total, final=0.02)
    # fit counts epochs as Keras does: it trains from initial_epoch up to (not including) epochs
    return model.fit(loader, epochs=start_epoch + epochs, loss_fn=MSE(), optimizer=Adam(lr=lr),
                     beta=SETTINGS["beta"], symmetric=True, verbose=False, initial_epoch=start_epoch,
                     test_dataloader=DataLoader(test, batch_size=1000),
                     callbacks=[LearningRateScheduler(scale), lambda epoch, m, _: print(
                         f"  epoch {epoch + 1:3d}  loss {m['loss']:.4g} V^2  train {m['accuracy']:.4f}  "
                         f"test {m['val_accuracy']:.4f}  ({m['epoch_time_s']:.1f} s)", flush=True)])


def training_settings(a, name):
    """What a cached model of ``name`` must have been trained with to be reused."""
    if name == "vanilla" and a.vanilla:
        weights = pathlib.Path(a.vanilla) / "weights.pkl"
        return {"run": str(pathlib.Path(a.vanilla).resolve()), "sha256": hashlib.sha256(weights.read_bytes()).hexdigest()}
    settings = {"epochs": a.epochs, "train": a.train, "hidden": a.hidden, "seed": a.seed}
    if masks(a, name) is not None:
        settings.update(masks=repr(masks(a, name)))
    if name == "mat":
        settings.update(mat_epochs=a.mat_epochs)
        if a.vanilla:  # its clean phase is the example's run
            settings.update(clean=training_settings(a, "vanilla"))
    if name in ("binary", "levels4", "levels16"):
        settings.update(level_lr=a.level_lr, level_g_max=a.level_g_max)
    if name == "binary":
        settings.update(binary_bias=a.binary_bias)
    return settings


def study_settings(a):
    return {"sigmas": a.sigmas, "chips": a.chips, "test": a.test, "seed": a.seed}


def trained(a, name, data, test):
    """Model ``name`` trained (or loaded from ``--out``), its training seconds, and whether it was cached."""
    out = pathlib.Path(a.out)
    weights, meta = out / f"{name}.pkl", out / f"{name}.json"
    final = build(a, name)
    if weights.exists() and meta.exists() and not a.retrain:
        cached = json.loads(meta.read_text())
        if cached.get("settings") == training_settings(a, name):
            final.load_weights(weights)
            return final, cached["train_s"], True
        print(f"{name}: the cached model in {out} was trained with other settings: training again", flush=True)
    if name == "vanilla" and a.vanilla:
        return from_example_run(a, final, weights, meta)
    print(f"{name}: training " + (f"{a.mat_epochs} noisy epochs after the example's run" if name == "mat" and a.vanilla
                                   else f"{a.epochs} epochs"), flush=True)
    start = time.perf_counter()
    lr = a.level_lr if name in ("binary", "levels4", "levels16") else SETTINGS["lr"]
    if name == "mat":  # clean, then noisy fine-tuning of the nominal conductances
        clean_epochs = a.epochs - a.mat_epochs
        if a.vanilla:  # the example's run is the clean phase; the noisy epochs take its schedule's last steps
            final.set_weights(fm.load_run(a.vanilla).get_weights())
        else:
            fit(a, final, data, test, clean_epochs, lr, total=a.epochs)
        noisy = build(a, name, masks(a, name))
        noisy.set_weights(final.get_weights())
        fit(a, noisy, data, test, a.mat_epochs, lr, start_epoch=clean_epochs, total=a.epochs)
        final.set_weights(noisy.get_weights())
    else:
        model = build(a, name, masks(a, name))
        fit(a, model, data, test, a.epochs, lr)
        final.set_weights(model.get_weights())
    train_s = time.perf_counter() - start
    out.mkdir(parents=True, exist_ok=True)
    final.save_weights(weights)
    meta.write_text(json.dumps({"train_s": train_s, "settings": training_settings(a, name)}))
    (out / f"{name}.study.json").unlink(missing_ok=True)  # its chips were those of other weights
    return final, train_s, False


def from_example_run(a, final, weights, meta):
    """The vanilla model of a fashion_mnist.py run in ``--vanilla``, copied into ``--out`` (train
    seconds: the sum of its epochs)."""
    run = fm.load_run(a.vanilla)
    shapes = {k: np.shape(v) for k, v in run.get_weights().items()}
    expected = {k: np.shape(v) for k, v in final.get_weights().items()}
    if shapes != expected:
        raise ValueError(f"--vanilla {a.vanilla}: its network has conductances {shapes}, this study's "
                         f"rectified_mlp(1568, {a.hidden}, 10) has {expected}")
    final.set_weights(run.get_weights())
    train_s = float(np.sum(History.load(pathlib.Path(a.vanilla) / "history.h5").metrics["epoch_time_s"]))
    weights.parent.mkdir(parents=True, exist_ok=True)
    final.save_weights(weights)
    meta.write_text(json.dumps({"train_s": train_s, "settings": training_settings(a, "vanilla")}))
    (weights.parent / "vanilla.study.json").unlink(missing_ok=True)
    print(f"vanilla: the model of {a.vanilla} (fashion_mnist.py)", flush=True)
    return final, train_s, False


def earlier_study(a, name):
    """The chip study of a cached model from ``results.h5`` when it was made with this run's
    sigmas, chips, test images and seed (``<name>.study.json``), else None."""
    out = pathlib.Path(a.out)
    meta = out / f"{name}.study.json"
    if not meta.exists() or json.loads(meta.read_text()) != study_settings(a):
        return None
    try:
        return RobustnessResult.load(out / "results.h5", name)
    except Exception:  # noqa: BLE001 - no file, no group: the study runs again
        return None


def ngspice_check(a, name, model, test):
    """The first ``--spice-chips`` chips at ``--spice-sigma`` on ``--spice-images`` test images,
    solved natively and by Ngspice: a table row with both accuracies."""
    subset = {k: v[:a.spice_images] for k, v in test.items()}
    acc = {}
    for backend in ("native", "ngspice"):
        res = model.evaluate_robustness(subset, sigmas=[a.spice_sigma], chips=a.spice_chips, seed=a.seed + 1000,
                                        loss_fn=MSE(), backend=backend, batch_size=a.spice_images, verbose=False)
        acc[backend] = res.accuracy[0]
    same = int(np.sum(acc["native"] == acc["ngspice"]))
    print(f"{name}: Ngspice re-check, {same}/{a.spice_chips} chips with the same accuracy", flush=True)
    return (f"| {name} | {a.spice_chips} ({same} the same) | {', '.join(f'{100 * x:.1f}' for x in acc['native'])} | "
            f"{', '.join(f'{100 * x:.1f}' for x in acc['ngspice'])} |")


def read_noise(a, model, test):
    """Accuracies (fractions) of ``--reads`` passes over the test set with fresh read noise."""
    from ebana.analysis.chips import prepare_batches, read_noise_accuracy
    noise = Variability(kind="gaussian", sigma=a.read_sigma, scope="read", gradient="straight_through")
    batches = prepare_batches(model, test, 1000)
    return [read_noise_accuracy(model, model.backend, batches, model.conductances(), MSE(), noise,
                                seed=a.seed + 2000 + r) for r in range(a.reads)]


def main(argv=None):
    a = parse(argv)
    with threadpool_limits(os.cpu_count() or 1, user_api="blas"), chip_workers(a.workers) as executor:
        return run(a, executor)


@contextlib.contextmanager
def chip_workers(n):
    """A pool of ``n`` processes for the chips (each solves with one BLAS thread), or None for 1."""
    if n == 1:
        yield None
        return
    with concurrent.futures.ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield pool


def run(a, executor=None):
    out = pathlib.Path(a.out)
    (tr_x, tr_y), (te_x, te_y) = load_fashion_mnist(a.data)
    data = {"x": fm.to_inputs(tr_x[:a.train], "rectified"), "out": fm.targets(tr_y[:a.train], "rectified", 1 / 300)}
    test = {"x": fm.to_inputs(te_x[:a.test], "rectified"), "out": fm.targets(te_y[:a.test], "rectified", 1 / 300)}
    print(f"fashion chips: rectified_mlp(1568, {a.hidden}, 10), {a.train} training and {a.test} test images, "
          f"{a.epochs} epochs; {a.chips} chips per sigma {a.sigmas}")
    results, medians, reads, checks = {}, {}, {}, []
    for name in a.models:
        model, train_s, cached = trained(a, name, data, test)
        start = time.perf_counter()
        res = earlier_study(a, name) if cached else None
        if res is None:
            res = model.evaluate_robustness(test, sigmas=a.sigmas, chips=a.chips, seed=a.seed + 1000, loss_fn=MSE(),
                                            backend="native", batch_size=1000, path=out / "results.h5", name=name,
                                            verbose=False, executor=executor)
            (out / f"{name}.study.json").write_text(json.dumps(study_settings(a)))
        print(f"{name}: trained in {train_s:.0f} s; {a.chips} chips x {len(a.sigmas)} sigmas in "
              f"{time.perf_counter() - start:.0f} s", flush=True)
        reads[name] = read_noise(a, model, test)
        if a.spice_chips:
            checks.append(ngspice_check(a, name, model, test))
        results[name] = res
        medians[name] = {s: st["median"] for s, st in res.summary().items()}
        model.backend.close()
    plot_robustness(results, out / "robustness.png",
                    title=f"Fashion-MNIST 1568-{a.hidden}-10, {a.chips} simulated chips per sigma")
    table = RobustnessResult.tables(results)
    if "vanilla" in medians and len(medians) > 1:
        table += ["", "| model | " + " | ".join(f"gain at sigma {s:g} (points)" for s in a.sigmas) + " |",
                  "|---|" + "---:|" * len(a.sigmas)]
        for name, med in medians.items():
            if name != "vanilla":
                table.append(f"| {name} | " + " | ".join(f"{100 * (med[s] - medians['vanilla'][s]):+.1f}"
                                                         for s in a.sigmas) + " |")
    table += ["", f"| model | read noise sigma {a.read_sigma:g}: median % | min % | max % | ({a.reads} passes) |",
              "|---|---:|---:|---:|---|"]
    table += [f"| {name} | {100 * np.median(r):.1f} | {100 * min(r):.1f} | {100 * max(r):.1f} | |"
              for name, r in reads.items()]
    if checks:
        table += ["", f"| model | chips re-solved in Ngspice (sigma {a.spice_sigma:g}, {a.spice_images} images) | "
                  "native accuracy % | Ngspice accuracy % |", "|---|---:|---:|---:|", *checks]
    (out / "read_noise.json").write_text(json.dumps({"sigma": a.read_sigma, "accuracy": reads}))
    save_table(out, table, saved=("results.h5", "read_noise.json", "robustness.png"))
    return results


if __name__ == "__main__":
    main()
