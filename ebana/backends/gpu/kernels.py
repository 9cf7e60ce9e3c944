"""Fused passes of the device solver: CuPy kernels on a GPU, the same arithmetic with ``xp`` elsewhere.

On a GPU a sweep of an image-sized network is bound by how many operations
are launched, not by arithmetic (a 1024 x 1024 elementwise pass takes a few
microseconds, its launch from Python about as long again). These are the
GPU counterparts of the CPU solver's numba kernels (:mod:`ebana.backends.layered.kernels`):

* the update of a group of nets: its one-pass clamp solve (or its linear solve),
  the move ``new - old`` written where the mixing reads it, the voltages written in
  place: one elementwise kernel instead of about ten operations;
* every sample's largest ``|move|``: one reduction (a NaN wins, so a diverging sample
  cannot hide);
* Anderson's small ``(m, m)`` least-squares systems, one per sample: one kernel
  (regularisation, then Gaussian elimination with partial pivoting in registers)
  instead of a batched LU with its checks; its history step, one kernel;
* the KCL check of a group: the residual as a Newton step and its largest value
  per sample in one reduction.

Each kernel does the arithmetic of the ``xp`` expressions it replaces, operation
for operation (no fused multiply-add contraction). With another namespace (NumPy,
or the strict stand-in of the tests) the ``xp`` expressions run.
Units: V, A, S.
"""

_UPDATE_ONE = """
    double c0 = C + K;
    double x = c0 * inv_off;
    bool past = sign > 0 ? x > bp : x < bp;
    if (past) x = __dmul_rn(__dadd_rn(c0, gdbp), inv_on);
    step = x - v;
    v = x;
"""

_UPDATE_TWO = """
    double c0 = C + K;
    double x = c0 * inv_off;
    bool past = sign1 > 0 ? x > bp1 : x < bp1;
    if (past) x = __dmul_rn(__dadd_rn(c0, gdbp1), inv_on1);
    past = sign2 > 0 ? x > bp2 : x < bp2;
    if (past) x = __dmul_rn(__dadd_rn(c0, gdbp2), inv_on2);
    step = x - v;
    v = x;
"""

_UPDATE_LINEAR = """
    double x = (C + K) / D;
    step = x - v;
    v = x;
"""

_SMALL_SOLVE = r"""
extern "C" __global__ void small_solve(const double* G, const double* r, double* out, int B, int m, double reg) {
    int b = blockDim.x * blockIdx.x + threadIdx.x;
    if (b >= B) return;
    double a[8][9];
    double trace = 0.0;
    for (int i = 0; i < m; i++) {
        for (int j = 0; j < m; j++) a[i][j] = G[((long)b * m + i) * m + j];
        a[i][m] = r[(long)b * m + i];
        trace += a[i][i];
    }
    // Tikhonov regularisation relative to the history's scale, as the CPU mixing does
    double shift = reg * (trace / m) + 1e-300;
    for (int i = 0; i < m; i++) a[i][i] += shift;
    bool ok = true;
    for (int k = 0; k < m && ok; k++) {
        int p = k;
        for (int i = k + 1; i < m; i++) if (fabs(a[i][k]) > fabs(a[p][k])) p = i;
        if (p != k) for (int j = 0; j <= m; j++) { double t = a[k][j]; a[k][j] = a[p][j]; a[p][j] = t; }
        if (!(a[k][k] != 0.0)) { ok = false; break; }
        for (int i = k + 1; i < m; i++) {
            double f = a[i][k] / a[k][k];
            for (int j = k; j <= m; j++) a[i][j] = __dadd_rn(a[i][j], -__dmul_rn(f, a[k][j]));
        }
    }
    double x[8];
    for (int i = m - 1; i >= 0 && ok; i--) {
        double s = a[i][m];
        for (int j = i + 1; j < m; j++) s = __dadd_rn(s, -__dmul_rn(a[i][j], x[j]));
        x[i] = s / a[i][i];
        if (!isfinite(x[i])) ok = false;
    }
    for (int i = 0; i < m; i++) out[(long)b * m + i] = ok ? x[i] : 0.0;
}
"""

