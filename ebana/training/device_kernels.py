"""Fused optimizer updates on a GPU (CuPy), for the parameters of a model on ``device='cuda'``.

On a GPU a training step at batch 128 is bound by how many operations are
launched from Python; Adam's update of one parameter array is a dozen of them.
:func:`adam_update` makes it one kernel doing the same arithmetic, operation for
operation and correctly rounded (no fused multiply-add), as the CPU's compiled pass
(:func:`ebana.training.host_kernels.adam_step_host`), so that the two give the same
conductances bit for bit.
"""

_ADAM = """
    m = __dadd_rn(__dmul_rn(m, b1), __dmul_rn(one_minus_b1, g));
    v = __dadd_rn(__dmul_rn(v, b2), __dmul_rn(__dmul_rn(g, g), one_minus_b2));
    double den = __dadd_rn(__dmul_rn(sqrt(v), inv_sqrt_c2), eps);
    direction = __dmul_rn(__ddiv_rn(m, den), inv_c1);
"""

_KERNELS = {}


def adam_update(xp):
    """A kernel ``f(g, b1, one_minus_b1, b2, one_minus_b2, inv_sqrt_c2, eps, inv_c1, m, v, direction)`` that
    updates the moments ``m``, ``v`` in place and writes the step direction into ``direction``, or None
    when ``xp`` is not CuPy (on the CPU: :func:`~.host_kernels.adam_step_host`)."""
    if getattr(xp, "__name__", "") != "cupy":
        return None
    if "adam" not in _KERNELS:
        _KERNELS["adam"] = xp.ElementwiseKernel(
            "float64 g, float64 b1, float64 one_minus_b1, float64 b2, float64 one_minus_b2, "
            "float64 inv_sqrt_c2, float64 eps, float64 inv_c1",
            "float64 m, float64 v, float64 direction", _ADAM, "ebana_adam")
    return _KERNELS["adam"]
