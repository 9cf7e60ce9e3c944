"""The effect of wire resistance (IR drop) on a crossbar's column currents.

Only the circuit solve sees it: the closed form ``I = V @ G`` assumes ideal
wires. The relevant number is ``r_wire * G`` (segment resistance over device
resistance) times the number of segments a current crosses: with 2 MOhm
devices, 1 Ohm segments change the currents by parts per million, 10 kOhm
segments by several per cent.

Example:

>>> import numpy as np
>>> effect = wire_resistance_effect(np.full((4, 4), 5e-7), [[0.1] * 4], [0.0, 1e4])  # doctest: +SKIP
>>> effect.relative_change[1] > 0.01                                               # doctest: +SKIP
True
"""
from dataclasses import dataclass

import numpy as np

from ..validation import check_array
from .circuit import CrossbarCircuit


@dataclass
class WireEffect:
    """Column currents for several wire resistances.

    r_wire: segment resistances (Ohm), ``(W,)``.
    currents: column currents (A), ``(W, B, cols)``.
    ideal: closed-form currents ``V @ G`` (A), ``(B, cols)``.
    """
    r_wire: np.ndarray
    currents: np.ndarray
    ideal: np.ndarray

    @property
    def relative_change(self):
        """Per wire resistance, ``max |I - I_ideal| / max |I_ideal|`` (dimensionless), ``(W,)``."""
        scale = np.abs(self.ideal).max()
        return np.abs(self.currents - self.ideal[None]).max(axis=(1, 2)) / scale

    def table(self):
        """Plain-text table: wire resistance, relative change of the column currents."""
        lines = ["r_wire per segment (Ohm) | max |dI| / max |I|"]
        for r, d in zip(self.r_wire, self.relative_change):
            lines.append(f"{r:>24g} | {d:.2e}")
        return "\n".join(lines)


def wire_resistance_effect(g, v_rows, r_wires, backend=None):
    """Solve the crossbar with conductances ``g`` (S, ``(rows, cols)``) and row
    voltages ``v_rows`` (V, ``(B, rows)``) for each ``r_wires`` (Ohm); return a :class:`WireEffect`."""
    g = np.asarray(g, dtype=float)
    v = np.atleast_2d(np.asarray(v_rows, dtype=float))
    r = check_array(np.atleast_1d(r_wires), "wire resistances (Ohm)", 0.0, 1e9)
    currents = []
    for rw in r:
        xb = CrossbarCircuit(g.shape[0], g.shape[1], r_wire=float(rw), backend=backend)
        backend = xb.backend  # one backend for the whole sweep
        currents.append(xb.column_currents(g, v))
    return WireEffect(r_wire=r, currents=np.array(currents), ideal=v @ g)
