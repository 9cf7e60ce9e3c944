"""The chip study on 1 and 2 workers: wall time, and the same accuracies as in one process (8x8 digits).

Run:  python test_circuit/chips_scaleout.py   (defaults reproduce docs/chips.md; see --help)

Trains the digits network of noise_aware.py (130 -> 24 -> 20 nets) for a few
epochs, then evaluates it over ``--chips`` simulated chips at each of 5 sigmas
(Gaussian device-to-device masks, native backend): in this process, on a
``ProcessPoolExecutor`` and on a Dask ``LocalCluster`` of each size in
``--workers``. Every run must give the in-process accuracies bit for bit.
``--scheduler tcp://host:8786`` times an existing Dask cluster instead of the
local ones (its workers need ebana installed, nothing else).
"""
import argparse
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from noise_aware import SIGMAS, build_model, digits

from ebana.training import MSE, Adam, DataLoader


def _spin(_):
    start, x = time.perf_counter(), 0
    for i in range(3_000_000):
        x += i
    return time.perf_counter() - start


def parallel_capacity(n):
    """How many cores ``n`` processes get now: ``n`` x (one loop alone / the same loop with ``n`` at once).
    On a machine shared with other jobs this is what bounds any speed-up of ``n`` workers."""
    with ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(_spin, range(n)))  # start the processes
        alone = min(_spin(0) for _ in range(3))
        together = max(pool.map(_spin, range(n)))
    return n * alone / together


def timed(model, test, executor, chips, seed):
    start = time.perf_counter()
    res = model.evaluate_robustness(test, sigmas=SIGMAS, chips=chips, seed=seed, backend="native",
                                    loss_fn=MSE(), executor=executor, verbose=False)
    return res, time.perf_counter() - start


def dask_runs(model, test, args):
    import distributed  # the test extras: dask[distributed]
    if args.scheduler:
        with distributed.Client(args.scheduler) as client:
            n = len(client.scheduler_info()["workers"])
            yield f"Dask cluster at {args.scheduler}", n, *timed(model, test, client, args.chips, args.seed)
        return
    for n in args.workers:
        with distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                      dashboard_address=None) as cluster, distributed.Client(cluster) as client:
            timed(model, test, client, 1, args.seed)  # workers import ebana and get the data: not timed
            yield "Dask LocalCluster", n, *timed(model, test, client, args.chips, args.seed)


def pool_runs(model, test, args):
    for n in ([] if args.scheduler else args.workers):
        with ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn")) as pool:
            timed(model, test, pool, 1, args.seed)  # start the processes: not timed
            yield "ProcessPoolExecutor", n, *timed(model, test, pool, args.chips, args.seed)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--hidden", type=int, default=24)
    p.add_argument("--chips", type=int, default=40, help="chips per sigma (5 sigmas)")
    p.add_argument("--workers", default="1,2", help="worker counts to time")
    p.add_argument("--scheduler", default=None, help="address of a running Dask scheduler (tcp://host:8786)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    args.workers = [int(n) for n in args.workers.split(",")]
    train, test = digits(args.seed)
    model = build_model(hidden=args.hidden, seed=args.seed)
    if args.epochs:  # 0: untrained weights (a quick check of the runs; the chips cost about the same)
        model.fit(DataLoader(train, batch_size=16, shuffle=True, seed=args.seed), epochs=args.epochs, loss_fn=MSE(),
                  optimizer=Adam(lr=8e-6), beta=1e-6, symmetric=True, verbose=False)
    reference, here = timed(model, test, None, args.chips, args.seed)
    n_chips = reference.accuracy.size
    rows = [f"| in this process | 1 | {here:.2f} | {1000 * here / n_chips:.0f} | {n_chips} of {n_chips} |"]
    for where, n, res, wall in [*pool_runs(model, test, args), *dask_runs(model, test, args)]:
        same = int(np.sum(res.accuracy == reference.accuracy))
        rows.append(f"| {where} | {n} | {wall:.2f} | {1000 * wall / n_chips:.0f} | {same} of {n_chips} |")
        if same != n_chips:
            raise SystemExit(f"{where} with {n} workers differs from the in-process study")
    print(f"{n_chips} chips ({args.chips} per sigma, {len(SIGMAS)} sigmas), {len(test['out'])} test images, "
          f"median accuracy at sigma {SIGMAS[-1]}: {100 * np.median(reference.accuracy[-1]):.1f} %")
    print(f"cores free for {max(args.workers)} processes now: {parallel_capacity(max(args.workers)):.1f}")
    print("| where | workers | wall s | ms per chip | same accuracy as in-process |\n|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
