"""Robustness over simulated chips: accuracy versus device variability.

For every sigma and every chip ``c``, each conductance layer gets a
chip-scope mask (``Variability(kind, sigma, scope='chip')``) drawn from the
chip seed of ``(seed, c)`` and the layer name; the model is evaluated in the
free phase with ``G_eff = max(G M, floor g_min)`` (S) and the accuracy is
recorded. Chip ``c`` keeps the same device draws ``z`` at every sigma, so
the curves compare like with like (only the spread grows). Reported per
sigma: median, quartiles (IQR), min, max and mean over chips, as A-Connect
and memristor-aware training report them.

Example:
    ``path="results/rob.h5"`` also saves the result (HDF5) and
    ``plot="results/rob.png"`` draws it; 100 chips per sigma is the usual count.

    >>> import numpy as np
    >>> from ebana import MSE
    >>> from ebana.networks import clamped_mlp
    >>> model = clamped_mlp(4, 8, 2, backend="native")
    >>> X = np.random.default_rng(0).uniform(-0.5, 0.5, (16, 4))          # V
    >>> Y = np.where(X[:, :1] > 0, [[0.1, -0.1]], [[-0.1, 0.1]])          # V, two classes
    >>> res = model.evaluate_robustness({"x": X, "out": Y}, sigmas=[0, 0.3], chips=5, seed=0,
    ...                                 backend="native", loss_fn=MSE())
    >>> sorted(res.summary()[0.3])   # accuracy over the chips at sigma = 0.3
    ['iqr', 'max', 'mean', 'median', 'min', 'q25', 'q75']
"""
import concurrent.futures
import functools
import time
import warnings
from contextlib import closing
from dataclasses import dataclass, field

import numpy as np

from ..backends import Backend
from ..backends.factory import backend_with_retries
from ..devices import Variability
from ..errors import ValidationError
from ..plots.robustness import plot_robustness
from ..validation import check_number
from .chip_store import (FORMAT, PARTIAL, VERSION, drop_partial, partial_note, read_partial,  # noqa: F401
                         rewrite, save_partial)
from .chip_tasks import ChipStudy, build_payload, is_dask_client, run_chips
# chip_seed, chip_conductances, prepare_batches and chip_accuracy lived here first: still importable from here
from .chips import chip_accuracy, chip_conductances, chip_seed, prepare_batches  # noqa: F401

#: Seconds between two saves of an unfinished study to its file (``path=``): a crash loses at
#: most this much work, and a study of fast chips does not spend its time rewriting the file.
#: The study also saves when it stops (finished, interrupted or failed).
SAVE_EVERY_S = 2.0


@dataclass
class RobustnessResult:
    """Accuracies of ``chips`` simulated chips at each sigma.

    sigmas: spreads (dimensionless), shape (S,); accuracy: (S, chips) in [0, 1];
    kind: mask kind; seed: the study seed; backend: the backend's name.
    """
    sigmas: np.ndarray
    accuracy: np.ndarray
    kind: str
    seed: int
    backend: str
    labels: dict = field(default_factory=dict)

    def summary(self):
        """``{sigma: {'median', 'q25', 'q75', 'iqr', 'min', 'max', 'mean'}}`` (accuracy fractions)."""
        out = {}
        for s, acc in zip(self.sigmas, self.accuracy):
            q25, med, q75 = np.percentile(acc, [25, 50, 75])
            out[float(s)] = {"median": float(med), "q25": float(q25), "q75": float(q75),
                             "iqr": float(q75 - q25), "min": float(acc.min()), "max": float(acc.max()),
                             "mean": float(acc.mean())}
        return out

    def table(self, name="model"):
        """Markdown rows ``| name | sigma | median | IQR | min | max |`` in percent."""
        rows = []
        for s, st in self.summary().items():
            rows.append(f"| {name} | {s:g} | {100 * st['median']:.1f} | {100 * st['iqr']:.1f} | "
                        f"{100 * st['min']:.1f} | {100 * st['max']:.1f} |")
        return "\n".join(rows)

    @staticmethod
    def tables(results):
        """Markdown lines of the studies ``results`` (model name -> RobustnessResult): a header,
        then :meth:`table`'s rows of each, in percent."""
        return ["| model | sigma | median % | IQR % | min % | max % |", "|---|---|---|---|---|---|",
                *(res.table(name) for name, res in results.items())]

    def save(self, path, name="model"):
        """Write (or replace group ``name`` in) an HDF5 file, atomically: the other groups are kept,
        and a crash mid-write leaves the previous file. Returns ``path``."""
        return _save_result(self, path, name)

    @classmethod
    def load(cls, path, name="model"):
        """Read group ``name`` written by :meth:`save` (an unfinished study is not a result: refused)."""
        import h5py
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != FORMAT or name not in f or name == PARTIAL:
                raise ValidationError(f"{path} holds no ebana robustness result named {name!r}"
                                      + (partial_note(f, name) if f.attrs.get("format") == FORMAT else ""))
            grp = f[name]
            return cls(np.array(grp["sigmas"]), np.array(grp["accuracy"]), str(grp.attrs["kind"]),
                       int(grp.attrs["seed"]), str(grp.attrs["backend"]))


