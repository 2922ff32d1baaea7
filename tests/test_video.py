"""mae_lab.video: clips, tubelets, space-time positions, the small VideoMAE, the leak and decoder masking."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mae_lab import make_mask
from mae_lab import video as V

SMALL = V.VideoMAEConfig(embed_dim=32, depth=1, num_heads=2, decoder_embed_dim=16, decoder_depth=1,
                         decoder_num_heads=2)


@pytest.fixture(scope="module")
def clips() -> V.ClipDataset:
    return V.make_clips(6, seed=3)


# ---------------------------------------------------------------------- clips
def test_clips_are_deterministic_labelled_and_move_one_pixel_per_frame(clips):
    assert clips.clips.shape == (6, 1, 8, 24, 24)
    assert torch.equal(clips.clips, V.make_clips(6, seed=3).clips)
    assert not torch.equal(clips.clips, V.make_clips(6, seed=4).clips)
    assert clips.digits.min() >= 0 and clips.digits.max() <= 9 and clips.directions.max() <= 3
    assert torch.equal(clips.labels("direction"), clips.directions)
    for clip, direction in zip(clips.clips, clips.directions):
        first, second = clip[0, 0], clip[0, 1]
        assert torch.isclose(first.sum(), clip[0, -1].sum())  # the whole digit stays on the canvas
        drow, dcol = {"right": (0, 1), "left": (0, -1), "down": (1, 0), "up": (-1, 0)}[V.DIRECTIONS[direction]]
        assert torch.equal(torch.roll(first, shifts=(drow, dcol), dims=(0, 1)), second)


def test_train_and_test_clips_use_different_digit_images():
    train, test = V._digit_split("train")[0], V._digit_split("test")[0]
    assert len(train) + len(test) == 1797
    flat_train = {tuple(x.flatten().tolist()) for x in train}
    assert sum(tuple(x.flatten().tolist()) in flat_train for x in test) < 10  # only exact duplicates in the data


def test_clip_errors_name_the_fix():
    with pytest.raises(ValueError, match="canvas of at least 23 px"):
        V.make_clips(2, size=20, digit_size=16)
    with pytest.raises(ValueError, match="'train' or 'test'"):
        V.make_clips(2, split="validation")
    with pytest.raises(ValueError, match="'digit' or 'direction'"):
        V.make_clips(2).labels("colour")


def test_digit_size_sets_the_size_of_the_digit():
    small = V.make_clips(3, digit_size=8, size=16, seed=0)
    assert small.clips.shape == (3, 1, 8, 16, 16)
    rows_used = (V.make_clips(3, seed=0).clips[:, 0, 0] > 0).any(dim=2).sum(dim=1)
    assert (rows_used > 8).all() and ((small.clips[:, 0, 0] > 0).any(dim=2).sum(dim=1) <= 8).all()


# ---------------------------------------------------------------------- tubelets and positions
def test_tubelet_patchify_round_trip_and_order():
    x = torch.arange(2 * 1 * 4 * 8 * 8, dtype=torch.float32).reshape(2, 1, 4, 8, 8)
    tokens = V.tubelet_patchify(x, 2, 4)
    assert tokens.shape == (2, 2 * 2 * 2, 2 * 4 * 4)
    assert torch.equal(V.tubelet_unpatchify(tokens, 2, 4, (2, 2, 2)), x)
    # token 1 is slot 0, row 0, column 1; its first values are frame 0, row 0, columns 4..7
    assert torch.equal(tokens[0, 1, :4], x[0, 0, 0, 0, 4:8])
    assert torch.equal(tokens[0, 1, 16:20], x[0, 0, 1, 0, 4:8])  # then frame 1
    assert torch.equal(tokens[0, 4, :4], x[0, 0, 2, 0, 0:4])  # time-major: token 4 starts slot 1


def test_grid_errors_name_the_fix():
    with pytest.raises(ValueError, match="tubelets of 3"):
        V.video_grid(8, 24, 3, 4)
    with pytest.raises(ValueError, match="5-px patches"):
        V.video_grid(8, 24, 2, 5)
    with pytest.raises(ValueError, match=r"\[B, C, T, H, W\]"):
        V.tubelet_patchify(torch.zeros(2, 8, 24, 24), 2, 4)
    with pytest.raises(ValueError, match="do not fit grid"):
        V.tubelet_unpatchify(torch.zeros(1, 10, 32), 2, 4, (4, 6, 6))


def test_spacetime_positions_split_where_and_when():
    pos = V.spacetime_pos_embed(16, (3, 2, 2))  # [12, 16]
    assert pos.shape == (12, 16)
    np.testing.assert_allclose(pos[0, :8], pos[4, :8])  # same place, next slot: same spatial half
    assert not np.allclose(pos[0, 8:], pos[4, 8:])  # ... different time half
    np.testing.assert_allclose(pos[0, 8:], pos[3, 8:])  # same slot: same time half
    with pytest.raises(ValueError, match="divisible by 8"):
        V.spacetime_pos_embed(12, (2, 2, 2))


# ---------------------------------------------------------------------- the model
def test_model_shapes_seeded_init_and_loss_on_hidden_tokens(clips):
    model = V.VideoMAE(SMALL, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), V.VideoMAE(SMALL, seed=0).parameters()))
    mask = model.make_mask(6, "tube", 0.9, seed=0)
    latent = model.encode(clips.clips, mask)
    assert latent.shape == (6, mask.num_visible, 32)
    out = model(clips.clips, mask)
    assert out.pred.shape == (6, mask.num_hidden, 32) and out.target.shape == (6, 144, 32)
    assert mask.hidden.gather(1, out.queries).all()  # only hidden tokens are predicted
    manual = ((out.pred - out.target.gather(1, out.queries[..., None].expand(-1, -1, 32))) ** 2).mean()
    assert torch.isclose(out.loss, manual)
    assert model.features(clips.clips).shape == (6, 32)


def test_encoder_never_sees_hidden_tokens(clips):
    model = V.VideoMAE(SMALL, seed=0)
    mask = model.make_mask(6, "frame_random", 0.75, seed=1)
    changed = clips.clips.clone()
    tokens = V.tubelet_patchify(changed, 2, 4)
    tokens[mask.hidden] = torch.rand_like(tokens[mask.hidden])
    changed = V.tubelet_unpatchify(tokens, 2, 4, model.grid)
    assert torch.allclose(model.encode(clips.clips, mask), model.encode(changed, mask), atol=1e-6)


def test_reconstruction_keeps_visible_tokens(clips):
    model = V.VideoMAE(SMALL, seed=0)
    mask = model.make_mask(6, "tube", 0.5, seed=0)
    rec = model.reconstruct(clips.clips, mask)
    assert rec.shape == clips.clips.shape
    visible = ~mask.hidden
    assert torch.allclose(V.tubelet_patchify(rec, 2, 4)[visible], V.tubelet_patchify(clips.clips, 2, 4)[visible])


def test_model_rejects_clips_of_the_wrong_size():
    with pytest.raises(ValueError, match="make_clips"):
        V.VideoMAE(SMALL).encode(torch.zeros(1, 1, 8, 32, 32))


def test_decoder_masking_decodes_a_subset_of_the_hidden_tokens():
    mask = make_mask("tube", 3, (4, 6, 6), ratio=0.9, seed=0)  # 130 hidden
    all_hidden = V.decoder_queries(mask, 0.0)
    assert all_hidden.shape == (3, 130)
    half = V.decoder_queries(mask, 0.5, torch.Generator().manual_seed(0))
    assert half.shape == (3, 65) and mask.hidden.gather(1, half).all()
    assert all(len(set(row.tolist())) == 65 for row in half)  # no token twice
    assert torch.equal(half, V.decoder_queries(mask, 0.5, torch.Generator().manual_seed(0)))
    with pytest.raises(ValueError, match="decoder_ratio"):
        V.decoder_queries(mask, 1.0)


def test_decoder_cost_falls_with_decoder_masking():
    rows = V.decoder_cost(V.VideoMAE(SMALL), batch_size=2, decoder_ratios=(0.0, 0.5), repeats=1)
    assert [r["decoded"] for r in rows] == [130, 65]
    assert rows[1]["decoder_gflops"] < 0.7 * rows[0]["decoder_gflops"]
    assert rows[0]["decoder_tokens"] == 144


def test_training_is_reproducible_and_lowers_the_loss():
    data = V.make_clips(64, seed=0)
    run = V.train_video_mae(data, "tube", 0.75, steps=25, batch_size=8, config=SMALL, lr=3e-3, seed=0)
    again = V.train_video_mae(data, "tube", 0.75, steps=3, batch_size=8, config=SMALL, lr=3e-3, seed=0)
    assert run.history[0]["loss"] == again.history[0]["loss"]
    assert np.mean([h["loss"] for h in run.history[-5:]]) < run.history[0]["loss"]
    error = V.hidden_patch_error(run.model, data, "tube", 0.75, batch_size=32)
    assert 0 < error < run.history[0]["loss"]


# ---------------------------------------------------------------------- the leak
def test_tube_masks_never_leak_and_frame_masks_do():
    grid = (4, 6, 6)
    tube = make_mask("tube", 8, grid, ratio=24 / 36, seed=0)  # whole tubes only
    frame = make_mask("frame_random", 8, grid, ratio=24 / 36, seed=0)
    assert V.leak_rate(tube.hidden, grid) == 0.0
    assert 0.3 < V.leak_rate(frame.hidden, grid) < 0.7


def test_leak_map_by_hand():
    hidden = torch.tensor([True, True, False, True]).reshape(1, 4, 1, 1)  # slots 0..3 at one position
    assert V.leak_map(hidden, (4, 1, 1)).flatten().tolist() == [False, True, False, True]
    assert V.leak_rate(hidden.flatten(), (4, 1, 1)) == pytest.approx(2 / 3)


def test_copy_from_neighbours_copies_the_nearest_visible_slot():
    tokens = torch.arange(4.0).reshape(1, 4, 1)  # one position, slots hold 0, 1, 2, 3
    hidden = torch.tensor([[True, False, True, True]])
    out = V.copy_from_neighbours(tokens, hidden, (4, 1, 1), fill=-1.0)
    assert out.flatten().tolist() == [1.0, 1.0, 1.0, 1.0]  # slot 3 copies slot 1, two away
    out = V.copy_from_neighbours(tokens, torch.tensor([[True, True, True, False]]), (4, 1, 1), fill=-1.0)
    assert out.flatten().tolist() == [3.0, 3.0, 3.0, 3.0]
    full_tube = torch.tensor([[True, True, True, True]])
    assert V.copy_from_neighbours(tokens, full_tube, (4, 1, 1), fill=-1.0).flatten().tolist() == [-1.0] * 4


def test_frame_random_masker_hides_nearly_the_same_count_in_every_slot():
    mask = make_mask("frame_random", 5, (4, 6, 6), ratio=0.9, seed=0)  # 130 = 4 x 32 + 2
    counts = mask.as_grid().sum(dim=(2, 3))
    assert (mask.hidden.sum(1) == 130).all() and set(counts.flatten().tolist()) == {32, 33}
    assert (counts == 33).sum(dim=1).tolist() == [2] * 5
    assert torch.equal(mask.hidden, make_mask("frame_random", 5, (4, 6, 6), ratio=0.9, seed=0).hidden)
    with pytest.raises(ValueError, match=r"\(T, h, w\)"):
        make_mask("frame_random", 2, (6, 6))


# ---------------------------------------------------------------------- probe and pictures
def test_knn_accuracy_on_separable_points():
    x = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    y = torch.tensor([0, 0, 1, 1])
    assert V.knn_accuracy(x, y, x, y, k=2) == 1.0
    assert V.knn_accuracy(x, y, x, 1 - y, k=2) == 0.0


def test_clip_strip_draws_frames_side_by_side(clips):
    mask = make_mask("tube", 1, (4, 6, 6), ratio=0.5, seed=0)
    strip = V.clip_strip(clips.clips[0], mask.hidden[0], scale=2, gap=1)
    assert strip.shape == (48, 8 * 48 + 7, 3) and strip.dtype == np.uint8
    assert V.png_bytes(strip)[:4] == b"\x89PNG"
    assert not np.array_equal(strip, V.clip_strip(clips.clips[0], scale=2, gap=1))
