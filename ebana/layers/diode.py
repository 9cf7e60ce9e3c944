"""Diode clamps from each net to a bias node: the nonlinearity of the network."""
import hashlib

from ..circuit.elements import BehavioralDiode, MosDiode, ShockleyDiode
from ..errors import ShapeError, ValidationError
from .base import Layer
from .bias import BiasSources


class DiodeLayer(BiasSources, Layer):
    """One diode per net, between the net and a bias node held at ``bias_voltage`` (V).

    ``bias_voltage``: a number (one bias node and source shared by every net)
    or an array of one value per net (one bias node and source each). With
    ``trainable=True`` EP learns the bias voltages (one shared value, or one
    per net when an array is given), kept within ``[bias_min, bias_max]`` (V);
    ``lr`` is this layer's learning rate (None: the optimizer's).

    * ``direction='down'``: conducts when ``V > bias_voltage + VTH`` (clamps from above);
    * ``direction='up'``: conducts when ``V < bias_voltage - VTH`` (clamps from below).

    ``kind='behavioral'``: piecewise linear, ``param`` keys ``VTH`` (V), ``RON`` and
    ``ROFF`` (Ohm). ``kind='real'``: a SPICE junction diode; ``param`` keys
    ``model`` (a name in ``ebana/circuit/spice_models/diodes.lib``), or ``IS`` (A) and ``N``.
    ``kind='mos'``: a diode-connected MOSFET, SPICE level 1 (an NMOS for
    ``'down'``, a PMOS for ``'up'``; equations in
    :class:`~ebana.circuit.elements.MosDiode`); ``param`` keys ``VTO``
    (threshold magnitude, V, default 0.3), ``KP`` (A/V^2, default 1e-4),
    ``LAMBDA`` (1/V, default 0), ``W`` and ``L`` (m, defaults 10e-6 and 1e-6)
    and ``IS`` (bulk junction, A, default 1e-14). It conducts when the net
    passes the bias by more than VTO.
    The output nets are the input nets, now clamped.

    >>> from ebana import DenseLayer, InputVoltageLayer
    >>> h = DenseLayer(units=8, name="d1")(InputVoltageLayer(units=2, name="x"))
    >>> DiodeLayer(name="clamp", direction="down", bias_voltage=0.5)(h).units   # the same 8 nets
    8
    """
    keeps_layout = True
    BEHAVIORAL_KEYS = {"VTH", "RON", "ROFF"}
    REAL_KEYS = {"model", "IS", "N"}
    MOS_KEYS = {"VTO", "KP", "LAMBDA", "W", "L", "IS"}

    def __init__(self, name, direction="down", bias_voltage=0.0, kind="behavioral", param=None,
                 trainable=False, lr=None, bias_min=-1.0, bias_max=1.0):
        super().__init__(name)
        if direction not in ("down", "up"):
            raise ValidationError(f"DiodeLayer {name!r}: direction must be 'down' or 'up', received {direction!r}")
        if kind not in ("behavioral", "real", "mos"):
            raise ValidationError(f"DiodeLayer {name!r}: kind must be 'behavioral', 'real' or 'mos', "
                                  f"received {kind!r}")
        self.direction, self.kind = direction, kind
        self._init_bias(bias_voltage, trainable, lr, bias_min, bias_max)
        self.param = dict(param or {})
        allowed = {"behavioral": self.BEHAVIORAL_KEYS, "real": self.REAL_KEYS, "mos": self.MOS_KEYS}[kind]
        unknown = set(self.param) - allowed
        if unknown:
            raise ValidationError(f"DiodeLayer {name!r} ({kind}): unknown param {sorted(unknown)}; "
                                  f"allowed: {sorted(allowed)}")
        try:
            self.model = self._model()
        except ValidationError as e:
            raise ValidationError(f"DiodeLayer {name!r} ({kind}): {e}") from None

    def _model(self):
        p = self.param
        if self.kind == "behavioral":
            d = BehavioralDiode()
            return BehavioralDiode(vth=p.get("VTH", d.vth), ron=p.get("RON", d.ron), roff=p.get("ROFF", d.roff))
        if self.kind == "mos":
            d = MosDiode()
            return MosDiode(polarity="nmos" if self.direction == "down" else "pmos", vto=p.get("VTO", d.vto),
                            kp=p.get("KP", d.kp), lambda_=p.get("LAMBDA", d.lambda_), w=p.get("W", d.w),
                            l=p.get("L", d.l), is_=p.get("IS", d.is_), name=self._model_name())
        if "IS" in p or "N" in p:
            base = ShockleyDiode.from_library(p.get("model", "ebana_diode"))
            return ShockleyDiode(is_=p.get("IS", base.is_), n=p.get("N", base.n), name=self._model_name())
        return ShockleyDiode.from_library(p.get("model", "ebana_diode"))

    def _model_name(self):
        # Unique per layer (names are unique ignoring case) and within the 40-character limit.
        digest = hashlib.sha1(self.name.lower().encode()).hexdigest()[:8]
        return f"{self.name[:24]}_{digest}".lower()

    def _output_units(self, parent_units):
        n = parent_units[0]
        if not self.scalar_bias and self.bias_voltage.shape[0] != n:
            raise ShapeError(f"{self.describe()} has {self.bias_voltage.shape[0]} bias voltages but "
                             f"{n} input nets: give a number or one bias voltage per net")
        return n

    def lower(self, builder, input_nodes):
        bias = builder.nodes(self.name, len(self.bias_voltage), suffix="bias")
        self.vs_slice = builder.vsources(self.name, bias, 0, self.bias_voltage)
        if self.scalar_bias:
            bias = bias[0]
        if self.direction == "down":
            builder.diodes(self.name, input_nodes, bias, self.model)
        else:
            builder.diodes(self.name, bias, input_nodes, self.model)
        return input_nodes

    def get_config(self):
        return {"name": self.name, "direction": self.direction, **self._bias_config(),
                "kind": self.kind, "param": dict(self.param)}
