"""Speed benchmark: ms per EP step (free + nudged phase) per training sample.

    PYTHONPATH=. python bench/speed.py            # about a minute on 2 cores
    PYTHONPATH=. python bench/speed.py --quick    # smaller sample counts, ~30 s

For the design notes' network (64 differential inputs -> 4,096 conductances ->
32 clamped hidden nodes -> 640 conductances -> 20 outputs) and for Iris it times
the per-sample-rebuild baseline (bench/baseline.py, in its own process), the
Ngspice backend (full netlist, folded netlist, 2 worker processes, per-sample
conductances) and the native backend at batch 32 and 256, all in this run,
and prints the ratios to the baseline. Then agreement figures (native vs
Ngspice, folded vs full netlist, parallel vs serial), RSS growth over 10,000
Ngspice solves, and Iris trained with the native backend evaluated in both.
"""
import argparse
import multiprocessing
import pathlib
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests")]

from networks import iris_4_16_3 as iris_model  # noqa: E402
from networks import iris_volts as iris_data
from networks import mlp_64_32_20

from ebana.backends import ParallelBackend  # noqa: E402
from ebana.backends.dense.backend import DenseBackend  # noqa: E402
from ebana.backends.ngspice import NgspiceBackend  # noqa: E402
from ebana.training import MSE, Adam, DataLoader  # noqa: E402
from ebana.training.ep import ep_step  # noqa: E402

BETA = 1e-6  # S


def design_batch(n, rng):
    x = rng.uniform(-1, 1, size=(n, 64))
    return {"xp": x, "xn": -x, "out": rng.uniform(-0.2, 0.2, size=(n, 20))}


def iris_batch(n, rng):
    x_train, _, t_train, _ = iris_data()
    rows = rng.integers(0, len(x_train), size=n)
    return {"xp": x_train[rows], "xn": -x_train[rows], "out": t_train[rows]}


NETWORKS = {"design 64-32-20": (mlp_64_32_20, design_batch), "iris 4-16-3": (iris_model, iris_batch)}


def ms_per_step(model, batch, chunk, g=None, repeats=1):
    """Best of ``repeats`` passes over ``batch`` in EP steps of ``chunk`` samples: ms per sample."""
    n = len(batch["out"])
    ep_step(model, {k: a[:chunk] for k, a in batch.items()}, MSE(), BETA)  # warm-up: circuit loaded
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        for s in range(0, n, chunk):
            part = {k: a[s:s + chunk] for k, a in batch.items()}
            ep_step(model, part, MSE(), BETA, g=None if g is None else g[s:s + chunk])
        best = min(best, (time.perf_counter() - start) / n)
    return 1e3 * best


def time_network(name, sizes, rng):
    """Rows (label, ms per EP step and sample) for one network."""
    from baseline import time_baseline
    build, make_batch = NETWORKS[name]
    rows = []
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        base, _ = pool.submit(time_baseline, build, make_batch(sizes["baseline"], rng), BETA,
                              sizes["repeats"]).result()
    rows.append(("baseline: rebuild PySpice circuit per sample, operating_point()", 1e3 * base))
    batch = make_batch(sizes["ngspice"], rng)
    rows.append(("ngspice, full netlist, loaded once, alter per sample",
                 ms_per_step(build(NgspiceBackend(fold_sources=False)), batch, 32, repeats=2)))
    model = build(NgspiceBackend())
    rows.append(("ngspice (folded inputs), 1 process", ms_per_step(model, batch, 32, repeats=3)))
    with ParallelBackend("ngspice", workers=2) as pb:
        rows.append(("ngspice (folded inputs), 2 worker processes", ms_per_step(build(pb), batch, 32, repeats=3)))
    g = model.conductances() * rng.uniform(0.9, 1.1, size=(len(batch["out"]), model.circuit.n_res))
    rows.append(("ngspice (folded), per-sample conductances (masks)", ms_per_step(model, batch, 32, g=g, repeats=2)))
    native = build(DenseBackend())
    big = make_batch(sizes["native"], rng)
    rows.append(("native, batch 32", ms_per_step(native, big, 32, repeats=3)))
    rows.append(("native, batch 256", ms_per_step(native, big, 256, repeats=3)))
    rows.append(("native, batch 256, per-sample conductances (masks)",
                 ms_per_step(native, big, 256, repeats=3,
                             g=native.conductances() * rng.uniform(0.9, 1.1, (len(big["out"]), native.circuit.n_res)))))
    return rows


