"""Where an EP step of the local image network goes, against the floor of its own products.

    PYTHONPATH=. python bench/local_split.py           # 256 filters, batch 256: about 10 s
    PYTHONPATH=. python bench/local_split.py --quick   # 4 filters, batch 64: a few seconds

The network of ``bench/scale.py``'s local row (``--config local`` of
test_circuit/fashion_mnist.py). Each part of a symmetric EP step is timed by wrapping the
method that does it, over ``--steps`` steps after a warm-up step, with the solver's own
threads (two for this network) and two BLAS threads, as ``bench/scale.py`` times the step.
Parts run inside the solver's threads are summed over them and divided by their number
(marked "per thread"), so they compare with the step's wall time only roughly. The floor
is ``bench/scale.py``'s: the float64 products an EP step of the network cannot avoid (the
local layer's projection and gradient, the output crossbar's two gradient products), the
faster of a measurement before the steps and one after, as there.

Its point is the issue's floor target (an EP step at most 3x that floor): the KCL checks,
the input projection and the gradients alone are shown against it. Units: ms per step.
"""
import argparse
import collections
import contextlib
import importlib
import pathlib
import sys
import threading
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import scale  # noqa: E402  (bench/scale.py: the network, its data and its floor)

#: (label, module, class, method, whether it runs in the solver's threads)
PARTS = [
    ("input projection (local crossbar)", "ebana.backends.layered.windows", "WindowLink", "_multiply", True),
    ("pooled blocks made (gather)", "ebana.backends.layered.backend", "LayeredBackend", "_blocks", True),
    ("sweeps (blocks, products, Newton)", "ebana.backends.layered.sweeps", "Sweeps", "sweep_all", True),
    ("  of which Newton's steps", "ebana.backends.layered.newton", "OutputJump", "mix", True),
    ("KCL checks", "ebana.backends.layered.sweeps", "Sweeps", "check_residual", True),
    ("node voltages written", "ebana.backends.layered.backend", "LayeredBackend", "_node_voltages", True),
    ("gradient, local layer", "ebana.layers.locally_connected", "LocallyConnected2DLayer", "ep_gradient", False),
    ("gradient, output crossbar", "ebana.layers.dense", "DenseLayer", "ep_gradient", False),
]


@contextlib.contextmanager
def timed(parts, totals):
    """Wrap each part's method so that its time (s) adds to ``totals[label]``; restore them after."""
    lock, saved = threading.Lock(), []
    for label, module, cls, attr, _ in parts:
        owner = getattr(importlib.import_module(module), cls)
        original = owner.__dict__[attr]
        function = original.__func__ if isinstance(original, staticmethod) else original

        def wrapper(*args, _f=function, _label=label, **kwargs):
            start = time.perf_counter()
            try:
                return _f(*args, **kwargs)
            finally:
                with lock:
                    totals[_label] += time.perf_counter() - start
        setattr(owner, attr, staticmethod(wrapper) if isinstance(original, staticmethod) else wrapper)
        saved.append((owner, attr, original))
    try:
        yield
    finally:
        for owner, attr, original in saved:
            setattr(owner, attr, original)


def split(filters, batch, steps, blas_threads=2):
    """ms per step of each part (mean over ``steps``), of the step (median) and of the floor;
    the solver's threads."""
    from threadpoolctl import threadpool_limits

    from ebana.training import MSE
    from ebana.training.ep import ep_step
    floor_before = scale.local_floor_ms(filters, batch, blas_threads)  # before and after: the machine wanders
    model = scale.build("local", filters, "native-layered")
    data = scale.image_batch(batch, np.random.default_rng(1), "local")
    first = model.layer("l1")
    totals, walls = collections.defaultdict(float), []
    with threadpool_limits(blas_threads, user_api="blas"):
        for step in range(steps + 1):
            first.g *= 1.0 + 1e-4 * (step + 1)  # a new weight state, as after an update
            with timed(PARTS, totals) if step else contextlib.nullcontext():
                start = time.perf_counter()
                ep_step(model, data, MSE(), scale.BETA, symmetric=True)
                if step:
                    walls.append(time.perf_counter() - start)
    threads = model.backend.inner.own_threads(model.circuit)
    floor = min(floor_before, scale.local_floor_ms(filters, batch, blas_threads)) * batch
    parts = {label: 1e3 * totals[label] / steps / (threads if inside else 1)
             for label, _, _, _, inside in PARTS}
    return parts, 1e3 * float(np.median(walls)), floor, threads


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="4 filters, batch 64 (a few seconds)")
    p.add_argument("--steps", type=int, default=5)
    a = p.parse_args(argv)
    filters, batch = (4, 64) if a.quick else (256, 256)
    parts, step, floor, threads = split(filters, batch, a.steps)
    print(f"local 28x28x2, 7x7/3, {filters} filters, 2x2 pool; batch {batch}; {threads} solver threads; "
          f"parts: mean of {a.steps} steps, the step: their median\n")
    print("| part | ms per step | x floor |")
    print("|---|---:|---:|")
    for label, _, _, _, inside in PARTS:
        print(f"| {label}{' (per thread)' if inside else ''} | {parts[label]:.1f} | {parts[label] / floor:.2f} |")
    print(f"| **the step** | **{step:.1f}** | **{step / floor:.2f}** |")
    print(f"| the floor (its products) | {floor:.1f} | 1.00 |")
    needed = parts["KCL checks"] + parts["input projection (local crossbar)"] + \
        parts["gradient, local layer"] + parts["gradient, output crossbar"]
    print(f"\nKCL checks + input projection + gradients: {needed:.1f} ms, {needed / floor:.2f}x the floor "
          f"(the floor target: 3x)")


if __name__ == "__main__":
    main()