_RESIDUAL = r"""
__device__ double ebana_beyond(double v, double bp, double sign) {
    double d = v - bp;
    return sign > 0 ? (d > 0.0 ? d : 0.0) : (d < 0.0 ? d : 0.0);
}
__device__ double ebana_step0(double v, double C, double K, double D) {
    return fabs(__dmul_rn(D, v) - C - K) / D;
}
__device__ double ebana_step1(double v, double C, double K, double D, double bp, double gd, double sign) {
    double b = ebana_beyond(v, bp, sign);
    double f = __dmul_rn(D, v) - C - K + __dmul_rn(gd, b);
    return fabs(f) / (b != 0.0 ? D + gd : D);
}
__device__ double ebana_step2(double v, double C, double K, double D, double bp1, double gd1, double sign1,
                              double bp2, double gd2, double sign2) {
    double b1 = ebana_beyond(v, bp1, sign1), b2 = ebana_beyond(v, bp2, sign2);
    double f = __dmul_rn(D, v) - C - K + __dmul_rn(gd1, b1) + __dmul_rn(gd2, b2);
    double fp = D + (b1 != 0.0 ? gd1 : 0.0);
    return fabs(f) / (fp + (b2 != 0.0 ? gd2 : 0.0));
}
"""

_RECORD = """
    df = f - lf;
    dg = g - lg;
    lf = f;
    lg = g;
"""

MAX_DEPTH = 8  # the largest Anderson history the small-system kernel holds in registers


