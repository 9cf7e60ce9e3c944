"""Newton's step on the outputs of one rectified (or clamped) hidden layer, against Anderson's mixing.

    PYTHONPATH=. python bench/rectified_newton.py           # about 30 s
    PYTHONPATH=. python bench/rectified_newton.py --quick   # small networks, under 10 s (CI)

For ``rectified_mlp(1568, 1024, 10)`` (test_circuit/fashion_mnist.py's default) and
``rectified_local_network((28, 28, 2), 80, 10)`` (its ``--config best``), times a symmetric EP
step (free, +beta and -beta phases and the gradients; batch 128, the examples' batch; the
layered solver's own threads, 2 BLAS threads) with the outputs' Newton step
(:mod:`ebana.backends.layered.clamp_newton`, the default) and with Anderson's mixing in its
place, alternated step by step (the machine's speed wanders), in a fresh process per round
(``--rounds``). Prints the median ms per step of each round, the sweeps of each phase and the
ratio. ``--clamped`` adds ``clamped_mlp(1568, 1024, 10)`` (``--config dense``: two-sided
clamps, x4 amplifiers, 10 output pairs), which the step refuses for its 400 slope products
(``clamp_newton.PAIRS_PER_OUTPUT``), timed with that limit lifted: why the limit is there.
"""
import argparse
import multiprocessing
import pathlib
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

BETA = 5e-7  # S: the rectified configurations' nudge
NETWORKS = {"rectified 1568-1024-10": ("mlp", 1024), "rectified-local 7x7/3, 80 filters": ("local", 80)}
#: with --clamped: the network whose 20 amplified outputs (400 slope products) the step refuses
#: (clamp_newton.PAIRS_PER_OUTPUT), timed with that limit lifted, to show why it is there
CLAMPED = {"clamped 1568-1024-20, limit lifted": ("clamped", 1024)}
QUICK = {"rectified 1568-64-10": ("mlp", 64), "rectified-local 7x7/3, 8 filters": ("local", 8)}


def build(kind, size):
    from ebana.networks import clamped_mlp, rectified_local_network, rectified_mlp
    if kind == "local":
        return rectified_local_network((28, 28, 2), size, 10, backend="native-layered")
    return (clamped_mlp if kind == "clamped" else rectified_mlp)(1568, [size], 10, backend="native-layered")


def measure(kind, size, batch, steps):
    """Child process: median ms of ``steps`` EP steps with Anderson's mixing and of ``steps``
    with the outputs' Newton step, alternated step by step (after a warm-up step of each), and
    the sweeps of each phase of the last step of each."""
    from threadpoolctl import threadpool_limits

    from ebana.backends.layered import clamp_newton, sweeps
    from ebana.training import MSE
    from ebana.training.ep import ep_step
    if kind == "clamped":
        clamp_newton.PAIRS_PER_OUTPUT = np.inf  # the step as it would run there
    counted, solve_all = [], sweeps.Sweeps.sweep_all

    def counting(self, *args, **kwargs):
        out = solve_all(self, *args, **kwargs)
        counted.append(self.sweeps)
        return out
    sweeps.Sweeps.sweep_all = counting
    model = build(kind, size)
    rng = np.random.default_rng(1)
    pixels = rng.uniform(0, 1, size=(batch, 28, 28))  # random 'images': pixel, minus pixel
    x = np.stack([pixels, -pixels], axis=-1) if kind == "local" else \
        np.concatenate([pixels.reshape(batch, -1), -pixels.reshape(batch, -1)], axis=1)
    target = (0.2, -0.2) if kind == "clamped" else (1 / 300, 0.0)  # V: the examples' targets
    data = {"x": x, "out": np.where(rng.random((batch, 10)) < 0.1, *target)}
    first = model.layer({"local": "l1p", "clamped": "d1"}.get(kind, "d1p"))
    times, phases = {False: [], True: []}, {}
    with threadpool_limits(2, user_api="blas"):
        for step in range(2 * steps + 2):
            newton = bool(step % 2)
            # Anderson's mixing, as before the step, or the step
            sweeps.clamp_newton = clamp_newton.clamp_newton if newton else (lambda *args: None)
            first.g *= 1.0 + 1e-4 * (step + 1)  # a new weight state, as after an update
            counted.clear()
            start = time.perf_counter()
            ep_step(model, data, MSE(), BETA, symmetric=True)
            times[newton].append(time.perf_counter() - start)
            phases[newton] = list(counted)
    return {k: (1e3 * float(np.median(t[1:])), phases[k]) for k, t in times.items()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small networks, batch 32, 2 rounds")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--clamped", action="store_true",
                   help="also clamped_mlp(1568, 1024, 10), which the step refuses, with its limit lifted")
    a = p.parse_args(argv)
    networks, batch, rounds = (QUICK, 32, 2) if a.quick else (NETWORKS, 128, a.rounds)
    if a.clamped:
        networks = {**networks, **CLAMPED}
    context = multiprocessing.get_context("spawn")  # a fresh process: its own caches and threads
    print(f"symmetric EP step, batch {batch}; a round: a fresh process, {a.steps} steps each way, alternated "
          "step by step (medians)\n")
    print("| network | round | Anderson's mixing (ms) | sweeps | Newton's step (ms) | sweeps | ratio |")
    print("|---|---:|---:|---|---:|---|---:|")
    for name, (kind, size) in networks.items():
        ratios = []
        for r in range(rounds):
            with ProcessPoolExecutor(1, mp_context=context) as pool:
                results = pool.submit(measure, kind, size, batch, a.steps).result()
            (off, off_sweeps), (on, on_sweeps) = results[False], results[True]
            ratios.append(off / on)
            print(f"| {name} | {r + 1} | {off:.1f} | {'/'.join(map(str, off_sweeps))} | {on:.1f} | "
                  f"{'/'.join(map(str, on_sweeps))} | {off / on:.2f}x |", flush=True)
        print(f"| {name} | median | | | | | **{float(np.median(ratios)):.2f}x** |", flush=True)


if __name__ == "__main__":
    main()
