"""Loaders for measured memristor pulse curves: conductance (S) against pulse count.

Two formats are read:

* ``.dat`` (a pulse-measurement export): ``key: value`` header lines, then a
  line of column names, then comma-separated rows ``time (s), V (V), I (A),
  V (V), I (A), R (Ohm)``. A *read* row is one where both voltage columns are
  filled (the read at ``+V_read`` and ``-V_read``); its last column is the
  read resistance ``R``. Write rows (the programming pulse and the rest at
  0 V) leave columns 4-5 empty and are skipped. Read ``k`` follows ``k``
  pulses, so ``G[k] = 1 / R[k]`` is the conductance after ``k`` pulses.
* plain CSV with two columns ``pulse, conductance`` (S), an optional header
  line and ``#`` comments. Pulse numbers must be 0, 1, 2, ... in order.

Example:

>>> curve = load_pulse_curve("../shared/data/SP291D1NR100.dat")  # doctest: +SKIP
>>> curve.conductance.shape, curve.header["Number of Pulses"]      # doctest: +SKIP
((51,), '50')
"""
import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ValidationError


@dataclass(frozen=True)
class MeasuredCurve:
    """A measured pulse curve.

    conductance: conductance after ``k`` pulses (S), shape ``(n_pulses + 1,)``.
    header: the file's ``key: value`` header (strings), empty for CSV.
    source: where the curve came from (a path), for messages and plots.
    """
    conductance: np.ndarray
    header: dict = field(default_factory=dict)
    source: str = ""
    pulse_energy: float = None
    """Energy of one programming pulse (J): the mean of ``V * I`` over the file's pulse rows (those
    at the header's ``ON Voltage``) times the pulse width ``tON``; None when the file lacks them."""

    @property
    def resistance(self):
        """Read resistance (Ohm), ``1 / conductance``."""
        return 1.0 / self.conductance

    @property
    def n_pulses(self):
        return len(self.conductance) - 1


def _check_curve(g, source):
    g = np.asarray(g, dtype=float)
    if g.ndim != 1 or len(g) < 2:
        raise ValidationError(f"{source}: expected at least 2 conductance points (0 and 1 pulse), "
                              f"found {g.size}")
    if not np.all(np.isfinite(g)) or np.any(g <= 0):
        k = int(np.argmax(~np.isfinite(g) | (g <= 0)))
        raise ValidationError(f"{source}: conductance after {k} pulses is {g[k]!r} S; "
                              "every point must be finite and > 0")
    return g


def _float(text, source, line_no, what):
    try:
        return float(text)
    except ValueError:
        raise ValidationError(f"{source}, line {line_no}: {what} {text!r} is not a number") from None


def parse_dat(text, source="<text>"):
    """Parse the text of a ``.dat`` pulse measurement; return a :class:`MeasuredCurve`."""
    header, resistances, pulse_power = {}, [], []
    columns_seen = False
    for line_no, raw in enumerate(io.StringIO(text), start=1):
        line = raw.strip()
        if not line:
            continue
        cells = [c.strip() for c in line.split(",")]
        if not columns_seen:
            # Header lines are "key: value"; the first line with commas names the columns.
            if len(cells) == 1:
                key, sep, value = line.partition(":")
                if not sep:
                    raise ValidationError(f"{source}, line {line_no}: header line {line!r} is not "
                                          "'key: value'")
                header[key.strip()] = value.strip()
                continue
            columns_seen = True
            continue
        if len(cells) < 6:
            raise ValidationError(f"{source}, line {line_no}: expected 6 comma-separated columns "
                                  f"(time, V, I, V, I, R), found {len(cells)}")
        if not cells[3] or not cells[4]:  # a write row (pulse or rest): no read, no resistance
            if cells[1] and cells[2] and header.get("ON Voltage (V)"):
                v = _float(cells[1], source, line_no, "voltage (V)")
                if v != 0.0 and v == _float(header["ON Voltage (V)"], source, 0, "header ON Voltage (V)"):
                    pulse_power.append(v * _float(cells[2], source, line_no, "current (A)"))
            continue
        resistances.append(_float(cells[5], source, line_no, "resistance (Ohm)"))
    if not columns_seen:
        raise ValidationError(f"{source}: no column line (time, V, I, V, I, R) after the header")
    if not resistances:
        raise ValidationError(f"{source}: no read rows (rows with both read voltages filled)")
    r = np.asarray(resistances)
    if np.any(r <= 0):
        k = int(np.argmax(r <= 0))
        raise ValidationError(f"{source}: read {k} has resistance {r[k]!r} Ohm; it must be > 0")
    return MeasuredCurve(_check_curve(1.0 / r, source), header, source, _pulse_energy(pulse_power, header, source))


def _pulse_energy(powers, header, source):
    """Energy of one programming pulse (J): mean pulse power (W) times ``tON`` (the header's ms)."""
    width = header.get("tON (ms)")
    if not powers or width is None:
        return None
    return float(np.mean(powers)) * 1e-3 * _float(width, source, 0, "header tON (ms)")


def parse_csv(text, source="<text>"):
    """Parse a two-column ``pulse, conductance (S)`` CSV; return a :class:`MeasuredCurve`."""
    pulses, g = [], []
    rows = csv.reader(line for line in io.StringIO(text) if not line.lstrip().startswith("#"))
    for line_no, cells in enumerate(rows, start=1):
        cells = [c.strip() for c in cells if c.strip()]
        if not cells:
            continue
        if len(cells) != 2:
            raise ValidationError(f"{source}, row {line_no}: expected 2 columns (pulse, conductance S), "
                                  f"found {len(cells)}")
        try:
            p, v = float(cells[0]), float(cells[1])
        except ValueError:
            if not pulses and not g:
                continue  # a header line such as "pulse,G"
            raise ValidationError(f"{source}, row {line_no}: {cells} are not numbers") from None
        pulses.append(p)
        g.append(v)
    if pulses and not np.array_equal(pulses, np.arange(len(pulses))):
        raise ValidationError(f"{source}: pulse numbers must be 0, 1, 2, ... in order, "
                              f"found {pulses[:5]}...")
    return MeasuredCurve(_check_curve(g, source), {}, source)


def load_pulse_curve(path):
    """Load a measured pulse curve from ``path`` (``.dat`` or ``.csv``, chosen by suffix)."""
    path = Path(path)
    if not path.is_file():
        raise ValidationError(f"pulse-curve file {str(path)!r} does not exist")
    text = path.read_text(errors="replace")
    suffix = path.suffix.lower()
    if suffix == ".dat":
        return parse_dat(text, str(path))
    if suffix in (".csv", ".txt"):
        return parse_csv(text, str(path))
    raise ValidationError(f"pulse-curve file {str(path)!r}: unknown suffix {suffix!r}; "
                          "use .dat (pulse measurement) or .csv (pulse, conductance)")
