"""Mask kinds: how a standard normal draw becomes a multiplicative mask.

This is the one step of the noise pipeline that differs between kinds. The
pipeline itself (choose a sigma per sample -> draw ``z ~ N(0, 1)`` -> mask
``M`` -> ``G_eff = max(G * M, floor * g_min)``) lives in
:class:`ebana.devices.variability.VariabilityModel`; a kind overrides only
:meth:`MaskKind.mask`.

Every mask is dimensionless and is 1 when ``sigma == 0`` exactly, so zero
noise returns the conductances unchanged bit for bit.

Example:

>>> import numpy as np
>>> KINDS["folded"].mask(np.array([-3.0, 0.0]), 0.5)
array([0.5, 1. ])
"""
import numpy as np

from ..errors import ValidationError


class MaskKind:
    """Base class of a mask kind (template: override :meth:`mask` only).

    Attributes:
        name: the ``Variability.kind`` string that selects this kind.
        needs_conductance: True when the mask depends on the nominal
            conductances ``G`` (S) and the reference ``g_ref`` (S).
    """

    name = ""
    needs_conductance = False

    def mask(self, z, sigma, g=None, g_ref=None):
        """Return the mask ``M`` (dimensionless) for standard normals ``z``.

        Args:
            z: array of independent ``N(0, 1)`` draws, shape ``(batch, *shape)``
                or ``shape``; drawn for this call, so a kind may write the mask over it
                (a batch of image-sized masks is hundreds of MB).
            sigma: relative spread, a float or an array broadcastable to ``z``.
            g: nominal conductances (S), shape ``shape``; only kinds with
                ``needs_conductance`` use it.
            g_ref: reference conductance (S); only kinds with
                ``needs_conductance`` use it.
        """
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}()"


class GaussianMask(MaskKind):
    """Gaussian mismatch: ``M = 1 + s z ~ N(1, s^2)``.

    ``E[M] = 1``, ``std[M] = s``. For large ``s`` the mask can be zero or
    negative; ``VariabilityModel.apply`` then clips ``G_eff`` to the floor.
    """

    name = "gaussian"

    def mask(self, z, sigma, g=None, g_ref=None):
        z = np.multiply(z, sigma, out=z if _scratch(z, sigma) else None)
        z += 1.0
        return z


class FoldedMask(MaskKind):
    """Folded Gaussian of A-Connect: ``M = |1 + s z|``, never negative.

    ``E[M] = s sqrt(2/pi) exp(-1 / (2 s^2)) + 1 - 2 Phi(-1/s)`` (``Phi`` the
    standard normal CDF) and ``E[M^2] = 1 + s^2``; for ``s << 1`` this is
    the Gaussian mask.
    """

    name = "folded"

    def mask(self, z, sigma, g=None, g_ref=None):
        z = GaussianMask.mask(self, z, sigma)
        return np.abs(z, out=z)


class LognormalMask(MaskKind):
    """Lognormal mismatch normalised to unit mean: ``M = exp(s z - s^2 / 2)``.

    Convention: ``log M ~ N(-s^2/2, s^2)``, so ``E[M] = 1`` (the median is
    ``exp(-s^2/2)``, slightly below 1) and ``std[M] = sqrt(exp(s^2) - 1)``.
    ``s`` is the spread of ``log M``, not of ``M``. Always positive.
    """

    name = "lognormal"

    def mask(self, z, sigma, g=None, g_ref=None):
        sigma = np.asarray(sigma, dtype=float)
        return np.exp(sigma * z - 0.5 * sigma * sigma)


class AdditiveMask(MaskKind):
    """Additive noise relative to a reference conductance (memristor-aware training).

    ``G_eff = G + s * g_ref * z`` with ``g_ref`` the layer's ``g_max`` (S),
    written as the equivalent mask ``M = G_eff / G = 1 + s * g_ref * z / G``
    so the mask gradient rules apply unchanged. The spread in siemens is the
    same for every device, so small conductances are perturbed relatively
    more. Needs ``G > 0`` (S).
    """

    name = "additive"
    needs_conductance = True

    def mask(self, z, sigma, g=None, g_ref=None):
        if g is None or g_ref is None:
            raise ValidationError(
                "Variability kind 'additive' needs the nominal conductances g (S) and the "
                "reference g_max (S) to express G + s*g_max*z as a mask; pass g= and g_max=")
        g = np.asarray(g, dtype=float)
        if np.any(g <= 0):
            raise ValidationError(
                "Variability kind 'additive' needs every nominal conductance g > 0 S; "
                f"received a minimum of {float(g.min())!r} S (keep weights in [g_min, g_max])")
        return 1.0 + (sigma * float(g_ref)) * z / g


KINDS = {k.name: k for k in (GaussianMask(), FoldedMask(), LognormalMask(), AdditiveMask())}
"""Registered mask kinds by ``Variability.kind`` name."""


def _scratch(z, sigma):
    """Whether a kind may write its mask over the draws ``z``: a float64 array of the mask's
    shape (sigma broadcasts to it). The draws are the kind's to consume (they are drawn for
    it), and a batch of image-sized masks is hundreds of MB: no second array of that size."""
    return (isinstance(z, np.ndarray) and z.dtype == np.float64 and z.flags.writeable
            and np.broadcast_shapes(z.shape, np.shape(sigma)) == z.shape)
