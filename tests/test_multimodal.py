"""Unit tests of mae_lab.multimodal: scenes, the Dirichlet budget split, joint masks, the model, the loss."""

from __future__ import annotations

import pytest
import torch

from mae_lab import multimodal as mm


@pytest.fixture(scope="module")
def scenes():
    return mm.make_scenes(6, seed=3)


@pytest.fixture(scope="module")
def tiny():
    config = mm.MultiMAEConfig(
        {"rgb": 3, "depth": 1},
        image_size=32,
        patch_size=8,
        dim=32,
        blocks=1,
        num_heads=2,
        decoder_dim=16,
        decoder_blocks=1,
    )
    return mm.MultiMAE(config, seed=0).eval()


# ---------------------------------------------------------------------- scenes
def test_scenes_are_seeded_in_range_and_consistent(scenes):
    assert scenes["rgb"].shape == (6, 3, 32, 32) and scenes["depth"].shape == (6, 1, 32, 32)
    again = mm.make_scenes(6, seed=3)
    assert all(torch.equal(scenes[k], again[k]) for k in scenes)
    assert not torch.equal(scenes["rgb"], mm.make_scenes(6, seed=4)["rgb"])
    for value in scenes.values():
        assert float(value.min()) >= 0 and float(value.max()) <= 1
    depth = scenes["depth"][:, 0]
    assert bool((depth[:, 0] == 0).all()), "the top row is sky, infinitely far (nearness 0)"
    assert bool((depth[:, -1] > 0.5).all()), "the bottom row is near ground"
    ground = depth[0, :, 0]  # nearness down one column grows row by row below the horizon
    assert bool((ground[1:] >= ground[:-1]).all()) or bool((depth[0] > ground.max()).any())


def test_scenes_reject_bad_sizes():
    with pytest.raises(ValueError, match="image_size"):
        mm.make_scenes(2, image_size=4)


# ---------------------------------------------------------------------- the budget split
def test_dirichlet_shares_sum_to_one_and_follow_a_seed():
    shares = mm.dirichlet_shares(500, 3, 1.0, seed=0)
    assert shares.shape == (500, 3) and torch.allclose(shares.sum(1), torch.ones(500), atol=1e-5)
    assert torch.equal(shares, mm.dirichlet_shares(500, 3, 1.0, seed=0))
    assert abs(float(shares.mean()) - 1 / 3) < 0.03
    lopsided = mm.dirichlet_shares(500, 2, 0.1, seed=0).max(1).values.mean()
    even = mm.dirichlet_shares(500, 2, 10.0, seed=0).max(1).values.mean()
    assert lopsided > 0.9 and even < 0.65, "small alpha gives lopsided splits, large alpha even ones"
    with pytest.raises(ValueError, match="alpha"):
        mm.dirichlet_shares(2, 2, 0.0)


def test_split_budget_exact_counts_caps_and_errors():
    counts = mm.split_budget(torch.tensor([[0.5, 0.5], [1 / 3, 2 / 3], [0.9, 0.1]]), 7, [64, 64])
    assert counts.sum(1).tolist() == [7, 7, 7]
    assert counts[1].tolist() == [2, 5] and counts[2].tolist() == [6, 1]
    capped = mm.split_budget(torch.tensor([0.9, 0.1]), 40, [16, 64])
    assert capped.tolist() == [[16, 24]]
    shares = mm.dirichlet_shares(300, 3, 0.5, seed=1)
    counts = mm.split_budget(shares, 30, [12, 20, 40])
    assert bool((counts.sum(1) == 30).all()) and bool((counts <= torch.tensor([12, 20, 40])).all())
    free = (shares * 30 <= torch.tensor([12, 20, 40])).all(1)
    assert bool(((counts[free] - shares[free] * 30).abs() < 1).all()), "within one token of the share"
    with pytest.raises(ValueError, match="budget 200"):
        mm.split_budget(torch.tensor([0.5, 0.5]), 200, [64, 64])
    with pytest.raises(ValueError, match="one size each"):
        mm.split_budget(torch.tensor([0.5, 0.5]), 10, [64])


def test_joint_mask_keeps_the_budget_and_the_counts():
    mask, counts = mm.joint_mask(16, [64, 64], 32, seed=0)
    assert mask.hidden.shape == (16, 128) and mask.num_visible == 32 and mask.ids_keep.shape == (16, 32)
    visible = ~mask.hidden.view(16, 2, 64)
    assert torch.equal(visible.sum(-1), counts) and bool((counts.sum(1) == 32).all())
    assert len(set(counts[:, 0].tolist())) > 3, "the split changes from sample to sample"
    again, _ = mm.joint_mask(16, [64, 64], 32, seed=0)
    assert torch.equal(mask.hidden, again.hidden)
    with pytest.raises(ValueError, match="same number of tokens"):
        mm.joint_mask(2, [64, 16], 8)


def test_visible_mask_shows_the_same_patches_of_a_modality_to_every_model():
    both = mm.visible_mask(["rgb", "depth"], {"rgb": 10, "depth": 5}, 64, batch_size=3, seed=7)
    alone = mm.visible_mask(["depth"], {"depth": 5}, 64, batch_size=3, seed=7)
    assert torch.equal(both.hidden[:, 64:], alone.hidden)
    assert (~both.hidden[:, :64]).sum(1).tolist() == [10, 10, 10]
    nothing = mm.visible_mask(["depth"], {"depth": 0}, 64, batch_size=2)
    assert nothing.num_visible == 0
    with pytest.raises(KeyError, match="edges"):
        mm.visible_mask(["rgb", "depth"], {"edges": 3}, 64)
    with pytest.raises(ValueError, match="between 0 and 64"):
        mm.visible_mask(["rgb"], {"rgb": 65}, 64)


