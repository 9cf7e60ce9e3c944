"""The backend interface: a circuit plus a batch in, an operating point out."""
from dataclasses import dataclass

import numpy as np

from ..errors import ShapeError
from ..validation import check_array
from .arrays import array_namespace
from .deferred import whole


class OperatingPoint:
    """Solution of a batch.

    v: node voltages (V), shape ``(B, n_nodes)``; column 0 is ground (0 V).
        A solver may pass a :class:`~ebana.backends.deferred.DeferredVoltages`
        (a wired tile's inner nodes made when read): ``v`` makes it whole on first
        read, ``lazy_v`` reads it as it is.
    i_vs: voltage-source branch currents (A), shape ``(B, V)``, SPICE sign:
        positive when current flows into the ``+`` terminal through the source.
        A solver may pass ``branch_currents`` (a function) instead: they are then
        computed on first read, since most callers only need ``v``.
    """

    def __init__(self, v, i_vs=None, branch_currents=None):
        if (i_vs is None) == (branch_currents is None):
            raise TypeError("OperatingPoint needs exactly one of i_vs and branch_currents")
        self._v = v
        self._i_vs = i_vs
        self._branch_currents = branch_currents

    @property
    def v(self):
        """Every node's voltage (V), ``(B, n_nodes)``, as an array (deferred nodes made now)."""
        return whole(self._v)

    @property
    def lazy_v(self):
        """The node voltages (V) as the solver gave them: an array, or a DeferredVoltages
        for callers that read some nodes only (readouts, warm starts), so that nodes no one
        reads are never made."""
        return self._v

    @property
    def i_vs(self):
        if self._i_vs is None:
            self._i_vs = self._branch_currents()
            self._branch_currents = None
        return self._i_vs


@dataclass
class Stimulus:
    """What changes between solves of one circuit.

    g: conductances (S), ``(R,)`` shared or ``(B, R)`` per sample.
    vs: voltage-source values (V), ``(B, V)``.
    isrc: injected currents (A), ``(B, I)``.
    """
    g: np.ndarray
    vs: np.ndarray
    isrc: np.ndarray

    @property
    def batch_size(self):
        return self.vs.shape[0]

    def sample(self, b):
        g = self.g[b] if self.g.ndim == 2 else self.g
        return g, self.vs[b], self.isrc[b]

    def take(self, rows):
        g = self.g[rows] if self.g.ndim == 2 else self.g
        return Stimulus(g, self.vs[rows], self.isrc[rows])


#: Largest conductance (S) a circuit element may have (``make_stimulus`` refuses more).
MAX_CONDUCTANCE = 1e6


def make_stimulus(circuit, g, vs=None, isrc=None, batch_size=None):
    """Check shapes and values and return a :class:`Stimulus` for ``circuit``.

    Arrays of a device (:mod:`~ebana.backends.arrays`) stay there: the defaults for
    ``vs`` and ``isrc`` are made on the device of ``g`` and ``vs``, and each check reads
    one scalar back."""
    xp = array_namespace(g, vs, isrc)
    g = check_array(g, "conductances (S)", 0, MAX_CONDUCTANCE, low_open=True,
                    hint=" (a zero conductance is an open circuit: leave the element out instead)")
    if vs is None:
        b = batch_size or (g.shape[0] if g.ndim == 2 else 1)
        vs = xp.broadcast_to(circuit.vs_value if xp is np else xp.asarray(circuit.vs_value), (b, circuit.n_vs))
    vs = check_array(vs, "source voltages (V)", -1e4, 1e4)
    if vs.ndim == 1:
        vs = vs[None, :]
    b = vs.shape[0]
    if isrc is None:
        isrc = xp.zeros((b, circuit.n_is))  # zeros need no check
    else:
        isrc = check_array(isrc, "source currents (A)", -1e3, 1e3)
    if isrc.ndim == 1:
        isrc = isrc[None, :]
    if vs.shape != (b, circuit.n_vs) or isrc.shape != (b, circuit.n_is):
        raise ShapeError(f"expected vs {(b, circuit.n_vs)} and isrc {(b, circuit.n_is)}, "
                         f"received {vs.shape} and {isrc.shape}")
    if g.shape not in ((circuit.n_res,), (b, circuit.n_res)):
        raise ShapeError(f"expected conductances {(circuit.n_res,)} or {(b, circuit.n_res)}, received {g.shape}")
    return Stimulus(g, vs, isrc)


class Backend:
    """Solves DC operating points of a :class:`~ebana.circuit.Circuit`.

    The contract every backend keeps, and what callers (the model, EP, the
    retry and process-pool wrappers) rely on:

    * :meth:`solve` takes the circuit, a :class:`Stimulus` for a batch of
      ``B`` samples, an optional starting guess ``initial`` (``(B, n_nodes)``
      node voltages in V, e.g. the free phase when solving a nudged one) and
      ``sample_offset``, the index of the batch's first sample in the caller's
      whole batch: a :class:`~ebana.errors.SimulatorError` names the failing
      sample as ``sample_offset + row``;
    * :meth:`which` names the solver that runs a circuit (a wrapper asks the
      backend it wraps);
    * ``solves`` counts the samples solved so far (retries included);
    * ``inner`` is what a wrapper wraps (None for a solver);
    * :meth:`close` releases processes and libraries; the backend stays usable
      and reacquires them on the next solve.
    """
    name = "abstract"
    inner = None
    solves = 0

    def solve(self, circuit, stimulus, initial=None, sample_offset=0):
        """The :class:`OperatingPoint` of every sample of ``stimulus``."""
        raise NotImplementedError

    def which(self, circuit):
        """Name of the solver that runs ``circuit`` (e.g. ``'native-dense (small circuit: ...)'``)."""
        inner = getattr(self, "inner", None)  # wrappers (retries) answer for what they wrap
        return inner.which(circuit) if isinstance(inner, Backend) else self.name

    def close(self):
        """Release resources (processes, libraries)."""

    def own_threads(self, circuit):
        """Threads of ebana's own pool (:func:`~ebana.backends.threads.thread_map`) that solves of
        ``circuit`` run in; 1: they run in the caller's thread, where BLAS may use several (a
        wrapper answers for what it wraps)."""
        inner = getattr(self, "inner", None)
        return inner.own_threads(circuit) if isinstance(inner, Backend) else 1
