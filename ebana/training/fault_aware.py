"""Training with stuck-at faults: fault-aware training and in-situ training of a faulty chip.

:class:`FaultAware` wraps an optimizer. Before every EP step the model's
conductance layers hold a fault map's stuck devices at ``g_min`` / ``g_max``
(S), so both phases solve the faulty circuit; the step's gradient is zeroed
at the stuck devices (they cannot be programmed), the latent (trained)
values are put back, the wrapped optimizer updates them, and the next map is
installed::

    for each batch:  G_circuit = where(stuck, g_stuck, G_latent)     (S)
                     grad      = where(stuck, 0, dL/dG_circuit)
                     G_latent  = optimizer(G_latent, grad)

``fresh=True`` draws a new map for every step from a generator seeded with
``seed`` (fault-aware training: the network learns to tolerate faults in any
place, at no extra solve cost: all samples of a batch share the map, so the
crossbars stay matrix products). ``fresh=False`` keeps chip ``seed``'s map
for the whole run (:meth:`~ebana.devices.faults.StuckAtFaults.draw`, the
same map :class:`~ebana.devices.chip.ChipDevices` gives): training a faulty
chip in situ, where the optimizer can never move a stuck device.

Call :meth:`FaultAware.finish` after ``fit`` to put the latent values back
(the model then holds the trained, fault-free conductances; with
``fresh=False`` apply the chip's map again to get what the chip holds).

Example:
    ```python
    opt = FaultAware(Adam(lr=1e-10), model, StuckAtFaults(p=0.05), seed=0)
    model.fit(loader, epochs=2, loss_fn=MSE(), optimizer=opt, beta=5e-7)
    opt.finish()
    ```
"""

from ..devices import as_generator
from ..devices.faults import StuckAtFaults
from ..errors import ValidationError
from .optimizers import Optimizer

_OWN = ("inner", "model", "faults", "fresh", "seed", "_rng", "_maps", "_latent")


class FaultAware(Optimizer):
    """An optimizer whose steps see stuck-at faults (see the module docstring).

    Args:
        optimizer: the Optimizer that updates the latent conductances.
        model: the model being trained (its conductance layers get the faults).
        faults: a StuckAtFaults (``p``: fraction stuck; ``high_fraction``: share at g_max).
        seed: non-negative int: the generator of fresh maps, or the chip seed when ``fresh=False``.
        fresh: True: a new map every step; False: one chip's map for the whole run.

    Attributes other than these are the wrapped optimizer's (``lr``, ``lr_scale``,
    ``steps``, its state), so schedules and checkpoints act on it.
    """

    def __init__(self, optimizer, model, faults, seed=0, fresh=True):  # noqa: super().__init__ not called:
        # every attribute but _OWN lives on the wrapped optimizer
        if not isinstance(optimizer, Optimizer) or isinstance(optimizer, FaultAware):
            raise ValidationError(f"FaultAware wraps an Optimizer such as Adam(), received {optimizer!r}")
        if not isinstance(faults, StuckAtFaults):
            raise ValidationError(f"FaultAware: faults must be a StuckAtFaults, received {faults!r}")
        if getattr(model, "device", "cpu") != "cpu":  # its maps are host arrays written into the weights
            raise ValidationError(f"FaultAware (stuck-at faults during training) is not supported on "
                                  f"device={model.device!r} yet: train with device='cpu'")
        own = dict(inner=optimizer, model=model, faults=faults, fresh=bool(fresh), seed=seed,
                   _rng=as_generator(seed, "FaultAware seed"), _maps={}, _latent={})
        for name, value in own.items():
            object.__setattr__(self, name, value)
        layers = self._layers()
        if not layers:
            raise ValidationError("FaultAware: the model has no trainable conductance layer to put faults in")
        self._install(layers)

    def __getattr__(self, name):  # called only for names not found on the wrapper
        return getattr(self.inner, name)

    def __setattr__(self, name, value):
        if name in _OWN:
            object.__setattr__(self, name, value)
        else:
            setattr(self.inner, name, value)

    def _layers(self):
        """The model's trainable conductance layers (where faults go)."""
        params = self.model.parameters()
        return [l for l in self.model.resistive_layers if l.name in params]

    def _install(self, layers):
        """Draw (or keep) the maps and write the stuck values into the layers' arrays, keeping the latent ones."""
        params = self.model.parameters()
        for layer in layers:
            g = params[layer.name]
            if self.fresh or layer.name not in self._maps:
                self._maps[layer.name] = (self.faults.draw_from(g.shape, self._rng) if self.fresh
                                          else self.faults.draw(g.shape, self.seed, key=layer.name))
            fmap = self._maps[layer.name]
            self._latent[layer.name] = g[fmap.stuck].copy()
            g[...] = fmap.apply(g, layer.g_min, layer.g_max)

    def _restore(self):
        params = self.model.parameters()
        for name, latent in self._latent.items():
            params[name][self._maps[name].stuck] = latent
        self._latent.clear()

    def step(self, params, grads, lrs=None):
        """Freeze the stuck devices' gradients, restore latent values, update, install the next map."""
        grads = dict(grads)
        for name, fmap in self._maps.items():
            if name in grads:
                grads[name] = fmap.freeze(grads[name])
        self._restore()
        self.inner.step(params, grads, lrs)
        layers = self._layers()
        for layer in layers:
            layer.clip()  # fit clips after this step too, but the latent values kept by _install must be in range
        self._install(layers)

    def finish(self):
        """Put the latent (trained) conductances back into the model; returns the wrapped optimizer."""
        self._restore()
        return self.inner

    @property
    def maps(self):
        """The fault maps in place now, by layer name."""
        return dict(self._maps)

    # the rest is the wrapped optimizer's
    def check_parameters(self, params):
        return self.inner.check_parameters(params)

    def default_lr(self, g_min, g_max):
        return self.inner.default_lr(g_min, g_max)

    def state_dict(self):
        return self.inner.state_dict()

    def load_state_dict(self, d, source, params=None):
        return self.inner.load_state_dict(d, source, params)

    def save_state(self, path):
        return self.inner.save_state(path)

    def load_state(self, path):
        return self.inner.load_state(path)