def agreement(rng, n_random):
    """Largest node-voltage differences (V) between solvers, free and nudged phases."""
    from test_native_vs_ngspice import random_network
    out = {}
    batch = design_batch(32, rng)
    runs = {}
    with ParallelBackend("ngspice", workers=2) as pb:
        for label, backend in [("native", DenseBackend()), ("folded", NgspiceBackend()),
                               ("full", NgspiceBackend(fold_sources=False)), ("parallel", pb)]:
            r = ep_step(mlp_64_32_20(backend), batch, MSE(), BETA)
            runs[label] = np.stack([r.v_free, r.v_nudged])
    out["native vs ngspice, design network (32 samples, both phases)"] = np.abs(runs["native"] - runs["full"]).max()
    out["ngspice folded vs full netlist, design network"] = np.abs(runs["folded"] - runs["full"]).max()
    out["ngspice 2 workers vs 1 process (bit-identical = 0)"] = np.abs(runs["parallel"] - runs["folded"]).max()
    worst = 0.0
    for trial in range(n_random):
        kind = "real" if trial % 2 else "behavioral"
        native, n_in = random_network(np.random.default_rng(1000 + trial), DenseBackend(), kind)
        ref, _ = random_network(np.random.default_rng(1000 + trial), NgspiceBackend(fold_sources=False), kind)
        data = {"x": rng.uniform(-1.5, 1.5, size=(8, n_in))}
        currents = {"out": rng.normal(0, 1e-5, size=(8, native.outputs[0].units * 2))}
        worst = max(worst, np.abs(native.solve(data, currents).v - ref.solve(data, currents).v).max())
    out[f"native vs ngspice, {n_random} random networks (diodes behavioral and Shockley, amplifiers)"] = worst
    return out


def iris_accuracy(epochs):
    """Train Iris with the native backend; test accuracy evaluated natively and in Ngspice (same weights)."""
    x_train, x_test, t_train, t_test = iris_data()
    model = iris_model(DenseBackend())
    model.fit(DataLoader({"xp": x_train, "xn": -x_train, "out": t_train}, batch_size=16, shuffle=True, seed=0),
              epochs=epochs, loss_fn=MSE(), optimizer=Adam(lr=5e-6), beta=BETA, symmetric=True, verbose=False)
    test = {"xp": x_test, "xn": -x_test, "out": t_test}
    in_ngspice = iris_model(NgspiceBackend(fold_sources=False))
    for name, g in model.parameters().items():
        in_ngspice.parameters()[name][...] = g
    return model.evaluate(test, MSE())["accuracy"], in_ngspice.evaluate(test, MSE())["accuracy"]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer samples and solves (about 30 s)")
    a = p.parse_args(argv)
    q = a.quick
    rng = np.random.default_rng(0)
    passes = 1 if q else 2  # of the baseline; every row reports its best pass
    sizes = {"design 64-32-20": {"baseline": 2 if q else 4, "ngspice": 64 if q else 128, "native": 512 if q else 2048,
                                 "repeats": passes},
             "iris 4-16-3": {"baseline": 4 if q else 8, "ngspice": 64 if q else 256, "native": 512 if q else 2048,
                             "repeats": passes}}
    start = time.perf_counter()
    print(f"ebana speed benchmark ({'quick' if q else 'full'}); ms per EP step (free + nudged phase) per sample\n")
    for name in NETWORKS:
        rows = time_network(name, sizes[name], rng)
        base = rows[0][1]
        print(f"{name} (best pass of each row; baseline over {sizes[name]['baseline']} samples)")
        print(f"| {'way to train':<66} | {'ms / EP step':>12} | {'vs baseline':>11} |")
        print(f"|{'-' * 68}|{'-' * 14}|{'-' * 13}|")
        for label, ms in rows:
            print(f"| {label:<66} | {ms:12.3f} | {base / ms:10.0f}x |")
        print()
    print("agreement (largest |dV|, V)")
    for label, dv in agreement(rng, 6 if q else 20).items():
        print(f"  {label:<92} {dv:.1e}")
    from soak import soak
    n = 2000 if q else 10000
    r = soak(solves=n, batch=50, big=True)
    print(f"\nRSS over {r['solves']} Ngspice solves (design network, fresh inputs every solve): "
          f"{r['rss_start_mb']:.1f} -> {r['rss_end_mb']:.1f} MB ({r['growth_mb']:+.1f} MB), "
          f"{r['ms_per_solve']:.3f} ms per solve")
    native_acc, ngspice_acc = iris_accuracy(40 if q else 100)
    print(f"Iris trained with the native backend: test accuracy {100 * native_acc:.1f} % native, "
          f"{100 * ngspice_acc:.1f} % evaluated in Ngspice (full netlist, same weights)")
    print(f"\n(benchmark took {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
