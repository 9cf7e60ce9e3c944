"""Static bookkeeping for the native solver: which nodes are unknown, and
where every element stamps into the reduced modified-nodal system.

Nodes held by a grounded voltage source are known, so the unknowns are the
free node voltages, the branch currents of floating voltage sources, and the
output currents of amplifiers. Computed once per circuit.
"""
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ...errors import GraphError, UnsupportedElementError
from .weighted_product import WeightedProduct


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
    jac: object = None        # sparse (M*M, n_elem): flat Jacobian = jac @ w
    fixed: object = None      # sparse (M, n_fx): rhs -= fixed @ (w[fx_elem] * v[fx_col])
    fx_select: object = None  # sparse (n_fx, N): picks v[fx_col]
    fx_weight: object = None  # sparse (n_fx, n_elem): picks w[fx_elem]

    def jacobian(self, w, M):
        """Stacked stamps ``(B, M, M)`` of per-sample weights ``w`` (B, n_elem)."""
        return np.asarray(self.jac @ w.T).T.reshape(w.shape[0], M, M)

    def fixed_rhs(self, w, v):
        """What the known node voltages push into each row, ``(B, M)`` (to subtract)."""
        if w.shape[0] == 1 or w.shape[1] < 256:
            return np.asarray(self.fixed @ (w[:, self.fx_elem] * v[:, self.fx_col]).T).T
        # many per-sample weights: sparse picks in (n_fx, B) layout beat fancy-index gathers
        picked = np.asarray(self.fx_weight @ w.T) * np.asarray(self.fx_select @ v.T)
        return np.asarray(self.fixed @ picked).T


def incidence(n_rows, a, b=None, wa=1.0, wb=-1.0):
    """Sparse ``(n_rows, K)``: column k holds ``wa`` at row ``a[k]`` and ``wb`` at
    row ``b[k]``; negative rows are dropped. ``incidence @ x.T`` replaces a slow
    ``np.add.at`` scatter over a batch."""
    a = np.asarray(a, dtype=np.int64)
    k = np.arange(len(a))
    rows, cols, vals = [a], [k], [np.broadcast_to(np.asarray(wa, dtype=float), a.shape)]
    if b is not None:
        rows.append(np.asarray(b, dtype=np.int64)); cols.append(k)
        vals.append(np.broadcast_to(np.asarray(wb, dtype=float), a.shape))
    rows, cols, vals = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    keep = rows >= 0
    return sp.csr_matrix((vals[keep], (rows[keep], cols[keep])), shape=(n_rows, len(a)))


def scatter(matrix, x):
    """``(B, n_rows)`` sums of the columns of ``x`` (B, K) through a sparse ``matrix``."""
    return np.asarray(matrix @ x.T).T


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
        self._kcl_matrices(circuit)
        self._diode_block()
        self._products = None  # shared_products(), made on first use

    def shared_products(self):
        """The resistors' two products that a shared conductance vector ``g`` (S) weights, as
        :class:`~ebana.backends.dense.weighted_product.WeightedProduct`: what the known nodes
        push into the unknowns' rows (``fixed @ diag(g[fx_elem]) @ fx_select``) and the
        Laplacian ``kcl_res diag(g) kcl_res^T``. Their patterns are found once per circuit; a
        circuit they do not fit (a resistor with both ends on one node leaves a 0 in
        ``kcl_res``) gets SciPy's products made afresh each time."""
        if self._products is None:
            res = self.res
            pairs = ((res.fixed, res.fx_select), (self.kcl_res, self.kcl_res.T))
            try:
                self._products = tuple(WeightedProduct(a, b) for a, b in pairs)
            except ValueError:
                self._products = tuple(lambda w, a=a, b=b: (a @ sp.diags(w) @ b).tocsr() for a, b in pairs)
        return self._products

    def _diode_block(self):
        """Unknowns that diodes stamp into (the rest are linear and get eliminated
        once per conductance state), and the diode stamps on that block alone."""
        d = self.dio
        rows, cols = d.ff_index // max(self.M, 1), d.ff_index % max(self.M, 1)
        self.dio_unknowns = np.unique(np.concatenate([rows, cols]))
        self.lin_unknowns = np.setdiff1d(np.arange(self.M), self.dio_unknowns)
        at = np.full(self.M, -1, dtype=np.int64)
        K = len(self.dio_unknowns)
        at[self.dio_unknowns] = np.arange(K)
        self.dio_block_jac = sp.csr_matrix((d.ff_sign, (at[rows] * K + at[cols], d.ff_elem)),
                                           shape=(K * K, d.jac.shape[1]))

    def _kcl_matrices(self, circuit):
        """Sparse scatters: injections into the unknowns' rows, and currents
        leaving every node (KCL), used for the source currents."""
        N, M = self.n_nodes, self.M
        self.is_rows = incidence(M, self.pos[circuit.is_node])
        self.dio_rows = incidence(M, self.pos[circuit.d_anode], self.pos[circuit.d_cathode])
        self.kcl_res = incidence(N, circuit.res_a, circuit.res_b)
        self.drop_res = self.kcl_res.T.tocsr()  # (R, N): v_a - v_b of every resistor
        self.kcl_dio = incidence(N, circuit.d_anode, circuit.d_cathode)
        self.kcl_is = incidence(N, circuit.is_node)
        self.kcl_amp = incidence(N, circuit.amp_out, circuit.amp_in, -1.0, 1.0 / circuit.amp_gain)
        self.kcl_float = incidence(N, circuit.vs_pos[self.floating], circuit.vs_neg[self.floating])

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
        st = Stamps(ff_index=pr[ff] * M + pc[ff], ff_elem=elem[ff], ff_sign=sign[ff],
                    fx_row=pr[fx], fx_col=cols[fx], fx_elem=elem[fx], fx_sign=sign[fx])
        # Precomputed once: assembling a batch is then two sparse products
        # instead of scattered adds (np.add.at is ~50x slower).
        st.jac = sp.csr_matrix((st.ff_sign, (st.ff_index, st.ff_elem)), shape=(M * M, len(a)))
        nfx = len(st.fx_row)
        st.fixed = sp.csr_matrix((st.fx_sign, (st.fx_row, np.arange(nfx))), shape=(M, nfx))
        st.fx_select = sp.csr_matrix((np.ones(nfx), (np.arange(nfx), st.fx_col)), shape=(nfx, self.n_nodes))
        st.fx_weight = sp.csr_matrix((np.ones(nfx), (np.arange(nfx), st.fx_elem)), shape=(nfx, len(a)))
        return st

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
