"""A memristor crossbar rendered as an ebana circuit and solved in Ngspice.

Rows are driven by voltage sources (V); every cross-point holds one device
(a conductance, S); every column ends in a 0 V source that holds it at
virtual ground and measures the current arriving from the array (A, SPICE
sign: positive into the source's ``+`` terminal, i.e. into the column's
sense amplifier).

With ``r_wire > 0`` every wire segment between neighbouring cross-points is a
resistor of ``r_wire`` (Ohm): row ``j`` runs from its source through columns
``0 .. C-1``; column ``k`` runs from row ``0`` down to its sense source after
row ``R-1``. Devices far from the sources then see less than the applied
voltage (IR drop) -- an effect only the circuit solve captures; the ideal
closed form is ``I_col = V_rows @ G``.

Example:

>>> import numpy as np
>>> xb = CrossbarCircuit(4, 4)                          # doctest: +SKIP
>>> xb.column_currents(np.full((4, 4), 5e-7), [[0.1, -0.1, 0.1, 0.1]])  # doctest: +SKIP
array([[1.e-07, 1.e-07, 1.e-07, 1.e-07]])
"""
import numpy as np

from ..backends.base import make_stimulus
from ..circuit.structure import CircuitBuilder
from ..errors import ShapeError, ValidationError
from ..validation import check_array, check_number

_SHARED_BACKEND = None


def shared_backend():
    """The one :class:`~ebana.backends.ngspice.NgspiceBackend` that crossbars use when given none.

    libngspice holds one loaded circuit per process, and a backend remembers
    which circuit it loaded and then only ``alter``s what changed. Two
    backends used in turn would therefore alter each other's circuit and
    return wrong currents without an error; one shared backend sees the
    circuit change and reloads instead.
    """
    global _SHARED_BACKEND
    if _SHARED_BACKEND is None:
        from ..backends.ngspice.backend import NgspiceBackend
        _SHARED_BACKEND = NgspiceBackend()
    return _SHARED_BACKEND


class CrossbarCircuit:
    """An ``rows x cols`` crossbar circuit.

    rows, cols: array size (devices ``rows * cols``).
    r_wire: resistance of one wire segment (Ohm); 0 leaves the wires out.
    backend: a solver with ``solve(circuit, stimulus)``; default
        :func:`shared_backend` (one Ngspice backend per process). Do not
        give crossbars that are solved in turn different Ngspice backends
        (see :func:`shared_backend`).
    """

    def __init__(self, rows=4, cols=4, r_wire=0.0, backend=None, name="xbar"):
        for what, n in (("rows", rows), ("cols", cols)):
            if int(n) != n or not 1 <= n <= 256:
                raise ValidationError(f"CrossbarCircuit: {what} must be an integer in [1, 256], received {n!r}")
        self.rows, self.cols = int(rows), int(cols)
        self.r_wire = check_number(r_wire, "CrossbarCircuit: r_wire (Ohm per segment)", 0.0, 1e9)
        self.backend = shared_backend() if backend is None else backend
        self.circuit = self._build(name)

    @property
    def n_wires(self):
        """Number of wire-segment resistors (0 without wire resistance)."""
        return 0 if self.r_wire == 0 else 2 * self.rows * self.cols

    def _build(self, name):
        R, C = self.rows, self.cols
        b = CircuitBuilder()
        row_in = b.nodes(name, R, "in")
        col_out = b.nodes(name, C, "out")
        if self.r_wire == 0:
            row_at, col_at = row_in[:, None], col_out[None, :]
        else:
            row_at = b.nodes(name, R * C, "r").reshape(R, C)   # row wire at cross-point (j, k)
            col_at = b.nodes(name, R * C, "c").reshape(R, C)   # column wire at cross-point (j, k)
        # Devices first (C order, row-major) so that g[:R*C] is the device matrix.
        b.resistors(f"{name}_dev", np.broadcast_to(row_at, (R, C)), np.broadcast_to(col_at, (R, C)))
        if self.r_wire > 0:
            # Row j: source -> (j, 0) -> (j, 1) ... ; column k: (0, k) -> ... -> (R-1, k) -> sense.
            row_prev = np.concatenate([row_in[:, None], row_at[:, :-1]], axis=1)
            col_next = np.concatenate([col_at[1:, :], col_out[None, :]], axis=0)
            b.resistors(f"{name}_wrow", row_prev, row_at)
            b.resistors(f"{name}_wcol", col_at, col_next)
        b.vsources(f"{name}_in", row_in, 0, 0.0)
        b.vsources(f"{name}_sense", col_out, 0, 0.0)
        self._sense = slice(R, R + C)
        return b.build()

    def netlist(self, g, v_rows):
        """The SPICE text of one solve (for inspection), ``g`` (S) ``(rows, cols)``, ``v_rows`` (V)."""
        from ..circuit.netlist import render
        gv, vs = self._vectors(g, np.atleast_2d(v_rows))
        return render(self.circuit, gv, vs[0])

    def _vectors(self, g, v_rows):
        g = check_array(g, "crossbar conductances (S)", 0.0, 1.0)
        if g.shape != (self.rows, self.cols):
            raise ShapeError(f"CrossbarCircuit expected conductances of shape {(self.rows, self.cols)} "
                             f"(rows, cols), received {g.shape}")
        if np.any(g <= 0):
            j, k = np.argwhere(g <= 0)[0]
            raise ValidationError(f"device ({j}, {k}) has conductance {g[j, k]!r} S; every device must be > 0 S")
        v = check_array(v_rows, "row voltages (V)", -100.0, 100.0)
        if v.ndim != 2 or v.shape[1] != self.rows:
            raise ShapeError(f"CrossbarCircuit expected row voltages of shape (batch, {self.rows}), "
                             f"received {v.shape}")
        gv = np.concatenate([g.ravel(), np.full(self.n_wires, 1.0 / self.r_wire if self.r_wire else 0.0)])
        vs = np.concatenate([v, np.zeros((v.shape[0], self.cols))], axis=1)
        return gv, vs

    def column_currents(self, g, v_rows):
        """Currents arriving at each column's sense source (A), shape ``(batch, cols)``.

        g: device conductances (S), shape ``(rows, cols)``.
        v_rows: row voltages (V), shape ``(batch, rows)`` (or ``(rows,)``).
        """
        v = np.atleast_2d(np.asarray(v_rows, dtype=float))
        gv, vs = self._vectors(g, v)
        op = self.backend.solve(self.circuit, make_stimulus(self.circuit, gv, vs))
        return op.i_vs[:, self._sense].copy()

    def close(self):
        """Release the backend's loaded circuit."""
        self.backend.close()
