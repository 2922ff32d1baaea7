"""mae_lab.learned_masks: HPM's loss predictor and ranking loss, AdaMAE's sampler and its loss, the
adaptive masker, the shared training loop, the probes and the timeline app."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mae_lab import learned_masks as L
from mae_lab.masking import get_masker, make_mask
from mae_lab.models import MaskedAutoencoder


@pytest.fixture(scope="module")
def config():
    return L.small_mae_config(8, 1, 2)  # mae_micro: 4x4 grid of 2-px patches


@pytest.fixture(scope="module")
def data():
    gen = torch.Generator().manual_seed(0)
    images = torch.zeros(64, 1, 8, 8)
    images[:, :, 2:6, 2:6] = torch.rand(64, 1, 4, 4, generator=gen)  # content in the middle, flat border
    return images


@pytest.fixture(scope="module")
def runs(config, data):
    return {method: L.train_learned_masks(method, data, config, steps=6, batch_size=16, snapshots=3, seed=0)
            for method in L.METHODS}


# ------------------------------------------------------------------ the adaptive masker (AdaMAE)
def test_adaptive_masker_is_registered_with_paper_and_idea():
    info = get_masker("adaptive")
    assert info.needs_scores and "AdaMAE" in info.paper and "visible" in info.idea


def test_adaptive_mask_hides_exact_count_and_is_reproducible():
    scores = torch.rand(5, 16, generator=torch.Generator().manual_seed(1))
    first = make_mask("adaptive", 5, grid=(4, 4), ratio=0.75, seed=3, scores=scores)
    again = make_mask("adaptive", 5, grid=(4, 4), ratio=0.75, seed=3, scores=scores)
    other = make_mask("adaptive", 5, grid=(4, 4), ratio=0.75, seed=4, scores=scores)
    assert (first.hidden.sum(1) == 12).all() and torch.equal(first.hidden, again.hidden)
    assert not torch.equal(first.hidden, other.hidden)


def test_adaptive_mask_follows_the_weights():
    weights = torch.ones(1, 16)
    weights[0, 5] = 50.0  # one patch much more likely to be shown
    weights[0, 9] = 0.0  # one patch never shown while others remain
    visible = torch.stack([~make_mask("adaptive", 1, grid=(4, 4), ratio=0.75, seed=s, scores=weights).hidden[0]
                           for s in range(300)]).float().mean(0)
    assert visible[5] > 0.95 and visible[9] == 0.0
    assert abs(float(visible[[i for i in range(16) if i not in (5, 9)]].mean()) - 3 / 14) < 0.05


def test_adaptive_mask_draws_zero_weights_last_and_refuses_negative_weights():
    weights = torch.zeros(2, 16)
    weights[:, 0] = 1.0  # only one positive weight for 4 visible patches
    mask = make_mask("adaptive", 2, grid=(4, 4), ratio=0.75, seed=0, scores=weights)
    assert not mask.hidden[:, 0].any() and (mask.hidden.sum(1) == 12).all()
    with pytest.raises(ValueError, match="non-negative"):
        make_mask("adaptive", 2, grid=(4, 4), ratio=0.75, seed=0, scores=-weights)


# ------------------------------------------------------------------ HPM pieces
def test_ranking_loss_rewards_the_right_order_and_skips_ties():
    actual = torch.tensor([[0.1, 0.2, 0.3, 0.3]])
    assert math.isclose(float(L.ranking_loss(torch.zeros(1, 4), actual)), math.log(2), rel_tol=1e-6)
    right = L.ranking_loss(torch.tensor([[0.0, 1.0, 2.0, 2.0]]), actual)
    wrong = L.ranking_loss(torch.tensor([[2.0, 1.0, 0.0, 0.0]]), actual)
    assert right < math.log(2) < wrong
    predicted = torch.tensor([[0.0, 1.0, 3.0]])
    by_hand = (math.log1p(math.exp(-1.0)) + math.log1p(math.exp(-3.0))) / 2  # pairs 0<1 and 0<2; 1~2 tied
    assert float(L.ranking_loss(predicted, torch.tensor([[0.1, 0.5, 0.5]]))) == pytest.approx(by_hand, rel=1e-5)
    assert float(L.ranking_loss(torch.zeros(1, 3), torch.ones(1, 3))) == 0.0  # all tied: nothing to rank


def test_ranking_loss_gradient_raises_the_harder_patch():
    predicted = torch.zeros(1, 3, requires_grad=True)
    L.ranking_loss(predicted, torch.tensor([[0.1, 0.5, 0.9]])).backward()
    assert predicted.grad[0, 2] < 0 < predicted.grad[0, 0]  # descent pushes the hardest up, the easiest down


def test_ranking_loss_checks_shapes():
    with pytest.raises(ValueError, match=r"\[B, M\]"):
        L.ranking_loss(torch.zeros(2, 3), torch.zeros(2, 4))


def test_loss_predictor_and_hpm_mask_hide_the_predicted_hardest(config, data):
    model = MaskedAutoencoder(config, seed=0)
    predictor = L.LossPredictor(model)
    scores = L.predicted_losses(model, predictor, data[:4])
    assert scores.shape == (4, 16)
    mask, returned = L.draw_mask("hpm", model, predictor, data[:4], 0.75, alpha=0.5,
                                 generator=torch.Generator().manual_seed(0))
    top = scores.argsort(1, descending=True)[:, :6]
    assert torch.equal(returned, scores) and mask.hidden.gather(1, top).all() and (mask.hidden.sum(1) == 12).all()


# ------------------------------------------------------------------ AdaMAE pieces
def test_mask_sampler_gives_a_distribution(config, data):
    model = MaskedAutoencoder(config, seed=0)
    sampler = L.MaskSampler(model.num_patches, config.embed_dim, config.num_heads)
    probs = sampler(L._patch_tokens(model, data[:3]))
    assert probs.shape == (3, 16) and torch.allclose(probs.sum(1), torch.ones(3)) and (probs > 0).all()


def test_sampling_loss_makes_badly_reconstructed_hidden_patches_more_likely_to_be_shown():
    logits = torch.zeros(1, 4, requires_grad=True)
    hidden = torch.tensor([[True, True, False, False]])
    patch_loss = torch.tensor([[0.9, 0.1, 0.0, 0.0]], requires_grad=True)
    L.sampling_loss(logits.softmax(1), hidden, patch_loss).backward()
    assert logits.grad[0, 0] < logits.grad[0, 1] and logits.grad[0, 0] < 0  # descent raises patch 0 most
    assert patch_loss.grad is None  # the reward is detached


def test_draw_mask_rejects_unknown_methods(config, data):
    with pytest.raises(ValueError, match="unknown method 'hard'"):
        L.draw_mask("hard", MaskedAutoencoder(config), None, data[:2], 0.75, 0.5, torch.Generator())


# ------------------------------------------------------------------ training
def test_training_runs_every_method_with_snapshots_and_costs(runs):
    for method, run in runs.items():
        assert len(run.history) == 6 and [s.step for s in run.snapshots] == [0, 2, 5]
        assert all(np.isfinite(h["loss"]) for h in run.history)
        snap = run.snapshots[-1]
        assert snap.hidden.shape == (4, 16) and (snap.hidden.sum(1) == 12).all()
        assert snap.difficulty.shape == (4, 16)
        assert (snap.scores is None) == (method == "random")
        assert run.step_ms > 0 and run.step_cpu_ms > 0 and method in repr(run)
    assert runs["random"].extra_params == 0 and runs["hpm"].extra_params > 0 and runs["adamae"].extra_params > 0
    assert runs["hpm"].history[-1]["alpha"] == 0.5 and runs["hpm"].history[0]["alpha"] == 0.0
    assert runs["hpm"].history[-1]["aux_loss"] > 0 and runs["random"].history[-1]["aux_loss"] == 0


def test_training_is_reproducible_and_methods_share_the_start(config, data, runs):
    again = L.train_learned_masks("adamae", data, config, steps=6, batch_size=16, snapshots=3, seed=0)
    assert [h["loss"] for h in again.history] == [h["loss"] for h in runs["adamae"].history]
    # step 0 of HPM uses alpha = 0 (random masking) with the same batch and start weights as random masking
    assert runs["hpm"].history[0]["loss"] == pytest.approx(runs["random"].history[0]["loss"], rel=0.5)


def test_training_checks_its_inputs(config, data):
    with pytest.raises(ValueError, match="unknown method"):
        L.train_learned_masks("attmask", data, config, steps=1)
    with pytest.raises(ValueError, match="batch_size=128"):
        L.train_learned_masks("random", data, config, steps=1, batch_size=128)


# ------------------------------------------------------------------ measuring
def test_rank_correlation_and_patch_difficulty(config, data):
    a = torch.arange(10.0).expand(3, 10)
    assert L.rank_correlation(a, a) == pytest.approx(1.0) and L.rank_correlation(a, -a) == pytest.approx(-1.0)
    difficulty = L.patch_difficulty(MaskedAutoencoder(config, seed=0), data[:5], repeats=3)
    assert difficulty.shape == (5, 16) and (difficulty >= 0).all()


def test_probes_on_separable_features():
    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(60) % 3
    features = torch.nn.functional.one_hot(labels, 3).float() * 5 + 0.1 * torch.randn(60, 3, generator=gen)
    assert L.knn_accuracy(features[:40], labels[:40], features[40:], labels[40:]) == 1.0
    assert L.linear_accuracy(features[:40], labels[:40], features[40:], labels[40:]) == 1.0


def test_masked_loss_and_features(runs, data):
    model = runs["random"].model
    mask = model.make_mask(8, "random", ratio=0.75, seed=0)
    assert L.masked_loss(model, data[:8], mask) > 0
    assert L.frozen_features(model, data[:10], batch_size=4).shape == (10, model.config.embed_dim)


# ------------------------------------------------------------------ pictures and the app
def test_render_snapshot_and_evolution_figure(runs):
    picture = L.render_snapshot(runs["hpm"], 1, size=32)
    assert picture.dtype == np.uint8 and picture.shape[0] > 4 * 32 and picture.shape[1] > 4 * 32
    fig = L.plot_mask_evolution(runs)  # rows: random mask; HPM scores, mask; AdaMAE scores, mask
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 5 * 3
    assert [ax.get_ylabel().split("\n")[1] for ax in fig.axes[::3]] == ["mask", "predicted loss", "mask",
                                                                       "P(visible)", "mask"]


def test_mask_timeline_responds_to_its_controls(runs):
    app = L.MaskTimeline(runs, size=32)
    first = app.picture.value
    app.method.value = "adamae"
    assert app.picture.value != first and "P(visible)" in app.caption.value
    app.method.value = "hpm"
    app.checkpoint.value = 0
    assert "alpha = 0.00" in app.caption.value
    with pytest.raises(ValueError, match="at least one run"):
        L.MaskTimeline({})


def test_small_mae_config_sizes():
    assert L.small_mae_config(28, 1, 4).grid == (7, 7)


def test_predicted_losses_ask_about_hidden_patches_by_default(config, data):
    model = MaskedAutoencoder(config, seed=0)
    predictor = L.LossPredictor(model)
    asked = L.predicted_losses(model, predictor, data[:3], 0.75, torch.Generator().manual_seed(1))
    again = L.predicted_losses(model, predictor, data[:3], 0.75, torch.Generator().manual_seed(1))
    whole = L.predicted_losses(model, predictor, data[:3], unmasked=True)
    assert asked.shape == whole.shape == (3, 16) and torch.equal(asked, again) and not torch.allclose(asked, whole)
    with pytest.raises(ValueError, match="at least 0.5"):
        L.predicted_losses(model, predictor, data[:3], ratio=0.25)
