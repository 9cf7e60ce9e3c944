"""One simulated chip's device physics: stuck-at faults and drift, for every conductance layer of a model.

A :class:`ChipDevices` holds the settings (a
:class:`~ebana.devices.faults.StuckAtFaults` and a
:class:`~ebana.devices.drift.PowerLawDrift`, either may be None) and the
chip seed; it draws each layer's fault map and drift exponents from that
seed (keyed by the layer name) and keeps them, so they can be saved with the
model (``model.devices``, see :mod:`ebana.saving.model_file`). The
effective conductances of the chip at time ``t`` (s) after programming::

    G_prog = faults applied to the trained G           (stuck devices at g_min / g_max)
    G(t)   = G_prog * (t / t0) ** (-nu)                (drift; stuck devices drift too)
    G_used = c * G(t)   with c = sum G_prog / sum G(t) if compensate, else c = 1

Exponents of 'pcm' drift depend on the programmed (faulty) conductances.

Example:

>>> from ebana.networks import rectified_mlp
>>> model = rectified_mlp(6, 4, 2, backend="native")
>>> chip = ChipDevices(faults=StuckAtFaults(p=0.1), drift=PowerLawDrift(), seed=7)
>>> chip.conductances(model, t=3600.0).shape == model.conductances().shape
True
"""
import numpy as np

from ..errors import ValidationError
from .drift import PowerLawDrift, global_compensation
from .faults import FaultMap, StuckAtFaults


def device_conductances(layer):
    """The conductances (S) of ``layer``'s devices as the circuit holds them (quantised where the
    layer quantises), and their bounds ``(g_min, g_max)`` (S): what every chip study draws its
    faults, drift or masks on. A wired crossbar's segments are not devices: the studies put them
    back unchanged (:meth:`~ebana.layers.base.Layer.conductances_with`)."""
    g = np.asarray(layer.circuit_g() if hasattr(layer, "circuit_g") else layer.conductances(), dtype=float)
    return g, _bounds(layer, g)


def _bounds(layer, g):
    return float(getattr(layer, "g_min", g.min())), float(getattr(layer, "g_max", g.max()))


class ChipDevices:
    """Fault maps and drift exponents of one chip (seed) for a model's conductance layers.

    Args:
        faults: a StuckAtFaults, or None (no faults).
        drift: a PowerLawDrift, or None (no drift).
        seed: the chip seed (non-negative int); the same seed gives the same chip.
    """

    def __init__(self, faults=None, drift=None, seed=0):
        if faults is not None and not isinstance(faults, StuckAtFaults):
            raise ValidationError(f"ChipDevices: faults must be a StuckAtFaults or None, received {faults!r}")
        if drift is not None and not isinstance(drift, PowerLawDrift):
            raise ValidationError(f"ChipDevices: drift must be a PowerLawDrift or None, received {drift!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValidationError(f"ChipDevices: seed must be a non-negative int, received {seed!r}")
        self.faults, self.drift, self.seed = faults, drift, int(seed)
        self.fault_maps = {}  # layer name -> FaultMap, drawn on first use (or loaded)

    def fault_map(self, layer):
        """The FaultMap of ``layer`` on this chip (drawn once from the seed, then kept), or None."""
        if self.faults is None:
            return None
        if layer.name not in self.fault_maps:
            self.fault_maps[layer.name] = self.faults.draw(device_conductances(layer)[0].shape, self.seed, key=layer.name)
        fmap = self.fault_maps[layer.name]
        if fmap.shape != device_conductances(layer)[0].shape:
            raise ValidationError(f"layer {layer.name!r}: its fault map has shape {fmap.shape}, the layer's "
                                  f"conductances {device_conductances(layer)[0].shape}")
        return fmap

    def programmed(self, layer):
        """Conductances (S) of ``layer`` as programmed on this chip: trained values with stuck devices."""
        g = device_conductances(layer)[0]
        fmap = self.fault_map(layer)
        return g if fmap is None else fmap.apply(g, *_bounds(layer, g))

    def layer_conductances(self, model, t=None):
        """``[(G_prog, G(t))]`` (S) per conductance layer of ``model`` (``t`` None or no drift: no drift)."""
        pairs = []
        for layer in model.resistive_layers:
            g0 = self.programmed(layer)
            if self.drift is None or t is None:
                pairs.append((g0, g0))
                continue
            nu = self.drift.draw_nu(g0, _bounds(layer, g0)[1], self.seed, key=layer.name)
            pairs.append((g0, self.drift.apply(g0, nu, t)))
        return pairs

    def conductances(self, model, t=None, compensate=False):
        """Effective conductances (S), shape (R,) in circuit order, at time ``t`` (s) after programming.

        compensate: multiply by the chip's global drift compensation factor
        (:func:`~ebana.devices.drift.global_compensation`).
        """
        pairs = self.layer_conductances(model, t)
        scale = global_compensation([p[0] for p in pairs], [p[1] for p in pairs]) if compensate else 1.0
        return np.concatenate([layer.conductances_with(scale * p[1].ravel())  # wires neither stick nor drift
                               for layer, p in zip(model.resistive_layers, pairs)])

    # -- saving ------------------------------------------------------------
    def to_dict(self):
        """Plain containers and arrays: settings, seed and the fault maps drawn so far."""
        return {"faults": None if self.faults is None else self.faults.get_config(),
                "drift": None if self.drift is None else self.drift.get_config(),
                "seed": self.seed,
                "fault_maps": {name: fmap.to_dict() for name, fmap in self.fault_maps.items()}}

    @classmethod
    def from_dict(cls, d, source="chip devices"):
        """Rebuild :meth:`to_dict`'s output (``source`` names the file in errors)."""
        keys = {"faults", "drift", "seed", "fault_maps"}
        if not isinstance(d, dict) or set(d) != keys:
            got = sorted(d) if isinstance(d, dict) else type(d).__name__
            raise ValidationError(f"{source}: chip devices hold {sorted(keys)}, found {got}")
        try:
            faults = None if d["faults"] is None else StuckAtFaults(**d["faults"])
            drift = None if d["drift"] is None else PowerLawDrift(**d["drift"])
        except TypeError as exc:
            raise ValidationError(f"{source}: malformed fault or drift settings ({exc})") from None
        chip = cls(faults, drift, d["seed"])
        if not isinstance(d["fault_maps"], dict):
            raise ValidationError(f"{source}: 'fault_maps' must be a dict by layer name")
        chip.fault_maps = {str(k): FaultMap.from_dict(v, f"{source}, layer {k!r}") for k, v in d["fault_maps"].items()}
        return chip

    def __repr__(self):
        return f"ChipDevices(faults={self.faults!r}, drift={self.drift!r}, seed={self.seed})"
