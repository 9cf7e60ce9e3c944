"""Device physics on the Fashion-MNIST circuit: stuck-at faults and conductance drift over simulated chips.

Run:  python test_circuit/fashion_devices.py [--quick] [--out DIR] [--chips N] [--drift-chips N] [--epochs N]
          [--fa-epochs N] [--fa-p P] [--insitu N] [--ps P,P,..] [--train N] [--test N] [--hidden N] [--data DIR]

1. The vanilla model: ``rectified_mlp`` 1568-``--hidden``-10 (20 conductance
   columns: the hidden halves and the outputs), trained by
   ``test_circuit/fashion_mnist.py`` into ``OUT/vanilla`` (reused when
   ``OUT/vanilla/weights.pkl`` exists; ``--vanilla DIR`` points at another run).
2. The vanilla model programmed onto the full conductance range (every
   conductance times one factor, so that the largest is g_max: the circuit's
   ratios, hence its accuracy, stay; :func:`ebana.devices.scale_to_range`).
   The vanilla model remapped for faults: the output crossbar's bias rows driven by
   their own pair at ``+-fa-bias`` V (``rectified_mlp(hidden_bias_voltage=)``, their
   conductances times 1 V / fa-bias: the same bias currents while the outputs sit near
   0 V), then the ``--fa-percentile`` percentile of the conductances mapped to g_max
   (default 98: the largest 2 % clipped). The fault-aware model: that one trained ``--fa-epochs``
   more epochs with a fresh stuck-at fault map (fraction ``--fa-p``, half at g_min,
   half at g_max) in every batch (:class:`ebana.training.FaultAware`); cached in
   ``OUT/fault_aware`` with its settings.
3. Faults: the four models on ``--chips`` chips per fault fraction in ``--ps``
   (:func:`ebana.analysis.fault_study`).
4. Drift: the vanilla model (as trained and on the full range) at 1 s, 1 hour, 1 day, 1 month, 1 year after
   programming on ``--drift-chips`` chips, PCM drift (conductance-dependent
   exponents), with and without the chip's global compensation, and a uniform
   drift (every exponent 0.1) that must change nothing
   (:func:`ebana.analysis.drift_study`).

With ``--insitu N``, chips 0 .. N-1 of the fault study (p = ``--fa-p``) are also trained
in situ (``--insitu-epochs``, default 1) from the full-range model, each with its own fault map
(``FaultAware(..., fresh=False)``: the stuck devices never move); accuracy before and after.

Writes ``OUT/results.json``, ``OUT/tables.md``, ``OUT/faults.png`` and ``OUT/drift.png``
(``--no-drift`` skips step 4 and its plot).
The default is the full study: 30 + 1 training epochs (about 20 min on 2 cores, the first
time only: the models are cached in OUT), then 100 chips per fault fraction and per drift
time (1,204 + 1,606 chip solves on ``--workers`` processes) and part 5: with ``--vanilla``
3,869 s on the 2-core machine, of which the fault study 1,934 s with other jobs on the
cores (1,225 s alone); the parts measured alone add up to about 53 min (docs/devices.md).
``--quick`` is a small CI run (32 hidden nets, 2,000 training and 500 test images,
3 chips; under a minute).

5. Memristors trained in situ (``test_circuit/fashion_memristors.py``, into
   ``OUT/memristors``, cached): the measured device on 1568-256-20, 10 epochs
   (about 4 min of training; ``--quick``: its quick run; ``--no-memristors`` skips
   it). The full-size figures (1568-1024-20) come from ``fashion_memristors.py`` itself.
"""
import argparse
import json
import os
import pathlib
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import fashion_mnist as fm  # noqa: E402  (the training example beside this one)
from fashion_chips import chip_workers  # noqa: E402

from ebana import Model  # noqa: E402
from ebana.analysis import drift_study, fault_study  # noqa: E402
from ebana.analysis.device_study import summarize  # noqa: E402
from ebana.datasets import load_fashion_mnist  # noqa: E402
from ebana.analysis.chip_tasks import content_digest  # noqa: E402
from ebana.devices import PowerLawDrift, StuckAtFaults, scale_to_range  # noqa: E402
from ebana.networks import rectified_mlp  # noqa: E402
from ebana.training import MSE, Adam, DataLoader, FaultAware, LearningRateScheduler, cosine_decay  # noqa: E402

