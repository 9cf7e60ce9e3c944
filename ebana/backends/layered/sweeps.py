"""One solve of the layered native solver: the sweeps, the per-net solves, the KCL check.

See :mod:`ebana.backends.layered.backend` for the method; this module holds its inner loop:
:meth:`Sweeps.sweep_all` (block Gauss-Seidel with Anderson mixing and a
convergence test on the error the measured contraction implies),
:meth:`Sweeps.update_group` (every net of a group by its own scalar KCL, in
place; the two-sided clamps through a compiled kernel, :mod:`.kernels`),
:meth:`Sweeps.check_residual` and the voltage-source branch currents.
Units: V, A, S.
"""
import numpy as np

from ...errors import SimulatorError
from .anderson import Anderson
from .clamp_newton import clamp_newton
from .kernels import assign_with_move, largest_difference
from .links import add_drift
from .newton import output_newton
from .plan import FIXED


class Sweeps:
    """One solve: the sweeps, the scalar net solves and the residual check."""

    def __init__(self, plan, bound, models, consts, inj, backend, products=None, blocks=None):
        self.plan, self.bound, self.models, self.consts, self.inj = plan, bound, models, consts, inj
        self.backend = backend
        self.products = products or {}  # (link id, side) -> MixedProduct, for scaled crossbars
        self.sourced = {}  # group -> the products whose input is that group's voltages
        for grp in plan.groups:
            for link, name in grp.links:
                product = self.products.get((id(link), name))
                if product is not None:
                    self.sourced.setdefault((link.b if name == "a" else link.a).group, []).append(product)
        self.untouched = set()  # groups still at 0 V in a sweep from zero: their products are 0
        self.allowed = 0.0  # Newton step (V) the rounding of this sweep's products may cause
        self.sweeps = 0  # sweeps of the last sweep_all
        self.final, self.moves = [], []  # per group: currents C (A) of its last solve, and its last move (V)
        self.order = []  # groups in the order the last sweep visited them (a pooled block's first group)
        # pools solved with the clamped nets they average (:class:`~.pooled.PooledBlock`), keyed
        # by the group visited; each block's other group is never visited on its own
        self.blocks = blocks or {}
        self.partner = {b.second: b.first for b in self.blocks.values()}
        self.active = {}  # the blocks of the sweeps under way ({} under a gmin shunt: groups apart)
        self.unwritten = set()  # blocks whose children the sweeps have not written (PooledBlock.finish)

    def start(self, v, previous):
        """Tell the products how far each group's starting voltages ``v`` lie from the end of the
        previous solve of this chunk (``previous``, or None: unknown, as for a cold start)."""
        for j, products in self.sourced.items():
            if previous is None or previous[j].shape != v[j].shape:
                for p in products:
                    p.lost()
                continue
            distance = largest_difference(v[j], previous[j])
            for p in products:
                p.moved(distance)

    def _drive(self, k, v, skip=None):
        """Diagonal D (S), current from the other groups and injections C (A; the known nodes'
        part K is added by the group solvers) and far-end diode voltages of group ``k``.
        ``C`` may be an array that a product keeps for reuse: it is read, never written.
        ``skip``: a link left out (a pooled block's own), and then C is None when nothing is left."""
        grp = self.plan.groups[k]
        D, _, fixed_u, _ = self.consts[k]
        C = _Sum(self.inj[k], v[k].shape)
        for link, name in grp.links:
            if link is skip:
                continue
            other = link.b if name == "a" else link.a
            if other.group != FIXED:
                bl = self.bound[id(link)]
                if bl.folded:
                    if other.group not in self.untouched:
                        mixed = self.products.get((id(link), name))
                        if mixed is None:
                            C.add(bl.from_nets(name, v[other.group]), fresh=True)
                        else:
                            C.add(mixed.currents(v[other.group], self.allowed))
                    continue
                mine = link.a if name == "a" else link.b
                x = bl.toward(name, other.values(v[other.group]))
                mine.add_to(C.writable(), x if mine.identity else x / mine.gain)
        far = [u if u is not None else s.other.values(v[s.other.group]) for s, u in zip(grp.diodes, fixed_u)]
        return D, (C.value if skip is not None else C.result()), far

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
        """The nets of group ``k`` given everything else: ``(B, n)`` voltages (V), by Newton's
        method on each net's KCL (groups with a ClampSolver go through it, unless shunted)."""
        sets = self.plan.groups[k].diodes
        if not sets:
            return (C + self.consts[k][1]) / (D + gshunt)
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

    def update_group(self, k, v, D, C, far, gshunt=0.0, change=None):
        """Solve group ``k`` given everything else into ``v[k]`` (in place); return each sample's
        largest move (V). ``change`` (or None) receives the move, new minus old (V)."""
        clamps = self.consts[k][3]
        if clamps is not None and not gshunt:  # behavioral clamps with known far ends: exact
            return clamps.update(C, v[k], change)
        # in place: v[k] may be a view of the mixing state
        return assign_with_move(v[k], self.solve_group(k, v[k], D, C, far, gshunt), change)

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

    def sweep_all(self, v, sample_offset, gshunt=0.0, quiet=False, backward=False, from_zero=False, warm=False):
        """Sweep until no net moves by more than vtol (V); update ``v`` (list per group) in place.

        Groups are visited in circuit order, or from the outputs back with ``backward`` (a
        nudge entering at the outputs then reaches every layer in one sweep). The group
        visited first is recomputed from the others in every sweep, so the state of the
        iteration is the other groups' voltages (kept side by side in one array, of which
        ``v[k]`` are views); up to sweep ``accelerate`` it is Anderson-mixed in place
        (:mod:`.anderson`), then plain sweeps, which cannot be misled.
        A ``warm`` start (a nudged phase from the free solution) starts the mixing history on its
        second sweep: its sweeps usually shrink the moves 1000-fold and end on the third, before
        any mixing, whose passes over the history would cost more than they save.
        With pooled blocks (:mod:`.pooled`) the order stays forward, so that the block, not the
        groups after it, is recomputed rather than mixed (its nets outnumber the rest's a
        thousandfold); a ``backward`` start then first solves the groups after the first once,
        from the outputs back, so the nudge still reaches every layer in the first sweep.
        Children that follow their pool alone are solved with it but written once, after the
        last sweep: by :meth:`check_residual` (into the node voltages), or here when ``quiet``.
        ``from_zero``: every net starts at 0 V, so the first sweep skips the products from
        groups it has not reached yet (through scaled crossbars, whose offsets are constants)."""
        be = self.backend
        K = len(self.plan.groups)
        self.active = {} if gshunt else self.blocks
        visited = [k for k in range(K) if k not in self.partner or not self.active]
        self.order = visited[::-1] if backward and not self.active else visited
        if backward and self.active:
            self._sweep(v, gshunt, {}, sample_offset, visited[1:][::-1])
        mixing = bool(be.anderson_depth) and len(visited) > 1
        # the state (every group but the first visited, with their blocks' partners) in one
        # buffer, which the mixing updates in place; each sweep writes the state's moves into `residual`
        state, residual, change = _gather(v, self._with_partners(self.order[1:])) if mixing else (None, None, {})
        mixer = self._first_mixer(v, warm, gshunt) if mixing else None
        previous = 0.0  # the largest move of the previous sweep (V)
        self.untouched = set(range(K)) if from_zero else set()
        for sweep in range(1, be.max_iterations + 1):
            # far from the solution, products may round by a sliver of the last move (if any rounds)
            self.allowed = 0.0 if warm or not self.products else be.rounding_share * previous
            moved = self._sweep(v, gshunt, change, sample_offset)
            self.sweeps = sweep
            largest = moved.max(initial=0.0)
            # children not written yet are last solve's (or zeros): left out of the largest voltage,
            # which only relaxes the test above 1 V (so leaving them out is the stricter test)
            written = [x for k, x in enumerate(v) if k not in self._unwritten_children()]
            if _converged(largest, previous, written, self.allowed, be):
                if quiet:  # no check follows to write them
                    self._write_children(v)
                return
            measured, previous = previous > 0, largest
            if mixer is None and mixing and measured and sweep + 1 < be.accelerate:
                mixer = Anderson(be.anderson_depth)  # a warm start's history begins with its second sweep
            if mixer is not None:
                if sweep >= be.accelerate:
                    mixer = None  # plain sweeps from here on
                elif mixer.mix(residual, state):
                    self._state_replaced(getattr(mixer, "also_moves", ()))
        self._write_children(v)
        if not quiet:
            bad = int(np.argmax(moved))
            raise SimulatorError(f"layered native solver did not converge in {be.max_iterations} sweeps "
                                 f"(last change {moved[bad]:.3g} V)", sample=sample_offset + bad)

    def unread_starts(self):
        """Groups whose starting voltages no sweep reads: the clamped nets of a pendant pooled
        block visited first (the sweeps solve its pools alone, and the check writes those nets
        from the final pools before it reads them, :meth:`sweep_all`), when no product reads
        them either. Only for sweeps without gmin or source stepping, which sweep the groups
        apart (the caller's to know: :meth:`~.backend.LayeredBackend._starts`)."""
        visited = [k for k in range(len(self.plan.groups)) if k not in self.partner]
        return {b.children for b in self.blocks.values()
                if b.pendant and visited and b.first == visited[0] and b.children not in self.sourced}

    def _first_mixer(self, v, warm, gshunt=0.0):
        """The mixer from the first sweep: Newton's step for a few outputs fed by a pooled block
        (:mod:`.newton`) or by clamped groups (:mod:`.clamp_newton`), else Anderson's mixing,
        which a warm start begins on its second sweep (None)."""
        depth = self.backend.anderson_depth
        newton = output_newton(self, self.order, v, Anderson(depth), warm)
        if newton is None:
            newton = clamp_newton(self, self.order, v, Anderson(depth), gshunt)
        return newton if newton is not None or warm else Anderson(depth)

    def _sweep(self, v, gshunt, change, sample_offset, order=None):
        """One sweep of block Gauss-Seidel: solve each group in ``self.order`` from the latest
        voltages of the others, into ``v`` in place; return each sample's largest move (V).

        Keeps each group's currents and move (``final``, ``moves``) for :meth:`check_residual`,
        and tells the products a group feeds how far it moved, so they can bound their rounding.
        ``change``: per group, where its move is written for the mixing (or no entry);
        ``order``: the groups to visit, if not ``self.order``."""
        K = len(self.plan.groups)
        self.final, self.moves = [None] * K, [None] * K
        for k in self.order if order is None else order:
            block = self.active.get(k)
            if block is None:
                D, C, far = self._drive(k, v)
                self.moves[k] = self.update_group(k, v, D, C, far, gshunt, change.get(k))
                self.final[k] = C
            else:  # the pool nets with their clamped nets, exactly; the pool link's currents are not kept
                i, j = block.children, block.pools
                self.final[i], self.final[j] = self._drive(i, v, block.link)[1], self._drive(j, v, block.link)[1]
                # children that hang on their pool alone and are not mixed are written once, at the end
                lazy = block.pendant and k == self.order[0]
                self.moves[i] = self.moves[j] = block.update(self.final[i], self.final[j], v[i], v[j],
                                                             change.get(i), change.get(j), children_too=not lazy)
                if lazy:
                    self.unwritten.add(k)
            for g in self._with_partners([k]):
                for p in self.sourced.get(g, ()):
                    p.moved(self.moves[g])
                self.untouched.discard(g)
        moved = np.max([m for m in self.moves if m is not None], axis=0) if K else np.zeros(0)  # no groups: none
        if not np.all(np.isfinite(moved)):
            bad = int(np.argmax(~np.isfinite(moved)))
            raise SimulatorError("layered native solve produced non-finite voltages", sample=sample_offset + bad)
        return moved

    def _unwritten_children(self):
        return {self.active[k].children for k in self.unwritten}

    def _write_children(self, v):
        """The children of the blocks whose sweeps solved only the pools, from the final pools."""
        for k in self.unwritten:
            block = self.active[k]
            block.finish(self.final[block.children], v[block.children], v[block.pools])
        self.unwritten = set()

    def _state_replaced(self, also=()):
        """The mixing replaced the state (every group but the first visited) by a combination of
        past ones, and moved the groups ``also``: the moves their products were told no longer
        bound how far their inputs are from what they last multiplied, so they recompute."""
        for k in self._with_partners(self.order[1:]) + list(also):
            for p in self.sourced.get(k, ()):
                p.lost()

    def _with_partners(self, groups):
        """``groups`` with, after each, the other group of its pooled block (if one is active)."""
        return [g for k in groups for g in ((k, self.active[k].second) if k in self.active else (k,))]

    def check_residual(self, v, sample_offset, nodes=None):
        """Every net's KCL at the final voltages, as the Newton step it would cause (V).
        Returns the groups whose node voltages it wrote into ``nodes`` (see below).

        Each group's residual is evaluated (independently of how it was solved) with the
        currents from the crossbars that its last solve used; the groups after it in the
        sweep moved by at most ``moves`` since, so those currents changed by at most
        ``sum_j |G_ij alpha_j / alpha_i| * max move``, which is added, and so is the bound on the
        rounding of a float32 product (:mod:`.precision`): bounds, not estimates, and
        no matrix product is repeated. Diode far ends are read afresh.

        A pooled block whose children hang on their pool alone is checked in one pass over
        both groups, the pool link's currents taken at the final voltages; where the sweeps
        solved its pools only (:meth:`sweep_all`), that pass first writes the children from
        the final pools, as the block's solve would, and checks them as written: straight into
        their columns of the node voltages ``nodes`` (V, ``(B, N)``, or None: into ``v``) where
        the plan has them whole (:meth:`~.plan.LayeredPlan.whole_runs`). No sweep reads those
        children again (they hang on their pool alone), so ``v`` keeps its old values there.
        """
        in_nodes = set()
        worst = np.zeros(v[0].shape[0] if v else 0)
        worst_amp = np.zeros_like(worst)
        # the groups solved later in the last sweep than each group (a block's two groups together)
        after = {}
        for i, k in enumerate(self.order):
            for g in self._with_partners([k]):
                after[g] = set(self._with_partners(self.order[i + 1:]))
        for k, grp in enumerate(self.plan.groups):
            block = self.active.get(self.partner.get(k, k))
            if block is not None and block.pendant:  # both groups in one pass, when the block comes up
                if k != block.first:
                    continue
                drifts = self._drifts(block.pools, after, block.link)
                extra = None
                if drifts:
                    extra = np.zeros(v[block.pools].shape)
                    for mine, coupling, uncertain in drifts:
                        add_drift(extra, mine, coupling, uncertain)
                write = block.first in self.unwritten
                runs = self.plan.whole_runs(block.children) if write and nodes is not None else None
                step, amp = block.check(v[block.children], v[block.pools], self.final[block.pools], extra,
                                        write=write, nodes=None if runs is None else (nodes, runs))
                if runs is not None:
                    in_nodes.add(block.children)
            else:
                step, amp = self._check_group(k, v, after)
            worst = np.maximum(worst, step)
            worst_amp = np.maximum(worst_amp, amp)
        self.unwritten = set()
        bad = ~(worst <= self.backend.check_tol)
        if bad.any():
            b = int(np.argmax(bad))
            raise SimulatorError(f"layered native solution fails the KCL check: residual up to {worst_amp[b]:.3g} A, "
                                 f"{worst[b]:.3g} V as a Newton step (limit {self.backend.check_tol:g} V)",
                                 sample=sample_offset + b)
        return in_nodes

    def _drifts(self, k, after, own=None):
        """How far the currents into group ``k`` that its last solve used may be off, per link
        (``own``, a pooled block's link, excluded: its currents are taken at the final voltages):
        ``(side, coupling (S), uncertain (V per sample))`` for the groups solved after it in the
        last sweep (``after``: group -> those groups), and the rounding of float32 products."""
        drifts = []
        for link, name in self.plan.groups[k].links:
            mine, other = (link.a, link.b) if name == "a" else (link.b, link.a)
            if other.group == FIXED or link is own:
                continue
            uncertain = self.moves[other.group] if other.group in after[k] else 0.0  # V, per sample
            mixed = self.products.get((id(link), name))
            if mixed is not None and mixed.error is not None:
                uncertain = uncertain + mixed.error
            if np.any(uncertain):
                drifts.append((mine, self.bound[id(link)].coupling_bound(name), uncertain))
        return drifts

    def _check_group(self, k, v, after):
        """Group ``k``'s KCL at the final voltages ``v``: every sample's largest residual as a
        Newton step (V) and as a current (A), the drifts of :meth:`_drifts` added."""
        grp = self.plan.groups[k]
        D, _, fixed_u, clamps = self.consts[k]
        C, own = self._final_currents(k, v)
        drifts = self._drifts(k, after, own)
        if clamps is not None:
            return clamps.check(v[k], C, drifts)
        far = [u if u is not None else s.other.values(v[s.other.group]) for s, u in zip(grp.diodes, fixed_u)]
        f, fp = self._kcl(k, v[k], D, C, far)[:2]
        f = np.abs(f)
        for mine, coupling, uncertain in drifts:
            add_drift(f, mine, coupling, uncertain)
        return (f / fp).max(axis=1, initial=0.0), f.max(axis=1, initial=0.0)

    def _final_currents(self, k, v):
        """The currents (A) into group ``k``'s nets that its last solve used, and the pooled
        block link (or None) whose part is computed here, afresh, from the final voltages."""
        block = self.active.get(self.partner.get(k, k))
        if block is None:
            return self.final[k], None
        name = "a" if k == block.children else "b"
        C = self.bound[id(block.link)].from_nets(name, v[block.pools if name == "a" else block.children])
        if self.final[k] is not None:
            C += self.final[k]
        return C, block.link

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


