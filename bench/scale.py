"""Scale benchmark: image-sized layered networks, one symmetric EP step per batch.

    PYTHONPATH=. python bench/scale.py            # about 3 minutes on 2 cores
    PYTHONPATH=. python bench/scale.py --quick    # CI-sized networks, about 20 s
    PYTHONPATH=. python bench/scale.py --device cuda   # on a GPU: bench/device_scale.py

Networks are ``ebana.networks.clamped_mlp(1568, hidden, 10)``: 784 pixels as
1568 differential sources plus a bias pair -> crossbar -> clamped nets -> x4
amplifiers -> ... -> 20 output nets; ``rectified_mlp(1568, 1024, 10)`` (the
Fashion-MNIST default); and ``local_network((28, 28, 2), filters, 10)``, 7x7
windows moved by 3 pixels and 2x2 pooling (``--config local`` of
test_circuit/fashion_mnist.py: 256 filters), whose floor is its own products
(one per window for the projection and for the gradient) and whose time is
also given as a multiple of the rectified network's. For each, in its own process (so that peak
RSS is the configuration's own), it times a symmetric EP step (free, +beta and
-beta phases, gradients) at batch 256 with the layered native solver and,
where it finishes in reasonable time, the dense native solver; and, in the
same process with the same BLAS threads, the floor: the float64 matrix
products an EP step cannot avoid (the input crossbar's projection, and one
gradient product per crossbar). Then agreement: layered vs dense, and layered
vs Ngspice (folded netlist) on the 1568-1024-20 network, free and nudged.

BLAS may use every core (``--blas-threads``, default 2) for the large
products; the layered solver splits a batch over threads with one BLAS
thread each (``EBANA_THREADS``; unset: two threads for circuits with pooled blocks,
the local networks, and one for the others, see ``LayeredBackend``).
"""
import argparse
import multiprocessing
import pathlib
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

BETA = 1e-6  # S
N_IN, N_OUT = 1568, 10
LOCAL_WINDOWS = 64  # 7x7 windows moved by 3 pixels over 28x28: 8 x 8


