"""Fold source-held nodes out of the netlist Ngspice solves (exact, optional).

A node held by a grounded voltage source, touched by nothing but resistors
(an input of a crossbar), has a known voltage ``V_h``. Each resistor ``g``
from it to an unknown node ``o`` is exactly a conductance ``g`` from ``o`` to
ground plus a current ``g * V_h`` injected into ``o`` (Norton). Summing these
per node leaves Ngspice a much smaller matrix: on the design network 57
equations instead of 313, and per sample one current per hidden node to
``alter`` instead of one voltage per input. Every diode, amplifier and
resistor between unknown nodes is still Ngspice's own element; the folded
sources' currents and the voltages of folded nodes are put back afterwards
by Kirchhoff's current law, exactly as Ngspice would report them (to rounding).
"""
import numpy as np
import scipy.sparse as sp

from ...circuit.structure import Circuit, kept_blocks
from ..base import OperatingPoint, Stimulus
from ..dense.plan import incidence, scatter


class FoldedCircuit:
    """The reduced circuit of ``circuit`` and the maps to and from it; ``None`` from
    :meth:`of` when nothing can be folded, when nothing would be left for Ngspice
    to solve, or when the circuit holds opaque SPICE blocks (whose node
    references ebana cannot see)."""

    @classmethod
    def of(cls, circuit):
        if circuit.spice_blocks:
            return None
        folded = cls(circuit)
        return folded if folded.fold_nodes.size and folded.circuit.n_nodes > 1 else None

    def __init__(self, circuit):
        N = circuit.n_nodes
        self.full = circuit
        holders = np.zeros(N, dtype=np.int64)
        self.hold_src, self.hold_sign = np.full(N, -1, dtype=np.int64), np.zeros(N)
        for k, (p, n) in enumerate(zip(circuit.vs_pos, circuit.vs_neg)):
            node, sign = (p, 1.0) if n == 0 and p != 0 else (n, -1.0) if p == 0 and n != 0 else (0, 0.0)
            if node:
                holders[node] += 1
                self.hold_src[node], self.hold_sign[node] = k, sign
        other = np.zeros(N, dtype=bool)
        for nodes in (circuit.d_anode, circuit.d_cathode, circuit.amp_in, circuit.amp_out, circuit.is_node):
            other[nodes] = True
        touched_by_sources = np.bincount(np.concatenate([circuit.vs_pos, circuit.vs_neg]), minlength=N)
        fold = (holders == 1) & (touched_by_sources == 1) & ~other
        fold[0] = False
        self.fold_nodes = np.flatnonzero(fold)
        self.held = np.flatnonzero(holders == 1)
        a, b = circuit.res_a, circuit.res_b
        dropped = fold[a] | fold[b]
        self.kept_res, self.dropped_res = np.flatnonzero(~dropped), np.flatnonzero(dropped)
        self.kept_vs = np.flatnonzero(~np.isin(np.arange(circuit.n_vs), self.hold_src[self.fold_nodes]))
        # Norton equivalents: dropped resistors with one folded end and one unknown end
        unknown = (holders == 0)
        unknown[0] = False
        h_end = np.where(fold[a], a, b)[dropped]
        o_end = np.where(fold[a], b, a)[dropped]
        norton = unknown[o_end]
        self.norton_res = self.dropped_res[norton]
        self.norton_held = h_end[norton]
        self.norton_nodes, self.norton_at = np.unique(o_end[norton], return_inverse=True)
        self.norton_sum = incidence(len(self.norton_nodes), self.norton_at)  # (n_norton, len(norton_res))
        self.kcl_dropped = incidence(N, a[dropped], b[dropped])       # (N, n_dropped)
        self.circuit = self._reduced(circuit)

    def _reduced(self, c):
        present = np.zeros(c.n_nodes, dtype=bool)
        for nodes in (c.res_a[self.kept_res], c.res_b[self.kept_res], c.vs_pos[self.kept_vs],
                      c.vs_neg[self.kept_vs], c.is_node, c.d_anode, c.d_cathode, c.amp_in, c.amp_out,
                      self.norton_nodes):
            present[nodes] = True
        present[0] = True
        self.present = np.flatnonzero(present)
        new = np.full(c.n_nodes, -1, dtype=np.int64)
        new[self.present] = np.arange(len(self.present))
        owners = set().union(*(set(v) for v in c.blocks.values()))
        fold_owner = "ebanafold"
        while fold_owner in owners:
            fold_owner += "x"
        n_nort = len(self.norton_nodes)
        blocks = {k: dict(v) for k, v in c.blocks.items()}
        blocks["res"] = kept_blocks(c.blocks.get("res", {}), np.isin(np.arange(c.n_res), self.kept_res))
        blocks["res"][fold_owner] = slice(len(self.kept_res), len(self.kept_res) + n_nort)
        blocks["vs"] = kept_blocks(c.blocks.get("vs", {}), np.isin(np.arange(c.n_vs), self.kept_vs))
        blocks.setdefault("is", {})[fold_owner] = slice(c.n_is, c.n_is + n_nort)
        return Circuit(
            node_names=[c.node_names[k] for k in self.present],
            res_a=np.concatenate([new[c.res_a[self.kept_res]], new[self.norton_nodes]]),
            res_b=np.concatenate([new[c.res_b[self.kept_res]], np.zeros(n_nort, dtype=np.int64)]),
            vs_pos=new[c.vs_pos[self.kept_vs]], vs_neg=new[c.vs_neg[self.kept_vs]],
            vs_value=c.vs_value[self.kept_vs],
            is_node=np.concatenate([new[c.is_node], new[self.norton_nodes]]),
            d_anode=new[c.d_anode], d_cathode=new[c.d_cathode], diode_blocks=list(c.diode_blocks),
            amp_in=new[c.amp_in], amp_out=new[c.amp_out], amp_gain=c.amp_gain, amp_shift=c.amp_shift,
            spice_blocks=[], blocks=blocks)

    def _held_voltages(self, vs):
        v = np.zeros((vs.shape[0], self.full.n_nodes))
        v[:, self.held] = vs[:, self.hold_src[self.held]] * self.hold_sign[self.held]
        return v

    def reduce(self, stimulus):
        """The :class:`Stimulus` of the reduced circuit: kept conductances then the
        Norton conductances (S); kept source voltages (V); currents then Norton currents (A)."""
        g = stimulus.g
        g_n = g[..., self.norton_res]
        v_held = self._held_voltages(stimulus.vs)
        g_fold = scatter(self.norton_sum, np.atleast_2d(g_n))
        if g.ndim == 1:  # one sparse product: no (B, resistors) temporaries (GBs on an image network)
            weights = sp.csr_matrix((g_n, (self.norton_at, self.norton_held)),
                                    shape=(len(self.norton_nodes), self.full.n_nodes))
            i_fold = scatter(weights, v_held)
        else:
            i_fold = scatter(self.norton_sum, g_n * v_held[:, self.norton_held])
        g_red = np.concatenate([g[..., self.kept_res], g_fold[0] if g.ndim == 1 else g_fold], axis=-1)
        return Stimulus(g_red, stimulus.vs[:, self.kept_vs], np.concatenate([stimulus.isrc, i_fold], axis=1))

    def expand(self, op, stimulus):
        """The full circuit's :class:`OperatingPoint` from the reduced one."""
        B = op.v.shape[0]
        v = self._held_voltages(stimulus.vs)
        v[:, self.present] = np.where(np.isin(self.present, self.held), v[:, self.present], op.v)
        i_vs = np.zeros((B, self.full.n_vs))
        i_vs[:, self.kept_vs] = op.i_vs
        # the dropped resistors' currents are delivered by the sources holding their ends
        i_vs[:, self.hold_src[self.held]] -= self.hold_sign[self.held] * self._leaving_held(stimulus.g, v)
        return OperatingPoint(v, i_vs)

    def _leaving_held(self, g, v):
        """Current (A) the dropped resistors draw out of each held node, ``(B, held)``."""
        c = self.full
        a, b = c.res_a[self.dropped_res], c.res_b[self.dropped_res]
        g_d = g[..., self.dropped_res]
        if g.ndim == 1:  # their conductance matrix's rows at the held nodes, times v
            rows, cols = np.concatenate([a, a, b, b]), np.concatenate([a, b, a, b])
            laplacian = sp.csr_matrix((np.concatenate([g_d, -g_d, -g_d, g_d]), (rows, cols)),
                                      shape=(c.n_nodes, c.n_nodes))
            return scatter(laplacian[self.held], v)
        return scatter(self.kcl_dropped, g_d * (v[:, a] - v[:, b]))[:, self.held]
