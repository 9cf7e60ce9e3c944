"""The layered native solver: layer by layer, at the cost of the conductances, not nodes cubed.

For circuits with the structure :mod:`.layered_plan` finds (sources -> crossbar
-> clamped nets -> amplifiers -> crossbar -> ... -> outputs, any depth), the
operating point is found by a nonlinear block Gauss-Seidel over the layers:

* once per batch (shared by the free and nudged phases), the crossbars from
  known nodes (inputs, biases) become Norton currents: one matrix product;
* a sweep visits the groups of nets in circuit order; the crossbars to the
  other groups give each net its current from the rest (one product per
  crossbar and direction), and within a group every net then solves its own
  scalar KCL equation ``sum G (V - u) + diode currents = injected`` exactly:
  Newton's method on a strictly increasing function, with SPICE's junction
  limiting (``pnjlim``) and a bisection bracket so it cannot diverge, on the
  same junction models (:mod:`.native_devices`, ``gmin`` included) as the
  dense solver and Ngspice;
* sweeps repeat until no net moves by more than ``vtol``; then every sample's
  KCL residual is checked (as a Newton step, in V) and a sample that fails
  raises :class:`~ebana.errors.SimulatorError` naming it, for the retry ladder.

Cost per sweep: a few batched products per crossbar plus elementwise work per
net. Voltage-source branch currents are computed only when read
(``OperatingPoint.i_vs``): they cost one more product per crossbar from the sources.
"""
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from threadpoolctl import threadpool_limits

from ..circuit.netlist import DEFAULT_OPTIONS
from ..errors import SimulatorError
from .base import Backend, OperatingPoint
from .layered_clamps import ClampSolver
from .layered_anderson import Anderson
from .layered_links import BoundLink
from .layered_plan import FIXED, LayeredPlan
from .native_devices import DiodeParams