TIMES = {"1 s": 1.0, "1 hour": 3600.0, "1 day": 86400.0, "1 month": 30 * 86400.0, "1 year": 365 * 86400.0}


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small CI run (see the module docstring)")
    p.add_argument("--out", default=None, help="output folder (default results/fashion_devices[_quick])")
    p.add_argument("--vanilla", default=None, help="folder of a fashion_mnist.py run to use as the vanilla model")
    p.add_argument("--chips", type=int, default=None, help="chips per fault fraction (default 100)")
    p.add_argument("--drift-chips", type=int, default=None, help="chips per time (default 100)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="processes the chips run on (default: one per core; 1: in this process)")
    p.add_argument("--epochs", type=int, default=None, help="vanilla training epochs (default 30)")
    p.add_argument("--fa-epochs", type=int, default=None, help="fault-aware epochs after the vanilla ones (1)")
    p.add_argument("--fa-p", type=float, default=0.05, help="fault fraction drawn in fault-aware training")
    p.add_argument("--fa-bias", type=float, default=0.1,
                   help="remapped and fault-aware models: the output crossbar's bias pair (V); on the input pair, "
                        "+-1 V, one bias device stuck at g_max outweighs the outputs' millivolt margins")
    p.add_argument("--fa-percentile", type=float, default=98.0,
                   help="remapped and fault-aware models: the percentile of the conductances mapped to g_max")
    p.add_argument("--fa-lr", type=float, default=None,
                   help="fault-aware Adam step (S), cosine to 2 %%; default 0.1 x the vanilla step x its range factor")
    p.add_argument("--insitu", type=int, default=0,
                   help="also train this many faulty chips (p = --fa-p) in situ, one epoch each, from the "
                        "full-range model, each with its own fault map (default 0: none)")
    p.add_argument("--insitu-epochs", type=int, default=1, help="epochs of in-situ training per chip")
    p.add_argument("--ps", default="0,0.01,0.05,0.1", help="fault fractions studied")
    p.add_argument("--batch-size", type=int, default=None, help="training batch (default 128)")
    p.add_argument("--train", type=int, default=None)
    p.add_argument("--test", type=int, default=None)
    p.add_argument("--hidden", type=int, default=None)
    p.add_argument("--data", default=None, help="folder of the Fashion-MNIST IDX files")
    p.add_argument("--seed", type=int, default=0, help="study seed (chips) and fault-aware map seed")
    p.add_argument("--no-drift", action="store_true", help="skip the drift study (part 4)")
    p.add_argument("--no-memristors", action="store_true",
                   help="skip step 5, memristors trained in situ (test_circuit/fashion_memristors.py)")
    args = p.parse_args(argv)
    full = dict(batch_size=128, chips=100, drift_chips=100, epochs=30, fa_epochs=1, train=60000, test=10000,
                hidden=1024)
    quick = dict(batch_size=16, chips=3, drift_chips=3, epochs=1, fa_epochs=1, train=2000, test=500, hidden=32)
    for k, v in (quick if args.quick else full).items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    if args.workers < 1:
        p.error(f"--workers must be >= 1, received {args.workers}")
    args.ps = [float(x) for x in args.ps.split(",")]
    args.out = pathlib.Path(args.out or ("results/fashion_devices_quick" if args.quick else "results/fashion_devices"))
    return args


def vanilla(args):
    """The vanilla model (trained by fashion_mnist.py unless its folder holds weights)."""
    folder = pathlib.Path(args.vanilla) if args.vanilla else args.out / "vanilla"
    if not (folder / "weights.pkl").exists():
        fm.main(["--out", str(folder), "--epochs", str(args.epochs), "--train", str(args.train), "--test",
                 str(args.test), "--hidden", str(args.hidden), "--ngspice-check", "0",
                 "--batch-size", str(args.batch_size)]
                + (["--schedule", "none"] if args.epochs == 1 else [])  # a cosine over one epoch is its 2 % end
                + (["--data", args.data] if args.data else []))
    return fm.load_run(folder)


def remapped(args, vanilla):
    """The vanilla network remapped for faults (module docstring, step 2) and its range factor."""
    d = fm.DEFAULTS["rectified"]
    model = rectified_mlp(1568, args.hidden, 10, g_min=d["g_min"], g_max=d["g_max"], backend="native",
                          hidden_bias_voltage=args.fa_bias)
    weights = vanilla.get_weights()
    last = vanilla.resistive_layers[-1].name  # the output crossbar: its last 2 rows are the bias pair's
    weights[last] = weights[last].copy()
    weights[last][-2:] *= float(vanilla.layer("b").bias_voltage[0]) / args.fa_bias
    model.set_weights(weights)
    return model, scale_to_range(model, percentile=args.fa_percentile)


def fault_aware(args, base, factor, train, test):
    """``base`` (the remapped model, its conductances x ``factor``) trained further with a fresh fault
    map per batch; cached in OUT/fault_aware with the settings it was trained with."""
    folder = args.out / "fault_aware"
    settings = {k: getattr(args, k) for k in ("fa_epochs", "fa_p", "fa_bias", "fa_percentile", "fa_lr", "seed",
                                              "train", "batch_size")}
    settings["base"] = content_digest(base.get_weights())
    if (folder / "weights.pkl").exists() and (folder / "settings.json").exists() \
            and json.loads((folder / "settings.json").read_text()) == settings:
        return fm.load_run(folder)
    model = Model.from_config(base.get_config(), backend="native")
    model.set_weights(base.get_weights())
    d = fm.DEFAULTS["rectified"]
    opt = FaultAware(Adam(lr=args.fa_lr or 0.1 * d["lr"] * factor), model, StuckAtFaults(p=args.fa_p), seed=args.seed)
    loader = DataLoader(train, batch_size=args.batch_size, shuffle=True, seed=args.seed + 1)
    start = time.perf_counter()
    # the nudge scales with the conductances, so that it moves the nets as much as in the vanilla training
    model.fit(loader, epochs=args.fa_epochs, loss_fn=MSE(), optimizer=opt, beta=d["beta"] * factor,
              symmetric=True, verbose=False, callbacks=[
                  LearningRateScheduler(cosine_decay(args.fa_epochs, final=0.02) if args.fa_epochs > 1
                                        else lambda epoch, scale: 1.0),
                  lambda e, m, _: print(f"fault-aware epoch {e + 1}: loss {m['loss']:.4g} V^2, "
                                        f"train {m['accuracy']:.4f}"
                                        f" ({m['epoch_time_s']:.0f} s)", flush=True)])
    opt.finish()
    print(f"fault-aware training: {args.fa_epochs} epochs at p = {args.fa_p} in {time.perf_counter() - start:.0f} s")
    folder.mkdir(parents=True, exist_ok=True)
    model.save_weights(folder / "weights.pkl")
    (folder / "model.json").write_text(json.dumps(model.get_config(), indent=1))
    (folder / "settings.json").write_text(json.dumps(settings))
    return model


def in_situ(args, full, train, test):
    """Accuracies (fractions) of chips 0 .. insitu-1 at p = fa_p before and after in-situ training on their map."""
    from ebana.analysis.robustness import chip_accuracy, chip_seed, prepare_batches
    from ebana.devices import ChipDevices
    out = []
    for c in range(args.insitu):
        seed = chip_seed(args.seed, c)  # the study's chip c: the same map as in the fault study
        chip = ChipDevices(StuckAtFaults(p=args.fa_p), seed=seed)
        model = Model.from_config(full.get_config(), backend="native")
        model.set_weights(full.get_weights())
        batches = prepare_batches(model, test, 256)
        before = chip_accuracy(model, model.backend, batches, chip.conductances(model), MSE())
        opt = FaultAware(Adam(lr=args.fa_lr or 0.1 * fm.DEFAULTS["rectified"]["lr"] * args.range_factor), model,
                         StuckAtFaults(p=args.fa_p), seed=seed, fresh=False)
        model.fit(DataLoader(train, batch_size=args.batch_size, shuffle=True, seed=args.seed + 1),
                  epochs=args.insitu_epochs,
                  loss_fn=MSE(), optimizer=opt, beta=fm.DEFAULTS["rectified"]["beta"], symmetric=True, verbose=False)
        opt.finish()
        after = chip_accuracy(model, model.backend, batches, chip.conductances(model), MSE())
        print(f"in situ, chip {c} at p = {args.fa_p}: {100 * before:.2f} % before, {100 * after:.2f} % after "
              f"{args.insitu_epochs} epoch(s)")
        out.append((before, after))
    return out


def rows(label, keys, acc):
    return [f"| {label} | {k} | {s['median']:.2f} | {s['q25']:.2f}-{s['q75']:.2f} | {s['min']:.2f} | {s['max']:.2f} |"
            for k, s in zip(keys, summarize(acc))]


def plot(out, ps, faults, times, drifts):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for j, (name, acc) in enumerate(faults.items()):
        pos = np.arange(len(ps)) + (j - (len(faults) - 1) / 2) * 0.25  # the models side by side, centred
        ax.boxplot(100 * acc.T, positions=pos, widths=0.2, manage_ticks=False)
        ax.plot(pos, 100 * np.median(acc, axis=1), "o-", label=name)
    ax.set_xticks(range(len(ps)), [f"{100 * p:g} %" for p in ps])
    ax.set(xlabel="stuck devices p", ylabel="test accuracy (%)", title="Stuck-at faults, accuracy over chips")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "faults.png", dpi=120)
    if not drifts:  # --no-drift
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    t = np.array(list(times.values()))
    for name, acc in drifts.items():
        q25, med, q75 = np.percentile(100 * acc, [25, 50, 75], axis=1)
        ax.plot(t, med, "o-", label=name)
        ax.fill_between(t, q25, q75, alpha=0.2)
    ax.set_xscale("log")
    ax.set(xlabel="time after programming (s)", ylabel="test accuracy (%)", title="Drift, median and IQR over chips")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "drift.png", dpi=120)


