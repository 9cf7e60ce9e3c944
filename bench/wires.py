"""Wired crossbar against the wire-free one: time of one EP step (free + two nudged phases).

    PYTHONPATH=. python bench/wires.py              # tiles of 64 x 64 and 128 x 128
    PYTHONPATH=. python bench/wires.py --tiles 64   # one size
    PYTHONPATH=. python bench/wires.py --ngspice    # agreement with Ngspice instead (about 5 min)

Network per tile size T: T - 2 differential inputs and a +-1 V bias pair ->
one T x T tile (crossbar d1, segments 1 Ohm, access 2 Ohm) -> T clamped nets
-> x4 amplifiers -> 20 outputs (d2, no wires). The wire-free network is the
same without wires (the native layered solver runs it); the wired one runs on
'native-wires' (wire nodes eliminated exactly, then the dense solver). Times are
the median of ``--repeats`` EP steps of batch ``--batch``; the wired step
includes its reduction (one per conductance set: once per EP step in training),
which is also shown alone, and the same reduction by a general sparse LU (SuperLU) instead of
the row-block factor of ebana/backends/tile_factor.py, in the same run. Conductances: the
network's initial ones (1e-6 to 1e-4 S). ``--ngspice`` checks the wired solve against Ngspice
instead, with devices up to 1e-3 S and segments of 0.1, 1 and 10 Ohm (see :func:`agreement`).
The last two columns: the dense products alone that the row-block factor's solves and
reduction need in the same EP step (:func:`products_floor`), and their time as a multiple of
the wire-free step: the floor of that method here, against the issue's 10x target.
"""
import argparse
import sys
import time

import numpy as np

from ebana import Wires
from ebana.backends.threads import one_blas_thread
from ebana.networks import clamped_mlp
from ebana.training import MSE
from ebana.training.ep import ep_step


def network(tile, wired, r=1.0, backend="native", g_d1=None):
    """The benchmark network of tile size ``tile``; ``wired``: its first crossbar one tile with
    segments of ``r`` and accesses of ``2 r`` (Ohm); ``g_d1``: that crossbar's conductances (S)."""
    model = clamped_mlp(tile - 2, tile, 10, backend=backend, seed=0, g_max=1e-3)
    if g_d1 is not None:
        model.layer("d1").g[...] = g_d1
    if not wired:
        return model
    cfg = model.get_config()
    for layer in cfg["layers"]:
        if layer["config"]["name"] == "d1":
            layer["config"]["wires"] = Wires(tile=(tile, tile), r_segment=r, r_access=2 * r).config()
    from ebana import Model
    wired_model = Model.from_config(cfg, backend=backend)
    wired_model.set_weights(model.get_weights())
    return wired_model


def agreement(tile, r, n=2):
    """Largest node-voltage difference (V) between native-wires and Ngspice on ``n`` samples, free
    and nudged, with the first crossbar's devices uniform in [1e-5, 1e-3] S; the share of hidden
    nets past the clamps (their diodes conduct) and Ngspice's seconds. Each Ngspice batch shares
    its conductances, so it runs as one DC sweep (one matrix ordering for the batch)."""
    rng = np.random.default_rng(tile)
    g = rng.uniform(1e-5, 1e-3, size=(tile, tile))
    native, ref = (network(tile, True, r, backend, g) for backend in ("native", "ngspice-sweep"))
    # inputs of one sign per sample (a bright or a dark image) and growing amplitude: the first
    # sample's hidden nets stay inside the clamps (+-0.1 V), the last one's pass them; each
    # sample free, then nudged
    amplitude = rng.choice([-1.0, 1.0], size=(n, 1)) * np.linspace(0.1, 0.4, n)[:, None]
    x = np.tile(amplitude * rng.uniform(0, 1, size=(n, tile - 2)), (2, 1))
    currents = {"out": np.concatenate([np.zeros((n, 20)), rng.normal(0, 1e-5, size=(n, 20))])}
    t0 = time.perf_counter()
    v_ref = ref.solve({"x": x}, currents).v
    spent = time.perf_counter() - t0
    v = native.solve({"x": x}, currents).v
    hidden = v[:, native.layer("d1").output_nodes]
    return float(np.abs(v - v_ref).max()), float(np.mean(np.abs(hidden) > 0.1)), spent


