"""Trainable conductances of a layer: bounds, noise, quantisation and clipping, shared by
layers whose resistors are not one full crossbar (e.g. LocallyConnected2DLayer).

The layer keeps ``g`` (S) in any shape whose C-order flattening is the order
of its resistors in the circuit.
"""
import dataclasses

import numpy as np

from ..backends.arrays import array_namespace
from ..devices import LayerNoise, Quantizer, Variability
from ..errors import ValidationError
from ..validation import check_number

#: Most conductance levels a layer may ask for (a few-level device has 2 to a few hundred).
MAX_LEVELS = 2 ** 16


class TrainableConductances:
    """Mixin: call :meth:`_set_conductance_options` in ``__init__``; ``self.g`` is set in ``build``."""

    def _set_conductance_options(self, initializer, lr, trainable, g_min, g_max, variability, levels):
        who = self.describe()
        self.initializer = initializer
        self.lr = None if lr is None else check_number(lr, f"lr of {who}", 0)
        self.trainable = bool(trainable)
        self.g_min = check_number(g_min, f"g_min of {who} (S)", 0, 1e3, low_open=True)
        self.g_max = check_number(g_max, f"g_max of {who} (S)", 0, 1e3, low_open=True)
        if self.g_max <= self.g_min:
            raise ValidationError(f"{who}: g_max ({g_max} S) must exceed g_min ({g_min} S)")
        if isinstance(variability, dict):
            variability = Variability(**variability)
        if variability is not None and not isinstance(variability, Variability):
            raise ValidationError(f"{who}: variability must be a Variability, a dict of its fields or None, "
                                  f"received {variability!r}")
        self.variability = variability
        if isinstance(levels, (int, np.integer)) and not isinstance(levels, bool) and levels > MAX_LEVELS:
            # the quantiser holds every level: a damaged file's levels=10**9 would take 8 GB
            raise ValidationError(f"{who}: levels={levels} is above {MAX_LEVELS} "
                                  "(ebana.layers.conductance.MAX_LEVELS); devices have far fewer levels")
        self.quantizer = None if levels is None else Quantizer(levels, self.g_min, self.g_max)
        self.noise = None  # a LayerNoise, attached by the model (see attach_noise)
        self.g = None

    def parameters(self):
        return {self.name: self.g} if self.trainable else {}

    def circuit_g(self):
        """Nominal conductances (S) the circuit sees, shaped like ``g``: ``Q(G)`` when quantised."""
        return self.g if self.quantizer is None else self.quantizer(self.g)

    def conductances(self):
        return self.circuit_g().ravel()

    def array_attributes(self):
        return ("g",)

    def attach_noise(self, variability, seed, chip_seed=0):
        """Give the layer a :class:`~ebana.devices.LayerNoise` for ``variability`` (None: remove it)."""
        self.noise = None if variability is None else LayerNoise(
            variability, self.g.shape, self.g_min, self.g_max, seed=seed, chip_seed=chip_seed, key=self.name)
        return self.noise

    def clip(self):
        """Keep every conductance within ``[g_min, g_max]`` (in place, on the device ``g`` lives on)."""
        array_namespace(self.g).clip(self.g, self.g_min, self.g_max, out=self.g)

    def _conductance_config(self):
        init = self.initializer
        if isinstance(init, np.ndarray):
            init = init.tolist()
        return {"initializer": list(init) if isinstance(init, tuple) else init, "lr": self.lr,
                "trainable": self.trainable, "g_min": self.g_min, "g_max": self.g_max,
                "variability": None if self.variability is None else dataclasses.asdict(self.variability),
                "levels": None if self.quantizer is None else self.quantizer.levels}
