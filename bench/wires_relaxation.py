"""Line relaxation on a wired tile: the sweeps it needs, and its time against the exact expansion.

    PYTHONPATH=. python bench/wires_relaxation.py                 # tiles of 64 and 128, as bench/wires.py
    PYTHONPATH=. python bench/wires_relaxation.py --r 10 --g 1e-5 1e-3

Why this exists: issue #22 names line relaxation with tridiagonal solves as a way to solve a
wired tile, and asks for an EP step of a 128 x 128 tile at most 10x the wire-free one. The
exact row-block factor (``ebana/backends/tile_factor.py``) misses it (``bench/wires.py``);
this measures whether relaxation could do better, with every advantage given to it.

For the network of ``bench/wires.py`` (tile ``T x T``, segments ``r``, accesses ``2 r``,
devices uniform in ``--g``, default the network's own, 1e-6 to 1e-4 S), one EP step's free
and ``+beta`` phases are solved exactly (``native-wires``). Then, with each phase's port
voltages held at the exact ones, the tile's inner voltages are found again by block
Gauss-Seidel on its two sets of lines: every row line given the column lines, then every
column line given the row lines, each set one compiled tridiagonal solve (Thomas) over the
whole batch: a sweep. The free phase starts from the lines at their ports' voltages (no
current in the wires: the wire-free guess), the ``+beta`` phase from the free phase's inner
voltages. A phase's count is the sweeps until every inner voltage of every sample is within
``--tol`` of the exact one: default 1e-9 V, the KCL check's tolerance; the EP gradient,
which reads the phases' differences of about 1e-6 V, needs about 1e-12 V.

Relaxation is favoured: the ports are given (a solver of the whole circuit would iterate
on them too), convergence is read from the exact answer (a solver would need residuals: more
passes), and the sweep is timed alone. Beside it, in the same run and thread: the exact
row-block expansion of the same phase (``WireBlock.expand_into``, its KCL check included), and the
wire-free network's whole EP step. Units: V, A, S, Ohm, s.
"""
import argparse
import time

import numba
import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from bench.wires import network
from ebana.backends.eliminate import WireEliminatingBackend
from ebana.backends.threads import one_blas_thread
from ebana.backends.tile_factor import _thomas_factor
from ebana.training import MSE
from ebana.training.ep import ep_step

@numba.njit(cache=True, nogil=True)
def _column_factor(own, links):
    """Thomas' factor of the column lines, all at once: ``own`` (rows, cols) the column nodes'
    diagonal, ``links`` (rows - 1, cols) the segment entries between rows ``i`` and ``i + 1``
    (S). Returns ``(1 / pivot, upper / pivot)``, each (rows, cols)."""
    rows, cols = own.shape
    inv_pivot, ratio = np.empty((rows, cols)), np.zeros((rows, cols))
    for i in range(rows):
        for j in range(cols):
            pivot = own[i, j] - (links[i - 1, j] * ratio[i - 1, j] if i else 0.0)
            inv_pivot[i, j] = 1.0 / pivot
            if i < rows - 1:
                ratio[i, j] = links[i, j] * inv_pivot[i, j]
    return inv_pivot, ratio


@numba.njit(cache=True, nogil=True)
def sweep(x, f, device, lower, inv_pivot, ratio, links, col_inv_pivot, col_ratio):
    """One block Gauss-Seidel sweep in place on the inner voltages ``x`` (V, ``(n, B)``, the
    row lines' ``na`` nodes first, then the column lines' row by row) for ``A_II x = f``
    (``f``: A): the row lines given the column lines, then the column lines given the rows.
    ``device``: the devices' entries ``A_II[p, na + p]`` (S)."""
    na, B = device.shape[0], x.shape[1]
    rows, cols = col_inv_pivot.shape
    for p in range(na):  # row lines: forward elimination, the columns' drive on the right
        for b in range(B):
            rhs = f[p, b] - device[p] * x[na + p, b]
            x[p, b] = (rhs - (lower[p] * x[p - 1, b] if p else 0.0)) * inv_pivot[p]
    for p in range(na - 2, -1, -1):
        for b in range(B):
            x[p, b] -= ratio[p] * x[p + 1, b]
    for i in range(rows):  # column lines: along the rows, every column and sample at once
        for j in range(cols):
            q = na + i * cols + j
            for b in range(B):
                rhs = f[q, b] - device[i * cols + j] * x[i * cols + j, b]
                x[q, b] = (rhs - (links[i - 1, j] * x[q - cols, b] if i else 0.0)) * col_inv_pivot[i, j]
    for i in range(rows - 2, -1, -1):
        for j in range(cols):
            q = na + i * cols + j
            for b in range(B):
                x[q, b] -= col_ratio[i, j] * x[q + cols, b]


