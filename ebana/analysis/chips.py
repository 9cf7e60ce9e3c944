"""One simulated chip: its seed, its conductances and its accuracy.

These are the pieces every chip study repeats per chip (robustness over
variability, faults and drift). They depend only on their arguments, so a chip
computed in another process, or after any other chip, is the same chip: the
seed of chip ``c`` is derived from ``(seed, c)`` alone, and each layer's draws
from that seed and the layer's name.

Example:
    >>> from ebana.analysis.chips import chip_seed
    >>> chip_seed(0, 3) == chip_seed(0, 3) != chip_seed(0, 4)
    True
"""
import numpy as np

from ..backends import make_stimulus
from ..devices import Variability, VariabilityModel
from ..devices.chip import device_conductances
from ..errors import ShapeError, ValidationError


def chip_seed(seed, chip):
    """The int seed of chip number ``chip`` of a study seeded with ``seed`` (reproducible, independent)."""
    return int(np.random.SeedSequence([int(seed), int(chip)]).generate_state(1)[0])


def chip_conductances(model, variability, chip):
    """Effective conductances (S), shape (R,), of chip ``chip`` (int seed) under ``variability``."""
    vm = VariabilityModel(variability)
    parts = []
    for layer in model.resistive_layers:
        g, (g_min, g_max) = device_conductances(layer)
        masks = vm.chip_masks(g.shape, chip, key=layer.name, g_max=g_max, g=g)
        parts.append(layer.conductances_with(vm.apply(g, masks, g_min).ravel()))  # a crossbar's wires: as built
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
        v = backend.solve(model.circuit, make_stimulus(model.circuit, g, vs, isrc)).lazy_v  # readouts only
        _, readouts, _ = loss_and_nudge(model, v, targets, loss_fn, 1.0)
        correct += accuracy(model, readouts, targets, loss_fn) * n
        count += n
    return correct / count


def read_noise_accuracy(model, backend, batches, g, loss_fn, variability, seed, group=100):
    """Free-phase accuracy (fraction) over ``batches`` when every read sees fresh noise: the
    conductances ``g`` (S, ``(R,)`` in circuit order: a chip's, or the nominal ones), the
    devices' times a mask of ``variability`` drawn afresh for every ``group`` samples
    (cycle-to-cycle noise); a wired crossbar's segments are kept as they are.

    A sample's draw is shared with the other samples of its group, so each group is one
    batched solve with one conductance vector (matrix products); every sample still sees a
    draw independent of the weights and of the other groups. ``seed`` (int) fixes the draws.
    """
    from ..training.ep import accuracy, loss_and_nudge
    if isinstance(group, bool) or not isinstance(group, (int, np.integer)) or group < 1:
        raise ValidationError(f"read_noise_accuracy: group (samples per draw) must be a positive int, received {group!r}")
    if not isinstance(variability, Variability) or variability.scope != "read":
        raise ValidationError("read_noise_accuracy: variability must be a Variability of scope 'read' (a fresh "
                              f"draw per read), received {variability!r}")
    vm = VariabilityModel(variability)
    rng = np.random.default_rng(seed)
    layers, start = [], 0
    for layer in model.resistive_layers:  # the layout of chip_conductances: layer after layer
        devices, (g_min, g_max) = device_conductances(layer)
        layers.append((slice(start, start + devices.size), g_min, g_max))  # a crossbar's wires follow: kept
        start += layer.conductances().size
    g = np.asarray(g, dtype=float)
    if g.shape != (start,):
        raise ShapeError(f"read_noise_accuracy: g must hold the {start} conductances (S) of the model's circuit "
                         f"(chip_conductances' layout), received shape {g.shape}")
    correct, count = 0.0, 0
    for vs, isrc, targets, n in batches:
        for a in range(0, n, group):
            b = min(a + group, n)
            read = g.copy()
            for span, g_min, g_max in layers:
                masks = vm.sample_masks(g[span].shape, 1, rng, g_max=g_max, g=g[span])[0]
                read[span] = vm.apply(g[span], masks, g_min)
            v = backend.solve(model.circuit, make_stimulus(model.circuit, read, vs[a:b], isrc[a:b])).lazy_v
            part = {k: t[a:b] for k, t in targets.items()}
            _, readouts, _ = loss_and_nudge(model, v, part, loss_fn, 1.0)
            correct += accuracy(model, readouts, part, loss_fn) * (b - a)
            count += b - a
    return correct / count
