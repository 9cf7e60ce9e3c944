"""Bidirectional amplifiers between two layers of a network."""
from ..errors import ValidationError
from ..validation import check_number
from .base import Layer


class AmplificationLayer(Layer):
    """One bidirectional amplifier per net, onto new nets.

    Forward: ``V_out = gain * V_in + shift`` (V). Backward: the current the
    amplifier delivers into its output net is drawn from its input net
    divided by ``gain``, so nudging currents travel back through it.

    param: ``{'gain': float (V/V, non-zero), 'shift': float (V)}``.

    >>> from ebana import InputVoltageLayer
    >>> h = InputVoltageLayer(units=8, name="x")
    >>> AmplificationLayer(name="amp", param={"gain": 4.0, "shift": 0.0})(h).units
    8
    """
    keeps_layout = True

    def __init__(self, name, param=None):
        super().__init__(name)
        param = dict(param or {})
        unknown = set(param) - {"gain", "shift"}
        if unknown:
            raise ValidationError(f"AmplificationLayer {name!r}: unknown param {sorted(unknown)}; "
                                  "allowed: ['gain', 'shift']")
        self.gain = check_number(param.get("gain", 1.0), f"gain of AmplificationLayer {name!r}", -1e6, 1e6)
        if abs(self.gain) < 1e-6:
            raise ValidationError(f"AmplificationLayer {name!r}: |gain| must be at least 1e-6 "
                                  f"(its inverse reaches the netlist), received {self.gain!r}")
        self.shift = check_number(param.get("shift", 0.0), f"shift of AmplificationLayer {name!r} (V)", -1e3, 1e3)

    def lower(self, builder, input_nodes):
        out = builder.nodes(self.name, len(input_nodes))
        builder.amplifiers(self.name, input_nodes, out, self.gain, self.shift)
        return out

    def get_config(self):
        return {"name": self.name, "param": {"gain": self.gain, "shift": self.shift}}
