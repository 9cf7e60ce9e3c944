"""Mini-batches over a dict of per-sample arrays keyed by layer name.

The EP loop feeds a batch straight to the backend: ``batch['x']`` becomes the
input voltages (V) of layer ``'x'``, ``batch['y']`` the targets of the output
readout. Every array shares its first axis (the sample axis).
"""
import numpy as np

from ..errors import ShapeError, ValidationError


class Batch(dict):
    """A dict ``{key: array (B, ...)}`` that also knows where its rows came from.

    Attributes:
        indices: int array (B,), the position of each row in the loader's data,
            so an error in row ``r`` can name sample ``batch.indices[r]``.
    """

    def __init__(self, arrays, indices):
        super().__init__(arrays)
        self.indices = indices


class DataLoader:
    """Iterate over a dict of arrays in mini-batches, optionally shuffled.

    Args:
        data: dict ``{name: array (N, ...)}``; e.g. inputs in V and targets.
            Integer arrays (labels) keep their dtype; anything else becomes
            float and must be finite.
        batch_size: samples per batch (positive int); the last batch of an
            epoch holds the remainder and may be smaller.
        shuffle: draw a new sample order for every epoch (every ``iter``).
        seed: seed of the one generator used for all epochs, so a run is
            reproducible while each epoch still gets a different order.
        transform: optional ``f(batch, rng) -> batch`` applied to every batch as it is
            drawn (data augmentation, e.g. :func:`ebana.datasets.random_flip`); it gets
            the loader's generator, so an augmented run repeats from the seed too.

    Example:
        >>> import numpy as np
        >>> loader = DataLoader({'x': np.zeros((5, 2)), 'y': np.ones((5, 1))},
        ...                     batch_size=2, shuffle=True, seed=0)
        >>> len(loader), loader.num_samples, loader.keys
        (3, 5, ('x', 'y'))
        >>> [b['x'].shape[0] for b in loader]
        [2, 2, 1]
    """

    def __init__(self, data, batch_size=1, shuffle=False, seed=None, transform=None):
        self._data = _check_data(data)
        if transform is not None and not callable(transform):
            raise ValidationError(f"DataLoader transform must be a function (batch, rng) -> batch, "
                                  f"received {type(transform).__name__}")
        self.transform = transform
        self.keys = tuple(self._data)
        self.num_samples = len(next(iter(self._data.values())))
        # bool is an int subclass; batch_size=True is almost surely a mistake.
        if (isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer))
                or batch_size < 1):
            raise ValidationError(
                f"DataLoader batch_size must be a positive int, received {batch_size!r}")
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.seed = seed
        # Seeded once: each epoch draws the next permutation from the same
        # stream, so epochs differ but the whole run repeats from the seed.
        self._rng = np.random.default_rng(seed)

    def __len__(self):
        return -(-self.num_samples // self.batch_size)  # ceil division

    def __iter__(self):
        """Yield one epoch of :class:`Batch` dicts (each has ``.indices``)."""
        order = self._order()
        for start in range(0, self.num_samples, self.batch_size):
            idx = order[start:start + self.batch_size]
            arrays = {k: a[idx] for k, a in self._data.items()}
            if self.transform is not None:
                arrays = self.transform(arrays, self._rng)
            yield Batch(arrays, idx)

    def _order(self):
        """This epoch's sample order (a new permutation from the loader's generator when shuffling)."""
        if self.shuffle:
            return self._rng.permutation(self.num_samples)
        return np.arange(self.num_samples)

    def on_device(self, xp, check=None):
        """This loader with its data copied once into namespace ``xp`` (a GPU's): see
        :class:`DeviceLoader`. ``check(columns)``, when given, validates the whole host data
        (a dict of arrays) first."""
        if isinstance(self, DeviceLoader) and self.xp is xp:
            return self
        return DeviceLoader(self, xp, check)

    def iter_with_indices(self):
        """Yield ``(indices, batch)`` pairs for one epoch.

        >>> loader = DataLoader({'x': np.arange(3.0)[:, None]}, batch_size=2)
        >>> [idx.tolist() for idx, _ in loader.iter_with_indices()]
        [[0, 1], [2]]
        """
        for batch in self:
            yield batch.indices, batch

    def column(self, key):
        """The whole array ``key`` (N, ...), in data order (read-only view)."""
        view = self._data[key].view()
        view.flags.writeable = False
        return view

    def rng_state(self):
        """State of the shuffling generator (plain dict); a checkpoint keeps the
        state from before an epoch's permutation so that epoch can be replayed."""
        return self._rng.bit_generator.state

    def set_rng_state(self, state, source="state"):
        """Restore a :meth:`rng_state`; ``source`` names the file in errors."""
        try:
            self._rng.bit_generator.state = state
        except (TypeError, ValueError, KeyError) as exc:
            raise ValidationError(f"{source}: data loader generator state is invalid: {exc}") from None

    def __repr__(self):
        return (f"DataLoader(keys={self.keys}, num_samples={self.num_samples}, "
                f"batch_size={self.batch_size}, shuffle={self.shuffle}, seed={self.seed!r})")


class DeviceLoader(DataLoader):
    """A :class:`DataLoader` whose batches are arrays of a device (namespace ``xp``).

    The whole data is checked on the host and copied to the device once, when it is made;
    each epoch's order comes from the host loader's own generator (it shares it, so a run
    shuffles exactly as on the CPU and checkpoints resume it), is copied to the device once
    per epoch, and every batch is taken from the device copy there. ``column`` and
    ``indices`` stay host arrays. Transforms (augmentation on host arrays) are refused.
    """

    def __init__(self, loader, xp, check=None):  # noqa: super().__init__ not called: shares the host loader
        if loader.transform is not None:
            raise ValidationError("a DataLoader with a transform cannot feed a model on a device (the transform "
                                  "works on host arrays): apply it to the data first, or train with device='cpu'")
        self.__dict__.update(loader.__dict__)  # the same data, settings and generator object
        self.host = loader
        if check is not None:
            check({k: loader.column(k) for k in loader.keys})
        self.xp = xp
        self._device_data = {k: xp.asarray(a) for k, a in loader._data.items()}

    def __iter__(self):
        order = self._order()
        rows = self.xp.asarray(order) if self.shuffle else None  # one copy per epoch
        for start in range(0, self.num_samples, self.batch_size):
            stop = start + self.batch_size
            if rows is None:
                arrays = {k: a[start:stop] for k, a in self._device_data.items()}
            else:
                arrays = {k: self.xp.take(a, rows[start:stop], axis=0) for k, a in self._device_data.items()}
            yield Batch(arrays, order[start:stop])

    def __repr__(self):
        return "Device" + super().__repr__()


def _check_data(data):
    """Return ``data`` as ``{str: float array}`` or raise naming the bad key."""
    if not isinstance(data, dict) or not data:
        raise ValidationError(
            "DataLoader data must be a non-empty dict {layer name: array (N, ...)}, "
            f"received {type(data).__name__} {data!r:.80}")
    out = {}
    first_key, n = None, None
    for key, values in data.items():
        try:
            a = np.asarray(values)
            # Integer labels stay integers (CrossEntropy takes them as class ids).
            if not (a.dtype.kind in "iu" or a.dtype == bool):
                a = a.astype(float)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"DataLoader data[{key!r}] is not numeric: {exc}") from None
        if a.ndim == 0:
            raise ShapeError(
                f"DataLoader data[{key!r}] must have a sample axis (N, ...), received a scalar")
        if n is None:
            first_key, n = key, a.shape[0]
            if n == 0:
                raise ShapeError(f"DataLoader data[{key!r}] has no samples (first axis length 0)")
        elif a.shape[0] != n:
            raise ShapeError(
                f"DataLoader data[{key!r}] has {a.shape[0]} samples but data[{first_key!r}] "
                f"has {n}; every array needs the same first-axis length")
        # Integer arrays are finite by construction; only floats can hold nan/inf.
        bad = a.dtype.kind == "f" and ~np.isfinite(a.reshape(n, -1)).all(axis=1)
        if np.any(bad):
            raise ValidationError(
                f"DataLoader data[{key!r}] sample {int(np.argmax(bad))} has a non-finite "
                "value (nan or inf); clean or drop it before training")
        out[key] = a
    return out