class _Sum:
    """A sum of current arrays (A) that copies only when it must: a term may be kept by a
    product for reuse, so the first one is taken as it is and never written to."""

    def __init__(self, first, shape):
        self.value, self.own, self.shape = first, False, shape

    def add(self, x, fresh=False):
        """Add ``x``; ``fresh``: the caller gives it away (it may be written to)."""
        if self.value is None:
            self.value, self.own = x, fresh
        elif self.own:
            self.value += x
        else:
            self.value, self.own = self.value + x, True

    def writable(self):
        """The sum as an array of its own, to add into in place."""
        if not self.own:
            self.value = np.zeros(self.shape) if self.value is None else self.value.copy()
            self.own = True
        return self.value

    def result(self):
        return np.zeros(self.shape) if self.value is None else self.value


def _gather(v, groups):
    """Put the voltages of ``groups`` side by side in one ``(B, n)`` array and make ``v[k]`` views
    of it; return it, an array of its shape for the moves, and per group that array's view."""
    x = np.concatenate([v[k] for k in groups], axis=1)
    moves = np.empty_like(x)
    edges = np.cumsum([0] + [v[k].shape[1] for k in groups])
    views = {}
    for k, a, b in zip(groups, edges[:-1], edges[1:]):
        v[k], views[k] = x[:, a:b], moves[:, a:b]
    return x, moves, views