class LineRelaxation:
    """Block Gauss-Seidel on one tile's two line sets, for its inner matrix ``a_ii`` (S) in the
    row-block factor's order (``WireBlock.inner``) with ``rows x cols`` devices."""

    def __init__(self, a_ii, a_ip, rows, cols):
        a = sp.csr_matrix(a_ii)
        na = rows * cols
        aa, ab, bb = a[:na, :na], a[:na, na:], a[na:, na:]
        if ab.nnz != na or not np.array_equal(sp.find(ab)[0], sp.find(ab)[1]):
            raise ValueError("the devices do not join row node p to column node p: not the factor's order")
        self.device = ab.diagonal().copy()
        self.row = _thomas_factor(np.concatenate([[0.0], aa.diagonal(-1)]), aa.diagonal().copy(),
                                  np.concatenate([aa.diagonal(1), [0.0]]))
        self.links = bb.diagonal(-cols).reshape(rows - 1, cols).copy()
        self.column = _column_factor(bb.diagonal().reshape(rows, cols).copy(), self.links)
        # each line's port: the wire-free guess puts every line at its port's voltage
        wires = a - sp.diags(a.diagonal())
        wires = wires - sp.bmat([[None, ab], [ab.T, None]])
        _, self.line = connected_components(wires != 0, directed=False)
        ip = sp.coo_matrix(a_ip)
        self.port_of_line = np.full(self.line.max() + 1, -1)
        self.port_of_line[self.line[ip.row]] = ip.col
        if (self.port_of_line < 0).any():
            raise ValueError("a line without a port")

    def wire_free_guess(self, v_ports):
        """Every line at its port's voltage (V), ``(n, B)`` from ``v_ports`` ``(B, ports)``."""
        return np.ascontiguousarray(v_ports[:, self.port_of_line[self.line]].T)

    def sweep(self, x, f):
        sweep(x, f, self.device, *self.row, self.links, *self.column)


def sweeps_to(relax, x, f, exact, tol, limit):
    """Sweeps until ``x`` is within ``tol`` (V) of ``exact`` everywhere (None past ``limit``)."""
    for k in range(1, limit + 1):
        relax.sweep(x, f)
        if np.abs(x - exact).max() <= tol:
            return k
    return None


def timed(fn, repeats):
    """Median wall time (s) of ``fn()``."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def measure(tile, batch, r, g_range, tol, repeats, limit):
    rng = np.random.default_rng(0)
    g_d1 = None if g_range is None else rng.uniform(*g_range, size=(tile, tile))
    plain, wired = network(tile, False, g_d1=g_d1), network(tile, True, r=r, g_d1=g_d1)
    data = {"x": rng.uniform(-1, 1, size=(batch, tile - 2)),
            "out": np.where(rng.random((batch, 10)) < 0.1, 0.2, -0.2)}
    ep_step(plain, data, MSE(), beta=1e-6, symmetric=True)  # warm-up: plans, kernels
    t_plain = timed(lambda: ep_step(plain, data, MSE(), beta=1e-6, symmetric=True), repeats)
    step = ep_step(wired, data, MSE(), beta=1e-6, symmetric=True)
    backend = (wired.backend.inner if hasattr(wired.backend, "inner") else wired.backend).wires
    plan = backend.plan(wired.circuit)
    block = plan.blocks[0]
    _, reduction = block.reduce(wired.conductances()[block.res])
    relax = LineRelaxation(reduction.a_ii, reduction.a_ip, tile, tile)
    rows = []
    for phase, v, start in (("free", step.v_free, None), ("+beta", step.v_nudged, step.v_free)):
        v_ports, exact = v[:, block.ports], np.ascontiguousarray(v[:, block.inner].T)
        f = -(reduction.a_ip @ v_ports.T)
        x0 = relax.wire_free_guess(v_ports) if start is None else np.ascontiguousarray(start[:, block.inner].T)
        n = sweeps_to(relax, x0.copy(), f, exact, tol, limit)
        x = x0.copy()
        t_sweep = timed(lambda: relax.sweep(x, f), repeats)
        scratch = v.copy()
        with one_blas_thread():
            t_direct = timed(lambda: block.expand_into(scratch, slice(0, batch), reduction, backend.check_tol), repeats)
        rows.append((phase, n, t_sweep, t_direct))
    return t_plain, rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiles", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--r", type=float, default=1.0, help="segment resistance (Ohm); accesses 2 r")
    parser.add_argument("--g", type=float, nargs=2, default=None, metavar=("LOW", "HIGH"),
                        help="devices uniform in [LOW, HIGH] S (default: the network's initial ones)")
    parser.add_argument("--tol", type=float, default=None,
                        help="how close to the exact inner voltages (V); default the KCL check's (1e-9). The EP "
                             "gradient reads differences of about 1e-6 V between phases: 1e-12 keeps it to 1e-6")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--limit", type=int, default=300, help="most sweeps tried per phase")
    args = parser.parse_args(argv)
    numba.set_num_threads(1)
    tol = WireEliminatingBackend().check_tol if args.tol is None else args.tol  # default: the KCL check's
    print(f"segments {args.r:g} Ohm, accesses {2 * args.r:g} Ohm, devices "
          f"{'the network initial ones' if args.g is None else f'{args.g[0]:g}-{args.g[1]:g} S'}, batch {args.batch}, "
          f"one thread, sweeps until within {tol:g} V of the exact voltages")
    print("| tile | phase (start) | sweeps | one sweep (ms) | relaxation (ms) "
          "| exact expansion (ms) | wire-free EP step (ms) | relaxation / wire-free step |")
    print("|---|---|---|---|---|---|---|---|")
    for tile in args.tiles:
        t_plain, rows = measure(tile, args.batch, args.r, args.g, tol, args.repeats, args.limit)
        for phase, n, t_sweep, t_direct in rows:
            start = "wire-free guess" if phase == "free" else "free phase"
            sweeps, spent, ratio = ((str(n), f"{1e3 * n * t_sweep:.1f}", f"{n * t_sweep / t_plain:.1f}") if n else
                                    (f"> {args.limit}", f"> {1e3 * args.limit * t_sweep:.0f}",
                                     f"> {args.limit * t_sweep / t_plain:.0f}"))
            print(f"| {tile} x {tile} | {phase} ({start}) | {sweeps} | {1e3 * t_sweep:.2f} | {spent} "
                  f"| {1e3 * t_direct:.1f} | {1e3 * t_plain:.1f} | {ratio} |", flush=True)


if __name__ == "__main__":
    main()
