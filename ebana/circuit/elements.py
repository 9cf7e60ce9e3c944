"""Device models that elements refer to. Plain data; backends read them.

Units: V, A, Ohm, S.
"""
from dataclasses import dataclass
from importlib import resources

from ..errors import ValidationError
from ..validation import check_number, check_name


@dataclass(frozen=True)
class BehavioralDiode:
    """Piecewise-linear diode, with ``v`` the anode-to-cathode voltage (V)::

        i(v) = v / roff                                  for v <= vth
        i(v) = v / roff + (v - vth) * (1/ron - 1/roff)   for v >  vth

    Continuous, so Newton converges once every diode sits in its region.
    """
    vth: float = 0.0
    """Threshold voltage (V)."""
    ron: float = 100.0
    """On-resistance (Ohm)."""
    roff: float = 1e10
    """Off-resistance (Ohm)."""

    def __post_init__(self):
        check_number(self.vth, "diode VTH (V)", -100, 100)
        check_number(self.ron, "diode RON (Ohm)", 0, 1e15, low_open=True)
        check_number(self.roff, "diode ROFF (Ohm)", 0, 1e18, low_open=True)
        if self.roff <= self.ron:
            raise ValidationError(f"diode ROFF ({self.roff} Ohm) must exceed RON ({self.ron} Ohm)")


@dataclass(frozen=True)
class ShockleyDiode:
    """SPICE junction diode (level 1, no series resistance, no capacitance)::

        i(v) = is_ * (exp(v / (n * VT)) - 1) + gmin * v,   VT = k T / q at 27 C

    ``name`` is the ``.model`` name used in the netlist.
    """
    is_: float = 2.52e-9
    """Saturation current (A)."""
    n: float = 1.752
    """Emission coefficient (dimensionless)."""
    name: str = "ebana_diode"

    def __post_init__(self):
        # Ngspice raises any saturation current below its epsmin (1e-28 A) to 1e-28 A
        # without a word; refusing it keeps the backends on the same equations.
        check_number(self.is_, "diode IS (A) (Ngspice's smallest is 1e-28 A)", 1e-28, 1)
        check_number(self.n, "diode N", 0.1, 10)
        check_name(self.name, "diode model")

    def model_line(self):
        return f".model {self.name} D(IS={self.is_!r} N={self.n!r})"

    @classmethod
    def from_library(cls, name="ebana_diode"):
        """The model shipped in ``ebana/models/diodes.lib`` (parsed, never included verbatim)."""
        text = resources.files("ebana").joinpath("models/diodes.lib").read_text()
        for line in text.splitlines():
            words = line.replace("(", " ").replace(")", " ").split()
            if len(words) >= 3 and words[0].lower() == ".model" and words[1].lower() == name.lower():
                params = dict(w.split("=", 1) for w in words[3:] if "=" in w)
                params = {k.upper(): float(v) for k, v in params.items()}
                return cls(is_=params["IS"], n=params.get("N", 1.0), name=name.lower())
        raise ValidationError(f"no diode model {name!r} in ebana/models/diodes.lib")
