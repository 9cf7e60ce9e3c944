"""The layered native solver: layer by layer, at the cost of the conductances, not nodes cubed.

For circuits with the structure :mod:`.plan` finds (sources -> crossbar
-> clamped nets -> amplifiers -> crossbar -> ... -> outputs, any depth), the
operating point is found by a nonlinear block Gauss-Seidel over the layers:

* once per batch (shared by the free and nudged phases), the crossbars from
  known nodes (inputs, biases) become Norton currents: one matrix product;
* a sweep visits the groups of nets in circuit order (a warm-started, nudged
  phase from the outputs back); the crossbars to the other groups give each
  net its current from the rest (one product per crossbar and direction, the
  amplifier gains folded in), and within a group every net then solves its own
  scalar KCL equation ``sum G (V - u) + diode currents = injected`` exactly:
  behavioral clamps in one pass (:mod:`.clamps`), other junctions by
  Newton's method on a strictly increasing function, with SPICE's junction
  limiting (``pnjlim``) and a bisection bracket so it cannot diverge, on the
  same junction models (:mod:`ebana.backends.junctions`, ``gmin`` included) as the
  dense solver and Ngspice;
* the sweeps are Anderson-mixed (:mod:`.anderson`) and repeat until the
  error their contraction implies is below ``vtol``; then every sample's KCL
  residual is checked (as a Newton step, in V) and a sample that fails raises
  :class:`~ebana.errors.SimulatorError` naming it, for the retry ladder.

Cost per sweep: a few batched products per crossbar plus elementwise work per
net. Voltage-source branch currents are computed only when read
(``OperatingPoint.i_vs``): they cost one more product per crossbar from the sources.
"""
import sys
import warnings

import numpy as np

from ...circuit.netlist import DEFAULT_OPTIONS
from ...errors import ValidationError
from ..arrays import Reflection
from ..base import Backend, OperatingPoint
from ..heap import keep_freed_memory
from ..junctions import DiodeParams
from ..threads import batch_chunks, default_threads, thread_map
from . import kernels
from .clamps import ClampSolver
from .links import bind
from .plan import FIXED, LayeredPlan
from .pooled import candidate_links, pooled_blocks
from .precision import MixedProduct
from .sweeps import Sweeps

#: a solve is called slow (and said once) when it needs more than SLOW_FACTOR times the
#: backend's mean sweeps and more than SLOW_SWEEPS, once SLOW_AFTER_SOLVES solves set the mean
SLOW_FACTOR, SLOW_SWEEPS, SLOW_AFTER_SOLVES = 10.0, 200, 3
#: threads for circuits with pooled blocks (:func:`auto_threads`)
POOLED_THREADS = 2
_compiling_said = False


def _announce_compiling():
    """One line on stderr, once per process, when the numba kernels are about to be compiled
    (cold cache: first use on a machine or after an upgrade), so 2-4 s of silence is explained."""
    global _compiling_said
    if _compiling_said:
        return
    _compiling_said = True
    if kernels.cache_is_cold():
        print("ebana: compiling the layered solver's numba kernels (first use on this machine or after an "
              "upgrade; a few seconds, cached afterwards)", file=sys.stderr)


