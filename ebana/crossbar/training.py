"""In-situ training of a memristor crossbar with the batch Manhattan rule.

One :class:`InSituTrainer` is one chip: a ``rows x 2 N`` array of devices
(drawn once from the seed with device-to-device variation) solved as a
circuit in Ngspice. Per epoch:

1. Forward: row ``j`` gets ``+v_read`` for bit 1, ``-v_read`` for bit 0 (V);
   neuron ``k`` reads ``I_k = I(col 2k) - I(col 2k+1)`` (A) and outputs
   ``f_k = tanh(beta_a I_k)``.
2. Converged if every pattern of the epoch lies beyond the target band:
   ``f >= +target`` for a 1, ``f <= -target`` for a 0.
3. Delta rule: ``d = (t - f) beta_a / cosh(beta_a I)^2`` with ``t = +-target``,
   ``D_jk = sum_p d_k V_j``. With ``hinge=True`` (default) a pattern already
   beyond its target contributes ``d = 0``: the plain rule pulls it back
   towards ``+-target``, against the convergence test, and makes the
   training oscillate (67 % of 100 chips converge without the hinge,
   96 % with it; see docs/crossbar.md).
4. Batch Manhattan update, one pulse per weight: ``sign(D_jk) > 0`` sends a
   SET pulse to ``G+`` (column 2k), ``< 0`` to ``G-`` (column 2k+1)
   (``update='set'``); ``'reset'`` sends a RESET pulse to the other device
   instead, ``'both'`` sends both.

Example:

>>> from ebana.crossbar import InSituTrainer, training_set
>>> x, y = training_set()
>>> chip = InSituTrainer(seed=1)              # doctest: +SKIP
>>> history = chip.fit(x, y)                  # doctest: +SKIP
>>> history.converged, chip.predict(x).shape  # doctest: +SKIP
(True, (6, 2))
"""
from dataclasses import dataclass, field

import numpy as np

from ..devices.memristor import MemristorModel, SP291D1NR100Fit
from ..devices.memristor_array import DeviceVariation, MemristorArray
from ..errors import ValidationError
from ..validation import check_number
from .circuit import CrossbarCircuit
from .task import check_bits

UPDATES = ("set", "reset", "both")


@dataclass(frozen=True)
class TrainerConfig:
    """Settings of in-situ training (defaults: the 4x4 task of the design notes)."""
    beta_a: float = 5e8
    """tanh gain (1/A): ``f = tanh(beta_a I)``. 5e8 /A puts ``tanh(1)`` at 2 nA, about a
    third of one weight's full reach (0.1 V x 66 nS span = 6.6 nA); ``|f| >= 0.8``
    then needs ``|I| >= 2.2 nA``, above the devices' programming noise (~0.6 nA)."""
    target: float = 0.8
    """Target band (dimensionless, in (0, 1)): converged when every ``|f| >= target`` on the right side."""
    v_read: float = 0.1
    """Row read voltage (V): bit 1 -> +v_read, bit 0 -> -v_read."""
    epochs: int = 48
    """Maximum number of updates."""
    k_scale: float = 1.0
    """``K`` in ``G = K (G(m) - G(0) + shift)`` (dimensionless); 1 = the measured device."""
    update: str = "set"
    """``'set'`` (potentiate G+ or G-), ``'reset'`` (depress the other), ``'both'``."""
    hinge: bool = True
    """Patterns already beyond their target give no delta (see the module docstring)."""
    r_wire: float = 0.0
    """Wire resistance per segment (Ohm); 0 = ideal wires."""

    def __post_init__(self):
        check_number(self.beta_a, "TrainerConfig.beta_a (1/A)", 0.0, 1e15, low_open=True)
        check_number(self.target, "TrainerConfig.target", 0.0, 1.0, low_open=True)
        if self.target >= 1.0:
            raise ValidationError("TrainerConfig.target must be < 1 (tanh never reaches 1)")
        check_number(self.v_read, "TrainerConfig.v_read (V)", 0.0, 10.0, low_open=True)
        if int(self.epochs) != self.epochs or self.epochs < 0:
            raise ValidationError(f"TrainerConfig.epochs must be an integer >= 0, received {self.epochs!r}")
        check_number(self.k_scale, "TrainerConfig.k_scale K", 0.0, 1e9, low_open=True)
        if self.update not in UPDATES:
            raise ValidationError(f"TrainerConfig.update must be one of {UPDATES}, received {self.update!r}")
        check_number(self.r_wire, "TrainerConfig.r_wire (Ohm)", 0.0, 1e9)


@dataclass
class TrainingHistory:
    """What one :meth:`InSituTrainer.fit` did; epoch ``e`` is the state after ``e`` updates.

    conductance: device conductances (S), ``(E + 1, rows, cols)``.
    current: neuron currents ``I(G+) - I(G-)`` (A), ``(E + 1, P, neurons)``.
    activation: ``tanh(beta_a I)``, ``(E + 1, P, neurons)``.
    error: per epoch, ``sum max(0, target - s f)`` over patterns and neurons
        (``s = +-1`` the target sign): how far the outputs are from the band.
    pulses: the Manhattan signs sent, ``(E, rows, neurons)``.
    saturated: cumulative count of pulses that found their device at the end of its curve.
    """
    converged: bool
    epochs_to_converge: object  # int or None
    conductance: np.ndarray
    current: np.ndarray
    activation: np.ndarray
    error: np.ndarray
    pulses: np.ndarray
    saturated: np.ndarray
    target: float = 0.8
    config: TrainerConfig = field(default_factory=TrainerConfig)

    @property
    def weights(self):
        """Differential weights ``G+ - G-`` (S), ``(E + 1, rows, neurons)``."""
        return self.conductance[:, :, 0::2] - self.conductance[:, :, 1::2]


