"""Diode clamps from each net to a bias node: the nonlinearity of the network."""
import hashlib

from ..circuit.elements import BehavioralDiode, ShockleyDiode
from ..errors import ValidationError
from ..validation import check_number
from .base import Layer


class DiodeLayer(Layer):
    """One diode per net, between the net and a bias node held at ``bias_voltage`` (V).

    * ``direction='down'``: conducts when ``V > bias_voltage + VTH`` (clamps from above);
    * ``direction='up'``: conducts when ``V < bias_voltage - VTH`` (clamps from below).

    ``kind='behavioral'``: piecewise linear, ``param`` keys ``VTH`` (V), ``RON`` and
    ``ROFF`` (Ohm). ``kind='real'``: a SPICE junction diode; ``param`` keys
    ``model`` (a name in ``ebana/models/diodes.lib``), or ``IS`` (A) and ``N``.
    The output nets are the input nets, now clamped.

    >>> # h = DiodeLayer(name="clamp", direction="down", bias_voltage=0.5)(h)
    """
    keeps_layout = True
    BEHAVIORAL_KEYS = {"VTH", "RON", "ROFF"}
    REAL_KEYS = {"model", "IS", "N"}

    def __init__(self, name, direction="down", bias_voltage=0.0, kind="behavioral", param=None):
        super().__init__(name)
        if direction not in ("down", "up"):
            raise ValidationError(f"DiodeLayer {name!r}: direction must be 'down' or 'up', received {direction!r}")
        if kind not in ("behavioral", "real"):
            raise ValidationError(f"DiodeLayer {name!r}: kind must be 'behavioral' or 'real', received {kind!r}")
        self.direction, self.kind = direction, kind
        self.bias_voltage = check_number(bias_voltage, f"bias_voltage of DiodeLayer {name!r} (V)", -1e3, 1e3)
        self.param = dict(param or {})
        allowed = self.BEHAVIORAL_KEYS if kind == "behavioral" else self.REAL_KEYS
        unknown = set(self.param) - allowed
        if unknown:
            raise ValidationError(f"DiodeLayer {name!r} ({kind}): unknown param {sorted(unknown)}; "
                                  f"allowed: {sorted(allowed)}")
        self.model = self._model()

    def _model(self):
        p = self.param
        if self.kind == "behavioral":
            d = BehavioralDiode()
            return BehavioralDiode(vth=p.get("VTH", d.vth), ron=p.get("RON", d.ron), roff=p.get("ROFF", d.roff))
        if "IS" in p or "N" in p:
            base = ShockleyDiode.from_library(p.get("model", "ebana_diode"))
            return ShockleyDiode(is_=p.get("IS", base.is_), n=p.get("N", base.n), name=self._model_name())
        return ShockleyDiode.from_library(p.get("model", "ebana_diode"))

    def _model_name(self):
        # Unique per layer (names are unique ignoring case) and within the 40-character limit.
        digest = hashlib.sha1(self.name.lower().encode()).hexdigest()[:8]
        return f"{self.name[:24]}_{digest}".lower()

    def lower(self, builder, input_nodes):
        bias = builder.nodes(self.name, 1, suffix="bias")
        builder.vsources(self.name, bias, 0, self.bias_voltage)
        if self.direction == "down":
            builder.diodes(self.name, input_nodes, bias[0], self.model)
        else:
            builder.diodes(self.name, bias[0], input_nodes, self.model)
        return input_nodes

    def get_config(self):
        return {"name": self.name, "direction": self.direction, "bias_voltage": self.bias_voltage,
                "kind": self.kind, "param": dict(self.param)}
