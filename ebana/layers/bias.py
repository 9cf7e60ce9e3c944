"""Bias voltages held by voltage sources, optionally trained with EP.

A layer that owns bias sources (:class:`~ebana.layers.BiasVoltageLayer`,
:class:`~ebana.layers.DiodeLayer`) keeps their values (V) in
``bias_voltage``, one entry per source. With ``trainable=True`` that array is
the layer's parameter: optimizers update it in place, :meth:`~BiasSources.clip` keeps it
within ``[bias_min, bias_max]`` (V), and weights files carry it.

EP rule for a source voltage (SPICE sign of ``OperatingPoint.i_vs``: positive
when current enters the ``+`` terminal through the source). By reciprocity of
the linearised circuit, a current ``dI_k`` injected into output net ``k``
changes the branch current of source ``s`` by ``(dV_k/dV_s) * dI_k``. The
nudged phase injects ``dI_k = -beta * dL/dV_k``, so::

    i_vs(nudged) - i_vs(free) = -beta * sum_k (dV_k/dV_s) dL/dV_k = -beta * dL/dV_s
    dL/dV_s ~= -(i_vs(high) - i_vs(low)) / span

with (low, high, span) = (free, nudged, beta) or, symmetric, (-beta, +beta, 2 beta).
Units: dL/dV in loss units per volt.
"""
import numpy as np

from ..backends.arrays import array_namespace, to_host
from ..errors import ShapeError, ValidationError
from ..validation import check_array, check_number


class BiasSources:
    """Mixin: bias voltages (V) of a layer's voltage sources, fixed or trainable."""

    def _init_bias(self, bias_voltage, trainable, lr, bias_min, bias_max):
        who = self.describe()
        values = check_array(bias_voltage, f"bias_voltage of {who} (V)", -1e3, 1e3)
        if values.ndim > 1:
            raise ShapeError(f"{who}: bias_voltage must be a number or a 1-D array (one per unit), "
                             f"received shape {values.shape}")
        self.scalar_bias = values.ndim == 0
        self.bias_voltage = np.atleast_1d(values).astype(float).copy()
        self.trainable = bool(trainable)
        self.lr = None if lr is None else check_number(lr, f"lr of {who}", 0)
        self.bias_min = check_number(bias_min, f"bias_min of {who} (V)", -1e3, 1e3)
        self.bias_max = check_number(bias_max, f"bias_max of {who} (V)", -1e3, 1e3)
        if self.bias_max <= self.bias_min:
            raise ValidationError(f"{who}: bias_max ({bias_max} V) must exceed bias_min ({bias_min} V)")
        if self.trainable:
            self.check_bias(self.bias_voltage, f"{who} initial bias_voltage")
        self.vs_slice = None

    def check_bias(self, values, source):
        """Raise unless ``values`` are finite bias voltages within ``[bias_min, bias_max]`` (V)."""
        a = np.asarray(values)
        bad = ~np.isfinite(a) | (a < self.bias_min) | (a > self.bias_max)
        if bad.any():
            k = int(np.argmax(bad.ravel()))
            raise ValidationError(f"{source}: bias voltage {k} of {self.describe()} is {float(a.ravel()[k])!r} V, "
                                  f"outside [bias_min, bias_max] = [{self.bias_min}, {self.bias_max}] V")

    # parameters -------------------------------------------------------------
    def parameters(self):
        return {self.name: self.bias_voltage} if self.trainable else {}

    def stored_array(self):
        """The array weights files keep for this layer (V), or None when it is fixed."""
        return self.bias_voltage if self.trainable else None

    def stored_shape(self, input_units):
        return self.bias_voltage.shape if self.trainable else None

    def check_stored(self, a, source):
        if a.shape != self.bias_voltage.shape:
            raise ShapeError(f"{source}: {self.describe()} has {self.bias_voltage.shape} bias voltages, "
                             f"the file holds {a.shape}: the file belongs to a different model")
        self.check_bias(a, source)

    def array_attributes(self):
        return ("bias_voltage",)

    def clip(self):
        """Keep every trained bias within ``[bias_min, bias_max]`` (V), in place (on its device)."""
        array_namespace(self.bias_voltage).clip(self.bias_voltage, self.bias_min, self.bias_max,
                                                out=self.bias_voltage)

    def source_values(self):
        """Current values (V) of the layer's sources, in circuit order (``vs_slice``)."""
        return self.bias_voltage

    def ep_gradient_from_phases(self, low, high, span, per_sample=False):
        """EP estimate of dL/dV (loss units per V) of every bias source from two
        :class:`~ebana.backends.OperatingPoint` phases (see the module docstring)."""
        if self.vs_slice is None:
            raise ValidationError(f"{self.describe()} is not compiled into a circuit yet")
        grad = -(high.i_vs[:, self.vs_slice] - low.i_vs[:, self.vs_slice]) / span
        return grad if per_sample else grad.sum(axis=0)

    def _bias_config(self):
        bv = to_host(self.bias_voltage)
        return {"bias_voltage": float(bv[0]) if self.scalar_bias else bv.tolist(),
                "trainable": self.trainable, "lr": self.lr, "bias_min": self.bias_min, "bias_max": self.bias_max}
