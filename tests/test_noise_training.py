"""Noise-aware EP on real circuits: masks per sample and per phase, gradient rules, binary weights."""
import numpy as np
import pytest

from ebana import BiasVoltageLayer, ConcatenateLayer, CurrentLayer, DenseLayer, DiodeLayer, InputVoltageLayer, Model
from ebana.backends import Backend, get_backend
from ebana.devices import Variability
from ebana.errors import ValidationError
from ebana.training.ep import noisy_ep_step
from ebana.training import MSE, Adam, DataLoader
from ebana.training.ep import ep_step
from ebana.training.fit import train_step

BATCH = {"x": np.array([[0, 0], [0, 1], [1, 0], [1, 1.0]]), "out": np.array([[-0.05], [0.05], [0.05], [-0.05]])}


class Recording(Backend):
    """A real backend that also keeps the conductances of every solve (a spy, not a mock)."""

    def __init__(self, inner):
        self.inner, self.name, self.seen = get_backend(inner), inner, []

    def solve(self, circuit, stimulus, initial=None):
        self.seen.append(np.array(stimulus.g))
        return self.inner.solve(circuit, stimulus, initial=initial)


def network(backend="native", variability=None, v1=None, levels=None, seed=3):
    x = InputVoltageLayer(units=2, name="x")
    b = BiasVoltageLayer(units=1, name="b", bias_voltage=1.0)
    h = ConcatenateLayer(name="j")([x, b])
    h = DenseLayer(units=4, name="d1", initializer=("uniform", 1e-5, 1e-4), variability=v1, levels=levels,
                   g_min=1e-6, g_max=1e-4)(h)
    h = DiodeLayer(name="c1", direction="down", bias_voltage=0.45)(h)
    h = DiodeLayer(name="c2", direction="up", bias_voltage=0.35)(h)
    h = DenseLayer(units=2, name="d2", initializer=("uniform", 1e-5, 1e-4), levels=levels,
                   g_min=1e-6, g_max=1e-4)(h)
    out = CurrentLayer(name="out", fold=True)(h)
    return Model(inputs=[x], outputs=[out], backend=backend, seed=seed, variability=variability)


@pytest.mark.parametrize("symmetric", [False, True])
def test_sample_masks_differ_between_samples_and_match_between_phases(backend_name, symmetric):
    rec = Recording(backend_name)
    model = network(rec, Variability(kind="folded", sigma=0.3))
    noisy_ep_step(model, BATCH, MSE(), beta=1e-6, symmetric=symmetric)
    phases = rec.seen
    assert len(phases) == (3 if symmetric else 2)
    for g in phases:
        assert g.shape == (4, model.circuit.n_res)
        assert np.all(g > 0)
        np.testing.assert_array_equal(g, phases[0])       # same mask in every phase of a sample
    g = phases[0]
    assert all(not np.allclose(g[0], g[b]) for b in range(1, 4))  # a fresh mask per sample
    # the next step draws new masks
    noisy_ep_step(model, BATCH, MSE(), beta=1e-6, symmetric=symmetric)
    assert not np.allclose(rec.seen[-1], g)


def test_read_scope_draws_afresh_in_every_phase():
    rec = Recording("native")
    model = network(rec, Variability(kind="gaussian", sigma=0.2, scope="read", gradient="straight_through"))
    noisy_ep_step(model, BATCH, MSE(), beta=1e-6, symmetric=True)
    a, b, c = rec.seen
    assert not np.allclose(a, b) and not np.allclose(b, c)


def test_chip_scope_is_one_mask_for_every_sample_and_step():
    rec = Recording("native")
    model = network(rec, Variability(kind="lognormal", sigma=0.2, scope="chip"))
    noisy_ep_step(model, BATCH, MSE(), beta=1e-6)
    noisy_ep_step(model, BATCH, MSE(), beta=1e-6)
    for g in rec.seen:  # one conductance vector for the whole batch: the chip's
        assert g.ndim == 1
        np.testing.assert_array_equal(g, rec.seen[0])
    assert not np.allclose(rec.seen[0], model.conductances())


def test_layers_without_noise_stay_nominal():
    rec = Recording("native")
    model = network(rec, v1=Variability(kind="gaussian", sigma=0.3))  # only d1 is noisy
    noisy_ep_step(model, BATCH, MSE(), beta=1e-6)
    n1 = model.layer("d1").g.size
    g = rec.seen[0]
    np.testing.assert_array_equal(g[:, n1:], np.broadcast_to(model.layer("d2").g.ravel(), (4, g.shape[1] - n1)))
    assert not np.allclose(g[:, :n1], model.layer("d1").g.ravel())


@pytest.mark.parametrize("rule", ["mask", "straight_through"])
def test_gradient_rules_map_per_sample_gradients_to_nominal(rule):
    """Nominal gradient = sum_b M_b * dL/dG_eff,b ('mask') or sum_b dL/dG_eff,b ('straight_through')."""
    rec = Recording("native")
    model = network(rec, Variability(kind="folded", sigma=0.3, gradient=rule))
    result = noisy_ep_step(model, BATCH, MSE(), beta=1e-6, symmetric=True)
    g_eff = rec.seen[0]
    per = ep_step(model, BATCH, MSE(), beta=1e-6, symmetric=True, g=g_eff).grads  # (B, ...) per layer
    offset = 0
    for name in ("d1", "d2"):
        layer = model.layer(name)
        n = layer.g.size
        masks = g_eff[:, offset:offset + n].reshape((4,) + layer.g.shape) / layer.g
        offset += n
        expected = (masks * per[name]).sum(0) if rule == "mask" else per[name].sum(0)
        np.testing.assert_allclose(result.grads[name], expected, rtol=1e-9, atol=1e-30)