def sech2(x):
    """``1 / cosh(x)^2`` without overflow for large ``|x|``."""
    e = np.exp(-2.0 * np.abs(x))
    return 4.0 * e / (1.0 + e) ** 2


class InSituTrainer:
    """One chip: a crossbar of memristors trained in situ (see the module docstring).

    device: the pulse curve (:class:`~ebana.devices.MemristorModel`); default
        :class:`~ebana.devices.SP291D1NR100Fit` (fitted to the measured device).
    variation: device-to-device variation (:class:`~ebana.devices.DeviceVariation`).
    config: :class:`TrainerConfig`.
    inputs, neurons: rows, and neurons (two columns each).
    seed: int, SeedSequence or Generator; draws the chip and its c2c noise.
    backend: circuit backend (default: :func:`~.circuit.shared_backend`, one per process).
    """

    def __init__(self, device=None, variation=DeviceVariation(), config=TrainerConfig(),
                 inputs=4, neurons=2, seed=0, backend=None):
        self.device = SP291D1NR100Fit() if device is None else device
        if not isinstance(self.device, MemristorModel):
            raise ValidationError(f"device must be a MemristorModel, received {type(self.device).__name__}")
        if not isinstance(config, TrainerConfig):
            raise ValidationError(f"config must be a TrainerConfig, received {type(config).__name__}")
        self.config = config
        self.inputs, self.neurons = int(inputs), int(neurons)
        self.devices = MemristorArray(self.device, (self.inputs, 2 * self.neurons), variation,
                                      k_scale=config.k_scale, rng=seed)
        self.crossbar = CrossbarCircuit(self.inputs, 2 * self.neurons, r_wire=config.r_wire, backend=backend)

    # forward ---------------------------------------------------------------
    def voltages(self, x):
        """Row voltages (V) for bit patterns ``x`` ``(P, inputs)``."""
        x = check_bits(x, self.inputs, "input patterns")
        return np.where(x == 1, self.config.v_read, -self.config.v_read)

    def neuron_currents(self, x):
        """``I(G+) - I(G-)`` per neuron (A), ``(P, neurons)``, from one Ngspice solve per pattern."""
        i_col = self.crossbar.column_currents(self.devices.conductance, self.voltages(x))
        return i_col[:, 0::2] - i_col[:, 1::2]

    def predict(self, x):
        """Activations ``tanh(beta_a I)`` in (-1, 1), shape ``(P, neurons)``."""
        return np.tanh(self.config.beta_a * self.neuron_currents(x))

    def classify(self, x):
        """Predicted bits: 1 where the activation is > 0, shape ``(P, neurons)``."""
        return (self.predict(x) > 0).astype(np.int64)

    # training --------------------------------------------------------------
    def _directions(self, sign):
        """Device pulse directions ``(rows, cols)`` for Manhattan signs ``(rows, neurons)``."""
        up = np.zeros(self.devices.shape, dtype=np.int64)
        plus, minus = sign > 0, sign < 0
        if self.config.update in ("set", "both"):
            up[:, 0::2] += plus
            up[:, 1::2] += minus
        if self.config.update in ("reset", "both"):
            up[:, 1::2] -= plus
            up[:, 0::2] -= minus
        return up

    def fit(self, x, y):
        """Train on bit patterns ``x`` ``(P, inputs)`` and target bits ``y`` ``(P, neurons)``.

        Continues from the chip's present state (pulses accumulate, as on a
        real chip). Returns a :class:`TrainingHistory`.
        """
        cfg = self.config
        v = self.voltages(x)
        s = 2.0 * check_bits(y, self.neurons, "target bits") - 1.0
        if s.shape[0] != v.shape[0]:
            raise ValidationError(f"fit received {v.shape[0]} input patterns but {s.shape[0]} targets")
        cond, cur, act, err, pulses, sat = [], [], [], [], [], []
        done_at = None
        for epoch in range(cfg.epochs + 1):
            g = self.devices.conductance
            i_col = self.crossbar.column_currents(g, v)
            i = i_col[:, 0::2] - i_col[:, 1::2]
            f = np.tanh(cfg.beta_a * i)
            beyond = s * f >= cfg.target
            cond.append(g)
            cur.append(i)
            act.append(f)
            err.append(float(np.maximum(0.0, cfg.target - s * f).sum()))
            sat.append(self.devices.saturated)
            if beyond.all():
                done_at = epoch
                break
            if epoch == cfg.epochs:
                break
            d = (s * cfg.target - f) * cfg.beta_a * sech2(cfg.beta_a * i)
            if cfg.hinge:
                d = np.where(beyond, 0.0, d)
            sign = np.sign(v.T @ d)          # (rows, neurons): sum over patterns of V_j d_k
            pulses.append(sign)
            self.devices.pulse(self._directions(sign))
        return TrainingHistory(
            converged=done_at is not None, epochs_to_converge=done_at,
            conductance=np.array(cond), current=np.array(cur), activation=np.array(act),
            error=np.array(err), pulses=np.array(pulses).reshape(-1, self.inputs, self.neurons),
            saturated=np.array(sat), target=cfg.target, config=cfg)