def image_batch(n, rng, kind="clamped"):
    """``n`` random 'images' as differential voltages (V) with +-0.1 V one-hot-like targets;
    for the local network as ``(n, 28, 28, 2)`` images (pixel, minus pixel)."""
    x = rng.uniform(0, 1, size=(n, N_IN // 2))
    targets = rng.choice([-0.1, 0.1], size=(n, N_OUT))
    if kind == "local":
        x = x.reshape(n, 28, 28)
        return {"x": np.stack([x, -x], axis=-1), "out": targets}
    return {"x": np.concatenate([x, -x], axis=1), "out": targets}


def floor_ms(hidden, batch, blas_threads, repeats=5):
    """ms per sample of the products an EP step needs, float64, ``blas_threads`` BLAS threads:
    the input crossbar's projection and gradient (its inputs do not move: one product), and
    two gradient products (n_in x B @ B x n_out) for every crossbar between unknown nets."""
    from threadpoolctl import threadpool_limits
    products = ep_products([N_IN + 2] + list(hidden) + [2 * N_OUT], batch)
    best = np.inf
    with threadpool_limits(blas_threads, user_api="blas"):
        for _ in range(repeats):
            start = time.perf_counter()
            products()
            best = min(best, time.perf_counter() - start)
    return 1e3 * best / batch


def ep_products(widths, batch, xp=np):
    """A function making, in float64 with namespace ``xp``, the products an EP step of a network of
    layer ``widths`` cannot avoid: the input crossbar's projection and gradient (its inputs do not
    move: one product), and two gradient products (n_in x B @ B x n_out) for every other crossbar."""
    rng = np.random.default_rng(0)
    arrays = [tuple(xp.asarray(rng.random(s)) for s in ((batch, a), (a, b), (batch, b)))
              for a, b in zip(widths, widths[1:])]

    def products():
        x, w, _ = arrays[0]
        x @ w
        for k, (x, _, d) in enumerate(arrays):
            x.T @ d
            if k:
                x.T @ d
    return products


def local_floor_ms(filters, batch, blas_threads, repeats=5):
    """ms per sample of the products an EP step of the local network needs (float64): the local
    layer's projection of the pixels and its gradient, one product per window each (its inputs
    do not move), and the output crossbar's two gradient products. Pooling is fixed: no gradient."""
    from threadpoolctl import threadpool_limits
    W, K = LOCAL_WINDOWS, 7 * 7 * 2
    rng = np.random.default_rng(0)
    x, w, d = rng.random((W, batch, K)), rng.random((W, K, filters)), rng.random((W, batch, filters))
    pooled = rng.random((batch, 16 * filters + 2)), rng.random((batch, 2 * N_OUT))
    best = np.inf
    with threadpool_limits(blas_threads, user_api="blas"):
        for _ in range(repeats):
            start = time.perf_counter()
            np.matmul(x, w)
            np.matmul(x.transpose(0, 2, 1), d)
            pooled[0].T @ pooled[1]
            pooled[0].T @ pooled[1]
            best = min(best, time.perf_counter() - start)
    return 1e3 * best / batch


def build(kind, size, solver):
    """The network of a benchmark row: ``kind`` 'clamped' (``size``: hidden widths), 'rectified'
    (hidden widths) or 'local' (``size``: filters), with its floor function's first argument."""
    from ebana.networks import clamped_mlp, local_network, rectified_mlp
    if kind == "local":
        return local_network((28, 28, 2), size, N_OUT, kernel_size=7, strides=3, pool_size=2, backend=solver)
    return (clamped_mlp if kind == "clamped" else rectified_mlp)(N_IN, size, N_OUT, backend=solver)


def measure(hidden, solver, batch, steps, blas_threads, kind="clamped"):
    """Child process: ms per sample of a symmetric EP step, sweeps per phase, peak RSS (MB), floor."""
    from threadpoolctl import threadpool_limits

    from ebana.training import MSE
    from ebana.training.ep import ep_step

    def floor():
        return local_floor_ms(hidden, batch, blas_threads) if kind == "local" else floor_ms(hidden, batch, blas_threads)
    floor_before = floor()  # before and after the steps: the machine's speed wanders
    model = build(kind, hidden, solver)
    rng = np.random.default_rng(1)
    data = image_batch(batch, rng, kind)
    first = model.layer({"local": "l1", "rectified": "d1p"}.get(kind, "d1"))
    layered = getattr(model.backend.inner, "sweeps", None) is not None
    sweeps = []
    with threadpool_limits(blas_threads, user_api="blas"):
        times = []
        for step in range(steps + 1):
            first.g *= 1.0 + 1e-4 * (step + 1)  # a new weight state, as after an update
            start = time.perf_counter()
            if layered:
                sweeps = _count_sweeps(model, lambda: ep_step(model, data, MSE(), BETA, symmetric=True))
            else:
                ep_step(model, data, MSE(), BETA, symmetric=True)
            times.append(time.perf_counter() - start)
    best = min(times[1:]) if steps else times[0]  # the first step also builds the plan
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return {"ms": 1e3 * best / batch, "peak_mb": peak, "sweeps": sweeps, "floor": min(floor_before, floor())}


def _count_sweeps(model, run):
    """Sweeps of each phase (the most any chunk of the batch needed) while ``run`` runs."""
    backend = model.backend.inner
    counts, original = [], backend.solve

    def counted(*a, **k):
        out = original(*a, **k)
        counts.append(backend.sweeps)
        return out
    backend.solve = counted
    try:
        run()
    finally:
        del backend.solve
    return counts


def in_child(fn, *args):
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def agreement(hidden_dense, hidden_ngspice, n_ngspice):
    """Largest node-voltage differences (V): layered vs dense, layered vs Ngspice; Ngspice s per sample."""
    from ebana.networks import clamped_mlp
    rng = np.random.default_rng(2)
    out = {}
    data = image_batch(16, rng)
    currents = {"out": rng.normal(0, 1e-7, size=(16, 2 * N_OUT))}
    a, b = (clamped_mlp(N_IN, hidden_dense, N_OUT, backend=s) for s in ("native-layered", "native-dense"))
    out[f"layered vs dense, 1568-{hidden_dense}-20, 16 samples, free and nudged"] = max(
        np.abs(a.solve(data, c).v - b.solve(data, c).v).max() for c in (None, currents))
    layered, ngspice = (clamped_mlp(N_IN, hidden_ngspice, N_OUT, backend=s) for s in ("native-layered", "ngspice"))
    data = image_batch(n_ngspice, rng)
    currents = {"out": rng.normal(0, 1e-7, size=(n_ngspice, 2 * N_OUT))}
    worst, spent = 0.0, 0.0
    for c in (None, currents):
        start = time.perf_counter()
        ref = ngspice.solve(data, c).v
        spent += time.perf_counter() - start
        worst = max(worst, np.abs(layered.solve(data, c).v - ref).max())
    out[f"layered vs Ngspice (folded), 1568-{hidden_ngspice}-20, {n_ngspice} samples, free and nudged"] = worst
    return out, spent / (2 * n_ngspice)


def local_agreement(filters, n_ngspice):
    """Largest node-voltage differences (V) on the local network of ``filters`` filters: the
    layered solver's window products vs the dense solver (8 samples) and vs Ngspice."""
    from ebana.networks import local_network
    rng = np.random.default_rng(3)
    out = {}
    nets = {s: local_network((28, 28, 2), filters, N_OUT, backend=s)
            for s in ("native-layered", "native-dense", "ngspice")}
    for other, label, n in (("native-dense", "dense", 8), ("ngspice", "Ngspice", n_ngspice)):
        data = image_batch(n, rng, "local")
        currents = {"out": rng.normal(0, 1e-6, size=(n, 2 * N_OUT))}
        mine = nets["native-layered"]
        out[f"layered vs {label}, local 7x7/3 {filters} filters, {n} samples, free and nudged"] = max(
            np.abs(mine.solve(data, c).v - nets[other].solve(data, c).v).max() for c in (None, currents))
    return out


def configurations(quick):
    """``(kind, size, solvers)`` of the benchmark rows (see :func:`build`)."""
    if quick:
        return [("clamped", [64], ["native-layered", "native-dense"]), ("clamped", [128, 128], ["native-layered"]),
                ("rectified", [64], ["native-layered"]), ("local", 4, ["native-layered"])]
    both = ["native-layered", "native-dense"]
    return [("clamped", [256], both), ("clamped", [1024], both),
            ("clamped", [4096], ["native-layered"]), ("clamped", [1024, 1024], ["native-layered"]),
            ("clamped", [1024, 1024, 1024], ["native-layered"]), ("rectified", [1024], ["native-layered"]),
            ("local", 16, ["native-layered"]), ("local", 256, ["native-layered"])]


def row_name(kind, size):
    if kind == "local":
        return f"local 28x28x2, 7x7/3, {size} filters, 2x2 pool"
    name = "-".join(str(w) for w in [N_IN] + size + [2 * N_OUT if kind == "clamped" else N_OUT])
    return name if kind == "clamped" else f"{kind} {name}"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="CI-sized networks (about 20 s)")
    p.add_argument("--batch", type=int, default=None, help="samples per batch (default 256; 1024 on a device)")
    p.add_argument("--blas-threads", type=int, default=2)
    p.add_argument("--device", default="cpu",
                   help="'cuda': the device solver and EP on a GPU, against the GPU's floor (bench/device_scale.py)")
    a = p.parse_args(argv)
    if a.device != "cpu":
        from device_scale import main as device_main
        return device_main(["--device", a.device] + (["--quick"] if a.quick else [])
                           + ([] if a.batch is None else ["--batch", str(a.batch)]))
    a.batch = a.batch or 256
    start = time.perf_counter()
    print(f"ebana scale benchmark ({'quick' if a.quick else 'full'}): symmetric EP step (3 phases + gradients), "
          f"batch {a.batch}, {a.blas_threads} BLAS threads for large products\n")
    print("| network | solver | ms / sample | s / 60,000-sample epoch | floor ms / sample | x floor "
          "| peak RSS MB | sweeps per phase |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    ms = {}
    for kind, size, solvers in configurations(a.quick):
        name = row_name(kind, size)
        for solver in solvers:
            steps = 0 if solver == "native-dense" else 5  # best of five: the machine's speed wanders
            r = ms[name, solver] = in_child(measure, size, solver, a.batch, steps, a.blas_threads, kind)
            sweeps = "/".join(map(str, r["sweeps"])) or "-"
            print(f"| {name} | {solver} | {r['ms']:.3f} | {60 * r['ms']:.0f} | {r['floor']:.3f} | "
                  f"{r['ms'] / r['floor']:.1f} | {r['peak_mb']:.0f} | {sweeps} |", flush=True)
    rectified = [r for (name, _), r in ms.items() if name.startswith("rectified")]
    for (name, _), r in ms.items():
        if name.startswith("local") and rectified:
            print(f"\n{name}: {r['ms'] / rectified[0]['ms']:.1f} x the rectified network's time per sample "
                  "(and per epoch: same images, same batch)")
    print("\nagreement (largest |dV|, V)")
    figures, ngspice_s = in_child(agreement, 64 if a.quick else 1024, 64 if a.quick else 1024, 8 if a.quick else 32)
    figures.update(in_child(local_agreement, 4 if a.quick else 16, 2 if a.quick else 4))
    for label, dv in figures.items():
        print(f"  {label:<84} {dv:.1e}")
    print(f"  Ngspice (folded inputs) took {ngspice_s:.2f} s per sample and phase")
    print(f"\n(benchmark took {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
