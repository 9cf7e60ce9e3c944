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
import os
from dataclasses import dataclass, field

import numpy as np

from ..backends import Backend, make_stimulus
from ..backends.factory import backend_with_retries
from ..devices import Variability, VariabilityModel
from ..errors import ValidationError
from ..plots.robustness import plot_robustness
from ..validation import check_number

FORMAT = "ebana-robustness"
VERSION = 1


def chip_seed(seed, chip):
    """The int seed of chip number ``chip`` of a study seeded with ``seed`` (reproducible, independent)."""
    return int(np.random.SeedSequence([int(seed), int(chip)]).generate_state(1)[0])


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

    def save(self, path, name="model"):
        """Write (or add group ``name`` to) an HDF5 file; returns ``path``."""
        import h5py
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with h5py.File(path, "a") as f:
            f.attrs["format"], f.attrs["version"] = FORMAT, VERSION
            if name in f:
                del f[name]
            grp = f.create_group(name)
            grp.create_dataset("sigmas", data=self.sigmas)
            grp.create_dataset("accuracy", data=self.accuracy)
            for key in ("median", "q25", "q75", "iqr", "min", "max", "mean"):
                grp.create_dataset(key, data=[st[key] for st in self.summary().values()])
            grp.attrs.update({"kind": self.kind, "seed": self.seed, "backend": self.backend,
                              "chips": self.accuracy.shape[1]})
        return path

    @classmethod
    def load(cls, path, name="model"):
        """Read group ``name`` written by :meth:`save`."""
        import h5py
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != FORMAT or name not in f:
                raise ValidationError(f"{path} holds no ebana robustness result named {name!r}")
            grp = f[name]
            return cls(np.array(grp["sigmas"]), np.array(grp["accuracy"]), str(grp.attrs["kind"]),
                       int(grp.attrs["seed"]), str(grp.attrs["backend"]))


def _check_sigmas(sigmas):
    if isinstance(sigmas, (int, float)):
        sigmas = [sigmas]
    values = [check_number(s, f"sigmas[{i}]", low=0.0) for i, s in enumerate(sigmas)]
    if not values:
        raise ValidationError("evaluate_robustness needs at least one sigma")
    return np.array(values)


def chip_conductances(model, variability, chip):
    """Effective conductances (S), shape (R,), of chip ``chip`` (int seed) under ``variability``."""
    vm = VariabilityModel(variability)
    parts = []
    for layer in model.resistive_layers:
        g = layer.circuit_g() if hasattr(layer, "circuit_g") else layer.conductances()
        g_min = getattr(layer, "g_min", float(g.min()))
        g_max = getattr(layer, "g_max", float(g.max()))
        masks = vm.chip_masks(g.shape, chip, key=layer.name, g_max=g_max, g=g)
        parts.append(vm.apply(g, masks, g_min).ravel())
    return np.concatenate(parts)


def prepare_batches(model, dataset, batch_size):
    """The stimulus parts of ``dataset`` built once (source voltages V, output currents A, targets, size):
    only the conductances change from chip to chip."""
    from ..training.ep import targets_of  # training sits above this module's callers
    from ..training.fit import as_loader
    batches = []
    for batch in as_loader(dataset, batch_size):
        size, arrays = model.check_inputs(batch)
        batches.append((model.source_voltages(arrays, size), model.output_currents(None, size),
                        targets_of(model, batch, size), size))
    return batches


def chip_accuracy(model, backend, batches, g, loss_fn):
    """Free-phase accuracy (fraction) over ``batches`` (:func:`prepare_batches`) with conductances ``g`` (S), (R,)."""
    from ..training.ep import accuracy, loss_and_nudge
    correct, count = 0.0, 0
    for vs, isrc, targets, n in batches:
        v = backend.solve(model.circuit, make_stimulus(model.circuit, g, vs, isrc)).v
        _, readouts, _ = loss_and_nudge(model, v, targets, loss_fn, 1.0)
        correct += accuracy(model, readouts, targets, loss_fn) * n
        count += n
    return correct / count


def evaluate_robustness(model, dataset, sigmas, chips=100, seed=0, kind="gaussian", loss_fn=None,
                        backend=None, batch_size=256, path=None, name="model", plot=None, verbose=True):
    """Accuracy of ``model`` on ``dataset`` over ``chips`` simulated chips at each sigma.

    Args:
        dataset: dict of input arrays and targets (keyed by layer names) or a DataLoader.
        sigmas: spreads s >= 0 (dimensionless) of the chip masks.
        chips: number of chips per sigma (>= 1).
        seed: study seed; chip ``c`` uses :func:`chip_seed` ``(seed, c)``.
        kind: mask kind ('gaussian', 'folded', 'lognormal', 'additive').
        loss_fn: a loss with ``accuracy`` (defaults to the model's from fit).
        backend: None (the model's), 'native', 'ngspice' or a Backend.
        path: HDF5 file to save into (group ``name``); plot: PNG path for a box plot.
        verbose: progress bar over sigmas x chips.

    Returns a :class:`RobustnessResult`; the same seed gives the same numbers.
    """
    if loss_fn is None:
        raise ValidationError("evaluate_robustness needs loss_fn= (or call fit first, which remembers it)")
    if isinstance(chips, bool) or not isinstance(chips, (int, np.integer)) or chips < 1:
        raise ValidationError(f"chips must be a positive int, received {chips!r}")
    sigmas = _check_sigmas(sigmas)
    own_backend = backend is not None and not isinstance(backend, Backend)
    backend = model.backend if backend is None else backend_with_retries(backend)
    try:
        return _evaluate_chips(model, dataset, sigmas, chips, seed, kind, loss_fn, backend, batch_size,
                               path, plot, name, verbose)
    finally:
        if own_backend:
            backend.close()  # a pool or an Ngspice circuit created here is released here


def _evaluate_chips(model, dataset, sigmas, chips, seed, kind, loss_fn, backend, batch_size, path, plot, name,
                    verbose):
    from ..training.progress import progress
    batches = prepare_batches(model, dataset, batch_size)
    acc = np.zeros((len(sigmas), chips))
    jobs = [(i, c) for i in range(len(sigmas)) for c in range(chips)]
    for i, c in progress(jobs, total=len(jobs), desc="chips", enabled=verbose):
        var = Variability(kind=kind, sigma=float(sigmas[i]), scope="chip")
        g = chip_conductances(model, var, chip_seed(seed, c))
        acc[i, c] = chip_accuracy(model, backend, batches, g, loss_fn)
    result = RobustnessResult(sigmas, acc, kind, int(seed), backend.name)
    if path is not None:
        result.save(path, name)
    if plot is not None:
        plot_robustness({name: result}, plot)
    return result
