"""Model-level noise: per-sample effective conductances for a batch, and back.

Each noisy layer owns a :class:`~ebana.devices.LayerNoise`; this module
joins them in circuit order so one EP step sees one ``(B, R)`` array of
effective conductances (S), nominal for layers without noise::

    noise = model.noise                      # a ModelNoise
    noise.begin_step(batch=B, epoch=e)       # draws the step's masks
    g_eff = noise.effective()                # (rows, R) S, before every solve (rows: B, or fewer)
    grads = noise.nominal_gradients(grads)   # per-row dL/dG_eff -> summed dL/dG

Per-sample masks are drawn once per step, so both EP phases of one sample
see the same ``G_eff``; scope 'read' draws afresh at every ``effective()``
call (every phase). Quantised layers are masked after quantisation (the
devices that vary are the ones the circuit holds).

A step needs fewer than ``B`` conductance vectors when the masks are shared:
``Variability(masks_per_batch=G)`` draws ``G`` masks per step for contiguous
groups of samples, and chip-scope masks are one per chip. ``begin_step``
returns that count (``rows``), and :func:`ebana.training.ep.noisy_ep_step`
then solves each group as a batch with one conductance vector.

Example:
    ```python
    model = Model(inputs=[x], outputs=[out], variability=Variability(kind="folded", sigma=0.3))
    model.fit(X, Y, epochs=35)   # train_step routes through ebana.training.ep.noisy_ep_step
    ```
"""
import zlib

import numpy as np

from ..errors import ShapeError, ValidationError

_STREAM = 1  # separates the per-sample/read streams from chip streams (chip_generator uses [seed, key])


def _layer_seed(seed, name):
    """Generator for the per-sample masks of layer ``name`` in a model seeded with ``seed``."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValidationError(f"noise seed must be a non-negative int, received {seed!r}")
    return np.random.default_rng([int(seed), _STREAM, zlib.crc32(name.encode("utf-8"))])


class ModelNoise:
    """The noisy layers of one model, kept consistent across the phases of an EP step.

    Args:
        layers: the model's conductance layers, in circuit order.
        default: a Variability for layers that set none (the model's default), or None.
        seed: non-negative int; every layer gets its own stream from ``(seed, name)``.
        chip_seed: the simulated chip for scope 'chip' masks.
    """

    def __init__(self, layers, default=None, seed=0, chip_seed=0):
        self.layers = list(layers)
        self.default = default
        self.seed = seed
        for layer in self.layers:
            if not hasattr(layer, "attach_noise"):
                continue
            var = layer.variability if layer.variability is not None else default
            layer.attach_noise(var, _layer_seed(seed, layer.name), chip_seed=chip_seed)
        self._batch = None
        self.rows(1)  # the layers' mask groups agree: refused when the model is built, not at the first step

    @property
    def noisy(self):
        """The layers that carry a LayerNoise."""
        return [l for l in self.layers if getattr(l, "noise", None) is not None]

    @property
    def per_read(self):
        """True when some layer draws fresh masks at every solve (scope 'read')."""
        return any(l.noise.variability.scope == "read" for l in self.noisy)

    @property
    def active(self):
        """True when any layer has variability (a zero sigma still counts: masks are exactly 1)."""
        return bool(self.noisy)

    def set_chip(self, chip_seed):
        """Switch every 'chip'-scope layer to chip ``chip_seed`` (from the next step)."""
        for layer in self.noisy:
            layer.noise.set_chip(chip_seed)

    def state_dict(self):
        """Generator states and chip seeds by layer name (plain types: checkpoints pickle them)."""
        return {l.name: {"rng": l.noise.rng.bit_generator.state, "chip_seed": int(l.noise.chip_seed)}
                for l in self.noisy}

    def load_state_dict(self, state):
        """Restore :meth:`state_dict`, so a resumed run draws the masks an uninterrupted one would."""
        names = {l.name for l in self.noisy}
        if not isinstance(state, dict) or set(state) != names:
            got = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise ValidationError(f"noise state holds layers {got}, the model's noisy layers are {sorted(names)}")
        for layer in self.noisy:
            entry = state[layer.name]
            layer.noise.rng.bit_generator.state = entry["rng"]
            layer.noise.set_chip(entry["chip_seed"])

    def rows(self, batch):
        """How many conductance vectors a step of ``batch`` samples needs: ``batch`` (one per
        sample) when some layer draws per-sample or per-read masks; else the shared
        ``masks_per_batch`` of the 'sample'-scope layers (at most ``batch``), or 1 when every
        layer's masks are its chip's."""
        per_sample = {l.name: l.noise.variability.masks_per_batch if l.noise.variability.scope == "sample"
                      else "read" for l in self.noisy if l.noise.variability.scope != "chip"}
        counts = set(per_sample.values())
        if len(counts) > 1:
            raise ValidationError(f"the noisy layers draw their masks per different groups of samples ({per_sample}; "
                                  "None: one mask per sample, 'read': fresh at every solve): a sample belongs to one "
                                  "group in every layer, so give every 'sample'-scope layer the same "
                                  "Variability.masks_per_batch (and no 'read'-scope layer beside a count)")
        if not counts:  # chip masks only: one conductance vector
            return 1
        count = counts.pop()
        return batch if count in (None, "read") else min(count, batch)

    def begin_step(self, batch, epoch=0):
        """Draw the masks of one EP step for ``batch`` samples (epoch: for multiscale 'cycle_epoch');
        returns the number of conductance vectors the step uses (:meth:`rows`)."""
        rows = self.rows(batch)
        for layer in self.noisy:
            layer.noise.begin_step(layer.circuit_g(), rows, epoch)
        self._batch = rows
        return rows

    def effective(self):
        """Effective conductances (S), ``(rows, R)`` in circuit order, for the next solve
        (``rows``: what :meth:`begin_step` returned)."""
        if self._batch is None:
            raise ValidationError("ModelNoise.effective() called before begin_step(batch)")
        parts = []
        for layer in self.layers:
            if getattr(layer, "noise", None) is not None:  # the devices vary; a crossbar's wires do not
                g = layer.conductances_with(layer.noise.effective().reshape(self._batch, -1))
            else:
                nominal = layer.conductances()
                g = np.broadcast_to(nominal, (self._batch, nominal.size))
            parts.append(g)
        return np.concatenate(parts, axis=1)

    def nominal_gradients(self, grads):
        """Map per-row ``dL/dG_eff`` by layer name, ``(rows, *shape)`` (a row per sample, or per group
        of samples sharing a mask: :meth:`rows`), to batch-summed ``dL/dG``.

        Noisy layers apply their rule ('mask': ``M * grad``, 'straight_through':
        ``grad``); the others are summed. A quantised layer's gradient then goes
        to its latent values unchanged (straight-through on the quantiser).
        """
        out = {}
        by_name = {l.name: l for l in self.layers}
        for name, grad in grads.items():
            layer = by_name.get(name)
            grad = np.asarray(grad)
            if grad.ndim < 2 or grad.shape[0] != self._batch:
                raise ShapeError(f"gradient of layer {name!r} has shape {grad.shape}: expected per-sample "
                                 f"gradients with a leading batch axis of {self._batch}")
            if layer is not None and getattr(layer, "noise", None) is not None:
                out[name] = layer.noise.nominal_gradient(grad, reduce="sum")
            else:
                out[name] = grad.sum(axis=0)
        return out