class Kernels:
    """The fused passes for namespace ``xp`` (CuPy kernels when ``xp`` is CuPy)."""

    def __init__(self, xp):
        self.xp = xp
        self.cuda = getattr(xp, "__name__", "") == "cupy"
        if self.cuda:
            self._compile()

    def _compile(self):
        cp = self.xp
        one = "float64 C, float64 K, float64 inv_off, float64 bp, float64 gdbp, float64 inv_on, float64 sign"
        two = ("float64 C, float64 K, float64 inv_off, float64 bp1, float64 gdbp1, float64 inv_on1, float64 sign1, "
               "float64 bp2, float64 gdbp2, float64 inv_on2, float64 sign2")
        self._one = cp.ElementwiseKernel(one, "float64 v, float64 step", _UPDATE_ONE, "ebana_clamp_one")
        self._two = cp.ElementwiseKernel(two, "float64 v, float64 step", _UPDATE_TWO, "ebana_clamp_two")
        self._linear = cp.ElementwiseKernel("float64 C, float64 K, float64 D", "float64 v, float64 step",
                                            _UPDATE_LINEAR, "ebana_linear")
        self._absmax = cp.ReductionKernel("float64 x", "float64 y", "fabs(x)", "(a > b || a != a) ? a : b",
                                          "y = a", "0", "ebana_absmax")
        self._solve = cp.RawKernel(_SMALL_SOLVE, "small_solve")
        self._record = cp.ElementwiseKernel("float64 f, float64 g", "float64 df, float64 dg, float64 lf, float64 lg",
                                            _RECORD, "ebana_record")
        worst = "(a > b || a != a) ? a : b"  # a NaN wins: a diverged sample cannot pass the check
        self._residual0 = cp.ReductionKernel("float64 v, float64 C, float64 K, float64 D", "float64 y",
                                             "ebana_step0(v, C, K, D)", worst, "y = a", "0", "ebana_residual0",
                                             preamble=_RESIDUAL)
        self._residual1 = cp.ReductionKernel(
            "float64 v, float64 C, float64 K, float64 D, float64 bp, float64 gd, float64 sign", "float64 y",
            "ebana_step1(v, C, K, D, bp, gd, sign)", worst, "y = a", "0", "ebana_residual1", preamble=_RESIDUAL)
        self._residual2 = cp.ReductionKernel(
            "float64 v, float64 C, float64 K, float64 D, float64 bp1, float64 gd1, float64 sign1, "
            "float64 bp2, float64 gd2, float64 sign2", "float64 y",
            "ebana_step2(v, C, K, D, bp1, gd1, sign1, bp2, gd2, sign2)", worst, "y = a", "0", "ebana_residual2",
            preamble=_RESIDUAL)

    def update(self, clamps, D, K, C, v, step):
        """Solve a group's nets for the current ``C`` (A) into ``v`` (V) in place; ``step`` (same
        shape, written) receives new minus old. ``clamps``: the group's DeviceClamps or None
        (then ``v = (C + K) / D``)."""
        if self.cuda:
            if clamps is None:
                self._linear(C, K, D, v, step)
            elif len(clamps.parts) == 1:
                sign, bp, _, gdbp = clamps.parts[0]
                self._one(C, clamps.K, clamps.inv_off, bp, gdbp, clamps.inv_on[0], sign, v, step)
            else:
                (s1, bp1, _, gdbp1), (s2, bp2, _, gdbp2) = clamps.parts
                self._two(C, clamps.K, clamps.inv_off, bp1, gdbp1, clamps.inv_on[0], s1,
                          bp2, gdbp2, clamps.inv_on[1], s2, v, step)
            return
        new = clamps.solve(C) if clamps is not None else (C + K) / D
        step[...] = new - v
        v[...] = new

    def largest(self, step):
        """Every sample's largest ``|step|`` (V), ``(B,)``; NaN where any is NaN."""
        if self.cuda:
            return self._absmax(step, axis=1)
        return self.xp.abs(step).max(axis=1)

    def small_solve(self, gram, rhs, regularization):
        """``gamma`` (B, m, 1) solving ``(gram + shift I) gamma = rhs`` per sample, with ``shift =
        regularization * trace(gram) / m + 1e-300``; 0 where a system is singular or its solution
        not finite (that sample is then not mixed)."""
        xp = self.xp
        B, m, _ = gram.shape
        if self.cuda:
            gram, rhs = xp.ascontiguousarray(gram), xp.ascontiguousarray(rhs)
            out = xp.empty((B, m, 1))
            threads = 128
            self._solve(((B + threads - 1) // threads,), (threads,),
                        (gram, rhs, out, xp.int32(B), xp.int32(m), xp.float64(regularization)))
            return out
        scale = xp.trace(gram, axis1=1, axis2=2)[:, None, None] / m
        gamma = xp.linalg.solve(gram + (regularization * scale + 1e-300) * xp.eye(m), rhs)
        return xp.where(xp.isfinite(gamma), gamma, 0.0)

    def record(self, f, g, df, dg, last_f, last_g):
        """Anderson's history step, in place: ``df = f - last_f``, ``dg = g - last_g``, then
        ``last_f = f``, ``last_g = g`` (V)."""
        if self.cuda:
            self._record(f, g, df, dg, last_f, last_g)
            return
        df[...] = f - last_f
        dg[...] = g - last_g
        last_f[...] = f
        last_g[...] = g

    def residual_step(self, clamps, D, K, C, v):
        """Every sample's largest KCL residual of a group's nets at ``v`` (V) with currents ``C`` (A),
        as the Newton step it would cause (V), ``(B,)``; NaN where any is NaN."""
        if self.cuda:
            if clamps is None:
                return self._residual0(v, C, K, D, axis=1)
            if len(clamps.parts) == 1:
                sign, bp, gd, _ = clamps.parts[0]
                return self._residual1(v, C, clamps.K, clamps.D, bp, gd, sign, axis=1)
            (s1, bp1, gd1, _), (s2, bp2, gd2, _) = clamps.parts
            return self._residual2(v, C, clamps.K, clamps.D, bp1, gd1, s1, bp2, gd2, s2, axis=1)
        if clamps is not None:
            f, fp = clamps.residual(v, C)
        else:
            f, fp = D * v - C - K, D
        return self.largest(f / fp)
