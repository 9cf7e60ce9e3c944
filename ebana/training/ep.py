"""One Equilibrium Propagation step on a batch: free phase, nudged phase(s), gradients.

Signs (see the design notes): the nudged phase injects ``I_k = -beta * dL/dV_k``
(A, beta in S) into output net ``k``; for a conductance with drop ``dV``,
``dL/dG ~= (dV_nudged**2 - dV_free**2) / (2 * beta)``. Symmetric nudging
solves at ``+beta`` and ``-beta`` and divides by ``2 * beta``, which removes the
first-order bias of a finite beta.
"""

import numpy as np

from ..backends import Stimulus, make_stimulus
from ..backends.arrays import Reflection, array_namespace
from ..backends.deferred import whole
from ..backends.threads import blas_beside
from ..errors import ShapeError, ValidationError
from ..validation import check_number


class StepResult:
    """What one EP step measured.

    loss: per-sample loss (B,); readouts: free-phase readouts by output name (V);
    grads: dL/dG by layer name, summed over the batch; v_free, v_nudged: node
    voltages (V) of the phases (``v_nudged`` is the ``+beta`` phase). The free phase's
    are made when first read where the solver deferred some of them (a wired crossbar's
    inner nodes, which a symmetric step never needs: :mod:`ebana.backends.deferred`).
    """

    def __init__(self, loss, readouts, grads, v_free, v_nudged):
        self.loss, self.readouts, self.grads, self.v_nudged = loss, readouts, grads, v_nudged
        self._v_free = v_free

    @property
    def v_free(self):
        return whole(self._v_free)


def targets_of(model, batch, size):
    """Target arrays by output name, checked against the batch size. Device arrays stay on
    their device and get the shape checks only: their values were checked on the host
    before they were uploaded (:func:`~.evaluate.on_model_device`)."""
    out = {}
    for layer in model.outputs:
        if layer.name not in batch:
            raise ShapeError(f"the batch has no targets for output {layer.describe()}: add key "
                             f"{layer.name!r} (keys received: {sorted(batch)})")
        xp = array_namespace(batch[layer.name])
        t = xp.asarray(batch[layer.name])
        if t.ndim == 1 and layer.units == 1:  # (N,) targets of a one-unit output, as inputs of one unit
            t = t[:, None]
        if t.ndim == 0 or t.shape[0] != size:
            raise ShapeError(f"output {layer.describe()} has targets of shape {t.shape} for {size} input samples")
        if t.ndim == 2 and t.shape[1] != layer.units and t.dtype.kind == "f":
            raise ShapeError(f"output {layer.describe()} expected targets of shape ({size}, {layer.units}), "
                             f"received {t.shape}")
        if t.dtype.kind not in "biuf":
            raise ValidationError(f"output {layer.describe()}: targets must be numbers, received dtype {t.dtype}")
        if xp is not np:
            out[layer.name] = t
            continue
        bad = ~np.isfinite(t.reshape(size, -1)).all(axis=1) if t.dtype.kind == "f" else np.zeros(size, bool)
        if bad.any():
            raise ValidationError(f"output {layer.describe()}: target of sample {int(np.argmax(bad))} is not finite")
        out[layer.name] = t
    return out


def loss_and_nudge(model, v, targets, loss_fn, beta):
    """Per-sample loss, readouts, and the nudging currents (A) by output name."""
    readouts = model.readouts(v)
    total = 0.0
    currents = {}
    for layer in model.outputs:
        loss, dldy = loss_fn(readouts[layer.name], targets[layer.name])
        total = total + loss
        currents[layer.name] = layer.currents(dldy, beta)
    return total, readouts, currents


class Phases:
    """Solves the phases of one batch on one compiled circuit (stimulus built once).

    ``g``: conductances (S), ``(R,)`` or ``(B, R)``, or a callable returning
    them, called before every phase (per-read noise draws afresh each time).
    """

    def __init__(self, model, arrays, size, g):
        self.model = model
        self.g = g
        self.size = size
        # Checked once per batch; the phases only change the output currents.
        self.base = make_stimulus(model.circuit, model.conductances() if callable(g) else g,
                                  model.source_voltages(arrays, size))

    def solve(self, currents=None, initial=None):
        m = self.model
        isrc = m.output_currents(currents, self.size)
        if callable(self.g):  # fresh conductances per phase (per-read noise): check them too
            stim = make_stimulus(m.circuit, self.g(), self.base.vs, isrc)
        else:
            stim = Stimulus(self.base.g, self.base.vs, isrc)
        return m.backend.solve(m.circuit, stim, initial=initial)


def ep_step(model, batch, loss_fn, beta, symmetric=False, g=None):
    """Run the free and nudged phases on ``batch`` and return a :class:`StepResult`.

    ``g`` overrides the conductances (S), ``(R,)`` or per sample ``(B, R)``
    (variability masks), or is a callable giving them before each phase;
    gradients are then with respect to those values, per sample for
    ``(B, R)`` or a callable.
    """
    with blas_beside(model.backend, model.circuit):
        return _ep_step(model, batch, loss_fn, beta, symmetric, g)


