"""Ngspice, one DC sweep per batch instead of one ``op`` per sample.

Ngspice's sparse solver reorders its matrix at the start of every ``op`` (the
junction-initialisation iteration asks for it), whatever was solved before:
on the folded rectified-local network of the Fashion-MNIST example that is
2.8 s of the 3.4 s an image costs, against 0.001 s of solve. A DC sweep
reorders at its first point only; every later point starts Newton from the
point before and refactors in the order found.

So a batch whose samples share their conductances is written once
(:func:`~ebana.circuit.netlist.render_sweep`): every source that differs
between samples follows a sweep source stepping 0, 1, ..., B-1, so that step
k is exactly sample k's circuit, and one ``dc`` solves them all. Measured on
that network (one process): 100 images in 7.5 s (load and sweep) against
3.4 s per image with ``op``, and the same voltages within 6e-17 V.

What differs from :class:`~ebana.backends.ngspice.backend.NgspiceBackend`: a
sample's Newton iteration starts from the previous sample's solution, not
from junction initialisation, so the results agree with one ``op`` per sample
to the solver's tolerance, not bit for bit, and may move by that much with
the batch split (a serial run against workers). Where a sweep does not apply
(one sample, per-sample conductances, user SPICE blocks) or fails at some
step, the samples are solved one ``op`` each, exactly as ``NgspiceBackend``
solves them, and a failure names its sample. Ctrl-C stops between sweeps.
"""
import logging

import numpy as np

from ...circuit.netlist import render_sweep, varying
from ...errors import SimulatorError
from ...interrupt import check as check_interrupt
from ..base import OperatingPoint
from .backend import NgspiceBackend

log = logging.getLogger(__name__)


class NgspiceSweepBackend(NgspiceBackend):
    """Solve each batch with Ngspice DC sweeps (name ``'ngspice-sweep'``; ``'ngspice-sweep:2'`` over
    two worker processes).

    options, fold_sources: as for :class:`~ebana.backends.ngspice.backend.NgspiceBackend`.
    max_table_values: per sweep, at most this many per-sample source values (the tables of the swept
        sources, about 60 bytes of netlist each); a larger batch is cut into sweeps of equal length.

    Attributes:
        sweeps: DC sweeps run; fallbacks: sweeps that failed and were solved one ``op`` per sample.
    """
    name = "ngspice-sweep"

    def __init__(self, options=None, fold_sources=True, max_table_values=500_000):
        super().__init__(options, fold_sources)
        self.max_table_values = int(max_table_values)
        self.sweeps = 0
        self.fallbacks = 0

    def _solve(self, circuit, stimulus, sample_offset):
        B = stimulus.batch_size
        if B < 2 or stimulus.g.ndim == 2 or circuit.spice_blocks:
            return super()._solve(circuit, stimulus, sample_offset)
        swept = int(varying(stimulus.vs).sum() + varying(stimulus.isrc).sum())
        per_sweep = max(2, self.max_table_values // max(1, swept))
        parts = []
        for rows in np.array_split(np.arange(B), -(-B // per_sweep)):  # sweeps of equal length
            part = stimulus.take(rows)
            solve = self._sweep if part.batch_size > 1 else super()._solve
            parts.append(solve(circuit, part, sample_offset + int(rows[0])))
        return OperatingPoint(np.concatenate([p.v for p in parts]), np.concatenate([p.i_vs for p in parts]))

    def _sweep(self, circuit, stimulus, sample_offset):
        """One DC sweep over the samples of ``stimulus``; one ``op`` each if it fails."""
        check_interrupt()
        B, lib = stimulus.batch_size, self._lib
        netlist = render_sweep(circuit, stimulus.g, stimulus.vs, stimulus.isrc, options=self.options)
        self._unload()
        lib.clear_output()
        lib.loaded_by = self
        try:
            lib.load(netlist.text)
            if lib.errors():
                raise SimulatorError("Ngspice rejected the sweep netlist", output=lib.output_text())
            lib.clear_output()
            lib.command(netlist.command)
            errors = lib.errors()
            v = np.zeros((B, circuit.n_nodes))
            i_vs = np.zeros((B, circuit.n_vs))
            self._name(circuit)
            missing = [0] if errors else lib.read_vectors(self._node_vectors, v[:, 1:])
            if not missing:
                missing = lib.read_vectors([n.encode() for n in netlist.branches], i_vs)
            text = lib.output_text()
        finally:
            lib.command("destroy all")
            self._unload()
        self.sweeps += 1
        if errors or missing:
            self.fallbacks += 1
            log.warning("Ngspice DC sweep over samples %d-%d failed (%s); solving them one op each",
                        sample_offset, sample_offset + B - 1, "; ".join(errors) or "vectors missing")
            log.debug("Ngspice output of the failed sweep:\n%s", text)
            return super()._solve(circuit, stimulus, sample_offset)
        self.solves += B
        return OperatingPoint(v, i_vs)

    def _unload(self):
        """Remove whatever circuit the library holds; the next ``op`` path reloads its own."""
        if self._lib.loaded_by is not None:
            self._lib.command("remcirc")
            self._lib.loaded_by = None
        self._circuit = None