def _save_result(result, path, name, identity=None):
    """Write ``result`` as group ``name``; with the study's ``identity`` (a finished study) its attributes
    are kept and the study's partial group goes, in the same atomic write."""
    _check_name(name)

    def edit(f):
        if name in f:
            del f[name]
        grp = f.create_group(name)
        grp.create_dataset("sigmas", data=result.sigmas)
        grp.create_dataset("accuracy", data=result.accuracy)
        for key in ("median", "q25", "q75", "iqr", "min", "max", "mean"):
            grp.create_dataset(key, data=[st[key] for st in result.summary().values()])
        grp.attrs.update(identity or {})
        grp.attrs.update({"kind": result.kind, "seed": result.seed, "backend": result.backend,
                          "chips": result.accuracy.shape[1]})
        if identity is not None:
            drop_partial(f, name)
    return rewrite(path, edit)


def _check_name(name):
    if not isinstance(name, str) or not name.strip("/") or name.split("/")[0] == PARTIAL:
        raise ValidationError(f"robustness result name must be a non-empty string outside {PARTIAL!r} (the group "
                              f"of unfinished studies), received {name!r}")


def _check_sigmas(sigmas):
    if isinstance(sigmas, (str, bytes)):
        raise ValidationError(f"sigmas must be numbers (spreads >= 0, dimensionless), received the text {sigmas!r}")
    if np.ndim(sigmas) == 0:
        return np.array([check_number(sigmas, "sigmas", low=0.0)])
    values = [check_number(s, f"sigmas[{i}]", low=0.0) for i, s in enumerate(sigmas)]
    if not values:
        raise ValidationError("evaluate_robustness needs at least one sigma")
    return np.array(values)


