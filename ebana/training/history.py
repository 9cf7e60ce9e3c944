"""Per-epoch training metrics, saved to HDF5 and plotted as training curves.

File layout (``format='ebana-history'``, ``version=1`` as root attributes)::

    /metrics/<name>            1-D float64, one entry per epoch (all equal length)
    /voltages/epoch_<e>/<phase>  optional node voltages (V) of one phase

Root attributes ``model_config``, ``hyperparameters`` and ``units`` (JSON
text, present when ``fit`` wrote the history) say what was trained, how
(optimizer, learning rates, loss, beta in S, batch size) and the unit of
every metric.
"""
import json
import math
import os

import numpy as np

from ..errors import EbanaError, ShapeError, ValidationError
from ..saving.safe_io import atomic_path
from ..validation import check_name

FORMAT = "ebana-history"
VERSION = 1
INFO_KEYS = ("model_config", "hyperparameters", "units")


class History:
    """Metrics per epoch: ``metrics[name]`` is a list of floats.

    Typical names: ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``,
    ``epoch_time_s`` (s). A metric first reported at a later epoch, or
    missing from one epoch, is padded with nan so all lists stay aligned.
    As in Keras, each ``fit`` returns its own History (a run resumed from a
    checkpoint: the whole run's), ``history.history`` is the dict of lists and
    ``history.epoch`` the 0-based epoch indices (from ``fit(initial_epoch=...)``).

    Example:
        >>> h = History()
        >>> h.append({'loss': 0.5, 'accuracy': 0.75})
        >>> h.append({'loss': 0.25, 'accuracy': 1.0})
        >>> h.history['loss'], h.num_epochs, h.epoch
        ([0.5, 0.25], 2, [0, 1])
    """

    def __init__(self, first_epoch=0):
        self.metrics = {}
        self.num_epochs = 0
        self.first_epoch = int(first_epoch)  # index of the first recorded epoch (fit's initial_epoch)
        self.voltages = {}  # {(epoch, phase): array} in V
        # {'model_config', 'hyperparameters', 'units'}: plain data set by fit, saved as JSON attributes
        self.info = {}

    def append(self, epoch_metrics):
        """Record one epoch's metrics (dict name -> number)."""
        if not isinstance(epoch_metrics, dict):
            raise ValidationError(
                f"History.append expects a dict name -> number, received {type(epoch_metrics).__name__}")
        values = {}
        for name, value in epoch_metrics.items():
            check_name(name, "metric")
            try:
                # counts (pulses sent, skipped batches) stay integers; everything else is a float
                whole = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
                values[name] = int(value) if whole else float(value)
            except (TypeError, ValueError):
                raise ValidationError(
                    f"History.append: metric {name!r} must be a number, received {value!r}") from None
        for name in values.keys() - self.metrics.keys():
            self.metrics[name] = [math.nan] * self.num_epochs
        for name, series in self.metrics.items():
            series.append(values.get(name, math.nan))
        self.num_epochs += 1

    def add_voltages(self, epoch, phase, array):
        """Keep node voltages (V) of one phase (e.g. 'free', 'nudged') of an epoch."""
        check_name(phase, "phase")
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise ValidationError(f"History.add_voltages: epoch must be an int >= 0, received {epoch!r}")
        self.voltages[(int(epoch), phase)] = np.array(array, dtype=float)

    def __getitem__(self, name):
        return self.metrics[name]

    @property
    def history(self):
        """Keras' name for :attr:`metrics`: name -> list of per-epoch values."""
        return self.metrics

    @property
    def epoch(self):
        """The 0-based indices of the recorded epochs (Keras' ``History.epoch``)."""
        return list(range(self.first_epoch, self.first_epoch + self.num_epochs))

    def save(self, path):
        """Write the history to HDF5 at ``path`` atomically (temp file + rename)."""
        import h5py

        with atomic_path(path) as tmp:
            with h5py.File(tmp, "w") as f:
                f.attrs["format"] = FORMAT
                f.attrs["version"] = VERSION
                f.attrs["num_epochs"] = self.num_epochs
                for key, value in self.info.items():
                    f.attrs[key] = json.dumps(value)
                group = f.create_group("metrics")
                for name, series in self.metrics.items():
                    counts = bool(series) and all(isinstance(x, int) for x in series)
                    group.create_dataset(name, data=np.asarray(series, dtype=np.int64 if counts else np.float64))
                volts = f.create_group("voltages")
                for (epoch, phase), arr in sorted(self.voltages.items()):
                    volts.require_group(f"epoch_{epoch}").create_dataset(phase, data=arr)

    @classmethod
    def load(cls, path):
        """Read a file written by :meth:`save`; a foreign layout raises ValidationError."""
        import h5py

        path = os.fspath(path)
        if not os.path.isfile(path):
            raise ValidationError(f"history file {path!r} does not exist or is not a file")
        try:
            f = h5py.File(path, "r")
        except OSError as exc:
            raise ValidationError(f"history file {path!r} is not an HDF5 file: {exc}") from None
        with f:
            return cls._from_file(f, path)

    @classmethod
    def _from_file(cls, f, path):
        import h5py

        def bad(why):
            return ValidationError(f"history file {path!r} is not an ebana history: {why}")

        fmt, ver = f.attrs.get("format"), f.attrs.get("version")
        if isinstance(fmt, bytes):
            fmt = fmt.decode()
        if fmt != FORMAT or ver != VERSION:
            raise bad(f"attributes format={fmt!r} version={ver!r}, expected {FORMAT!r} {VERSION}")
        if set(f.keys()) != {"metrics", "voltages"}:
            raise bad(f"top-level entries {sorted(f.keys())}, expected ['metrics', 'voltages']")
        n = f.attrs.get("num_epochs")
        if n is None or not np.issubdtype(type(n), np.integer) or n < 0:
            raise bad(f"attribute num_epochs={n!r}, expected an int >= 0")
        h = cls()
        h.num_epochs = int(n)
        for key in INFO_KEYS:
            if key in f.attrs:
                text = f.attrs[key]
                try:
                    h.info[key] = json.loads(text.decode() if isinstance(text, bytes) else str(text))
                except ValueError as exc:
                    raise bad(f"attribute {key!r} is not JSON: {exc}") from None
        for name, ds in f["metrics"].items():
            if not isinstance(ds, h5py.Dataset) or ds.ndim != 1 or ds.dtype.kind not in "fi":
                raise bad(f"metric {name!r} must be a 1-D float (or integer count) dataset")
            if ds.shape[0] != h.num_epochs:
                raise bad(f"metric {name!r} has {ds.shape[0]} epochs, the file says {h.num_epochs}")
            h.metrics[name] = [int(v) if ds.dtype.kind == "i" else float(v) for v in ds[()]]
        for group_name, group in f["voltages"].items():
            if not (isinstance(group, h5py.Group) and group_name.startswith("epoch_")
                    and group_name[6:].isdigit()):
                raise bad(f"voltages entry {group_name!r} must be a group 'epoch_<n>'")
            for phase, ds in group.items():
                if not isinstance(ds, h5py.Dataset) or ds.dtype.kind != "f":
                    raise bad(f"voltages {group_name}/{phase} must be a float dataset")
                h.voltages[(int(group_name[6:]), phase)] = ds[()]
        return h

    def plot(self, path, title=None):
        """Write a PNG of loss and accuracy versus epoch (train and validation).

        Train curves use ``loss``/``accuracy``, validation curves ``val_loss``/
        ``val_accuracy``; missing ones are skipped.
        """
        try:
            # Figure + Agg canvas directly, not pyplot: no display needed and the
            # user's global matplotlib backend (e.g. in a notebook) is untouched.
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure
        except ImportError as exc:
            raise EbanaError(
                f"History.plot needs matplotlib ({exc}); install it with 'pip install matplotlib'") from None
        if self.num_epochs == 0:
            raise ShapeError("History.plot: no epochs recorded yet")
        epochs = np.arange(1, self.num_epochs + 1)
        fig = Figure(figsize=(9, 3.5))
        FigureCanvasAgg(fig)
        axes = fig.subplots(1, 2)
        for ax, key, label in ((axes[0], "loss", "loss"), (axes[1], "accuracy", "accuracy")):
            for prefix, style, who in (("", "-o", "train"), ("val_", "--s", "test")):
                if prefix + key in self.metrics:
                    ax.plot(epochs, self.metrics[prefix + key], style, ms=3, label=who)
            ax.set_xlabel("epoch")
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend()
        if "accuracy" in self.metrics or "val_accuracy" in self.metrics:
            axes[1].set_ylim(-0.02, 1.02)
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=110)

    def __repr__(self):
        return f"History(epochs={self.num_epochs}, metrics={sorted(self.metrics)})"
