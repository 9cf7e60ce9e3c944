"""The process's one Ngspice shared library, wrapped for ebana.

libngspice keeps global state, so one process holds one instance; parallel
solves use one process per worker (see ``ebana.backends.parallel``). PySpice's
``NgSpiceShared`` loads the library and routes its output to us; we call the
C API (``ngSpice_Command``, ``ngSpice_Circ``, ``ngGet_Vec_Info``) directly,
because PySpice's ``exec_command`` guesses failure by searching the output for
"error" and its ``Simulation`` renders the netlist twice per run.
"""
import logging
import threading

import numpy as np

from ...errors import SimulatorError

_LOCK = threading.Lock()
_INSTANCE = None


def _quiet_pyspice():
    # PySpice logs every Ngspice stderr line as an error and warns that
    # Ngspice 39 is "unsupported"; ebana keeps the text and reports it itself.
    logging.getLogger("PySpice").setLevel(logging.CRITICAL)


class NgspiceLibrary:
    """Thin, explicit access to libngspice. Obtain it with :func:`ngspice_library`."""

    # Ngspice keeps every command in a history list; clearing it every so
    # often keeps memory flat over long runs (~56 KB per solve otherwise).
    CLEAR_HISTORY_EVERY = 2000

    def __init__(self):
        _quiet_pyspice()
        from PySpice.Spice.NgSpice.Shared import NgSpiceShared, ffi

        library = self
        self.output = []  # before the library starts talking

        class _Shared(NgSpiceShared):
            def send_char(self, message, ngspice_id):
                library.output.append(message)
                return 0

        self._ffi = ffi
        self._shared = _Shared(ngspice_id=0, send_data=False)
        self._lib = self._shared._ngspice_shared
        # The backend object whose circuit is loaded now (one circuit per process).
        self.loaded_by = None
        self._commands = 0

    def clear_output(self):
        self.output.clear()
        self._shared.clear_output()  # PySpice's own copy of the text

    def output_text(self):
        return "\n".join(self.output)

    # Text by which Ngspice reports a failed command or analysis. Progress notes
    # ("Note: Starting gmin stepping", "Trying gmin = ...", "Dynamic gmin
    # stepping failed" before it moves on to source stepping) also go to stderr
    # and do not mean the analysis failed. "gmin step failed" does: Ngspice 39
    # then still returns a point, solved at a gmin far above the real one.
    FAILURE_MARKERS = ("Error", "error:", "aborted", "DC solution failed", "doAnalyses:",
                       "singular matrix", "iteration limit reached", "no convergence", "gmin step failed")

    def errors(self):
        """Lines of Ngspice's output since the last clear that report a failure."""
        out = []
        for m in self.output:
            _, _, text = m.partition(" ")
            if any(marker in text for marker in self.FAILURE_MARKERS):
                out.append(text.strip())
        return out

    def command(self, text):
        """Run one Ngspice command; return nothing. Raises SimulatorError if the call is refused."""
        self._commands += 1
        if self._commands >= self.CLEAR_HISTORY_EVERY:
            self._lib.ngSpice_Command(self._ffi.NULL)
            self._commands = 0
        rc = self._lib.ngSpice_Command(text.encode("ascii"))
        if rc:
            raise SimulatorError(f"Ngspice refused the command {text!r} (code {rc})", output=self.output_text())

    def load(self, netlist):
        """Load a netlist (replacing nothing: call ``remcirc`` first)."""
        ffi = self._ffi
        lines = [ffi.new("char[]", line.encode("ascii")) for line in netlist.splitlines() if line.strip()]
        lines.append(ffi.new("char[]", b""))
        lines.append(ffi.NULL)
        rc = self._lib.ngSpice_Circ(ffi.new("char *[]", lines))
        if rc:
            raise SimulatorError(f"Ngspice could not load the circuit (code {rc})", output=self.output_text())

    def read_scalars(self, names_bytes, out):
        """Fill ``out[k]`` with the first value of vector ``names_bytes[k]``; return the missing ones."""
        get = self._lib.ngGet_Vec_Info
        NULL = self._ffi.NULL
        missing = []
        for k, name in enumerate(names_bytes):
            info = get(name)
            if info == NULL or info.v_length < 1 or info.v_realdata == NULL:
                missing.append(k)
            else:
                out[k] = info.v_realdata[0]
        return missing


    def read_vectors(self, names_bytes, out):
        """Fill column ``out[:, k]`` with vector ``names_bytes[k]`` (one value per row of ``out``, e.g.
        per step of a sweep); return the indices of vectors missing or of another length."""
        get = self._lib.ngGet_Vec_Info
        NULL = self._ffi.NULL
        rows = out.shape[0]
        missing = []
        for k, name in enumerate(names_bytes):
            info = get(name)
            if info == NULL or info.v_length != rows or info.v_realdata == NULL:
                missing.append(k)
            else:
                out[:, k] = np.frombuffer(self._ffi.buffer(info.v_realdata, rows * 8), dtype=np.float64)
        return missing


def ngspice_library():
    """The process's :class:`NgspiceLibrary` (created on first use)."""
    global _INSTANCE
    with _LOCK:
        if _INSTANCE is None:
            _INSTANCE = NgspiceLibrary()
        return _INSTANCE