def step_time(model, batch, repeats):
    times = []
    for _ in range(repeats):
        model.layer("d1").g *= 1.0 + 1e-9  # a new conductance set, as after an update
        t0 = time.perf_counter()
        ep_step(model, batch, MSE(), beta=1e-6, symmetric=True)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def reduction_time(plan, g, repeats=3):
    """Median time (s) of reducing every wired block for a new conductance set, with one BLAS
    thread, as the 'native-wires' backend runs it."""
    times = []
    with one_blas_thread():
        for k in range(repeats):
            g = g * (1 + 1e-9)
            t0 = time.perf_counter()
            plan.reduce_g(g)
            times.append(time.perf_counter() - t0)
    return float(np.median(times))


def products_floor(tile, batch, repeats=3):
    """Median time (s) of the dense products that the row-block factor's exact solve of one
    ``tile x tile`` tile needs in an EP step, with nothing else, one BLAS thread: for each of
    the three phases a forward and a back sweep over the tile's rows, each a ``(T x T) @ (T x
    batch)`` product with a row's inverse block (``2 T^3`` multiply-adds per sample); for the
    conductance set, ``T`` inverses of ``T x T`` symmetric positive definite blocks (Cholesky,
    then its inverse) and the port Schur complement's ``T^4`` multiply-adds as ``T`` products
    ``(T x T) @ (T x T)``. The floor of that method on this machine, not of every method."""
    from scipy.linalg import lapack
    rng = np.random.default_rng(0)
    blocks = [np.eye(tile) * tile + (lambda m: m + m.T)(rng.random((tile, tile))) for _ in range(tile)]
    x, ports = rng.random((tile, batch)), rng.random((tile, tile))
    times = []
    with one_blas_thread():
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(3 * 2):  # three phases, a forward and a back sweep each
                for block in blocks:
                    block @ x
            for block in blocks:
                lapack.dpotri(lapack.dpotrf(block)[0])
                block @ ports
            times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiles", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ngspice", action="store_true",
                        help="only agreement with Ngspice per tile and r in (0.1, 1, 10) Ohm (about 5 min for 64 and 128)")
    args = parser.parse_args(argv)
    if args.ngspice:
        print("| tile | r_segment (Ohm) | max |native - Ngspice| (V) | hidden nets past the clamps | Ngspice (s) |")
        print("|---|---|---|---|---|")
        for tile in args.tiles:
            for r in (0.1, 1.0, 10.0):
                worst, clamped, spent = agreement(tile, r)
                print(f"| {tile} x {tile} | {r:g} | {worst:.1e} | {clamped:.0%} | {spent:.1f} |", flush=True)
        return
    rng = np.random.default_rng(0)
    print("| tile | wire nodes | wire-free step (ms) | wired step (ms) | ratio | reduction alone (ms) "
          "| reduction by sparse LU (ms) | the factor's products alone (ms) | their ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
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
        t_floor = products_floor(tile, args.batch)
        print(f"| {tile} x {tile} | {plan.n_inner} | {1e3 * t_plain:.1f} | {1e3 * t_wired:.1f} | "
              f"{t_wired / t_plain:.1f} | {1e3 * t_red:.1f} | {1e3 * t_lu:.1f} | {1e3 * t_floor:.1f} | "
              f"{t_floor / t_plain:.1f} |", flush=True)
        print(f"  ({plain.solver()}; {wired.solver().split('): ')[0]})", file=sys.stderr)


if __name__ == "__main__":
    main()