def test_zero_sigma_trains_exactly_like_no_noise():
    plain, noisy = network(), network(variability=Variability(kind="gaussian", sigma=0.0))
    for model in (plain, noisy):
        opt = Adam(lr=1e-6)
        for _ in range(3):
            train_step(model, BATCH, MSE(), opt, beta=1e-6, symmetric=True)
    # Not bit-equal: the native backend solves shared (R,) and per-sample (B, R) conductances
    # by different (equally exact) paths, so the last bits differ.
    np.testing.assert_allclose(noisy.conductances(), plain.conductances(), rtol=1e-8)


def test_binary_layer_shows_only_two_levels_and_trains_latents():
    rec = Recording("native")
    model = network(rec, levels=2)
    d1 = model.layer("d1")
    latent = d1.g.copy()
    assert set(np.unique(model.conductances())) <= {1e-6, 1e-4}
    result = train_step(model, BATCH, MSE(), Adam(lr=2e-5), beta=1e-6, symmetric=True)
    assert set(np.unique(rec.seen[0])) <= {1e-6, 1e-4}
    # straight-through: the latents moved by the gradient computed at the quantised values
    assert not np.allclose(d1.g, latent)
    assert np.all((d1.g >= d1.g_min) & (d1.g <= d1.g_max))
    assert result.grads["d1"].shape == latent.shape


def test_few_levels_with_noise_masks_the_quantised_conductances():
    rec = Recording("native")
    model = network(rec, Variability(kind="gaussian", sigma=0.1), levels=4)
    noisy_ep_step(model, BATCH, MSE(), beta=1e-6)
    levels = np.linspace(1e-6, 1e-4, 4)
    assert np.all(np.isin(model.conductances(), levels))
    n1 = model.layer("d1").g.size
    ratio = rec.seen[0][:, :n1] / model.conductances()[:n1]
    assert 0.05 < ratio.std() < 0.15 and abs(ratio.mean() - 1) < 0.05


def test_fit_with_noise_reduces_loss_and_never_sends_non_positive_conductances():
    rec = Recording("native")
    model = network(rec, Variability(kind="gaussian", sigma=1.5))  # large: masks often negative before the floor
    loader = DataLoader(BATCH, batch_size=4)
    model.fit(loader, epochs=2, loss_fn=MSE(), optimizer=Adam(lr=1e-6), beta=1e-6, verbose=False)
    seen = np.concatenate([g.ravel() for g in rec.seen])
    assert seen.min() >= 1e-3 * 1e-6 * (1 - 1e-12)


def test_dense_config_round_trip_with_variability_and_levels():
    layer = DenseLayer(units=3, name="d", variability=Variability(kind="folded", sigmas=(0.1, 0.3)), levels=2)
    cfg = layer.get_config()
    again = DenseLayer.from_config(cfg)
    assert again.variability == layer.variability and again.quantizer == layer.quantizer
    assert again.get_config() == cfg
    with pytest.raises(ValidationError, match="DenseLayer 'd'.*variability"):
        DenseLayer(units=3, name="d", variability=0.3)


def test_noise_seed_reproduces_training():
    a, b = (network(variability=Variability(kind="folded", sigma=0.3), seed=5) for _ in range(2))
    for model in (a, b):
        model.fit(DataLoader(BATCH, batch_size=2, shuffle=True, seed=1), epochs=2, loss_fn=MSE(),
                  optimizer=Adam(lr=1e-6), beta=1e-6, verbose=False)
    np.testing.assert_array_equal(a.conductances(), b.conductances())


def test_checkpoint_resume_with_noise_is_bit_identical(tmp_path):
    """A crashed run resumed from its checkpoint draws the masks an uninterrupted one draws."""
    from ebana.training.fit import fit
    data = {"x": np.tile(BATCH["x"], (2, 1)), "out": np.tile(BATCH["out"], (2, 1))}
    var = Variability(kind="folded", sigma=0.3)
    ckpt = tmp_path / "c.pkl"

    def loader():
        return DataLoader(data, batch_size=3, shuffle=True, seed=2)

    class Crash(Exception):
        pass

    straight = network(variability=var, seed=5)
    fit(straight, loader(), 3, MSE(), Adam(lr=1e-6), 1e-6, verbose=False)
    first = network(variability=var, seed=5)
    with pytest.raises(Crash):
        fit(first, loader(), 3, MSE(), Adam(lr=1e-6), 1e-6, verbose=False, checkpoint=ckpt,
            callbacks=[lambda epoch, m, model: (_ for _ in ()).throw(Crash()) if epoch == 1 else None])
    resumed = network(variability=var, seed=5)  # its noise generators start from the seed, not epoch 2
    fit(resumed, loader(), 3, MSE(), Adam(lr=1e-6), 1e-6, verbose=False, checkpoint=ckpt)
    np.testing.assert_array_equal(resumed.conductances(), straight.conductances())