class LayeredBackend(Backend):
    """Block Gauss-Seidel over the layers of a layered circuit (see the module docstring).

    max_iterations: sweeps before a sample counts as not converged.
    vtol: convergence when no net moved by more than this in a sweep (V).
    check_tol: largest KCL residual accepted after convergence, as the Newton
        step it would cause (V); larger raises SimulatorError for the sample.
    options: ``gminsteps`` / ``srcsteps`` (ints) turn on gmin or source stepping,
        as the retry ladder asks (:mod:`.retry`).
    anderson_depth: past sweeps Anderson's mixing combines (0: plain sweeps).
    threads: batches of at least 128 samples are split over this many threads,
        each with one BLAS thread (default: the cores this process may use, at most 2;
        ``EBANA_THREADS`` overrides).

    Raises :class:`~ebana.backends.layered_plan.NotLayered` for circuits without
    the structure; ``get_backend('native')`` then picks the dense solver.
    """
    name = "native-layered"

    def __init__(self, max_iterations=500, vtol=1e-12, check_tol=1e-9, gmin=DEFAULT_OPTIONS["gmin"],
                 options=None, threads=None, anderson_depth=5):
        self.max_iterations = max_iterations
        self.vtol = vtol
        self.check_tol = check_tol
        self.gmin = gmin
        self.options = dict(options or {})
        self.solves = 0
        self.sweeps = 0  # sweeps of the last solve, the most any chunk needed (diagnostics)
        self._cache = None  # (circuit, plan, per-set diode params)
        self.threads = _default_threads() if threads is None else max(1, int(threads))
        self.min_chunk = 64  # smaller chunks than this are not worth a thread
        self.anderson_depth = anderson_depth
        self.accelerate = 100  # Anderson mixing may run up to this sweep of a solve
        self.backward_when_warm = True  # warm starts (nudged phases) sweep from the outputs back
        self._executor = None
        self._known = None  # (source values as passed, plan, known node voltages)
        self._bound = {}   # chunk key (None when shared) -> (g as passed, a sample of it, {link id: BoundLink})
        self._norton = {}  # chunk key -> (bound, known voltages, per-group constants)

    def structure(self, circuit):
        """The circuit's :class:`LayeredPlan` (raises NotLayered)."""
        return self._prepare(circuit)[0]

    def close(self):
        self._bound, self._norton = {}, {}
        if self._executor is not None:
            self._executor.shutdown()
            self._executor = None

    # preparation (cached) ----------------------------------------------------
    def _prepare(self, circuit):
        if self._cache is None or self._cache[0] is not circuit:
            plan = LayeredPlan(circuit)
            dp = DiodeParams(circuit, self.gmin)
            models = {id(s): dp.subset(s.index) for g in plan.groups for s in g.diodes}
            self._cache = (circuit, plan, models, dp)
            self._bound, self._norton = {}, {}
        return self._cache[1:]

    def _bind(self, plan, g, rows):
        """BoundLinks for conductances ``g`` (S) of the samples ``rows`` (a slice), reused while
        ``g`` is unchanged; shared conductances bind once for every chunk."""
        key = None if g.ndim == 1 else (rows.start, rows.stop)
        source = g
        g = g if g.ndim == 1 else g[rows]
        # The phases of an EP step pass the same array object. Comparing 1.6 M values (or
        # copying them) would cost more than binding again, so the array itself is the key,
        # with a sample of its values to catch an array changed in place since.
        probe = np.array(g.reshape(-1)[::max(1, g.size // 4096)])
        entry = self._bound.get(key)
        if entry is not None and entry[0] is source and np.array_equal(entry[1], probe):
            return entry[2]
        entry = self._bound[key] = (source, probe, {id(l): BoundLink(l, g) for l in plan.links})
        return entry[2]

    def _constants(self, plan, bound, vfix, key):
        """Per group: diagonal conductance D (S), current from known nodes K (A), known far ends
        of diodes (V) and the clamp solver, once per batch and chunk ``key`` (the phases of an
        EP step share them: the input crossbar's product is made once)."""
        entry = self._norton.get(key)
        if entry is not None and entry[0] is bound and np.array_equal(entry[1], vfix):
            return entry[2]
        B = vfix.shape[0]
        per_sample = any(bl.per_sample for bl in bound.values())
        out = []
        for grp in plan.groups:
            n = len(grp.nets)
            D, K = np.zeros((B if per_sample else 1, n)), np.zeros((B, n))
            for link, name in grp.links:
                bl = bound[id(link)]
                mine, other = (link.a, link.b) if name == "a" else (link.b, link.a)
                s = bl.sums[name]
                mine.add_to(D, np.broadcast_to(s, (D.shape[0], len(mine.nodes))))
                k = -mine.beta * s
                if other.group == FIXED:
                    k = k + bl.toward(name, other.values(vfix))
                elif bl.scaled is not None:
                    k = k + bl.offset[name] * mine.alpha  # divided by alpha below
                if np.any(k != 0):
                    mine.add_to(K, np.broadcast_to(k / mine.alpha, (B, len(mine.nodes))))
            fixed_u = [s.other.values(vfix) if s.other.group == FIXED else None for s in grp.diodes]
            clamps = ClampSolver(grp.diodes, fixed_u, D, K) if ClampSolver.eligible(grp.diodes, fixed_u) else None
            out.append((D, K, fixed_u, clamps))
        self._norton[key] = (bound, np.array(vfix, copy=True), out)
        return out

    # solving -----------------------------------------------------------------
    def solve(self, circuit, stimulus, initial=None, sample_offset=0):
        plan, models, dp = self._prepare(circuit)
        g = np.asarray(stimulus.g, dtype=float)
        B = stimulus.batch_size
        vfix = self._known_voltages(plan, stimulus.vs)
        initial = None if initial is None else np.asarray(initial)
        chunks = self._chunks(B)
        full = np.empty((B, circuit.n_nodes))

        def work(rows):
            return self._solve_rows(plan, models, g, vfix[rows], stimulus.isrc[rows],
                                    None if initial is None else initial[rows], rows, sample_offset + rows.start,
                                    full[rows])

        if len(chunks) == 1:
            runs = [work(chunks[0])]
        else:  # one BLAS thread per chunk: the chunks themselves keep the cores busy
            with threadpool_limits(limits=1, user_api="blas"):
                futures = [self._pool().submit(work, rows) for rows in chunks]
                outcomes = [_outcome(f) for f in futures]
            failed = [o for o in outcomes if isinstance(o, BaseException)]
            if failed:
                raise min(failed, key=lambda e: getattr(e, "sample", None) or 0)
            runs = outcomes
        self.solves += B
        self.sweeps = max(run.sweeps for run in runs)

        def branch_currents():
            return np.concatenate([run.branch_currents(full[rows], vfix[rows], stimulus.isrc[rows], dp)
                                   for run, rows in zip(runs, chunks)])
        return OperatingPoint(full, branch_currents=branch_currents)

    def _known_voltages(self, plan, vs):
        """Voltages (V) of the known nodes, ``(B, n_known)``, from the source values ``vs``; the
        phases of an EP step pass the same array, so it is read once per batch."""
        if self._known is not None and self._known[0] is vs and self._known[1] is plan:
            return self._known[2]
        vfix = np.zeros((vs.shape[0], len(plan.fixed_nodes)))
        for dst, src, sign in plan.known_runs:
            vfix[:, dst] = vs[:, src] if sign == 1.0 else vs[:, src] * sign
        self._known = (vs, plan, vfix)
        return vfix

    def _chunks(self, B):
        n = max(1, min(self.threads, B // self.min_chunk))
        edges = np.linspace(0, B, n + 1).astype(int)
        return [slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]

    def _pool(self):
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="ebana-layered")
        return self._executor

    def _solve_rows(self, plan, models, g, vfix, isrc, initial, rows, offset, out):
        """Solve the samples ``rows`` of the batch into ``out`` (node voltages, V); return the run."""
        B = vfix.shape[0]
        bound = self._bind(plan, g, rows)
        consts = self._constants(plan, bound, vfix, (rows.start, rows.stop))
        inj = [self._injected(grp, isrc, B) for grp in plan.groups]
        v = [np.zeros((B, len(grp.nets))) if initial is None else np.array(initial[:, grp.span])
             for grp in plan.groups]
        run = _Run(plan, bound, models, consts, inj, self)
        steps_src = int(self.options.get("srcsteps") or 0)
        steps_gmin = int(self.options.get("gminsteps") or 0)
        if steps_src > 0:  # source stepping: known voltages and injections ramp up from 10 %
            for lam in np.linspace(0.1, 1.0, steps_src)[:-1]:
                _Run(plan, bound, models, self._scaled(consts, lam), [lam * x for x in inj], self).sweep_all(
                    v, offset, quiet=True)
        if steps_gmin > 0:  # gmin stepping: a shunt to ground on every net, shrinking to none
            for gshunt in np.geomspace(1e-2, 1e-12, steps_gmin):
                run.sweep_all(v, offset, gshunt=gshunt, quiet=True)
        run.sweep_all(v, offset, backward=initial is not None and self.backward_when_warm)
        run.check_residual(v, offset)
        self._node_voltages(plan, v, vfix, out)
        return run

    @staticmethod
    def _scaled(consts, lam):
        return [(D, lam * K, [None if u is None else lam * u for u in fixed_u], None) for D, K, fixed_u, _ in consts]

    @staticmethod
    def _injected(grp, isrc, B):
        out = np.zeros((B, len(grp.nets)))
        for ks, side in grp.currents:
            side.add_to(out, isrc[:, ks] / side.alpha)
        return out

    @staticmethod
    def _node_voltages(plan, v, vfix, full):
        """Write every node's voltage (V) into ``full`` from the nets' and the known nodes'."""
        for gid, dst, src, alpha, beta in plan.assembly:
            x = (vfix if gid == FIXED else v[gid])[:, src]
            full[:, dst] = x if (np.isscalar(alpha) and alpha == 1.0 and np.isscalar(beta) and beta == 0.0) \
                else x * alpha + beta


class _Run:
    """One solve: the sweeps, the scalar net solves and the residual check."""

    def __init__(self, plan, bound, models, consts, inj, backend):
        self.plan, self.bound, self.models, self.consts, self.inj = plan, bound, models, consts, inj
        self.backend = backend
        self.sweeps = 0  # sweeps of the last sweep_all
        self.final, self.moves = [], []  # per group: currents C (A) of its last solve, and its last move (V)
        self.order = []  # groups in the order the last sweep visited them

    def _drive(self, k, v):
        """Diagonal D (S), current from the other groups and injections C (A; the known nodes'
        part K is added by the group solvers) and far-end diode voltages of group ``k``."""
        grp = self.plan.groups[k]
        D, _, fixed_u, _ = self.consts[k]
        C = self.inj[k].copy()
        for link, name in grp.links:
            other = link.b if name == "a" else link.a
            if other.group != FIXED:
                bl = self.bound[id(link)]
                if bl.scaled is not None:
                    C += bl.from_nets(name, v[other.group])
                    continue
                mine = link.a if name == "a" else link.b
                x = bl.toward(name, other.values(v[other.group]))
                mine.add_to(C, x if mine.identity else x / mine.alpha)
        far = [u if u is not None else s.other.values(v[s.other.group]) for s, u in zip(grp.diodes, fixed_u)]
        return D, C, far

    def _kcl(self, k, vk, D, C, far, gshunt=0.0):
        """KCL of group ``k``'s nets at ``vk``: current out minus current in (A), and its slope (S)."""
        f = (D + gshunt) * vk - (C + self.consts[k][1])
        fp = np.broadcast_to(D + gshunt, vk.shape).copy()
        junctions = []
        for s, u in zip(self.plan.groups[k].diodes, far):
            vd = s.sign * (s.end.values(vk) - u)
            i, g = _diode(s, self.models[id(s)], vd)
            s.end.add_to(f, s.sign * i / s.end.alpha)
            s.end.add_to(fp, g)
            junctions.append(vd)
        return f, fp, junctions

    def solve_group(self, k, vk, D, C, far, gshunt=0.0):
        """The nets of group ``k`` given everything else: ``(B, n)`` voltages (V)."""
        sets = self.plan.groups[k].diodes
        if not sets:
            return (C + self.consts[k][1]) / (D + gshunt)
        clamps = self.consts[k][3]
        if clamps is not None and not gshunt:
            return clamps.solve(C, vk)
        pwl_only = all(s.behavioral is not None for s in sets)
        lo = np.full(vk.shape, -np.inf)
        hi = np.full(vk.shape, np.inf)
        for _ in range(200):
            f, fp, vds = self._kcl(k, vk, D, C, far, gshunt)
            np.minimum(hi, np.where(f > 0, vk, np.inf), out=hi)
            np.maximum(lo, np.where(f < 0, vk, -np.inf), out=lo)
            with np.errstate(invalid="ignore", divide="ignore"):
                step = f / fp
            lost = ~np.isfinite(step)
            if lost.any():  # an overflowing junction: step 0.1 V towards the root, the bracket does the rest
                step = np.where(lost, 0.1 * np.sign(np.nan_to_num(f)), step)
            new = vk - step
            if not pwl_only:
                new = self._limit(k, new, vds, far)
            outside = ((new < lo) | (new > hi)) & np.isfinite(lo) & np.isfinite(hi)
            if outside.any():  # Newton left the bracket: bisect instead
                with np.errstate(invalid="ignore"):  # inf - inf where no bracket yet: not used
                    new = np.where(outside, 0.5 * (lo + hi), new)
            if pwl_only:
                # piecewise linear: the step is exact once no junction changes region
                if all(np.array_equal(vd > s.behavioral.vth, s.sign * (s.end.values(new) - u) > s.behavioral.vth)
                       for s, vd, u in zip(sets, vds, far)):
                    return new
            elif np.all(np.abs(new - vk) <= 1e-15 + 1e-14 * np.abs(vk)):
                return new
            vk = new
        return vk  # the sweep's convergence test and the residual check judge it

    def _limit(self, k, new, vds, far):
        for s, vd_old, u in zip(self.plan.groups[k].diodes, vds, far):
            if s.behavioral is not None or s.end.scatter is not None:
                continue
            vd_new = s.sign * (s.end.values(new) - u)
            vd_lim = self.models[id(s)].limit(vd_new, vd_old)
            changed = vd_lim != vd_new
            if changed.any():
                target = (s.sign * vd_lim + u - s.end.beta) / s.end.alpha
                cols = s.end.loc
                new[:, cols] = np.where(changed, target, new[:, cols])
        return new

    def sweep_all(self, v, sample_offset, gshunt=0.0, quiet=False, backward=False):
        """Sweep until no net moves by more than vtol (V); update ``v`` (list per group) in place.

        Groups are visited in circuit order, or from the outputs back with ``backward`` (a
        nudge entering at the outputs then reaches every layer in one sweep). The group
        visited first is recomputed from the others in every sweep, so the state of the
        iteration is the other groups' voltages; up to sweep ``accelerate`` it is
        Anderson-mixed (:mod:`.layered_anderson`), then plain sweeps, which cannot be misled."""
        be = self.backend
        K = len(self.plan.groups)
        B = v[0].shape[0] if v else 0
        self.order = list(range(K))[::-1] if backward else list(range(K))
        state = self.order[1:]
        sizes = np.cumsum([0] + [v[k].shape[1] for k in state])
        mixer = Anderson(be.anderson_depth) if be.anderson_depth and K > 1 else None
        previous = 0.0  # the largest move of the previous sweep (V)
        for sweep in range(1, be.max_iterations + 1):
            before = np.concatenate([v[k] for k in state], axis=1) if mixer is not None else None
            self.final, self.moves = [None] * K, [None] * K
            for k in self.order:
                D, C, far = self._drive(k, v)
                new = self.solve_group(k, v[k], D, C, far, gshunt)
                self.moves[k] = np.abs(new - v[k]).max(axis=1, initial=0.0)
                self.final[k] = C
                v[k] = new
            moved = np.max(self.moves, axis=0) if K else np.zeros(B)
            self.sweeps = sweep
            if not np.all(np.isfinite(moved)):
                bad = int(np.argmax(~np.isfinite(moved)))
                raise SimulatorError("layered native solve produced non-finite voltages", sample=sample_offset + bad)
            # Converged when the last move, and the error it implies for the measured rate of
            # contraction (a slow iteration is further from its fixed point than its step), are
            # within vtol (relative to the largest voltage when that exceeds 1 V).
            largest = moved.max(initial=0.0)
            rate = largest / previous if previous > 0 else 0.5  # no history yet: take the step as the error
            error = largest * max(1.0, rate / (1.0 - rate)) if rate < 1.0 else np.inf
            if error <= be.vtol or (error <= 1e3 * be.vtol and error <= be.vtol * max(
                    1.0, max(np.abs(x).max(initial=0.0) for x in v))):
                return
            previous = largest
            if mixer is not None:
                if sweep >= be.accelerate:
                    mixer = None
                    continue
                mixed = mixer.mix(before, np.concatenate([v[k] for k in state], axis=1))
                for i, k in enumerate(state):
                    v[k] = mixed[:, sizes[i]:sizes[i + 1]]
        if not quiet:
            bad = int(np.argmax(moved))
            raise SimulatorError(f"layered native solver did not converge in {be.max_iterations} sweeps "
                                 f"(last change {moved[bad]:.3g} V)", sample=sample_offset + bad)

    def check_residual(self, v, sample_offset):
        """Every net's KCL at the final voltages, as the Newton step it would cause (V).

        Each group's residual is evaluated (independently of how it was solved) with the
        currents from the crossbars that its last solve used; the groups after it in the
        sweep moved by at most ``moves`` since, so those currents changed by at most
        ``sum_j |G_ij alpha_j / alpha_i| * max move``, which is added: a bound, not an
        estimate, and no matrix product is repeated. Diode far ends are read afresh.
        """
        worst = np.zeros(v[0].shape[0] if v else 0)
        worst_amp = np.zeros_like(worst)
        after = {k: set(self.order[i + 1:]) for i, k in enumerate(self.order)}  # solved later in the last sweep
        for k, grp in enumerate(self.plan.groups):
            D, _, fixed_u, clamps = self.consts[k]
            C = self.final[k]
            far = [u if u is not None else s.other.values(v[s.other.group]) for s, u in zip(grp.diodes, fixed_u)]
            f, fp = clamps.residual(v[k], C) if clamps is not None else self._kcl(k, v[k], D, C, far)[:2]
            f = np.abs(f)
            for link, name in grp.links:
                mine, other = (link.a, link.b) if name == "a" else (link.b, link.a)
                if other.group != FIXED and other.group in after[k]:
                    drift = self.bound[id(link)].coupling_bound(name) * self.moves[other.group][:, None]
                    mine.add_to(f, np.broadcast_to(drift, (len(f), len(mine.nodes))))
            worst = np.maximum(worst, (f / fp).max(axis=1, initial=0.0))
            worst_amp = np.maximum(worst_amp, f.max(axis=1, initial=0.0))
        bad = ~(worst <= self.backend.check_tol)
        if bad.any():
            b = int(np.argmax(bad))
            raise SimulatorError(f"layered native solution fails the KCL check: residual up to {worst_amp[b]:.3g} A, "
                                 f"{worst[b]:.3g} V as a Newton step (limit {self.backend.check_tol:g} V)",
                                 sample=sample_offset + b)

    def branch_currents(self, v, vfix, isrc, dp):
        """Voltage-source branch currents (A, SPICE sign) from KCL at the known nodes."""
        plan = self.plan
        c = plan.circuit
        B = v.shape[0]
        leave = np.zeros((B, len(plan.fixed_nodes)))  # current leaving each known root (A)

        def push(side, x):  # currents leaving the side's nodes, carried back to their roots
            np.add.at(leave.T, side.loc, (x / side.alpha).T)

        for link in plan.links:
            bl = self.bound[id(link)]
            ua, ub = v[:, link.a.nodes], v[:, link.b.nodes]
            if link.a.group == FIXED:
                push(link.a, bl.leaving("a", ua, ub))
            if link.b.group == FIXED:
                push(link.b, bl.leaving("b", ub, ua))
        if len(c.d_anode):
            fixed_end = (plan.node_group[c.d_anode] == FIXED) | (plan.node_group[c.d_cathode] == FIXED)
            idx = np.flatnonzero(fixed_end)
            i_d, _ = dp.subset(idx).evaluate(v[:, c.d_anode[idx]] - v[:, c.d_cathode[idx]])
            for nodes, sign in ((c.d_anode[idx], 1.0), (c.d_cathode[idx], -1.0)):
                fx = plan.node_group[nodes] == FIXED
                if fx.any():
                    push(plan.side(nodes[fx]), sign * i_d[:, fx])
        if c.n_is:
            fx = plan.node_group[c.is_node] == FIXED
            if fx.any():
                push(plan.side(c.is_node[fx]), -isrc[:, fx])
        i_vs = np.zeros((B, c.n_vs))
        src = plan.fixed_src >= 0
        i_vs[:, plan.fixed_src[src]] = -leave[:, src] * plan.fixed_sign[src]
        return i_vs


def _diode(s, model, vd):
    """Current (A) and conductance (S) of diode set ``s`` at junction voltages ``vd`` (V)."""
    m = s.behavioral
    if m is None:
        return model.evaluate(vd)
    g_off, g_delta = 1.0 / m.roff, 1.0 / m.ron - 1.0 / m.roff
    on = vd > m.vth
    return vd * g_off + np.where(on, (vd - m.vth) * g_delta, 0.0), np.where(on, g_off + g_delta, g_off)



def _default_threads():
    env = os.environ.get("EBANA_THREADS")
    if env:
        return max(1, int(env))
    return 1


def _outcome(future):
    try:
        return future.result()
    except BaseException as e:  # noqa: BLE001 - re-raised by the caller, lowest sample first
        return e
