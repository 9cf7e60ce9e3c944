"""Training statistics over many simulated chips (device-to-device draws).

Chip ``i`` of a run with seed ``s`` is drawn from
``np.random.SeedSequence(s).spawn(n)[i]``: the same chip whatever ``n``, so a
short run is a prefix of a long one.

Example:

>>> stats = chip_statistics(n_chips=5, seed=0, progress=False)   # doctest: +SKIP
>>> print(stats.summary())                                       # doctest: +SKIP
"""
import time
from collections import Counter
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from ..devices.memristor_array import DeviceVariation
from ..errors import ValidationError
from .task import check_bits, pattern_names, training_set, unseen_patterns
from .training import InSituTrainer, TrainerConfig


@dataclass
class ChipStatistics:
    """Results of training ``n`` chips.

    epochs: updates until convergence per chip, ``-1`` where it did not converge, ``(n,)``.
    predictions: activations on the unseen patterns after training, ``(n, U, neurons)``.
    unseen: the unseen bit patterns, ``(U, inputs)``.
    saturated: saturated pulses per chip, ``(n,)``.
    runtime_s: wall time of the whole run (s).
    max_epochs: the epoch limit of the run.
    """
    epochs: np.ndarray
    predictions: np.ndarray
    unseen: np.ndarray
    saturated: np.ndarray
    runtime_s: float
    max_epochs: int

    @property
    def n_chips(self):
        return len(self.epochs)

    @property
    def converged(self):
        """Which chips converged, ``(n,)`` bool."""
        return self.epochs >= 0

    @property
    def convergence_rate(self):
        """Fraction of chips that converged within ``max_epochs``."""
        return float(self.converged.mean()) if self.n_chips else 0.0

    def epoch_quantiles(self, q=(0.0, 0.25, 0.5, 0.75, 0.9, 1.0)):
        """Quantiles of the epochs to converge over the converged chips (NaN if none)."""
        e = self.epochs[self.converged]
        return np.quantile(e, q) if len(e) else np.full(len(q), np.nan)

    def prediction_table(self):
        """Per unseen pattern: ``(name, [(bits, fraction), ...] most common first, mean activation)``
        over the converged chips (predicted bit = activation > 0)."""
        rows = []
        pred = self.predictions[self.converged]
        for u, name in enumerate(pattern_names(self.unseen)):
            votes = Counter("".join(str(int(b)) for b in (p > 0)) for p in pred[:, u])
            total = max(len(pred), 1)
            rows.append((name, [(k, n / total) for k, n in votes.most_common()],
                         pred[:, u].mean(axis=0) if len(pred) else np.full(pred.shape[-1], np.nan)))
        return rows

    def summary(self):
        """A plain-text report."""
        q = self.epoch_quantiles()
        lines = [
            f"chips: {self.n_chips}; converged within {self.max_epochs} epochs: "
            f"{self.converged.sum()} ({100 * self.convergence_rate:.0f} %)",
            "epochs to converge (min / 25 % / median / 75 % / 90 % / max): "
            + " / ".join("-" if np.isnan(v) else f"{v:g}" for v in q),
            f"saturated pulses per chip: mean {self.saturated.mean():.2f}, max {self.saturated.max()}",
            f"runtime: {self.runtime_s:.1f} s ({1e3 * self.runtime_s / max(self.n_chips, 1):.0f} ms per chip)",
            "predictions on the unseen patterns (converged chips; bits = activation > 0):",
        ]
        for name, votes, mean in self.prediction_table():
            top = ", ".join(f"{k} {100 * f:.0f} %" for k, f in votes[:3])
            lines.append(f"  {name} -> {top}   (mean activation {np.array2string(mean, precision=2)})")
        return "\n".join(lines)


def chip_statistics(n_chips=100, seed=0, device=None, variation=DeviceVariation(), config=TrainerConfig(),
                    x=None, y=None, unseen=None, backend=None, progress=True):
    """Train ``n_chips`` chips (fresh d2d draws) and collect :class:`ChipStatistics`.

    device, variation, config: as :class:`~.training.InSituTrainer`.
    x, y: training patterns and target bits (default: the design notes' task).
    unseen: patterns to predict after training (default: the other 10 of 16).
    backend: the backend shared by all chips (default: :func:`~.circuit.shared_backend`).
    progress: show a tqdm bar.
    """
    if int(n_chips) != n_chips or n_chips < 1:
        raise ValidationError(f"n_chips must be an integer >= 1, received {n_chips!r}")
    if (x is None) != (y is None):
        raise ValidationError("pass both x and y (training patterns and targets), or neither")
    if x is None:
        x, y = training_set()
    unseen = unseen_patterns() if unseen is None else check_bits(unseen, np.shape(x)[1], "unseen patterns")
    seeds = np.random.SeedSequence(seed).spawn(int(n_chips))
    epochs = np.full(len(seeds), -1, dtype=np.int64)
    saturated = np.zeros(len(seeds), dtype=np.int64)
    predictions = []
    start = time.perf_counter()
    for i, s in enumerate(tqdm(seeds, desc="chips", unit="chip", disable=not progress)):
        chip = InSituTrainer(device, variation, config, inputs=np.shape(x)[1], neurons=np.shape(y)[1],
                             seed=s, backend=backend)
        history = chip.fit(x, y)
        if history.converged:
            epochs[i] = history.epochs_to_converge
        saturated[i] = chip.devices.saturated
        predictions.append(chip.predict(unseen))
    return ChipStatistics(epochs=epochs, predictions=np.array(predictions), unseen=np.asarray(unseen),
                          saturated=saturated, runtime_s=time.perf_counter() - start,
                          max_epochs=config.epochs)