# ---------------------------------------------------------------------- the model
def test_joint_sequence_adds_position_and_modality():
    tokens = [torch.zeros(1, 4, 8), torch.zeros(1, 4, 8)]
    pos, modality = torch.randn(4, 8), torch.randn(2, 8)
    seq = mm.joint_sequence(tokens, pos, modality)
    assert seq.shape == (1, 8, 8)
    assert torch.allclose(seq[0, :4], pos + modality[0]) and torch.allclose(seq[0, 4:], pos + modality[1])


def test_model_shapes_and_reconstruction(scenes, tiny):
    mask = mm.visible_mask(tiny.names, {"rgb": 4, "depth": 2}, tiny.num_tokens, batch_size=6)
    preds = tiny(scenes, mask)
    assert preds["rgb"].shape == (6, 16, 8 * 8 * 3) and preds["depth"].shape == (6, 16, 8 * 8)
    rec = tiny.reconstruct(scenes, mask)
    assert rec["depth"].shape == (6, 1, 32, 32)
    hidden = tiny.hidden_by_modality(mask)
    visible_patch = int((~hidden["depth"][0]).nonzero()[0])
    row, col = divmod(visible_patch, 4)
    assert torch.equal(
        rec["depth"][0, :, row * 8 : (row + 1) * 8, col * 8 : (col + 1) * 8],
        scenes["depth"][0, :, row * 8 : (row + 1) * 8, col * 8 : (col + 1) * 8],
    )
    cross = mm.visible_mask(tiny.names, {"rgb": 16, "depth": 0}, tiny.num_tokens, batch_size=6)
    assert tiny(scenes, cross)["depth"].shape == (6, 16, 64), "depth predicted from colour alone"


def test_model_errors_name_the_fix(scenes, tiny):
    with pytest.raises(KeyError, match="depth"):
        tiny({"rgb": scenes["rgb"]}, mm.visible_mask(tiny.names, {"rgb": 2}, tiny.num_tokens, 6))
    with pytest.raises(ValueError, match="covers 16 tokens"):
        tiny(scenes, mm.visible_mask(["depth"], {"depth": 2}, 16, 6))
    with pytest.raises(ValueError, match="num_heads"):
        mm.MultiMAEConfig(dim=30, num_heads=4)


def test_the_model_is_seeded_and_leaves_the_global_rng_alone(tiny):
    state = torch.get_rng_state()
    again = mm.MultiMAE(tiny.config, seed=0)
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(a, b) for a, b in zip(tiny.state_dict().values(), again.state_dict().values()))


def test_the_encoder_tells_modalities_apart(scenes, tiny):
    """The same pixels fed as two modalities give different tokens, thanks to the modality embedding."""
    tokens = [tiny.patch_embed[n](scenes[n]) for n in tiny.names]
    seq = mm.joint_sequence(tokens, tiny.pos_embed, tiny.modality_embed)
    assert not torch.allclose(seq[:, :16] - tokens[0], seq[:, 16:] - tokens[1])


def test_modality_losses_count_hidden_patches_only():
    preds = {"a": torch.zeros(1, 4, 2), "b": torch.zeros(1, 4, 2)}
    targets = {
        "a": torch.tensor([[[1.0, 1.0], [2.0, 2.0], [0.0, 0.0], [0.0, 0.0]]]),
        "b": torch.ones(1, 4, 2),
    }
    hidden = {"a": torch.tensor([[True, True, False, False]]), "b": torch.zeros(1, 4, dtype=torch.bool)}
    losses = mm.modality_losses(preds, targets, hidden)
    assert float(losses["a"]) == pytest.approx(2.5) and float(losses["b"]) == 0.0


# ---------------------------------------------------------------------- training and evaluation
def test_training_runs_is_seeded_and_lowers_the_loss():
    data = mm.make_scenes(16, image_size=16, seed=0)
    sizes = {"patch_size": 4, "dim": 16, "blocks": 1, "num_heads": 2, "decoder_dim": 16}
    first = mm.train_multimae(data, steps=20, batch_size=8, budget=8, lr=3e-3, seed=1, **sizes)
    second = mm.train_multimae(data, steps=20, batch_size=8, budget=8, lr=3e-3, seed=1, **sizes)
    assert [h["loss"] for h in first.history] == [h["loss"] for h in second.history]
    losses = [h["loss"] for h in first.history]
    assert sum(losses[-4:]) < sum(losses[:4])
    assert {"rgb", "depth", "loss"} <= set(first.history[0])
    alone = mm.train_multimae(data, ("depth",), steps=2, batch_size=4, budget=8, **sizes)
    assert alone.model.names == ["depth"] and alone.model.config.modalities == {"depth": 1}
    with pytest.raises(KeyError, match="edges"):
        mm.train_multimae(data, ("edges",), steps=1)


def test_evaluate_scores_models_and_fixed_maps_on_the_same_patches(scenes, tiny):
    base = mm.mean_map(scenes)
    assert base.shape == (1, 32, 32)
    full = mm.evaluate(base, scenes, {"depth": 0}, patch_size=8)
    expected = float(((scenes["depth"] - base) ** 2).mean())
    assert full == pytest.approx(expected, rel=1e-5), "with no depth visible every pixel is scored"
    part = mm.evaluate(base, scenes, {"depth": 8}, patch_size=8)
    assert part != pytest.approx(full)
    error = mm.evaluate(tiny, scenes, {"rgb": 16, "depth": 0})
    assert 0 < error < 1
