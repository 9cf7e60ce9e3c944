"""A crossbar of memristors for EP networks: the circuit sees only states a
device can reach, and every update is a train of programming pulses."""
import numpy as np

from ..devices.memristor import ExponentialMemristor, MemristorModel
from ..devices.memristor_array import DeviceVariation, MemristorArray, device_bounds
from ..errors import ValidationError
from .dense import DenseLayer


class MemristorDenseLayer(DenseLayer):
    """:class:`DenseLayer` whose conductances are memristors on a pulse curve.

    After every optimizer step the requested conductances are reached by
    pulses: each device gets SET (+1) or RESET (-1) pulses, at most
    ``max_pulses`` per update, while the remaining gap exceeds half of its
    next step. The layer's ``g`` then holds what the devices really are, so EP
    always trains the circuit it measures. Saturated pulses (a device at the
    end of its curve) are counted in ``array.saturated``, never raised.

    Args:
        units, name, lr, trainable: as for DenseLayer.
        device: a :class:`~ebana.devices.MemristorModel` (default: a 0.1-100 uS
            exponential curve of 100 pulses, nonlinearity 1).
        variation: device-to-device :class:`~ebana.devices.DeviceVariation` or None.
        k_scale: multiplies every device conductance (dimensionless).
        max_pulses: pulses per device per update (int >= 1).
        initial_pulses: ``'random'`` (uniform positions on the curve) or an int position.
        accumulate: keep the requested conductances between updates (see :meth:`clip`).
        wires: None, or a :class:`~ebana.layers.wires.Wires` (or its dict): tiles and line
            resistance (Ohm), as for DenseLayer; the pulses program the devices, the wires
            stay fixed resistors.

    >>> from ebana import InputVoltageLayer
    >>> from ebana.devices import ExponentialMemristor
    >>> x = InputVoltageLayer(units=4, name="x")
    >>> MemristorDenseLayer(units=8, name="m1", device=ExponentialMemristor(1e-7, 1e-4, 100))(x).units
    8
    """

    def __init__(self, units, name, device=None, variation=None, k_scale=1.0, max_pulses=4,
                 initial_pulses="random", lr=None, trainable=True, accumulate=False, wires=None):
        device = ExponentialMemristor(g_min=1e-7, g_max=1e-4, n_pulses=100, nonlinearity=1.0) \
            if device is None else device
        if not isinstance(device, MemristorModel):
            raise ValidationError(f"MemristorDenseLayer {name!r}: device must be a MemristorModel, "
                                  f"received {type(device).__name__}")
        if variation is not None and not isinstance(variation, DeviceVariation):
            raise ValidationError(f"MemristorDenseLayer {name!r}: variation must be a DeviceVariation or None")
        if isinstance(max_pulses, bool) or not isinstance(max_pulses, (int, np.integer)) or max_pulses < 1:
            raise ValidationError(f"MemristorDenseLayer {name!r}: max_pulses must be an integer >= 1, "
                                  f"received {max_pulses!r}")
        curve = device.curve()
        # The layer's bounds (weights files, masks) hold every conductance a device can show,
        # device spread and c2c errors included.
        g_min, g_max = device_bounds(device, k_scale)
        # What the pulses may aim at: the curve less half its swing, up to the same ceiling (the
        # shadow weights of accumulate stay within it, so a request cannot wind up far below a device's reach).
        g_lo = k_scale * float(curve.min())
        self.request_range = (max(g_lo - 0.5 * k_scale * device.span, g_min), g_max)
        super().__init__(units, name, initializer="uniform", lr=lr, trainable=trainable, g_min=g_min, g_max=g_max,
                         wires=wires)
        self.device, self.variation, self.k_scale = device, variation, float(k_scale)
        self.max_pulses, self.initial_pulses = int(max_pulses), initial_pulses
        self.accumulate = bool(accumulate)
        self._shadow = self._shown = None
        self.array = None

    def build(self, input_units, rng):
        self._check_wires(input_units, self.out_units)
        if self.array is None:
            shape = (input_units, self.out_units)
            self.array = MemristorArray(self.device, shape, self.variation, self.k_scale,
                                        rng=int(rng.integers(2**31)))
            n = self.device.n_pulses
            start = rng.integers(0, n + 1, size=shape) if self.initial_pulses == "random" else \
                np.full(shape, int(self.initial_pulses))
            for k in range(int(start.max(initial=0))):
                self.array.pulse((start > k).astype(np.int64))
            # the pulses that set the initial states are programming, not training: counted apart
            self.initial_pulses_sent = self.array.pulse_count.copy()
            self.initial_saturated = self.array.saturated
            self.g = self.array.conductance.copy()
        self.built = True

    def _steps(self):
        """Conductance change (S) of the next SET and of the next RESET pulse, per device."""
        d = self.device
        g_now = d.conductance(self.array.m)
        up = d.conductance(self.array.m + 1) - g_now
        down = g_now - d.conductance(self.array.m - d.reset_step)
        scale = self.k_scale * self.array.scale
        return np.abs(up * scale), np.abs(down * scale)

    def clip(self):
        """Reach the requested ``g`` by pulses, then show the devices' true conductances.

        With ``accumulate``, the requested conductances are kept between updates (a shadow
        weight in the periphery, S): each update adds the optimizer's change to it, so changes
        smaller than half a pulse step add up until they are worth a pulse instead of being
        dropped at every step."""
        requested = self._requested()
        rising = np.sign(self.device.curve()[-1] - self.device.curve()[0])  # SET raises G on this curve
        for _ in range(self.max_pulses):
            gap = requested - self.array.conductance
            up, down = self._steps()
            step_up, step_down = (up, down) if rising > 0 else (down, up)
            want_up = gap * rising > 0.5 * step_up
            want_down = -gap * rising > 0.5 * step_down
            if self.accumulate:  # the periphery verifies: a device at the end of its curve gets no pulse
                want_up &= step_up > 0
                want_down &= step_down > 0
            direction = want_up.astype(np.int64) - want_down.astype(np.int64)
            if not direction.any():
                break
            self.array.pulse(direction)
        self.g[...] = self.array.conductance
        self._shown = self.g.copy() if self.accumulate else None

    def _requested(self):
        """The conductances (S) the pulses aim at: ``g`` as the optimizer left it, or with
        ``accumulate`` the shadow weight moved by the optimizer's change since the last update
        (kept within ``request_range``, the curve with room for device spread, so it cannot wander
        far beyond what a device can be; a device at its curve's end gets no pulse, :meth:`clip`)."""
        if not self.accumulate or self._shown is None or self._shown.shape != self.g.shape:
            self._shadow = self.g.copy()
        else:
            self._shadow += self.g - self._shown
            np.clip(self._shadow, *self.request_range, out=self._shadow)
        return self._shadow.copy()

    def training_pulses(self):
        """Pulses each device has received since its initial programming (int array, ``(n_in, units)``)."""
        if self.array is None:
            raise ValidationError(f"{self.describe()} is not built yet: it has sent no pulses")
        return self.array.pulse_count - self.initial_pulses_sent

    def endurance(self, pulse_energy=None):
        """Training pulses per device (median, max, total: ints) and, given the energy of one
        programming pulse (J, e.g. a measured curve's ``pulse_energy``), the energy spent (J):
        pulses times ``pulse_energy`` times ``k_scale`` (K devices in parallel draw K times the current)."""
        pulses = self.training_pulses()
        out = {"median": int(np.median(pulses)), "max": int(pulses.max(initial=0)), "total": int(pulses.sum())}
        if pulse_energy is not None:
            out["energy_J"] = out["total"] * float(pulse_energy) * self.k_scale
        return out

    def epoch_metrics(self):
        """``{name}_pulses`` (training pulses sent so far, all devices) and ``{name}_saturated``
        (pulses that found their device at the end of its curve), both ints."""
        if self.array is None:
            return {}
        return {f"{self.name}_pulses": int(self.training_pulses().sum()),
                f"{self.name}_saturated": int(self.array.saturated - self.initial_saturated)}

    def get_config(self):
        return {"units": self.out_units, "name": self.name, "device": self.device, "variation": self.variation,
                "k_scale": self.k_scale, "max_pulses": self.max_pulses, "initial_pulses": self.initial_pulses,
                "accumulate": self.accumulate,
                "lr": self.lr, "trainable": self.trainable, **self._wires_config()}
