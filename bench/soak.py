"""Soak test: N Ngspice solves in one process; report RSS growth (MB) and time per solve (ms).

    PYTHONPATH=. python bench/soak.py --solves 10000 --batch 50

The network is the tests' small XOR-like one (2 inputs, clamps, amplifier,
2 outputs) unless ``--big`` picks the design notes' 64-32-20 network. Every
batch draws fresh inputs so every solve sends ``alter`` commands, as training does.
"""
import argparse
import pathlib
import sys
import time

import numpy as np

from ebana.analysis.diagnostics import rss_mb

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests"))


def soak(solves=10000, batch=50, big=False, seed=0, report_every=0):
    """Run ``solves`` operating points; return {'rss_start_mb', 'rss_end_mb', 'growth_mb', 'ms_per_solve'}."""
    from networks import mlp_64_32_20, mlp_inputs, xor_like
    rng = np.random.default_rng(seed)
    model = mlp_64_32_20("ngspice") if big else xor_like("ngspice")

    def inputs():
        return mlp_inputs(batch, rng) if big else {"x": rng.uniform(-1, 1, size=(batch, 2))}

    model.solve(inputs())  # warm-up: library, circuit and vectors allocated
    start_rss, start_solves, t0 = rss_mb(), model.backend.solves, time.perf_counter()
    done = 0
    while done < solves:
        model.solve(inputs())
        done = model.backend.solves - start_solves
        if report_every and done % report_every < batch:
            print(f"{done:>7} solves  RSS {rss_mb():8.1f} MB", flush=True)
    elapsed = time.perf_counter() - t0
    end_rss = rss_mb()
    return {"solves": done, "rss_start_mb": start_rss, "rss_end_mb": end_rss,
            "growth_mb": end_rss - start_rss, "ms_per_solve": 1e3 * elapsed / done}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--solves", type=int, default=10000)
    p.add_argument("--batch", type=int, default=50)
    p.add_argument("--big", action="store_true", help="the 64-32-20 network instead of the small one")
    p.add_argument("--report-every", type=int, default=2000)
    a = p.parse_args(argv)
    r = soak(a.solves, a.batch, a.big, report_every=a.report_every)
    print(f"{r['solves']} solves: RSS {r['rss_start_mb']:.1f} -> {r['rss_end_mb']:.1f} MB "
          f"(growth {r['growth_mb']:+.1f} MB), {r['ms_per_solve']:.3f} ms/solve")
    return r


if __name__ == "__main__":
    main()
