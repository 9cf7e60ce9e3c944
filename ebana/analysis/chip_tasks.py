"""The chips of a study as tasks: run here, on a process pool, or on a Dask cluster.

A task is one chip ``c`` at the sigmas it still lacks (a chip's draws are
the same at every sigma, so the chip is the natural unit, and five sigmas per
task cut the cost of dispatch fivefold). For each ``(sigma index i, chip c)``
it computes exactly what the in-process loop computes (:meth:`ChipStudy.accuracy`: the chip's masks from
:func:`~ebana.analysis.chips.chip_seed` ``(seed, c)``, then its free-phase
accuracy), from arguments alone, so the result is bit for bit the same in any
process and in any order of tasks. BLAS runs on one thread during each chip,
here and in the workers, so no product can differ in its last bits between a
machine's thread counts.

What a worker needs for every chip (the model's config and conductances, the
backend's name, the loss and the prepared test batches) is one
:class:`ChipPayload`, shipped once per worker, never per task:

- a Dask ``Client`` (recognised by its ``scatter`` method, so ebana never
  imports Dask itself) gets it with ``client.scatter(payload, broadcast=True)``,
  and each task receives that future; a worker that joins later, or a restarted
  one, fetches it from a peer;
- any ``concurrent.futures.Executor`` whose workers share this machine's files
  (``ProcessPoolExecutor``, ``ThreadPoolExecutor``) gets a private temporary
  folder holding it, read once per worker process and kept in a cache keyed by
  the payload's content digest.

Each worker (each thread of it) rebuilds the model once per payload
(``Model.from_config`` + ``set_weights``) and checks that its conductances are
the sender's, digest for digest.

Example:
    >>> from ebana.analysis.chip_tasks import ChipStudy
    >>> ChipStudy(sigmas=(0.0, 0.3), chips=2, seed=0, kind="gaussian").jobs()
    [(0, 0), (1, 0), (1, 1)]
"""
import concurrent.futures
import hashlib
import os
import pickle
import shutil
import tempfile
import threading
import uuid
from collections import OrderedDict
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from ..devices import Variability
from ..errors import EbanaError
from .chips import chip_accuracy, chip_conductances, chip_seed


class _OneBlasThread:
    """BLAS on one thread while any chip of this process runs; the previous setting comes back
    when the last one ends (counted, so threads of one pool cannot leave it at one)."""

    def __init__(self):
        self._lock, self._users, self._limiter = threading.Lock(), 0, None

    def __enter__(self):
        with self._lock:
            if self._users == 0:
                self._limiter = threadpool_limits(limits=1, user_api="blas")
            self._users += 1

    def __exit__(self, *exc):
        with self._lock:
            self._users -= 1
            if self._users == 0:
                self._limiter.restore_original_limits()


ONE_BLAS_THREAD = _OneBlasThread()  # shared by every kind of chip task (masks, faults, drift)


@dataclass(frozen=True)
class ChipStudy:
    """What fixes every chip of a study.

    sigmas: mask spreads (dimensionless, >= 0), a tuple of floats; chips: chips per sigma;
    seed: the study seed (chip ``c`` has seed ``chip_seed(seed, c)``); kind: the mask kind
    ('gaussian', 'folded', 'lognormal', 'additive').
    """
    sigmas: tuple
    chips: int
    seed: int
    kind: str

    def jobs(self):
        """The ``(sigma index, chip)`` pairs to solve, sigma by sigma. At sigma 0 every mask kind is
        the identity (``VariabilityModel.chip_masks`` returns ones), so every chip is the nominal
        network: only chip 0 is solved there, and :meth:`fill` gives the others its accuracy."""
        return [(i, c) for i, s in enumerate(self.sigmas) for c in range(1 if s == 0 else self.chips)]

    def fill(self, acc):
        """Copy chip 0's accuracy to every chip at sigma 0 in ``acc`` (sigmas x chips), in place."""
        for i, s in enumerate(self.sigmas):
            if s == 0:
                acc[i, 1:] = acc[i, 0]

    def accuracy(self, model, backend, batches, loss_fn, i, c):
        """Accuracy (fraction) of chip ``c`` at ``sigmas[i]``: its chip-scope masks, then a free-phase solve
        of ``batches`` (:func:`~ebana.analysis.chips.prepare_batches`) with ``backend``."""
        var = Variability(kind=self.kind, sigma=float(self.sigmas[i]), scope="chip")
        with ONE_BLAS_THREAD:
            g = chip_conductances(model, var, chip_seed(self.seed, c))
            return chip_accuracy(model, backend, batches, g, loss_fn)


