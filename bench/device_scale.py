"""Scale benchmark on a GPU: the device layered solver and EP training steps, against the device's own floor.

    PYTHONPATH=. python bench/scale.py --device cuda            # the networks of issue 24, a few minutes
    PYTHONPATH=. python bench/scale.py --device cuda --quick    # small networks
    PYTHONPATH=. python bench/device_scale.py --device strict   # the same code on the CPU stand-in (tests)
    PYTHONPATH=. python bench/device_scale.py --hidden 1024 --batches 128,1024 --graphs both
                                              # solves replayed from CUDA graphs against every operation launched

Networks are ``ebana.networks.rectified_mlp(1568, hidden, 10)``, the deep resistive
network shape the Fashion-MNIST example trains (784 pixels as 1568 sources and a
bias pair -> crossbars -> rectified hidden nets -> ... -> 10 output nets); the
last is DRN-XL's 32,768 hidden nets (51 M conductances). For each, on the device:

* solver: the free and the nudged phase (warm-started) of one batch, ms per sample;
* EP step: ``ebana.training.fit.train_step`` with symmetric nudging, as the Fashion-MNIST
  example trains (free, +beta and -beta phases, the EP gradients and an Adam update, all
  on the device);
* floor: the float64 matrix products an EP step cannot avoid, timed on the same
  device in the same run (the input crossbar's projection, and the gradient
  products of every crossbar), and the ratio of the EP step (or the solver) to it;
* the 60,000-image epoch those figures imply.

Every time is the median of ``--repeats`` runs after two warm-ups, with the device
synchronised before the clock is read.
"""
import argparse
import pathlib
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

N_IN, N_OUT, BETA = 1568, 10, 5e-7  # sources, output nets, nudging (S)
EPOCH = 60000


def _sync(xp):
    if hasattr(xp, "cuda"):
        xp.cuda.Device().synchronize()


def timed(xp, fn, repeats):
    """Median seconds of ``fn()`` over ``repeats`` runs after two warm-ups."""
    for _ in range(2):
        fn()
    times = []
    for _ in range(repeats):
        _sync(xp)
        start = time.perf_counter()
        fn()
        _sync(xp)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def floor_s(xp, hidden, batch, repeats):
    """Seconds of the products an EP step needs, float64 on the device (see the module docstring)."""
    from scale import ep_products
    return timed(xp, ep_products([N_IN + 2] + list(hidden) + [N_OUT], batch, xp), repeats)