def _check_study(sigmas, chips, seed, kind):
    """The :class:`~ebana.analysis.chip_tasks.ChipStudy` of these arguments, each checked and named in errors."""
    if isinstance(chips, bool) or not isinstance(chips, (int, np.integer)) or chips < 1:
        raise ValidationError(f"chips must be a positive int, received {chips!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValidationError(f"seed must be an int >= 0, received {seed!r}")
    sigmas = _check_sigmas(sigmas)
    Variability(kind=kind, sigma=0.0, scope="chip")  # names a wrong kind before any chip runs
    return ChipStudy(tuple(float(s) for s in sigmas), int(chips), int(seed), kind)


def check_scaleout(model, backend, executor, callback):
    """The backend name each worker builds (None without ``executor``); refuses what cannot run."""
    if callback is not None and not callable(callback):
        raise ValidationError(f"callback must be callable as callback(sigma_index, chip, accuracy), "
                              f"received {callback!r}")
    if executor is None:
        return None
    if not (is_dask_client(executor) or isinstance(executor, concurrent.futures.Executor)):
        raise ValidationError(f"executor must be a concurrent.futures.Executor or a dask.distributed.Client, "
                              f"received {type(executor).__name__}")
    spec = getattr(model, "backend_name", None) if backend is None else backend
    if not isinstance(spec, str):
        raise ValidationError("a chip study with executor= needs the backend by name, e.g. backend='native' "
                              "or 'ngspice': each worker builds its own (a Backend instance stays in this process)")
    return spec


def evaluate_robustness(model, dataset, sigmas, chips=100, seed=0, kind="gaussian", loss_fn=None,
                        backend=None, batch_size=256, path=None, name="model", plot=None, verbose=True,
                        executor=None, callback=None):
    """Accuracy of ``model`` on ``dataset`` over ``chips`` simulated chips at each sigma.

    Args:
        dataset: dict of input arrays and targets (keyed by layer names) or a DataLoader.
        sigmas: spreads s >= 0 (dimensionless) of the chip masks (a number or a sequence).
        chips: number of chips per sigma (>= 1).
        seed: study seed (int >= 0); chip ``c`` uses :func:`~ebana.analysis.chips.chip_seed` ``(seed, c)``.
        kind: mask kind ('gaussian', 'folded', 'lognormal', 'additive').
        loss_fn: a loss with ``accuracy`` (defaults to the model's from fit).
        backend: None (the model's), 'native', 'ngspice' or a Backend.
        path: HDF5 file to save into (group ``name``). While the study runs, its finished chips
            are saved there too (every :data:`SAVE_EVERY_S` s and when it stops, group
            ``_partial/<name>``); a study interrupted (Ctrl-C, a crash, a lost job) resumes from
            them when called again with the same arguments, model weights and data, computing only
            the missing chips. A partial study that differs in any of these is not resumed (a
            warning says what differs) and is replaced. plot: PNG path for a box plot.
        verbose: progress bar over sigmas x chips.
        executor: where the chips run: None (this process), a ``concurrent.futures.Executor``
            whose workers share this machine's files (e.g. ``ProcessPoolExecutor``), or a
            ``dask.distributed.Client`` (any cluster: the data is scattered to the workers once).
            One task per chip (at each sigma); the result is bit for bit the in-process one.
            The backend must then be a name (each worker builds its own). See :mod:`.chip_tasks`.
        callback: ``callback(sigma_index, chip, accuracy)``, called in this process as each chip
            finishes (not for chips resumed from ``path``; at sigma 0 only for chip 0, whose
            accuracy every chip shares there: its masks are ones); an exception it raises stops the
            study, the finished chips saved to ``path``.

    Returns a :class:`RobustnessResult`; the same seed gives the same numbers.
    """
    if loss_fn is None:
        raise ValidationError("evaluate_robustness needs loss_fn= (or call fit first, which remembers it)")
    study = _check_study(sigmas, chips, seed, kind)
    spec = check_scaleout(model, backend, executor, callback)
    if path is not None:
        _check_name(name)
    own_backend = backend is not None and not isinstance(backend, Backend)
    backend = model.backend if backend is None else backend_with_retries(backend)
    try:
        return _run_study(model, dataset, study, loss_fn, backend, spec, batch_size,
                          dict(executor=executor, callback=callback, path=path, name=name, plot=plot, verbose=verbose))
    finally:
        if own_backend:
            backend.close()  # a pool or an Ngspice circuit created here is released here


def _run_study(model, dataset, study, loss_fn, backend, spec, batch_size, run):
    batches = prepare_batches(model, dataset, batch_size)
    path, name, executor = run["path"], run["name"], run["executor"]
    payload = None if executor is None and path is None else build_payload(model, spec, loss_fn, batches)
    acc = np.full((len(study.sigmas), study.chips), np.nan)
    store = identity = None
    if path is not None:
        identity = {"kind": study.kind, "seed": study.seed, "chips": study.chips, "backend": backend.name,
                    "weights": payload.weights_digest, "data": payload.data_digest}
        found = read_partial(path, name, identity, study.sigmas)
        acc = acc if found is None else found
        store = functools.partial(save_partial, path, name, identity, study.sigmas)
    todo = [(i, c) for i, c in study.jobs() if np.isnan(acc[i, c])]
    chips = run_chips(model, backend, batches, loss_fn, study, todo, executor, payload)
    _collect(chips, acc, store, run["callback"], run["verbose"], len(todo))
    study.fill(acc)
    result = RobustnessResult(np.array(study.sigmas), acc, study.kind, study.seed, backend.name)
    if path is not None:
        _save_result(result, path, name, identity)
    if run["plot"] is not None:
        plot_robustness({name: result}, run["plot"])
    return result


def _collect(chips, acc, store, callback, verbose, total):
    """Record each ``(i, c, accuracy)`` of ``chips`` in ``acc`` as it comes (one entry per chip: a
    task run twice cannot count twice), saving to ``store`` now and then and when stopped early."""
    from ..training.progress import progress
    bar = progress(None, total=total, desc="chips", enabled=verbose)
    saved, unsaved = time.monotonic(), 0
    try:
        with closing(chips):  # stopping early cancels the chips not started
            for i, c, accuracy in chips:
                acc[i, c] = accuracy
                unsaved += 1
                bar.update(1)
                if store is not None and time.monotonic() - saved >= SAVE_EVERY_S:
                    store(acc)
                    saved, unsaved = time.monotonic(), 0
                if callback is not None:
                    callback(i, c, accuracy)
    except BaseException:
        if store is not None and unsaved:
            try:
                store(acc)  # what finished is kept for the next run
            except Exception as exc:  # the original error matters more; say why nothing was kept
                warnings.warn(f"could not save the finished chips of the interrupted study: {exc}",
                              RuntimeWarning, stacklevel=2)
        raise
    finally:
        bar.close()