def _ep_step(model, batch, loss_fn, beta, symmetric, g):
    beta = check_number(beta, "beta (S)", 0, low_open=True)
    size, arrays = model.check_inputs(batch)
    targets = targets_of(model, batch, size)
    if g is not None:
        g = model.device_conductances(g)  # on a device: uploaded, per-sample refused (the CPU: unchanged)
    phases = Phases(model, arrays, size, model.conductances() if g is None else g)
    free = phases.solve()
    # the free phase's nodes as the solver gave them: the readouts and the warm starts read
    # nets only, so a wired crossbar's inner nodes are made only if the gradient reads them
    loss, readouts, currents = loss_and_nudge(model, free.lazy_v, targets, loss_fn, beta)
    plus = phases.solve(currents, initial=free.lazy_v)
    if symmetric:
        # Start the -beta phase from the +beta phase reflected about the free one: for
        # piecewise-linear clamps that keep their regions it is the solution already.
        minus = phases.solve({k: -c for k, c in currents.items()}, initial=_reflected(free.lazy_v, plus.v))
        low, high, span = minus, plus, 2.0 * beta
    else:
        low, high, span = free, plus, beta
    grads = {}
    per_sample = callable(g) or (g is not None and (g.ndim if hasattr(g, "ndim") else np.ndim(g)) == 2)
    for layer in model.layers:
        if layer.parameters():
            # amplifiers downstream weaken the raw EP estimate by their gain**2 (see graph.py);
            # phases are whole operating points: bias sources learn from their branch currents
            grads[layer.name] = model.ep_scales[layer.name] * layer.ep_gradient_from_phases(
                low, high, span, per_sample=per_sample)
    return StepResult(loss, readouts, grads, free.lazy_v, plus.v)


def _reflected(center, point):
    """``2 center - point`` (V): the -beta phase's start. On the CPU an unmade
    :class:`~ebana.backends.arrays.Reflection`: the layered solver makes only the columns it
    reads, in its chunks' threads (the whole array of an image network is 39 MB at batch 128;
    made in the main thread between the phases, it took 7.5 ms of a 165 ms step)."""
    xp = array_namespace(center)
    if xp is np:
        return Reflection(center, point)
    out = xp.multiply(center, 2.0)
    out -= point
    return out


def noisy_ep_step(model, batch, loss_fn, beta, symmetric=False, epoch=0):
    """One EP step under the model's variability (:mod:`ebana.model.noise`); ``result.grads``
    are with respect to the nominal conductances, summed over the batch.

    The phases of a sample share its masks (scopes 'sample', 'chip'): the
    effective conductances are drawn once. Scope 'read' draws afresh for every phase.
    Where masks are shared by groups of samples (``masks_per_batch``, or chip masks), each
    group is solved as a batch with one conductance vector.
    """
    size, _ = model.check_inputs(batch)
    noise = model.noise
    rows = noise.begin_step(size, epoch)
    if rows < size:
        result = _grouped_ep_step(model, batch, loss_fn, beta, symmetric, noise.effective(), size)
    else:
        g = noise.effective if noise.per_read else noise.effective()
        result = ep_step(model, batch, loss_fn, beta, symmetric=symmetric, g=g)
    result.grads = noise.nominal_gradients(result.grads)
    return result


def _grouped_ep_step(model, batch, loss_fn, beta, symmetric, g, size):
    """EP on ``len(g)`` contiguous groups of the batch, group ``j`` with conductances ``g[j]``
    (S, ``(R,)``: its products stay matrix products); the gradients (dL/dG_eff of each group,
    summed over its samples) are stacked ``(groups, *shape)``, the rest joined in batch order."""
    edges = np.linspace(0, size, len(g) + 1).round().astype(int)
    parts = [ep_step(model, {k: v[a:b] for k, v in batch.items()}, loss_fn, beta, symmetric=symmetric, g=g_j)
             for g_j, a, b in zip(g, edges[:-1], edges[1:])]
    return StepResult(np.concatenate([p.loss for p in parts]),
                      {k: np.concatenate([p.readouts[k] for p in parts]) for k in parts[0].readouts},
                      {k: np.stack([p.grads[k] for p in parts]) for k in parts[0].grads},
                      np.concatenate([p.v_free for p in parts]), np.concatenate([p.v_nudged for p in parts]))


def evaluate_batch(model, batch, loss_fn, power=None):
    """Free-phase loss (B,) and readouts of one batch; ``power`` (a list) receives the
    batch's :class:`~ebana.analysis.power.PowerReport` when given."""
    size, arrays = model.check_inputs(batch)
    targets = targets_of(model, batch, size)
    op = model.solve({k: arrays[k] for k in arrays})
    if power is not None:
        from ..analysis.power import batch_power
        power.append(batch_power(model, op, arrays, size))
    loss, readouts, _ = loss_and_nudge(model, op.lazy_v, targets, loss_fn, 1.0)
    return loss, readouts, targets


def accuracy(model, readouts, targets, loss_fn):
    """Mean accuracy over the outputs."""
    if not hasattr(loss_fn, "accuracy"):
        raise ValidationError(f"loss {loss_fn!r} has no accuracy(y, target) method")
    return float(np.mean([loss_fn.accuracy(readouts[o.name], targets[o.name]) for o in model.outputs]))
