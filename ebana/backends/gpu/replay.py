"""Solves replayed from recorded graphs: the device solver without one launch per operation.

On a GPU a training step of an image-sized network at batch 128 is bound by
launches: about 130 operations per phase, each costing more host time than
the GPU needs to run it. A recorded graph (:mod:`.graphs`: a CUDA graph)
replays all of a solve's kernels with one launch. A graph cannot branch on
values, so a recorded solve runs a fixed number of plain sweeps, and it is
trusted only after its report is read back (one host round trip per solve):

* the schedule: the first solve of each kind (cold, or warm from a given
  start) runs eagerly and counts its sweeps; later solves of that kind and shape
  replay a graph of that many sweeps plus ``MARGIN``, with Anderson mixing from
  the sweep the eager solve began mixing at (if it did);
* the verification: the eager solver's own convergence test must pass at some
  sweep of the replay, with no larger move after it, and the KCL check
  (every sample's residual recomputed from the final voltages, as a Newton
  step) must be within ``check_tol``; a NaN anywhere fails both;
* a replay that fails is thrown away and the phase is solved eagerly, which
  either converges (the schedule then grows to cover it) or raises the eager
  solver's error naming the sample. Nothing unverified is returned;
* every ``RELEARN`` replays of a kind, one solve runs eagerly and sets its
  schedule afresh (a schedule only grows after a failed replay), and a kind
  whose schedule reaches the eager solver's sweep limit is solved eagerly.

Units: V, A, S.
"""
import warnings

import numpy as np

from ..base import OperatingPoint
from ..layered.sweeps import converged

MARGIN = 1  # sweeps recorded beyond the count an eager solve of the same kind needed
MAX_RECORDINGS = 8  # graphs kept per backend (one per kind and shape: training, evaluation, a last partial batch)
RELEARN = 256  # replays of a kind after which its next solve runs eagerly to learn its schedule afresh
# (a schedule only grows after a failed replay: one hard batch must not fix every later replay's length)


class SolveReplays:
    """The recorded solves of one :class:`~.backend.DeviceLayeredBackend`, made by ``recorder``."""

    def __init__(self, backend, recorder):
        self.be, self.recorder = backend, recorder
        self.schedule = {}    # warm (bool) -> (sweeps, the sweep mixing starts at or None) of a recorded solve
        self.since_learned = {}  # warm -> verified replays since its schedule was last learned
        self.recordings = {}  # (warm, schedule, input shapes) -> a recording of the recorder
        self.replayed = self.fallbacks = 0
        self.disabled = None  # why recording stopped (a capture failed), or None

    def clear(self):
        """Forget every recording (the circuit changed, or the backend closed)."""
        self.recordings.clear()
        self.schedule.clear()
        self.since_learned.clear()

    def solve(self, circuit, plan, index, stimulus, initial, sample_offset=0):
        """An OperatingPoint from a verified replay, or None when this solve runs eagerly."""
        be, xp = self.be, self.be.xp
        if self.disabled or not plan.groups:
            return None
        warm = initial is not None
        schedule = self.schedule.get(warm)
        if schedule is None or self.since_learned.get(warm, 0) >= RELEARN:
            # the first of its kind, or time to learn again: how many sweeps it takes
            op = be.solve_eagerly(circuit, stimulus, initial, sample_offset)
            self._learned(warm, (be.sweeps + MARGIN, be.mixed_from))
            return op
        if schedule[0] >= be.max_iterations:
            return None  # this kind needs every sweep the eager solver allows: a replay would only add work
        values = {"g": xp.asarray(stimulus.g, dtype=float), "vs": xp.asarray(stimulus.vs, dtype=float),
                  "isrc": xp.asarray(stimulus.isrc, dtype=float)}
        if warm:
            values["initial"] = xp.asarray(initial, dtype=float)
        recording = self._recording(plan, index, circuit.n_nodes, warm, schedule, values)
        if recording is None:
            return None
        try:
            outputs, report = recording.run(values)
        except Exception as e:  # noqa: BLE001 - a replay can fail in the library or the driver
            self._disable("replaying", e)
            return None
        sweeps, mix_from = schedule
        if not self._verified(report, sweeps):
            self.fallbacks += 1
            op = be.solve_eagerly(circuit, stimulus, initial, sample_offset)
            if be.mixed_from is not None:
                mix_from = be.mixed_from if mix_from is None else min(mix_from, be.mixed_from)
            self._learned(warm, (max(2 * sweeps, be.sweeps + MARGIN), mix_from))
            return op
        self.replayed += 1
        self.since_learned[warm] = self.since_learned.get(warm, 0) + 1
        be.solves += values["vs"].shape[0]
        be.sweeps = sweeps
        full = outputs["full"]
        return OperatingPoint(full, branch_currents=lambda: be.branch_currents_at(circuit, stimulus, full))

    def _learned(self, warm, schedule):
        """Replay solves of kind ``warm`` with ``(sweeps, mix_from)`` from now on (sweeps at most
        the eager solver's limit); the recordings of its old schedule go."""
        schedule = (min(schedule[0], self.be.max_iterations), schedule[1])
        old = self.schedule.get(warm)
        self.schedule[warm], self.since_learned[warm] = schedule, 0
        if old is not None and old != schedule:
            for key in [k for k in self.recordings if k[:2] == (warm, old)]:
                del self.recordings[key]

    def _recording(self, plan, index, n_nodes, warm, schedule, values):
        key = (warm, schedule) + tuple((k, x.shape) for k, x in sorted(values.items()))
        recording = self.recordings.get(key)
        if recording is not None:
            return recording
        if len(self.recordings) >= MAX_RECORDINGS:
            self.recordings.pop(next(iter(self.recordings)))
        body = self.be.recorded_solve(plan, index, n_nodes, values["vs"].shape[0], warm, *schedule)
        try:
            recording = self.recorder.record({k: x.shape for k, x in values.items()}, body)
        except Exception as e:  # noqa: BLE001 - a capture can fail in the library or the driver
            self._disable("recording", e)
            return None
        self.recordings[key] = recording
        return recording

    def _disable(self, what, error):
        """Stop recording and replaying, saying why once; every solve then runs eagerly."""
        self.disabled = f"{type(error).__name__}: {error}"
        self.clear()
        warnings.warn(f"device solver: {what} a solve failed ({self.disabled}); every solve now runs operation "
                      "by operation (the same results, more launches)", RuntimeWarning, stacklevel=5)

    def _verified(self, report, sweeps):
        """Whether a replay's ``report`` (host copy, see ``recorded_solve``) passes the eager
        solver's convergence test at some sweep and its KCL check."""
        be = self.be
        if not np.all(np.isfinite(report)):
            return False
        moves, (largest_voltage, worst, ordered) = report[:sweeps], report[sweeps:]
        if ordered != 1.0 or not worst <= be.check_tol:
            return False
        previous = 0.0
        for sweep, largest in enumerate(moves):
            if converged(largest, previous, be.vtol, lambda: largest_voltage):
                return bool(moves[sweep:].max() <= max(largest, be.vtol))
            previous = largest
        return False