class LayeredBackend(Backend):
    """Block Gauss-Seidel over the layers of a layered circuit (see the module docstring).

    max_iterations: sweeps before a sample counts as not converged.
    vtol: convergence when a sweep's largest move, scaled up by the error its measured
        contraction implies, is below this (V; relative above 1 V).
    check_tol: largest KCL residual accepted after convergence, as the Newton
        step it would cause (V); larger raises SimulatorError for the sample.
    options: ``gminsteps`` / ``srcsteps`` (ints) turn on gmin or source stepping,
        as the retry ladder asks (:mod:`.retry`).
    anderson_depth: past sweeps Anderson's mixing combines (0: plain sweeps, and no Newton
        step on outputs either). 4: as many sweeps as 5 on image-sized networks with cheaper
        mixing; over 40 random layered networks fewer sweeps than 3 or 5 (6 fewer still, at
        more cost per sweep). A few outputs fed by a pooled block take Newton's step instead
        (:mod:`.newton`), with this mixing to fall back on.
    precision: 'mixed' (default) multiplies the change of the nets since an exact product in
        float32 where its bounded rounding error allows (:mod:`.precision`), on the
        crossbars between groups; 'double' makes every product in float64.
    threads: batches of at least ``2 * min_chunk`` samples are split over this many
        threads, each with one BLAS thread. Default ``EBANA_THREADS``, else by circuit
        (:func:`auto_threads`): 1 where the time goes to crossbar products, which BLAS
        already spreads over the cores (two threads measured slower on the 2-core
        machine); 2 where it goes to pooled blocks (:mod:`.pooled`), compiled loops of one
        thread each (1.5x faster there). Fixed numbers, not the machine's cores: the
        split decides the sweeps, so the same settings give the same results everywhere.

    Raises :class:`~ebana.backends.layered.plan.NotLayered` for circuits without
    the structure; ``get_backend('native')`` then picks the dense solver.
    """
    name = "native-layered"

    def __init__(self, max_iterations=500, vtol=1e-12, check_tol=1e-9, gmin=DEFAULT_OPTIONS["gmin"],
                 options=None, threads=None, anderson_depth=4, precision="mixed"):
        keep_freed_memory()
        self.max_iterations = max_iterations
        self.vtol = vtol
        self.check_tol = check_tol
        self.gmin = gmin
        self.options = dict(options or {})
        self.solves = 0
        self.sweeps = 0  # sweeps of the last solve, the most any chunk needed (diagnostics)
        self._cache = None  # (circuit, plan, per-set diode params)
        self.threads = default_threads() if threads is None else max(1, int(threads))  # None: by circuit
        self.min_chunk = 64  # smaller chunks than this are not worth a thread
        self.anderson_depth = anderson_depth
        if precision not in ("mixed", "double"):
            raise ValidationError(f"precision must be 'mixed' or 'double', received {precision!r}")
        self.precision = precision
        # of vtol: the Newton step a float32 product's rounding may cause. Ten times, so the grain
        # of float32 stays below what the convergence test resolves (coarser stalls the sweeps)
        # and far below what the residual check accepts
        self.product_share = 10.0
        self.rounding_share = 1e-5  # of the previous sweep's largest move, rounding a cold solve's sweep may cause
        self.reuse_share = 0.01  # of vtol: the Newton step reusing a crossbar's last currents may cause
        self.min_mixed_width = 128  # crossbars narrower than this on either side stay float64
        self.accelerate = 100  # Anderson mixing may run up to this sweep of a solve
        self.backward_when_warm = True  # warm starts (nudged phases) sweep from the outputs back
        self._known = None  # (source values as passed, plan, known node voltages)
        self._bound = {}   # chunk key (None when shared) -> (g as passed, a sample of it, {link id: BoundLink})
        self._norton = {}  # chunk key -> (bound, known voltages, per-group constants)
        self._mixed = {}   # chunk key -> (bound, {(link id, side): MixedProduct})
        self._pooled = {}  # chunk key -> (per-group constants, {group: PooledBlock})
        # chunk key -> net voltages (V) per group at the end of its last solve; not the clamped nets
        # that the check writes straight into the node voltages (Sweeps.check_residual): no sweep reads them
        self._final = {}
        self._usual_sweeps = (0.0, 0)  # (mean sweeps per solve, solves counted), for _note_sweeps
        self._said_slow = False

    def _note_sweeps(self, batch):
        """Say once, through ``warnings``, when a solve needs far more sweeps than this
        backend's usual (a running mean over its solves): that solve is slow, and why."""
        if not batch:
            return
        usual, count = self._usual_sweeps
        if (count >= SLOW_AFTER_SOLVES and self.sweeps > max(SLOW_SWEEPS, SLOW_FACTOR * usual)
                and not self._said_slow):
            self._said_slow = True
            warnings.warn(f"backend 'native-layered': this solve needed {self.sweeps} sweeps, about "
                          f"{self.sweeps / max(usual, 1):.0f} times the usual {usual:.0f}, so it was that much "
                          "slower; the layers are coupled very unevenly (conductances over many decades, or an "
                          "amplifier near its limits). Said once per backend", RuntimeWarning, stacklevel=4)
        self._usual_sweeps = ((usual * count + self.sweeps) / (count + 1), count + 1)

    @property
    def product_tol(self):
        """Largest Newton step (V) the rounding of a float32 product may cause."""
        return self.product_share * self.vtol

    def structure(self, circuit):
        """The circuit's :class:`LayeredPlan` (raises NotLayered)."""
        return self._prepare(circuit)[0]

    def own_threads(self, circuit):
        return self.threads or auto_threads(self.structure(circuit))

    def close(self):
        self._bound, self._norton, self._mixed, self._pooled, self._final = {}, {}, {}, {}, {}

    # preparation (cached) ----------------------------------------------------
    def _prepare(self, circuit):
        if self._cache is None or self._cache[0] is not circuit:
            plan = LayeredPlan(circuit)
            dp = DiodeParams(circuit, self.gmin)
            models = {id(s): dp.subset(s.index) for g in plan.groups for s in g.diodes}
            self._cache = (circuit, plan, models, dp)
            self._bound, self._norton, self._mixed, self._pooled, self._final = {}, {}, {}, {}, {}
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
        entry = self._bound[key] = (source, probe, {id(l): bind(l, g) for l in plan.links})
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
            # K keeps one row until a term differs by sample: the sweeps then read (1, n), not (B, n)
            D, K = np.zeros((B if per_sample else 1, n)), np.zeros((1, n))
            untouched = True  # K is still that row of zeros
            for link, name in grp.links:
                bl = bound[id(link)]
                mine, other = (link.a, link.b) if name == "a" else (link.b, link.a)
                s = bl.sums[name]
                mine.add_to(D, np.broadcast_to(s, (D.shape[0], len(mine.nodes))))
                k = -mine.beta * s
                if other.group == FIXED:  # added into the fresh product: no second (B, n) array
                    toward = bl.toward(name, other.values(vfix))
                    if np.any(k):  # offsets (none on unamplified nets): a pass over (B, n) otherwise
                        toward += k
                    k = toward
                elif bl.folded:
                    k = k + bl.offset[name] * mine.alpha  # divided by alpha below
                if other.group == FIXED or np.any(k != 0):
                    term = np.atleast_2d(k if mine.identity else k / mine.alpha)
                    if term.shape[0] not in (1, K.shape[0]):  # per sample (B may be 0)
                        if untouched and mine.full:  # zeros plus a fresh term on every net: the term
                            K, untouched = term, False
                            continue
                        # a broadcast copy, not np.repeat: that one holds Python's lock for its
                        # 8 MB (the other chunk's thread waits)
                        K = np.broadcast_to(K, (term.shape[0], n)).copy()
                    mine.add_to(K, np.broadcast_to(term, (K.shape[0], len(mine.nodes))))
                    untouched = False
            fixed_u = [_known_far_ends(s.other, vfix) if s.other.group == FIXED else None for s in grp.diodes]
            clamps = ClampSolver(grp.diodes, fixed_u, D, K) if ClampSolver.eligible(grp.diodes, fixed_u) else None
            out.append((D, K, fixed_u, clamps))
        self._norton[key] = (bound, np.array(vfix, copy=True), out)
        return out

    def _products(self, plan, bound, consts, key):
        """Mixed-precision products of the scaled crossbars for chunk ``key``, kept while the
        conductances are (their float64 anchors serve every phase of an EP step)."""
        if self.precision != "mixed":
            return {}
        entry = self._mixed.get(key)
        if entry is None or entry[0] is not bound:
            products = {}
            for k, grp in enumerate(plan.groups):
                for link, name in grp.links:
                    bl = bound[id(link)]
                    # a product with a narrow side (e.g. the outputs) is memory-bound: rounding
                    # would add passes over the voltages and save no time
                    if bl.scaled is not None and min(bl.scaled[name].shape) >= self.min_mixed_width:
                        products[(id(link), name)] = MixedProduct(bl, name, consts[k][0], self.product_tol,
                                                                  reuse_tol=self.reuse_share * self.vtol)
            entry = self._mixed[key] = (bound, products)
        return entry[1]

    def _blocks(self, plan, bound, consts, key):
        """The pooled blocks (:mod:`.pooled`) for chunk ``key``, kept while its constants are
        (the phases of an EP step share them)."""
        entry = self._pooled.get(key)
        if entry is None or entry[0] is not consts:
            replaced = None if entry is None else entry[1]  # the last batch's: their buffers are reused
            entry = self._pooled[key] = (consts, pooled_blocks(plan, bound, consts, replaced))
        return entry[1]

    # solving -----------------------------------------------------------------
    def solve(self, circuit, stimulus, initial=None, sample_offset=0):
        plan, models, dp = self._prepare(circuit)
        _announce_compiling()
        g = np.asarray(stimulus.g, dtype=float)
        B = stimulus.batch_size
        vfix = self._known_voltages(plan, stimulus.vs)
        if initial is not None and not isinstance(initial, Reflection):  # a reflection is made per chunk and group
            initial = np.asarray(initial)
        chunks = batch_chunks(B, self.threads or auto_threads(plan), self.min_chunk)
        if g.ndim == 1:
            # shared conductances bind once for every chunk: here, before the threads, which would
            # each bind and keep only the last; the others' constants would then miss their cache
            # in the next phase and be made again (the local network's projection: 30 ms a phase)
            self._bind(plan, g, chunks[0])
        full = np.empty((B, circuit.n_nodes))

        def work(rows):
            return self._solve_rows(plan, models, g, vfix[rows], stimulus.isrc[rows],
                                    None if initial is None else initial[rows], rows, sample_offset + rows.start,
                                    full[rows])

        # one thread per chunk, each with one BLAS thread: the chunks themselves keep the cores
        # busy; a failure is the first chunk's in sample order, raised once every chunk is done
        runs = thread_map(work, chunks, threads=len(chunks))
        self.solves += B
        self.sweeps = max(run.sweeps for run in runs)
        self._note_sweeps(B)

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

    def _solve_rows(self, plan, models, g, vfix, isrc, initial, rows, offset, out):
        """Solve the samples ``rows`` of the batch into ``out`` (node voltages, V); return the run."""
        B = vfix.shape[0]
        bound = self._bind(plan, g, rows)
        key = (rows.start, rows.stop)
        consts = self._constants(plan, bound, vfix, key)
        products = self._products(plan, bound, consts, key)
        inj = [self._injected(grp, isrc, B) for grp in plan.groups]
        run = Sweeps(plan, bound, models, consts, inj, self, products, self._blocks(plan, bound, consts, key))
        steps_src = int(self.options.get("srcsteps") or 0)
        steps_gmin = int(self.options.get("gminsteps") or 0)
        v = self._starts(plan, run, initial, key, B, steps_src or steps_gmin)
        run.start(v, None if initial is None else self._final.get(key))
        if steps_src > 0:  # source stepping: known voltages and injections ramp up from 10 %
            for lam in np.linspace(0.1, 1.0, steps_src)[:-1]:
                ramped = [None if x is None else lam * x for x in inj]
                Sweeps(plan, bound, models, self._scaled(consts, lam), ramped, self, products).sweep_all(
                    v, offset, quiet=True)
        if steps_gmin > 0:  # gmin stepping: a shunt to ground on every net, shrinking to none
            for gshunt in np.geomspace(1e-2, 1e-12, steps_gmin):
                run.sweep_all(v, offset, gshunt=gshunt, quiet=True)
        run.sweep_all(v, offset, backward=initial is not None and self.backward_when_warm, warm=initial is not None,
                      from_zero=initial is None and not steps_src and not steps_gmin)
        written = run.check_residual(v, offset, out)
        self._final[key] = list(v)
        self._node_voltages(plan, v, vfix, out, written)
        return run

    def _starts(self, plan, run, initial, key, B, stepping):
        """Each group's starting voltages (V, ``(B, n)``): zeros, or ``initial``'s columns. Groups
        whose starts no sweep reads (:meth:`~.sweeps.Sweeps.unread_starts`; none under
        ``stepping``) keep the array of chunk ``key``'s last solve, as it is: for the local image
        network's clamped nets, 8 MB a chunk that a copy from ``initial`` (or a reflection's
        arithmetic) would write for nothing."""
        last = self._final.get(key)
        unread = set() if stepping else run.unread_starts()
        v = []
        for k, grp in enumerate(plan.groups):
            shape = (B, len(grp.nets))
            if k in unread and last is not None and last[k].shape == shape:
                v.append(last[k])
            else:
                v.append(np.zeros(shape) if initial is None else _columns_of(initial, grp.span))
        return v

    @staticmethod
    def _scaled(consts, lam):
        return [(D, lam * K, [None if u is None else lam * u for u in fixed_u], None) for D, K, fixed_u, _ in consts]

    @staticmethod
    def _injected(grp, isrc, B):
        """Currents (A, divided by alpha) the current sources inject into the group's nets, or None."""
        if not grp.currents:
            return None
        out = np.zeros((B, len(grp.nets)))
        for ks, side in grp.currents:
            side.add_to(out, isrc[:, ks] / side.alpha)
        return out

    @staticmethod
    def _node_voltages(plan, v, vfix, full, written=()):
        """Write every node's voltage (V) into ``full`` from the nets' and the known nodes', but
        for the groups ``written`` there already (by the KCL check)."""
        for gid, dst, src, alpha, beta in plan.assembly:  # slices: views, written in place
            if gid in written:
                continue
            x = (vfix if gid == FIXED else v[gid])[:, src]
            out = full[:, dst]
            if np.isscalar(alpha) and alpha == 1.0:
                out[...] = x
            else:
                np.multiply(x, alpha, out=out)
            if not (np.isscalar(beta) and beta == 0.0):
                out += beta


def _columns_of(initial, columns):
    """A new array of the starting guess's ``columns`` (V), from an array or an unmade reflection."""
    return initial[:, columns] if isinstance(initial, Reflection) else np.array(initial[:, columns])


def _known_far_ends(side, vfix):
    """Voltages (V) of the known far ends of a diode set, ``(B, n)``, or ``(1, n)`` when every
    sample holds them at the same voltages (bias nodes: one row, not B copies of it)."""
    roots = np.unique(side.loc)
    if len(vfix) > 1 and np.array_equal(vfix[:, roots], np.broadcast_to(vfix[:1, roots], (len(vfix), len(roots)))):
        return side.values(vfix[:1])
    return side.values(vfix)


def auto_threads(plan):
    """Threads for a circuit when none are asked: POOLED_THREADS when it has pooled blocks
    (:func:`~.pooled.candidate_links`), else 1 (see :class:`LayeredBackend`)."""
    return POOLED_THREADS if candidate_links(plan) else 1