def image_batch(n, rng):
    x = rng.uniform(0, 1, size=(n, N_IN // 2))
    target = np.full((n, N_OUT), -1 / 300)
    target[np.arange(n), rng.integers(0, N_OUT, n)] = 1 / 300
    return {"x": np.concatenate([x, -x], axis=1), "out": target}


def solver_s(xp, model, backend, data, repeats):
    """Seconds for the free and the nudged phase of one batch with the device solver."""
    from ebana.backends import Stimulus, make_stimulus
    B = len(data["x"])
    stim = make_stimulus(model.circuit, model.conductances(), model.source_voltages({"x": data["x"]}, B))
    dev = Stimulus(*(xp.asarray(a) for a in (stim.g, stim.vs, stim.isrc)))
    nudged = Stimulus(dev.g, dev.vs, xp.asarray(np.random.default_rng(3).normal(0, 1e-9, stim.isrc.shape)))
    sweeps = []

    def phases():
        free = backend.solve(model.circuit, dev)
        sweeps[:] = [backend.sweeps]
        backend.solve(model.circuit, nudged, initial=free.v)
        sweeps.append(backend.sweeps)
    return timed(xp, phases, repeats), sweeps


def ep_step_s(xp, device, hidden, data, repeats):
    """Seconds of one training step (symmetric EP + Adam) of a device model."""
    from ebana.networks import rectified_mlp
    from ebana.training import Adam, MSE
    from ebana.training.fit import train_step
    model = rectified_mlp(N_IN, hidden, N_OUT, backend="native", device=device)
    optimizer = Adam(lr=1.5e-10)
    batch = {k: xp.asarray(v) for k, v in data.items()}
    return timed(xp, lambda: train_step(model, batch, MSE(), optimizer, BETA, symmetric=True), repeats)


def profile(xp, device, batch=128, steps=20):
    """cProfile of ``steps`` training steps: the functions where the host spends its time."""
    import cProfile
    import pstats
    data = image_batch(batch, np.random.default_rng(1))
    ep_step_s(xp, device, [1024], data, 1)  # compile and warm up
    profiler = cProfile.Profile()
    profiler.enable()
    ep_step_s(xp, device, [1024], data, steps)
    _sync(xp)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


def measure(xp, device, hidden, batch, repeats, graphs=True):
    """One row: ``graphs`` replays solves from recorded graphs (the default), or launches every
    operation (``EBANA_DEVICE_GRAPHS=0``)."""
    import os

    from ebana.backends.factory import get_backend
    from ebana.networks import rectified_mlp
    before = os.environ.get("EBANA_DEVICE_GRAPHS")
    os.environ["EBANA_DEVICE_GRAPHS"] = "1" if graphs else "0"
    try:
        return _measure(xp, device, hidden, batch, repeats, get_backend, rectified_mlp)
    finally:
        if before is None:
            os.environ.pop("EBANA_DEVICE_GRAPHS")
        else:
            os.environ["EBANA_DEVICE_GRAPHS"] = before


def _measure(xp, device, hidden, batch, repeats, get_backend, rectified_mlp):
    start = time.perf_counter()
    model = rectified_mlp(N_IN, hidden, N_OUT, backend="native")
    backend = get_backend("native", device=device)
    data = image_batch(batch, np.random.default_rng(1))
    built = time.perf_counter() - start
    solve, sweeps = solver_s(xp, model, backend, data, repeats)
    step = ep_step_s(xp, device, hidden, data, repeats)
    return {"solver": solve, "step": step, "floor": floor_s(xp, hidden, batch, repeats), "sweeps": sweeps,
            "conductances": model.circuit.n_res, "build": built}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda", help="'cuda', or 'strict' (the CPU stand-in of the tests)")
    p.add_argument("--quick", action="store_true", help="small networks")
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--graphs", choices=("on", "off", "both"), default="on",
                   help="replay solves from recorded graphs (on, the default), launch every operation (off), "
                        "or both, row by row (the ratio between them)")
    p.add_argument("--hidden", help="only these hidden widths, e.g. '1024' or '1024,1024' (one network)")
    p.add_argument("--batches", help="batch sizes, e.g. '128,1024' (default: --batch)")
    p.add_argument("--profile", action="store_true",
                   help="instead: where the host time of 20 training steps of 1568-1024-10 at batch 128 goes (cProfile)")
    a = p.parse_args(argv)
    if a.device == "strict":
        from strict_device import register
        register()
    from ebana.backends.arrays import namespace
    xp = namespace(a.device)
    if a.profile:
        return profile(xp, a.device)
    configs = ([[64], [128, 128]] if a.quick else
               [[256], [1024], [4096], [1024, 1024], [1024, 1024, 1024], [32768]])
    batches = [(h, a.batch) for h in configs] + ([] if a.quick else [([1024], 128)])
    sizes = [int(b) for b in a.batches.split(",")] if a.batches else [a.batch]
    if a.hidden:
        batches = [([int(w) for w in a.hidden.split(",")], b) for b in sizes]
    elif a.batches:
        batches = [(h, b) for h in configs for b in sizes]
    modes = {"on": [True], "off": [False], "both": [False, True]}[a.graphs]
    print(f"ebana device scale benchmark on {a.device}: rectified_mlp(1568, hidden, 10), float64, "
          f"median of {a.repeats}\n")
    print("| network | graphs | conductances | batch | solver ms / sample | EP step ms / sample | "
          "s / 60,000-image epoch | floor ms / sample | x floor | sweeps free/nudged |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    total = time.perf_counter()
    for (hidden, batch), graphs in ((b, g) for b in batches for g in modes):
        r = measure(xp, a.device, hidden, batch, a.repeats, graphs)
        name = "-".join(str(w) for w in [N_IN] + hidden + [N_OUT]) + f" | {'on' if graphs else 'off'}"
        per = {k: None if r[k] is None else 1e3 * r[k] / batch for k in ("solver", "step", "floor")}
        main_ms = per["step"] if per["step"] is not None else per["solver"]
        step = "n/a" if per["step"] is None else f"{per['step']:.4f}"
        print(f"| {name} | {r['conductances']:,} | {batch} | {per['solver']:.4f} | {step} | "
              f"{EPOCH * main_ms / 1e3:.2f} | {per['floor']:.5f} | {main_ms / per['floor']:.1f} | "
              f"{'/'.join(map(str, r['sweeps']))} |", flush=True)
    print(f"\n(benchmark took {time.perf_counter() - total:.0f} s; the epoch column is the EP step's, or the "
          "solver's where the EP step is n/a)")


if __name__ == "__main__":
    main()