def content_digest(value):
    """SHA-256 (hex) of nested dicts, lists, tuples, arrays and plain values, by content: the same
    data gives the same digest in any process (objects count by their class and attributes).

    >>> content_digest({"a": [1, 2.5]}) == content_digest({"a": [1, 2.5]}) != content_digest({"a": [1, 2.0]})
    True
    """
    h = hashlib.sha256()
    _feed(h, value)
    return h.hexdigest()


def _feed(h, x):
    if isinstance(x, (np.ndarray, np.generic)):
        a = np.ascontiguousarray(x)
        h.update(f"array {a.dtype.str} {a.shape}|".encode())
        h.update(a.tobytes() if a.dtype.kind != "O" else repr(a.tolist()).encode())
    elif isinstance(x, dict):
        h.update(f"dict {len(x)}|".encode())
        for key in sorted(x, key=repr):
            _feed(h, key)
            _feed(h, x[key])
    elif isinstance(x, (list, tuple)):
        h.update(f"{type(x).__name__} {len(x)}|".encode())
        for item in x:
            _feed(h, item)
    elif x is None or isinstance(x, (bool, int, float, str, bytes)):
        h.update(f"{type(x).__name__} {x!r}|".encode())
    else:  # an object such as a loss: its class and attributes (its repr may hold its address)
        h.update(f"object {type(x).__module__}.{type(x).__qualname__}|".encode())
        _feed(h, dict(vars(x)) if hasattr(x, "__dict__") else repr(x))


@dataclass
class ChipPayload:
    """What a worker needs for any chip of one study: the model as data, its conductances (S) by
    layer, the backend's name, the loss, and the prepared test batches (source voltages V,
    output currents A, targets, size). ``weights`` and ``data`` are content digests (the
    conductances the circuit sees; config, batches and loss); ``key`` names the payload in caches."""
    config: dict
    weights: dict
    backend: str
    loss_fn: object
    batches: list
    weights_digest: str
    data_digest: str
    key: str


def build_payload(model, backend, loss_fn, batches):
    """The :class:`ChipPayload` of ``model`` for workers that build ``backend`` (a name; None for
    a study run here only, whose payload serves as the study's identity)."""
    config, weights = model.get_config(), model.get_weights()
    weights_digest = content_digest([weights, np.asarray(model.conductances())])
    data_digest = content_digest([config, batches, loss_fn])
    key = content_digest([weights_digest, data_digest, backend])
    return ChipPayload(config, weights, backend, loss_fn, batches, weights_digest, data_digest, key)


def is_dask_client(executor):
    """True for a ``dask.distributed.Client`` (by duck typing: ebana does not import Dask)."""
    return hasattr(executor, "scatter") and hasattr(executor, "submit") and hasattr(executor, "cancel")


def run_chips(model, backend, batches, loss_fn, study, todo, executor=None, payload=None):
    """Yield ``(i, c, accuracy)`` for each ``(i, c)`` in ``todo`` as it finishes: in ``todo``'s order
    here, chip by chip in any order with an executor (one task per chip).

    ``executor``: None (this process, with ``model`` and ``backend``), a Dask Client or a
    ``concurrent.futures.Executor`` (these run ``payload``, a :class:`ChipPayload`). Close the
    generator (``contextlib.closing``) to cancel what has not run when the caller stops early."""
    if executor is None or not todo:  # nothing to ship when every chip was resumed from a file
        return _here(model, backend, batches, loss_fn, study, todo)
    if is_dask_client(executor):
        return _on_dask(executor, payload, study, todo)
    return _on_executor(executor, payload, study, todo)


