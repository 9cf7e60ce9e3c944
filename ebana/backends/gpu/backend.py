"""The layered native solver with an array namespace: on a CUDA GPU through CuPy, or NumPy.

The method is the CPU layered solver's (:mod:`ebana.backends.layered.backend`): the
crossbars from known nodes become Norton currents once per batch, then
Anderson-mixed block Gauss-Seidel sweeps solve every group of nets exactly
given the others (:mod:`.clamps`), until the error the measured contraction
implies is below ``vtol``; then every sample's KCL residual is computed afresh
from the final voltages (one more product per crossbar) and a sample whose
residual, as a Newton step, exceeds ``check_tol`` raises
:class:`~ebana.errors.SimulatorError` naming it.

What differs is where it runs: every array is made with ``xp`` (``cupy`` for
``device='cuda'``), every product is a float64 matrix product on the device,
and nothing crosses to the host but one scalar per sweep (the largest move,
for the convergence test). Conductances, source values and currents are taken
from the stimulus as they come (uploaded when they are host arrays); the node
voltages and branch currents it returns are device arrays.
Circuits it does not cover raise :class:`~.support.NotOnDevice` naming the layer.
Units: V, A, S.
"""
import numpy as np

from ...errors import SimulatorError, ValidationError
from ..base import Backend, OperatingPoint
from ..layered.plan import FIXED, LayeredPlan
from ..layered.sweeps import converged
from .anderson import DeviceAnderson
from .clamps import DeviceClamps
from .kernels import MAX_DEPTH, Kernels
from .links import DeviceLink, SideOnDevice
from .replay import SolveReplays
from .support import NotOnDevice, check_supported


