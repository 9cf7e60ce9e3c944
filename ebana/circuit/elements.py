"""Device models that elements refer to. Plain data; backends read them.

Units: V, A, Ohm, S.
"""
from dataclasses import dataclass
from importlib import resources

from ..errors import ValidationError
from ..validation import check_name, check_number


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
        """The model shipped in ``ebana/circuit/spice_models/diodes.lib`` (parsed, never included verbatim)."""
        text = resources.files("ebana").joinpath("circuit/spice_models/diodes.lib").read_text()
        for line in text.splitlines():
            words = line.replace("(", " ").replace(")", " ").split()
            if len(words) >= 3 and words[0].lower() == ".model" and words[1].lower() == name.lower():
                params = dict(w.split("=", 1) for w in words[3:] if "=" in w)
                params = {k.upper(): float(v) for k, v in params.items()}
                return cls(is_=params["IS"], n=params.get("N", 1.0), name=name.lower())
        raise ValidationError(f"no diode model {name!r} in ebana/circuit/spice_models/diodes.lib")


@dataclass(frozen=True)
class MosDiode:
    """Diode-connected MOSFET (gate tied to drain, bulk tied to source), SPICE level 1
    (Shichman-Hodges) at 27 C, no series resistances, no capacitances.

    ``polarity='nmos'``: drain and gate at the anode, source and bulk at the
    cathode. ``'pmos'``: source and bulk at the anode, drain and gate at the
    cathode. Either way, with ``v`` the anode-to-cathode voltage (V) and
    ``beta = KP * W / L`` (A/V^2), the current from anode to cathode is::

        i(v) = beta / 2 * (v - VTO)**2 * (1 + LAMBDA * v)   for v > VTO (saturation:
                                                             v_ds = v_gs > v_gs - VTO)
        i(v) = 0                                            for v <= VTO (cut off;
                                                             below 0 V source and drain swap
                                                             and the gate sits at the new source)
        minus the bulk-drain junction at v_bd = -v:
        i_bd(u) = IS * (exp(u / VT) - 1) + gmin * u          for u > -3 VT
        i_bd(u) = -IS + gmin * u                             for u <= -3 VT

    which conducts (the body diode) when the cathode rises about 0.6 V above the
    anode. Ngspice adds ``gmin`` across both bulk junctions only (the bulk-source
    one is shorted here). ``vto`` is the threshold's magnitude: the ``.model``
    line gets ``VTO=+vto`` for NMOS and ``VTO=-vto`` for PMOS. Defaults: a
    low-threshold enhancement device, VTO 0.3 V, KP 100 uA/V^2, LAMBDA 0,
    W 10 um, L 1 um (beta = 1 mA/V^2), IS 1e-14 A (SPICE's default).
    """
    polarity: str = "nmos"
    vto: float = 0.3
    """Threshold voltage magnitude (V), > 0 (enhancement)."""
    kp: float = 1e-4
    """Transconductance parameter (A/V^2)."""
    lambda_: float = 0.0
    """Channel-length modulation (1/V)."""
    w: float = 10e-6
    """Channel width (m)."""
    l: float = 1e-6
    """Channel length (m)."""
    is_: float = 1e-14
    """Bulk junction saturation current (A)."""
    name: str = "ebana_mos"

    def __post_init__(self):
        if self.polarity not in ("nmos", "pmos"):
            raise ValidationError(f"MOS polarity must be 'nmos' or 'pmos', received {self.polarity!r}")
        check_number(self.vto, "MOS VTO magnitude (V)", 0, 100, low_open=True)
        check_number(self.kp, "MOS KP (A/V^2)", 0, 1, low_open=True)
        check_number(self.lambda_, "MOS LAMBDA (1/V)", 0, 10)
        check_number(self.w, "MOS W (m)", 0, 1, low_open=True)
        check_number(self.l, "MOS L (m)", 0, 1, low_open=True)
        check_number(self.is_, "MOS IS (A)", 0, 1, low_open=True)
        check_name(self.name, "MOS model")

    @property
    def beta(self):
        """``KP * W / L`` (A/V^2)."""
        return self.kp * self.w / self.l

    def model_line(self):
        vto = self.vto if self.polarity == "nmos" else -self.vto
        return (f".model {self.name} {self.polarity.upper()}(LEVEL=1 VTO={vto!r} KP={self.kp!r} "
                f"LAMBDA={self.lambda_!r} IS={self.is_!r})")

    def element_line(self, name, anode, cathode):
        """The ``M`` line of one device between nodes ``anode`` and ``cathode`` (drain gate source bulk)."""
        d, s = (anode, cathode) if self.polarity == "nmos" else (cathode, anode)
        return f"{name} {d} {d} {s} {s} {self.name} W={self.w!r} L={self.l!r}"
