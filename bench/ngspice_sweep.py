"""Ngspice on many samples: one ``op`` per sample against one DC sweep per batch.

    PYTHONPATH=. python bench/ngspice_sweep.py            # about 1.5 min on 2 cores
    PYTHONPATH=. python bench/ngspice_sweep.py --quick    # the two small networks, ~10 s

For each network it solves the free phase of the same random inputs with
``NgspiceBackend`` (one ``op`` per sample: Ngspice orders its sparse matrix
at every op) and ``NgspiceSweepBackend`` (``ngspice-sweep``: every sample a
step of one DC sweep, one ordering per sweep), both in this process and run,
and prints seconds per sample, the speed-up and the largest node-voltage
difference on the samples both solved. Conductances are the networks' random
initial ones; inputs are random pixel voltages in [0, 1] V.
"""
import argparse
import pathlib
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests")]

from networks import mlp_64_32_20  # noqa: E402

from ebana.backends import make_stimulus  # noqa: E402
from ebana.backends.ngspice import NgspiceBackend, NgspiceSweepBackend  # noqa: E402
from ebana.networks import rectified_local_network, rectified_mlp  # noqa: E402


def design():
    return mlp_64_32_20("native"), lambda x: {"xp": x[:, :64], "xn": -x[:, :64]}, 64


def rectified(hidden):
    def build():
        model = rectified_mlp(1568, hidden, 10, g_min=1e-12, g_max=1e-6, initializer=("uniform", 1e-12, 2.5e-8),
                              backend="native")
        return model, lambda x: {"x": np.hstack([x, -x])}, 784
    return build


def rectified_local(filters):
    def build():
        model = rectified_local_network((28, 28, 2), filters, 10, kernel_size=7, strides=3, g_min=1e-12,
                                        g_max=1e-6, initializer=("uniform", 1e-12, 2.5e-8), backend="native")
        return model, lambda x: {"x": np.stack([x, -x], axis=-1).reshape(-1, 28, 28, 2)}, 784
    return build


# name -> (builder, samples solved one op each, samples in the sweep)
NETWORKS = {
    "design 64-32-20": (design, 100, 1000),
    "rectified 1568-256-10": (rectified(256), 20, 1000),
    "rectified 1568-1024-10": (rectified(1024), 10, 1000),
    "rectified-local 7x7/3, 64 filters": (rectified_local(64), 3, 500),
}
QUICK = ("design 64-32-20", "rectified 1568-256-10")


def stimulus(model, inputs, x):
    _, arrays = model.check_inputs(inputs(x))
    return make_stimulus(model.circuit, model.conductances(), model.source_voltages(arrays, len(x)))


def timed(backend, circuit, stim):
    start = time.perf_counter()
    v = backend.solve(circuit, stim).v
    return v, time.perf_counter() - start


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="the two small networks, fewer samples")
    args = p.parse_args(argv)
    rng = np.random.default_rng(0)
    print(f"{'network':36s} {'op s/sample':>12s} {'sweep s/sample':>15s} {'speed-up':>9s} {'max |dV| (V)':>13s}")
    for name, (build, n_op, n_sweep) in NETWORKS.items():
        if args.quick and name not in QUICK:
            continue
        if args.quick:
            n_op, n_sweep = max(2, n_op // 5), n_sweep // 5
        model, inputs, pixels = build()
        stim = stimulus(model, inputs, rng.uniform(0, 1, (n_sweep, pixels)))
        op, sweep = NgspiceBackend(), NgspiceSweepBackend()
        v_op, t_op = timed(op, model.circuit, stim.take(np.arange(n_op)))
        v_sweep, t_sweep = timed(sweep, model.circuit, stim)
        per_op, per_sweep = t_op / n_op, t_sweep / n_sweep
        diff = np.abs(v_sweep[:n_op] - v_op).max()
        print(f"{name:36s} {per_op:12.4f} {per_sweep:15.4f} {per_op / per_sweep:8.1f}x {diff:13.2e}"
              f"   ({n_op} ops, {n_sweep} samples in {sweep.sweeps} sweep{'s' * (sweep.sweeps > 1)})", flush=True)
        op.close()
        sweep.close()


if __name__ == "__main__":
    main()
