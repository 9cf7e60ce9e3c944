"""Wired crossbar against the wire-free one: time of one EP step (free + two nudged phases).

    PYTHONPATH=. python bench/wires.py              # tiles of 64 x 64 and 128 x 128
    PYTHONPATH=. python bench/wires.py --tiles 64   # one size

Network per tile size T: T - 2 differential inputs and a +-1 V bias pair ->
one T x T tile (crossbar d1, segments 1 Ohm, access 2 Ohm) -> T clamped nets
-> x4 amplifiers -> 20 outputs (d2, no wires). The wire-free network is the
same without wires (the native layered solver runs it); the wired one runs on
'native-wires' (wire nodes eliminated exactly, then the dense solver). Times are
the median of ``--repeats`` EP steps of batch ``--batch``; the wired step
includes its reduction (one per conductance set: once per EP step in training),
which is also shown alone, and the same reduction by a general sparse LU (SuperLU) instead of
the row-block factor of ebana/backends/tile_factor.py, in the same run.
"""
import argparse
import sys
import time

import numpy as np

from ebana import Wires
from ebana.networks import clamped_mlp
from ebana.training import MSE
from ebana.training.ep import ep_step


def network(tile, wired):
    model = clamped_mlp(tile - 2, tile, 10, backend="native", seed=0)
    if not wired:
        return model
    cfg = model.get_config()
    for layer in cfg["layers"]:
        if layer["config"]["name"] == "d1":
            layer["config"]["wires"] = Wires(tile=(tile, tile), r_segment=1.0, r_access=2.0).config()
    from ebana import Model
    wired_model = Model.from_config(cfg, backend="native")
    wired_model.set_weights(model.get_weights())
    return wired_model


def step_time(model, batch, repeats):
    times = []
    for _ in range(repeats):
        model.layer("d1").g *= 1.0 + 1e-9  # a new conductance set, as after an update
        t0 = time.perf_counter()
        ep_step(model, batch, MSE(), beta=1e-6, symmetric=True)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def reduction_time(plan, g, repeats=3):
    """Median time (s) of reducing every wired block for a new conductance set."""
    times = []
    for k in range(repeats):
        g = g * (1 + 1e-9)
        t0 = time.perf_counter()
        plan.reduce_g(g)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiles", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    print("| tile | wire nodes | wire-free step (ms) | wired step (ms) | ratio | reduction alone (ms) "
          "| reduction by sparse LU (ms) |")
    print("|---|---|---|---|---|---|---|")
    for tile in args.tiles:
        plain, wired = network(tile, False), network(tile, True)
        x = rng.uniform(-1, 1, size=(args.batch, tile - 2))
        y = np.where(rng.random((args.batch, 10)) < 0.1, 0.2, -0.2)
        batch = {"x": x, "out": y}
        step_time(plain, batch, 1), step_time(wired, batch, 1)  # warm-up: plans, kernels
        t_plain, t_wired = step_time(plain, batch, args.repeats), step_time(wired, batch, args.repeats)
        elim = wired.backend.inner.wires if hasattr(wired.backend, "inner") else wired.backend.wires
        plan = elim.plan(wired.circuit)
        t_red = reduction_time(plan, wired.conductances())
        groups = [b.groups for b in plan.blocks]
        for b in plan.blocks:  # the same reduction by a general sparse LU: the baseline of the row blocks
            b.groups = None
        t_lu = reduction_time(plan, wired.conductances())
        for b, kept in zip(plan.blocks, groups):
            b.groups = kept
        print(f"| {tile} x {tile} | {plan.n_inner} | {1e3 * t_plain:.1f} | {1e3 * t_wired:.1f} | "
              f"{t_wired / t_plain:.1f} | {1e3 * t_red:.1f} | {1e3 * t_lu:.1f} |", flush=True)
        print(f"  ({plain.solver()}; {wired.solver().split('): ')[0]})", file=sys.stderr)


if __name__ == "__main__":
    main()
