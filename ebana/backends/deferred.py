"""Node voltages of which some are found only when read (:class:`DeferredVoltages`).

A wired crossbar's solve (``'native-wires'``) finds the reduced circuit's nodes (the
nets, the ports of every tile) first and each tile's inner nodes after, from its
ports. Readouts, the nudging currents and the next phase's warm start read the nets
alone, and for an image network the inner nodes are most of the solve: of a 256-image
predict of the 28x28 wires study's network, 460 of 500 ms. So the solver hands back the
nets' voltages with the inner ones still to make; reading any of those (or the whole
array) makes them all once, with their KCL check, from the state of the solve that gave
them. Units: V.
"""
import threading

import numpy as np


class DeferredVoltages:
    """Node voltages (V), ``(B, n_nodes)``, of which the ``known`` nodes' are given and the
    rest are made on the first read that needs them by ``complete()`` (the whole array;
    it may raise :class:`~ebana.errors.SimulatorError` for a failed check).

    Read like the array it stands for by samples and nodes (``d[rows, nodes]``), or by
    samples only (``d[rows]``: a DeferredVoltages of those samples, still unmade);
    ``np.asarray(d)`` and :meth:`whole` give the whole array. Only reads are supported:
    callers that want an array to work on take :meth:`whole`. Until made, it holds what
    ``complete`` needs (for a wired solve, its tiles' factors: about 4 MB a 64 x 64 tile).
    Pickled, it is the whole array.
    """

    def __init__(self, known, values, n_nodes, complete, _position=None):
        self._values = values                     # (B, len(known)), V; read-only: reads may be views
        values.setflags(write=False)
        if _position is None:                     # node -> column of values, -1: deferred
            _position = np.full(n_nodes, -1, dtype=np.int64)
            _position[known] = np.arange(len(known))
        self._position = _position
        self._complete = complete
        self._whole = None
        self._lock = threading.Lock()  # made once, also when threads read it together
        self.shape = (values.shape[0], n_nodes)

    @property
    def ndim(self):
        return 2

    @property
    def dtype(self):
        return self._values.dtype

    def __len__(self):
        return self.shape[0]

    def whole(self):
        """Every node's voltage (V), ``(B, n_nodes)``: made once, then kept."""
        with self._lock:
            if self._whole is None:
                self._whole = self._complete()
                self._complete = None  # the solve's state (factors) is no longer held
        return self._whole

    def __reduce__(self):
        return np.asarray, (self.whole(),)

    def __array__(self, dtype=None, copy=None):
        out = self.whole()
        return out if dtype is None else out.astype(dtype, copy=False)

    def __getitem__(self, index):
        if self._whole is not None:
            return self._whole[index]
        if isinstance(index, tuple) and len(index) == 2 and not isinstance(index[1], slice):
            rows, nodes = index
            columns = self._position[np.asarray(nodes)]
            if np.all(columns >= 0):  # every node read is known: nothing to make (numpy's semantics:
                return self._values[rows, columns]  # columns stand where the nodes stood)
        elif isinstance(index, slice) or (isinstance(index, (np.ndarray, list)) and np.ndim(index) == 1):
            parent = self  # samples only: still unmade
            return DeferredVoltages(None, self._values[index], self.shape[1], lambda: parent.whole()[index],
                                    _position=self._position)
        return self.whole()[index]


def whole(v):
    """``v`` as an array (V): a :class:`DeferredVoltages` made whole, anything else as it is."""
    return v.whole() if isinstance(v, DeferredVoltages) else v