def _converged(largest, previous, v, allowed, be):
    """Whether the sweeps may stop, after one whose largest move was ``largest`` (V) and the one
    before ``previous`` (V; 0: none yet): :func:`converged`, and only on products held to the
    tolerance: ``allowed``, the rounding (V) this sweep's products were allowed, at most ``product_tol``."""
    return allowed <= be.product_tol and converged(
        largest, previous, be.vtol, lambda: max(np.abs(x).max(initial=0.0) for x in v))


def converged(largest, previous, vtol, largest_voltage):
    """The layered solvers' convergence test after a sweep whose largest move was ``largest``
    (V) and the one before ``previous`` (V; 0: none yet).

    The move alone understates a slow iteration's distance to its fixed point, so the test is
    on the error the measured rate of contraction implies (``move * rate / (1 - rate)``, at
    least the move): within ``vtol``, or within vtol relative to the largest voltage when that
    exceeds 1 V (up to 1000 vtol; ``largest_voltage()`` gives it, V, asked only then)."""
    rate = largest / previous if previous > 0 else 0.5  # no history yet: take the step as the error
    error = largest * max(1.0, rate / (1.0 - rate)) if rate < 1.0 else np.inf
    return error <= vtol or (error <= 1e3 * vtol and error <= vtol * max(1.0, largest_voltage()))


def _diode(s, model, vd):
    """Current (A) and conductance (S) of diode set ``s`` at junction voltages ``vd`` (V)."""
    m = s.behavioral
    if m is None:
        return model.evaluate(vd)
    g_off, g_delta = 1.0 / m.roff, 1.0 / m.ron - 1.0 / m.roff
    on = vd > m.vth
    return vd * g_off + np.where(on, (vd - m.vth) * g_delta, 0.0), np.where(on, g_off + g_delta, g_off)
