"""Masks shared by groups of samples (``Variability(masks_per_batch=G)``): each group is solved
as a batch with one conductance vector, and the step's gradient is the one per-sample masks
equal within each group would give."""
import numpy as np
import pytest

from ebana.devices import Variability
from ebana.errors import ValidationError
from ebana.training import MSE
from ebana.training.ep import noisy_ep_step
from test_noise_training import Recording, network

X = np.random.default_rng(0).uniform(0, 1, (10, 2))
BATCH = {"x": X, "out": np.where(X.sum(axis=1, keepdims=True) > 1, 0.05, -0.05)}


def test_each_group_is_solved_with_one_conductance_vector():
    rec = Recording("native")
    model = network(rec, Variability(kind="folded", sigma=0.3, masks_per_batch=3))
    result = noisy_ep_step(model, BATCH, MSE(), beta=1e-6, symmetric=True)
    assert len(rec.seen) == 3 * 3  # three groups (4, 3 and 3 samples), three phases each
    assert all(g.ndim == 1 for g in rec.seen)
    groups = rec.seen[::3]
    for j in range(3):  # the phases of a group share its mask, the groups differ
        np.testing.assert_array_equal(rec.seen[3 * j], rec.seen[3 * j + 2])
    assert not np.allclose(groups[0], groups[1]) and not np.allclose(groups[1], groups[2])
    assert result.loss.shape == (10,) and result.v_free.shape[0] == 10
    assert result.grads["d1"].shape == model.layer("d1").noise.shape  # nominal: summed over the groups


@pytest.mark.parametrize("gradient", ["mask", "straight_through"])
def test_grouped_gradients_equal_per_sample_masks_repeated_within_groups(gradient):
    var = Variability(kind="folded", sigma=0.3, masks_per_batch=2, gradient=gradient)
    grouped = network("native", var)
    first = noisy_ep_step(grouped, BATCH, MSE(), beta=1e-6, symmetric=True)
    masks = {l.name: l.noise.masks for l in grouped.noise.noisy}  # (2, *shape): one per group

    per_sample = network("native", Variability(kind="folded", sigma=0.3, gradient=gradient))
    for layer in per_sample.noise.noisy:  # the per-sample path, fed the group masks sample by sample
        repeated = np.repeat(masks[layer.name], [5, 5], axis=0)
        layer.noise.model.sample_masks = lambda *args, m=repeated: m
    second = noisy_ep_step(per_sample, BATCH, MSE(), beta=1e-6, symmetric=True)
    np.testing.assert_allclose(first.loss, second.loss, rtol=1e-10)
    for name, g in second.grads.items():
        np.testing.assert_allclose(first.grads[name], g, rtol=1e-8, atol=1e-12 * np.abs(g).max())


def test_a_batch_smaller_than_the_groups_gets_one_mask_per_sample():
    rec = Recording("native")
    model = network(rec, Variability(kind="folded", sigma=0.3, masks_per_batch=32))
    noisy_ep_step(model, BATCH, MSE(), beta=1e-6)
    assert all(g.shape == (10, model.circuit.n_res) for g in rec.seen)


@pytest.mark.parametrize("value", [0, -2, 2.5, True, "8"])
def test_masks_per_batch_must_be_a_positive_int(value):
    with pytest.raises(ValidationError, match="masks_per_batch must be a positive int"):
        Variability(sigma=0.1, masks_per_batch=value)


@pytest.mark.parametrize("scope", ["chip", "read"])
def test_masks_per_batch_is_for_sample_scope_only(scope):
    with pytest.raises(ValidationError, match="scope='sample' only"):
        Variability(sigma=0.1, scope=scope, gradient="straight_through", masks_per_batch=4)


@pytest.mark.parametrize("other", [Variability(kind="folded", sigma=0.3, masks_per_batch=4),
                                   Variability(kind="folded", sigma=0.3),
                                   Variability(sigma=0.1, scope="read", gradient="straight_through")],
                         ids=["another count", "one per sample", "read"])
def test_layers_must_agree_on_the_groups_when_the_model_is_built(other):
    with pytest.raises(ValidationError, match=r"per different groups of samples.*'d1'"):
        network("native", Variability(kind="folded", sigma=0.3, masks_per_batch=2), v1=other)


def test_chip_masks_go_with_any_groups():
    chip = Variability(kind="gaussian", sigma=0.2, scope="chip")
    model = network("native", Variability(kind="folded", sigma=0.3, masks_per_batch=2), v1=chip)
    assert model.noise.rows(10) == 2
    assert network("native", chip).noise.rows(10) == 1