class DeviceLayeredBackend(Backend):
    """Block Gauss-Seidel over the layers, with namespace ``xp`` (see the module docstring).

    xp: the array namespace (``cupy``; ``numpy`` runs the same code on the CPU).
    max_iterations: sweeps before a sample counts as not converged.
    vtol: convergence when a sweep's largest move, scaled up by the error its measured
        contraction implies, is below this (V; relative above 1 V).
    check_tol: largest KCL residual accepted, as the Newton step it would cause (V).
    anderson_depth: past sweeps the mixing combines (0: plain sweeps); mixing starts once a sweep
        shrinks the largest move by less than ``1 / mix_above`` and stops after sweep ``accelerate``.
    recorder: a graph recorder of the namespace (:mod:`.graphs`; ``None``: every solve launched
        operation by operation). With one, repeated solves of one shape replay a recorded graph
        of a fixed number of sweeps, verified after each replay (:mod:`.replay`).
    """
    name = "native-layered"

    def __init__(self, xp=np, max_iterations=500, vtol=1e-12, check_tol=1e-9, anderson_depth=4, accelerate=100,
                 mix_above=0.05, recorder=None):
        self.xp = xp
        self.max_iterations, self.vtol, self.check_tol = max_iterations, vtol, check_tol
        self.anderson_depth, self.accelerate, self.mix_above = anderson_depth, accelerate, mix_above
        self.solves = 0
        self.sweeps = 0  # sweeps of the last solve (diagnostics; a replayed solve: the sweeps it ran)
        self.mixed_from = None  # the sweep the last eager solve began mixing at (None: it did not)
        self._cache = None   # (circuit, plan, device index arrays)
        self._bound = None   # (g as passed, probe, {link id: DeviceLink})
        self._consts = None  # (bound, vs as passed, vfix, per-group constants)
        self.kernels = Kernels(xp)
        self.replays = SolveReplays(self, recorder) if recorder is not None else None
        if anderson_depth > MAX_DEPTH:
            raise ValidationError(f"anderson_depth of the device solver is at most {MAX_DEPTH}, received {anderson_depth}")

    def which(self, circuit):
        return f"{self.name} ({getattr(self.xp, '__name__', type(self.xp).__name__)})"

    def structure(self, circuit):
        """The circuit's :class:`~ebana.backends.layered.plan.LayeredPlan` (raises NotLayered or NotOnDevice)."""
        return self._prepare(circuit)[0]

    def close(self):
        self._bound = self._consts = None
        if self.replays is not None:
            self.replays.clear()

    # preparation (once per circuit, then once per conductance state and batch) ---------------
    def _prepare(self, circuit):
        if self._cache is None or self._cache[0] is not circuit:
            plan = LayeredPlan(circuit)
            check_supported(plan)
            self._cache = (circuit, plan, _DeviceIndex(plan, self.xp))
            self.close()
        return self._cache[1:]

    def _bind(self, plan, index, given):
        """DeviceLinks for conductances ``given`` (S, ``(R,)``, host or device), reused while it is
        the same array with the same values at a sample of positions (the phases of an EP step
        pass one array; a host array is then uploaded once)."""
        probe = given[::max(1, given.shape[0] // 1024)].copy()
        entry = self._bound
        if entry is not None and entry[0] is given and bool((entry[1] == probe).all()):
            return entry[2]
        links = self.links(plan, index, given)
        self._bound = (given, probe, links)
        self._consts = None
        return links

    def links(self, plan, index, given):
        """{id(link): DeviceLink} for conductances ``given`` (S, ``(R,)``), computed afresh."""
        g = self.xp.asarray(given, dtype=float)
        return {id(l): DeviceLink(l, g, index, self.xp) for l in plan.links}

    def _constants(self, plan, index, bound, given):
        """Known node voltages (V) and per group: diagonal D (S), known-node current K (A) and
        the clamps, once per batch (the phases of an EP step pass the same source values
        ``given``, V, host or device)."""
        entry = self._consts
        if entry is not None and entry[0] is bound and entry[1] is given:
            return entry[2], entry[3]
        vfix, consts = self.constants(plan, index, bound, given)
        for _, _, clamps in consts:
            if clamps is not None:
                clamps.require_ordered()
        self._consts = (bound, given, vfix, consts)
        return vfix, consts

    def constants(self, plan, index, bound, given):
        """``_constants`` computed afresh, with no host round trip (the clamps' order unchecked)."""
        xp = self.xp
        vs = xp.asarray(given, dtype=float)
        vfix = xp.zeros((vs.shape[0], len(plan.fixed_nodes)))
        for dst, src, sign in plan.known_runs:
            vfix[:, dst] = vs[:, src] * sign
        return vfix, [self._group_constants(grp, index, bound, vfix) for grp in plan.groups]

    def _group_constants(self, grp, index, bound, vfix):
        xp = self.xp
        n = len(grp.nets)
        D, K = xp.zeros(n), xp.zeros((1, n))
        for link, name in grp.links:
            bl = bound[id(link)]
            mine, other = bl.mine_other(name)
            s = bl.sums[name]
            D = D + s
            terms = [] if mine.unit else [-mine.beta * s]
            if other.group == FIXED:
                terms.append(bl.toward(name, other.values(vfix, xp)))
            elif not mine.identity or not other.identity:
                terms.append(bl.offset[name] * mine.alpha)  # divided by alpha below
            if terms:  # (a link between identity sides adds nothing to K)
                k = terms[0] if len(terms) == 1 else terms[0] + terms[1]
                K = K + (k if mine.unit else k / mine.alpha)
        far = [index.sides[id(s.other)].values(vfix, xp) for s in grp.diodes]
        clamps = DeviceClamps(grp.diodes, far, D, K, xp) if grp.diodes else None
        return D, K, clamps

    # solving -----------------------------------------------------------------------------------
    def solve(self, circuit, stimulus, initial=None, sample_offset=0):
        plan, index = self._prepare(circuit)
        if stimulus.g.ndim != 1:
            raise NotOnDevice("the device solver takes one conductance vector for the batch; per-sample "
                              "conductances (variability masks) run on the CPU (device='cpu')")
        if self.replays is not None:
            op = self.replays.solve(circuit, plan, index, stimulus, initial, sample_offset)
            if op is not None:
                return op
        return self.solve_eagerly(circuit, stimulus, initial, sample_offset)

    def solve_eagerly(self, circuit, stimulus, initial=None, sample_offset=0):
        """``solve`` operation by operation: sweeps until converged, then the KCL check."""
        xp = self.xp
        plan, index = self._prepare(circuit)
        isrc = xp.asarray(stimulus.isrc, dtype=float)
        bound = self._bind(plan, index, stimulus.g)
        vfix, consts = self._constants(plan, index, bound, stimulus.vs)
        B = vfix.shape[0]
        run = _Run(self, plan, index, bound, consts, _injected(plan, index, isrc, xp, B))
        v = _start(plan, index, B, None if initial is None else xp.asarray(initial, dtype=float), xp)
        run.sweep_all(v, sample_offset, warm=initial is not None)
        run.check(v, sample_offset)
        self.solves += B
        self.sweeps, self.mixed_from = run.sweeps, run.mixed_from
        full = index.node_voltages(v, vfix, circuit.n_nodes)
        return OperatingPoint(full, branch_currents=lambda: run.branch_currents(full, v, vfix))

    def recorded_solve(self, plan, index, n_nodes, batch, warm, sweeps, mix_from):
        """The body of a recorded solve (:mod:`.replay`): a function of the input buffers
        (``g``, ``vs``, ``isrc``, and ``initial`` when ``warm``) that binds the conductances,
        sweeps exactly ``sweeps`` times (mixing from sweep ``mix_from``, None: never) and returns the node voltages ``full``
        (V) and a ``report``: each sweep's largest move (V), the largest voltage (V), the
        largest KCL residual as a Newton step (V) and 1.0 when every two-sided clamp is
        ordered. It launches work only: no value crosses to the host."""
        xp = self.xp

        def body(buffers):
            bound = self.links(plan, index, buffers["g"])
            vfix, consts = self.constants(plan, index, bound, buffers["vs"])
            run = _Run(self, plan, index, bound, consts, _injected(plan, index, buffers["isrc"], xp, batch))
            v = _start(plan, index, batch, buffers["initial"] if warm else None, xp)
            moves = run.sweep_fixed(v, sweeps, warm, mix_from)
            worst = run.residual_worst(v)
            ordered = [c[2].ordered for c in consts if c[2] is not None and c[2].ordered is not None]
            tail = [xp.max(xp.stack([xp.abs(x).max() for x in v])), worst.max(),
                    xp.all(xp.stack(ordered)).astype(float) if ordered else xp.ones(())]
            report = xp.concatenate([moves, xp.stack(tail)])
            return {"full": index.node_voltages(v, vfix, n_nodes), "report": report}
        return body

    def branch_currents_at(self, circuit, stimulus, full):
        """Voltage-source branch currents (A) of a solution ``full`` (V) of ``stimulus``."""
        plan, index = self._prepare(circuit)
        bound = self._bind(plan, index, stimulus.g)
        vfix, consts = self._constants(plan, index, bound, stimulus.vs)
        v = [full[:, span] for span in index.spans]
        return _Run(self, plan, index, bound, consts, None).branch_currents(full, v, vfix)


class _DeviceIndex:
    """The plan's index and gain arrays on the device, uploaded once per circuit."""

    def __init__(self, plan, xp):
        self.plan, self.xp = plan, xp
        self.sides = {}
        self.res = {id(l): l.res if isinstance(l.res, slice) else xp.asarray(l.res) for l in plan.links}
        for link in plan.links:
            for side in (link.a, link.b):
                self.sides[id(side)] = SideOnDevice(side, xp)
        for grp in plan.groups:
            for s in grp.diodes:
                self.sides[id(s.other)] = SideOnDevice(s.other, xp)
        self.spans = [grp.span if isinstance(grp.span, slice) else xp.asarray(grp.span) for grp in plan.groups]
        self.currents = [[(xp.asarray(ks), SideOnDevice(side, xp)) for ks, side in grp.currents]
                         for grp in plan.groups]
        self._gather_nodes(plan)
        self._push = {}  # id(side) -> one-hot (n_side, n_known) matrix, made when branch currents are asked

    def _gather_nodes(self, plan):
        """Where each node's voltage comes from, for one gather: its root's column in the known
        voltages and the nets side by side, and its gain and offset (``plan.assembly``, flattened)."""
        n = plan.circuit.n_nodes
        starts = np.cumsum([len(plan.fixed_nodes)] + [len(g.nets) for g in plan.groups])
        column, alpha, beta = np.zeros(n, dtype=np.int64), np.zeros(n), np.zeros(n)  # unassigned: ground, 0 V
        for gid, dst, src, a, b in plan.assembly:
            first = 0 if gid == FIXED else starts[gid]
            column[dst] = first + np.arange(src.start, src.stop)
            alpha[dst], beta[dst] = a, b
        self.identity = bool(np.all(alpha == 1.0) and np.all(beta == 0.0))
        self.column, self.alpha, self.beta = (self.xp.asarray(x) for x in (column, alpha, beta))

    def node_voltages(self, v, vfix, n_nodes):
        """Every node's voltage (V), ``(B, n_nodes)``, from the nets' and the known nodes'."""
        xp = self.xp
        roots = xp.take(xp.concatenate([vfix] + list(v), axis=1), self.column, axis=1)
        return roots if self.identity else roots * self.alpha + self.beta

    def push_matrix(self, side):
        """``(n_side, n_known)`` with a 1 where a node of the fixed ``side`` has its root: carries
        currents leaving the side's nodes back to the known nodes (several nodes may share one)."""
        m = self._push.get(id(side))
        if m is None:
            host = np.zeros((len(side.nodes), len(self.plan.fixed_nodes)))
            host[np.arange(len(side.nodes)), side.loc] = 1.0
            m = self._push[id(side)] = self.xp.asarray(host)
        return m


def _start(plan, index, B, initial, xp):
    """Per group, the nets' starting voltages (V): from the node voltages ``initial`` (a warm
    start), or 0 V."""
    if initial is None:
        return [xp.zeros((B, len(grp.nets))) for grp in plan.groups]
    return [initial[:, span].copy() for span in index.spans]


def _injected(plan, index, isrc, xp, B):
    """Per group: the currents (A, divided by alpha) the current sources inject into its nets, or None."""
    out = []
    for grp, sources in zip(plan.groups, index.currents):
        total = None
        for ks, side in sources:
            x = isrc[:, ks] / side.alpha
            if side.side.full:
                total = x if total is None else total + x
            else:
                total = xp.zeros((B, len(grp.nets))) if total is None else total
                total[:, side.loc] += x
        out.append(total)
    return out


class _Run:
    """One solve: the sweeps, the convergence test, the KCL check and the branch currents."""

    def __init__(self, backend, plan, index, bound, consts, inj):
        self.be, self.plan, self.index, self.bound, self.consts, self.inj = backend, plan, index, bound, consts, inj
        self.xp = backend.xp
        self.sweeps = 0

    def drive(self, k, v):
        """The current (A) into group ``k``'s nets from the other groups and the injections."""
        C = self.inj[k]
        for link, name in self.plan.groups[k].links:
            bl = self.bound[id(link)]
            other = bl.b if name == "a" else bl.a
            if other.group != FIXED:
                x = bl.from_nets(name, v[other.group])
                C = x if C is None else C + x
        return 0.0 if C is None else C

    def update_group(self, k, v, step):
        """Solve group ``k`` given the others into ``v[k]`` in place; ``step`` receives the move (V)."""
        D, K, clamps = self.consts[k]
        self.be.kernels.update(clamps, D, K, self.drive(k, v), v[k], step)

    def _largest_move(self, order, steps, moves):
        """Every sample's largest move of the sweep (V): over the mixing state's moves (one
        buffer) and the group visited first, or over each group's moves without mixing."""
        xp, largest = self.xp, self.be.kernels.largest
        if not order:
            return xp.zeros(0)
        parts = [moves, steps[order[0]]] if moves is not None else [steps[k] for k in order]
        moved = largest(parts[0])
        for part in parts[1:]:
            moved = xp.maximum(moved, largest(part))
        return moved

    def _start(self, v, warm):
        """The sweep order (a warm start, a nudged phase, sweeps from the outputs back), the
        mixing state (``v``'s groups after the first put side by side, or None) with its moves
        array, and per group the array its update writes its move into."""
        xp = self.xp
        K = len(self.plan.groups)
        order = list(range(K))[::-1] if warm else list(range(K))
        mixing = bool(self.be.anderson_depth) and K > 1
        state, moves, views = _gather(v, order[1:], xp) if mixing else (None, None, {})
        steps = {k: views.get(k) if k in views else xp.empty(v[k].shape) for k in order}
        return order, state, moves, steps

    def _sweep(self, v, order, steps, moves):
        """One sweep over the groups; every sample's largest move (V), ``(B,)``."""
        for k in order:
            self.update_group(k, v, steps[k])
        return self._largest_move(order, steps, moves)

    def sweep_all(self, v, offset, warm):
        """Sweep until the implied error is below vtol; ``v`` (list per group) is updated in place.
        Anderson mixing starts once a sweep shrinks the move by less than ``1 / mix_above``
        (``self.mixed_from``: that sweep, or None)."""
        be, xp = self.be, self.xp
        order, state, moves, steps = self._start(v, warm)
        mixer = self.mixed_from = None
        previous = 0.0
        for sweep in range(1, be.max_iterations + 1):
            moved = self._sweep(v, order, steps, moves)
            self.sweeps = sweep
            largest = float(moved.max()) if order and moved.shape[0] else 0.0
            if largest != largest or largest == np.inf:
                bad = int(xp.argmax(~xp.isfinite(moved)))
                raise SimulatorError("device layered solve produced non-finite voltages", sample=offset + bad)
            if converged(largest, previous, be.vtol, lambda: max(float(xp.abs(x).max()) for x in v)):
                return
            slow = previous > 0 and largest > be.mix_above * previous
            previous = largest
            if mixer is None and state is not None and slow and sweep + 1 < be.accelerate:
                # mixing pays only where plain sweeps contract slowly: on a network of one hidden
                # layer they shrink the move ~500-fold per sweep and a mix (a dozen launches)
                # saved no sweep (measured on Fashion-MNIST weights: 5/4/1 sweeps either way)
                mixer = DeviceAnderson(xp, be.kernels, be.anderson_depth)
                self.mixed_from = sweep
            if mixer is not None:
                if sweep >= be.accelerate:
                    mixer = None
                else:
                    mixer.mix(moves, state)
        bad = int(xp.argmax(moved))
        raise SimulatorError(f"device layered solver did not converge in {be.max_iterations} sweeps "
                             f"(last change {float(moved[bad]):.3g} V)", sample=offset + bad)

    def sweep_fixed(self, v, sweeps, warm, mix_from):
        """Exactly ``sweeps`` sweeps with no host round trip, mixing after sweep ``mix_from`` on
        (None: never) as ``sweep_all`` would; ``v`` is updated in place. Returns each sweep's
        largest move over the batch (V), ``(sweeps,)``, on the device."""
        be, xp = self.be, self.xp
        order, state, moves, steps = self._start(v, warm)
        mixer = DeviceAnderson(xp, be.kernels, be.anderson_depth) if state is not None and mix_from else None
        largest = xp.empty(sweeps)
        for sweep in range(1, sweeps + 1):
            largest[sweep - 1] = self._sweep(v, order, steps, moves).max()
            if mixer is not None and mix_from <= sweep < be.accelerate:
                mixer.mix(moves, state)
        return largest

    def residual_worst(self, v):
        """Every sample's largest KCL residual, as the Newton step it would cause (V), ``(B,)``,
        with the currents recomputed from ``v``; None without groups."""
        xp = self.xp
        worst = None
        for k in range(len(self.plan.groups)):
            D, K, clamps = self.consts[k]
            step = self.be.kernels.residual_step(clamps, D, K, self.drive(k, v), v[k])
            worst = step if worst is None else xp.maximum(worst, step)
        return worst

    def check(self, v, offset):
        """Every net's KCL at the final voltages, with the currents recomputed from them, as the
        Newton step it would cause (V); a sample above ``check_tol`` raises SimulatorError."""
        xp = self.xp
        worst = self.residual_worst(v)
        if worst is None:
            return
        bad = ~(worst <= self.be.check_tol)
        if bool(bad.any()):
            b = int(xp.argmax(bad))
            raise SimulatorError(f"device layered solution fails the KCL check: residual up to "
                                 f"{self._residual_amps(v, b):.3g} A, {float(worst[b]):.3g} V as a Newton step "
                                 f"(limit {self.be.check_tol:g} V)", sample=offset + b)

    def _residual_amps(self, v, b):
        """The largest KCL residual (A) of sample ``b``, for the message of a failed check."""
        xp, worst = self.xp, 0.0
        for k in range(len(self.plan.groups)):
            D, K, clamps = self.consts[k]
            C = self.drive(k, v)
            f = clamps.residual(v[k], C)[0] if clamps is not None else D * v[k] - C - K
            worst = max(worst, float(xp.abs(f[b]).max()))
        return worst

    def branch_currents(self, full, v, vfix):
        """Voltage-source branch currents (A, SPICE sign) from KCL at the known nodes."""
        xp, plan, index = self.xp, self.plan, self.index
        leave = xp.zeros((full.shape[0], len(plan.fixed_nodes)))  # current leaving each known root (A)

        def push(side, x):
            return leave + (x / side.alpha) @ index.push_matrix(side.side)

        for link in plan.links:
            bl = self.bound[id(link)]
            for name in ("a", "b"):
                mine, other = bl.mine_other(name)
                if mine.group == FIXED:
                    u_mine, u_other = mine.values(vfix, xp), _node_values(other, v, vfix, xp)
                    leave = push(mine, u_mine * bl.sums[name] - bl.toward(name, u_other))
        for k, grp in enumerate(plan.groups):
            clamps = self.consts[k][2]
            if clamps is not None:
                for s, i in zip(grp.diodes, clamps.currents(v[k])):
                    leave = push(index.sides[id(s.other)], -i)  # entering the far (known) node
        i_vs = xp.zeros((full.shape[0], plan.circuit.n_vs))
        src = np.flatnonzero(plan.fixed_src >= 0)
        if len(src):
            cols, rows = xp.asarray(plan.fixed_src[src]), xp.asarray(src)
            i_vs[:, cols] = -leave[:, rows] * xp.asarray(plan.fixed_sign[src])
        return i_vs


def _node_values(side, v, vfix, xp):
    return side.values(vfix if side.group == FIXED else v[side.group], xp)


def _gather(v, groups, xp):
    """Put the voltages of ``groups`` side by side in one ``(B, n)`` array and make ``v[k]`` views
    of it; return it, an array of its shape for the moves, and per group that array's view."""
    if not groups:
        return None, None, {}
    x = xp.concatenate([v[k] for k in groups], axis=1)
    moves = xp.empty(x.shape)  # every entry is written by its group's update before the mixing reads it
    edges = np.cumsum([0] + [v[k].shape[1] for k in groups])
    views = {}
    for k, a, b in zip(groups, edges[:-1], edges[1:]):
        v[k], views[k] = x[:, int(a):int(b)], moves[:, int(a):int(b)]
    return x, moves, views