def by_chip(todo):
    """``[(c, [sigma indices])]`` of the ``(i, c)`` pairs in ``todo``, chips in their first order.

    >>> by_chip([(0, 0), (0, 1), (1, 0)])
    [(0, [0, 1]), (1, [0])]
    """
    rows = {}
    for i, c in todo:
        rows.setdefault(c, []).append(i)
    return list(rows.items())


def _here(model, backend, batches, loss_fn, study, todo):
    for i, c in todo:
        yield i, c, study.accuracy(model, backend, batches, loss_fn, i, c)


def _on_executor(executor, payload, study, todo):
    folder = tempfile.mkdtemp(prefix="ebana-chips-")  # mode 0700: only this user reads the payload
    futures = []
    try:
        ref = PayloadFile(os.path.join(folder, "payload.pkl"), payload.key)
        with open(ref.path, "wb") as f:
            pickle.dump(payload, f, protocol=pickle.HIGHEST_PROTOCOL)
        futures = [executor.submit(run_chip, ref, study, c, rows) for c, rows in by_chip(todo)]
        for future in concurrent.futures.as_completed(futures):
            yield from future.result()
    finally:
        for future in futures:
            future.cancel()  # those not started; a running one ends on its own and is not read
        shutil.rmtree(folder, ignore_errors=True)


def _on_dask(client, payload, study, todo):
    from distributed import as_completed  # only with a Client, so only where Dask is installed
    data = client.scatter(payload, broadcast=True, hash=False)
    tag = uuid.uuid4().hex[:8]
    # a task lost with its worker is run again by the scheduler: each key gives one result
    futures = [client.submit(run_chip, data, study, c, rows, key=f"ebana-chip-{tag}-{c}") for c, rows in by_chip(todo)]
    try:
        for future in as_completed(futures):
            yield from future.result()
    finally:
        client.cancel([*futures, data])


# worker side ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class PayloadFile:
    """Where a worker on this machine reads a :class:`ChipPayload` (once per process) and its key."""
    path: str
    key: str


_PAYLOADS = OrderedDict()    # payload key -> ChipPayload, per process
_MODELS = threading.local()  # per thread: payload key -> Model (a backend is not shared between threads)
_LOCK = threading.Lock()
_NGSPICE = threading.Lock()  # one Ngspice library per process: threads of one worker take turns
_KEEP = 2                    # payloads and models kept per process or thread (studies run one after another)


def run_chip(payload, study, c, rows):
    """Worker entry point: ``[(i, c, accuracy) for i in rows]``, chip ``c`` at ``study.sigmas[i]`` (a
    :class:`ChipStudy`); ``payload`` is a :class:`ChipPayload` (Dask passes the scattered one) or a
    :class:`PayloadFile`."""
    if isinstance(payload, PayloadFile):
        payload = _read_payload(payload)
    model = _worker_model(payload)
    with _NGSPICE if payload.backend.partition(":")[0] == "ngspice" else nullcontext():
        return [(i, c, study.accuracy(model, model.backend, payload.batches, payload.loss_fn, i, c)) for i in rows]


def _read_payload(ref):
    with _LOCK:
        if ref.key not in _PAYLOADS:
            with open(ref.path, "rb") as f:
                _PAYLOADS[ref.key] = pickle.load(f)  # written by this study into its private folder
            while len(_PAYLOADS) > _KEEP:
                _PAYLOADS.popitem(last=False)
        return _PAYLOADS[ref.key]


def _worker_model(payload):
    models = getattr(_MODELS, "cache", None)
    if models is None:
        models = _MODELS.cache = OrderedDict()
    if payload.key not in models:
        from ..model.functional import Model  # the model package imports this one
        model = Model.from_config(payload.config, backend=payload.backend, source="chip study payload")
        model.set_weights(payload.weights)
        if content_digest([payload.weights, np.asarray(model.conductances())]) != payload.weights_digest:
            raise EbanaError("chip study: the model rebuilt in a worker from its config and weights sees other "
                             "conductances than the sender's (a layer state the config does not carry); "
                             "run this study without executor=")
        models[payload.key] = model
        while len(models) > _KEEP:
            _, old = models.popitem(last=False)
            getattr(old.backend, "close", lambda: None)()
    return models[payload.key]
