"""Static bookkeeping for the native solver: which nodes are unknown, and
where every element stamps into the reduced modified-nodal system.

Nodes held by a grounded voltage source are known, so the unknowns are the
free node voltages, the branch currents of floating voltage sources, and the
output currents of amplifiers. Computed once per circuit.
"""
from dataclasses import dataclass

import numpy as np

from ..errors import GraphError, UnsupportedElementError


@dataclass
class Stamps:
    """Stamps of two-terminal elements (k-th element, conductance-like weight)."""
    ff_index: np.ndarray   # flat index row*M+col into the unknown matrix
    ff_elem: np.ndarray    # which element
    ff_sign: np.ndarray
    fx_row: np.ndarray     # row (unknown index) receiving  -sign*w*v[col]
    fx_col: np.ndarray     # fixed node index
    fx_elem: np.ndarray
    fx_sign: np.ndarray


class Plan:
    def __init__(self, circuit):
        if circuit.spice_blocks:
            owner = circuit.spice_blocks[0][0]
            raise UnsupportedElementError(
                f"the native backend cannot solve the opaque SPICE block of {owner!r}; "
                "use backend='ngspice' for circuits with user SPICE blocks")
        N = circuit.n_nodes
        self.n_nodes = N
        # fixed nodes: ground and nodes tied to ground by a voltage source
        self.fix_src = np.full(N, -1, dtype=np.int64)   # source fixing the node
        self.fix_sign = np.zeros(N)
        floating = []
        for k, (p, n) in enumerate(zip(circuit.vs_pos, circuit.vs_neg)):
            if p == n:
                raise GraphError(f"voltage source {circuit.element_name('vs', k)} is shorted (both ends on one node)")
            node, sign = (p, 1.0) if n == 0 else (n, -1.0) if p == 0 else (None, 0.0)
            if node is None:
                floating.append(k)
                continue
            if self.fix_src[node] >= 0:
                other = circuit.element_name('vs', self.fix_src[node])
                raise GraphError(f"node {circuit.node_names[node]!r} is held by two voltage sources "
                                 f"({other} and {circuit.element_name('vs', k)})")
            self.fix_src[node], self.fix_sign[node] = k, sign
        fixed = self.fix_src >= 0
        fixed[0] = True
        self.fixed_nodes = np.flatnonzero(self.fix_src >= 0)
        self.free = np.flatnonzero(~fixed)
        self.pos = np.full(N, -1, dtype=np.int64)
        self.pos[self.free] = np.arange(len(self.free))
        self.floating = np.asarray(floating, dtype=np.int64)
        F, Vf, A = len(self.free), len(self.floating), len(circuit.amp_in)
        self.F, self.M = F, F + Vf + A
        for k, out in enumerate(circuit.amp_out):
            if self.pos[out] < 0:
                raise GraphError(f"amplifier {circuit.element_name('amp', k)} drives node "
                                 f"{circuit.node_names[out]!r}, which a voltage source already holds")
        self.res = self._two_terminal(circuit.res_a, circuit.res_b)
        self.dio = self._two_terminal(circuit.d_anode, circuit.d_cathode)
        self._constraint_matrix(circuit)

    def _two_terminal(self, a, b):
        M = self.M
        k = np.arange(len(a))
        rows = np.concatenate([a, b, a, b])
        cols = np.concatenate([a, b, b, a])
        elem = np.concatenate([k, k, k, k])
        sign = np.concatenate([np.ones(2 * len(a)), -np.ones(2 * len(a))])
        pr, pc = self.pos[rows], self.pos[cols]
        ff = (pr >= 0) & (pc >= 0)
        fx = (pr >= 0) & (pc < 0)
        return Stamps(ff_index=pr[ff] * M + pc[ff], ff_elem=elem[ff], ff_sign=sign[ff],
                      fx_row=pr[fx], fx_col=cols[fx], fx_elem=elem[fx], fx_sign=sign[fx])

    def _constraint_matrix(self, circuit):
        """Constant entries of floating sources and amplifiers, and their fixed-node couplings."""
        M, F = self.M, self.F
        C = np.zeros((M, M))
        self.const_fixed = []  # (row, node, coefficient): row gets -coef*v[node] on the rhs
        self.const_rhs_vs = []  # (row, source k): row rhs += vs[k]
        self.const_rhs_amp = np.zeros(M)

        def put(row, node, coef, col_is_row=False):
            p = self.pos[node]
            if p >= 0:
                if col_is_row:
                    C[p, row] += coef
                else:
                    C[row, p] += coef
            elif not col_is_row and node != 0:
                self.const_fixed.append((row, node, coef))

        for i, k in enumerate(self.floating):
            r = F + i
            p, n = circuit.vs_pos[k], circuit.vs_neg[k]
            put(r, p, 1.0); put(r, n, -1.0)          # v_p - v_n = E
            put(r, p, 1.0, True); put(r, n, -1.0, True)  # j leaves p, enters n
            self.const_rhs_vs.append((r, k))
        for i in range(len(circuit.amp_in)):
            r = F + len(self.floating) + i
            src, dst, gain = circuit.amp_in[i], circuit.amp_out[i], circuit.amp_gain[i]
            put(r, dst, 1.0); put(r, src, -gain)      # v_out - gain v_in = shift
            put(r, dst, -1.0, True)                   # j is delivered into out
            put(r, src, 1.0 / gain, True)             # j / gain is drawn from in
            self.const_rhs_amp[r] = circuit.amp_shift[i]
        self.C = C