def run(args, executor=None):
    (xi, yl), (ti, tl) = load_fashion_mnist(args.data)
    train = {"x": fm.to_inputs(xi[:args.train], "rectified"), "out": fm.targets(yl[:args.train], "rectified", 1 / 300)}
    test = {"x": fm.to_inputs(ti[:args.test], "rectified"), "out": fm.targets(tl[:args.test], "rectified", 1 / 300)}
    models = {"vanilla": vanilla(args)}
    full = Model.from_config(models["vanilla"].get_config(), backend="native")
    full.set_weights(models["vanilla"].get_weights())
    args.range_factor = scale_to_range(full)
    print(f"full range: every conductance x {args.range_factor:.4g}")
    models["vanilla, full range"] = full
    models["vanilla, remapped"], args.remap_factor = remapped(args, models["vanilla"])
    print(f"remapped: bias pair +-{args.fa_bias:g} V, the {args.fa_percentile:g} percentile at g_max "
          f"(every conductance x {args.remap_factor:.4g})")
    models["fault-aware"] = fault_aware(args, models["vanilla, remapped"], args.remap_factor, train, test)
    args.out.mkdir(parents=True, exist_ok=True)
    insitu = in_situ(args, full, train, test) if args.insitu else []
    common = dict(seed=args.seed, loss_fn=MSE(), backend="native", executor=executor)
    start = time.perf_counter()
    faults = {name: fault_study(m, test, args.ps, chips=args.chips, **common) for name, m in models.items()}
    print(f"fault study: {time.perf_counter() - start:.0f} s")
    start = time.perf_counter()
    times = TIMES
    drifts = {}
    for name in () if args.no_drift else ("vanilla", "vanilla, full range"):
        for comp in (False, True):
            drifts[f"{name}, PCM drift" + (", compensated" if comp else "")] = drift_study(
                models[name], test, list(times.values()), compensate=comp, chips=args.drift_chips, **common)
    if not args.no_drift:
        drifts["vanilla, uniform drift (nu = 0.1)"] = drift_study(
            models["vanilla"], test, list(times.values()), drift=PowerLawDrift(nu_mean=0.1, nu_std=0.0), chips=1,
            **common)
    if drifts:
        print(f"drift study: {time.perf_counter() - start:.0f} s")
    head = "| model | {} | median | IQR | min | max |\n|---|---|---|---|---|---|"
    table = [head.format("p")] + sum((rows(n, [f"{100 * p:g} %" for p in args.ps], a) for n, a in faults.items()), [])
    if drifts:
        table += ["", head.format("t")] + sum((rows(n, list(times), a) for n, a in drifts.items()), [])
    (args.out / "tables.md").write_text("\n".join(table) + "\n")
    print("\n".join(table))
    settings = {k: (str(v) if isinstance(v, pathlib.Path) else v) for k, v in vars(args).items()}
    results = {"range_factor": args.range_factor, "remap_factor": args.remap_factor, "args": settings,
               "faults": {n: a.tolist() for n, a in faults.items()}, "times_s": times,
               "drift": {n: a.tolist() for n, a in drifts.items()}, "in_situ": insitu}
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    plot(args.out, args.ps, faults, times, drifts)
    print(f"saved {args.out}/results.json, tables.md, faults.png" + ("" if args.no_drift else ", drift.png"))
    return results


def memristors(args):
    """Part 3, memristors trained in situ (:mod:`fashion_memristors`), into ``OUT/memristors``;
    cached: its ``results.json`` is read back when it exists."""
    import fashion_memristors
    out = args.out / "memristors"
    if (out / "results.json").is_file():
        print(f"memristors: reusing {out}/results.json")
        return json.loads((out / "results.json").read_text())
    argv = ["--out", str(out), "--seed", str(args.seed)] + (["--quick"] if args.quick else ["--hidden", "256"])
    return fashion_memristors.main(argv + ([] if args.data is None else ["--data", args.data]))


def main(argv=None):
    args = parse(argv)
    with threadpool_limits(2, user_api="blas"), chip_workers(args.workers) as executor:
        results = run(args, executor)
    if not args.no_memristors:
        results["memristors"] = memristors(args)
        (args.out / "results.json").write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
