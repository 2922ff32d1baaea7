"""Attention maps, rollout and mean attention distance, checked on synthetic attention with known answers."""

import itertools
import math

import pytest
import torch

from mae_lab import attention as A
from mae_lab.masking import Mask, make_mask

GRID = (3, 4)
N = GRID[0] * GRID[1]
PATCH = 8


def uniform(batch=1, heads=2, tokens=N + 1):
    return torch.full((batch, heads, tokens, tokens), 1.0 / tokens)


def identity(batch=1, heads=2, tokens=N + 1):
    return torch.eye(tokens).expand(batch, heads, tokens, tokens).clone()


def random_attention(batch=2, heads=3, tokens=N + 1, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(batch, heads, tokens, tokens, generator=gen).softmax(dim=-1)


def centre(index):
    row, col = divmod(index, GRID[1])
    return ((row + 0.5) * PATCH, (col + 0.5) * PATCH)


# ---------------------------------------------------------------- mean attention distance
def test_identity_attention_has_zero_distance():
    distance = A.mean_attention_distance([identity(), identity()], GRID, PATCH)
    assert distance.shape == (2, 2)
    assert torch.allclose(distance, torch.zeros(2, 2))


def test_uniform_attention_gives_the_mean_pairwise_distance():
    expected = sum(math.dist(centre(i), centre(j)) for i, j in itertools.product(range(N), repeat=2)) / N**2
    distance = A.mean_attention_distance([uniform()], GRID, PATCH)
    assert torch.allclose(distance, torch.full((1, 2), expected), atol=1e-4)


def test_neighbour_attention_has_distance_of_one_patch():
    attn = torch.zeros(1, 1, N + 1, N + 1)
    attn[0, 0, 0, 0] = 1.0
    for index in range(N):
        row, col = divmod(index, GRID[1])
        neighbour = row * GRID[1] + (col + 1 if col + 1 < GRID[1] else col - 1)
        attn[0, 0, 1 + index, 1 + neighbour] = 0.5
        attn[0, 0, 1 + index, 0] = 0.5  # weight on the class token is left out and renormalised
    distance = A.mean_attention_distance([attn], GRID, PATCH)
    assert distance.item() == pytest.approx(PATCH)


def test_distance_with_a_mask_uses_visible_patches_only():
    mask = make_mask("random", 1, grid=GRID, ratio=0.5, seed=0)
    tokens = 1 + mask.num_visible
    visible = mask.ids_keep[0].tolist()
    expected = sum(math.dist(centre(i), centre(j)) for i, j in itertools.product(visible, repeat=2))
    expected /= len(visible) ** 2
    distance = A.mean_attention_distance([uniform(heads=1, tokens=tokens)], GRID, PATCH, mask=mask)
    assert distance.item() == pytest.approx(expected, rel=1e-5)


def test_distance_rejects_a_grid_that_does_not_match():
    with pytest.raises(ValueError, match="grid"):
        A.mean_attention_distance([uniform()], (5, 5), PATCH)


# ---------------------------------------------------------------- class token and query maps
def test_cls_attention_reads_row_zero_and_averages_heads():
    attn = random_attention()
    layers = [random_attention(seed=1), attn]
    assert torch.allclose(A.cls_attention(layers), attn.mean(dim=1)[:, 0, 1:])
    assert torch.allclose(A.cls_attention(layers, layer=-1, head=2), attn[:, 2, 0, 1:])
    assert torch.allclose(A.cls_attention(layers, layer=0, head=0), layers[0][:, 0, 0, 1:])
    with pytest.raises(ValueError, match="layer 5"):
        A.cls_attention(layers, layer=5)
    with pytest.raises(ValueError, match="head 3"):
        A.cls_attention(layers, head=3)


def test_cls_attention_scatters_visible_patches_back_to_the_grid():
    hidden = torch.zeros(1, N, dtype=torch.bool)
    hidden[0, [0, 5, 7]] = True
    mask = Mask.from_hidden(hidden, grid=GRID)
    tokens = 1 + mask.num_visible
    attn = random_attention(batch=1, tokens=tokens)
    full = A.cls_attention([attn], mask=mask)  # [1, N]
    assert full.shape == (1, N)
    assert torch.isnan(full[0, [0, 5, 7]]).all()
    visible = mask.ids_keep[0]
    assert torch.allclose(full[0, visible], attn.mean(dim=1)[0, 0, 1:])
    zeros = A.cls_attention([attn], mask=mask, fill=0.0)
    assert (zeros[0, [0, 5, 7]] == 0).all()
    assert torch.nansum(full).item() == pytest.approx(zeros.sum().item())


def test_mean_patch_attention_averages_the_patch_queries_and_leaves_the_class_token_out():
    attn = random_attention()
    layers = [random_attention(seed=1), attn]
    expected = attn.mean(dim=1)[:, 1:, 1:].mean(dim=1)  # [B, N]: column means of the patch rows
    assert torch.allclose(A.mean_patch_attention(layers), expected)
    assert torch.allclose(A.mean_patch_attention(layers, layer=0, head=1), layers[0][:, 1, 1:, 1:].mean(dim=1))
    changed = attn.clone()
    changed[:, :, 0] = torch.rand(changed[:, :, 0].shape)  # the class token's query row plays no part
    assert torch.allclose(A.mean_patch_attention([changed]), A.mean_patch_attention([attn]))
    rollout = A.attention_rollout(layers)  # [B, T, T] works too
    assert torch.allclose(A.mean_patch_attention(rollout), rollout[:, 1:, 1:].mean(dim=1))


def test_mean_patch_attention_scatters_visible_patches_back_to_the_grid():
    hidden = torch.zeros(1, N, dtype=torch.bool)
    hidden[0, [1, 2]] = True
    mask = Mask.from_hidden(hidden, grid=GRID)
    attn = random_attention(batch=1, tokens=1 + mask.num_visible)
    full = A.mean_patch_attention([attn], mask=mask)
    assert full.shape == (1, N) and torch.isnan(full[0, [1, 2]]).all()
    assert torch.allclose(full[0, mask.ids_keep[0]], attn.mean(dim=1)[0, 1:, 1:].mean(dim=0))


def test_query_attention_finds_the_query_token_behind_a_mask():
    hidden = torch.zeros(1, N, dtype=torch.bool)
    hidden[0, [1, 2]] = True  # patch 4 becomes token 1 + 2 = 3
    mask = Mask.from_hidden(hidden, grid=GRID)
    attn = random_attention(batch=1, tokens=1 + mask.num_visible)
    values = A.query_attention([attn], query=4, head=1, mask=mask)
    assert torch.allclose(values[0, mask.ids_keep[0]], attn[0, 1, 3, 1:])
    unmasked = random_attention(batch=1)
    assert torch.allclose(A.query_attention([unmasked], query=4), unmasked.mean(dim=1)[:, 5, 1:])
    with pytest.raises(ValueError, match="hidden"):
        A.query_attention([attn], query=1, mask=mask)


def test_full_token_attention_with_a_mask_is_not_scattered():
    """A SimMIM-style encoder keeps a token for every patch, hidden ones included."""
    mask = make_mask("random", 1, grid=GRID, ratio=0.5, seed=0)
    attn = random_attention(batch=1)
    assert torch.allclose(A.cls_attention([attn], mask=mask), attn.mean(dim=1)[:, 0, 1:])
    assert torch.allclose(A.query_attention([attn], 3, mask=mask), attn.mean(dim=1)[:, 4, 1:])


# ---------------------------------------------------------------- rollout
def _rollout_by_hand(layers):
    """Independent loop-based rollout: (A + I) / 2 per layer, multiplied from first to last."""
    tokens = layers[0].shape[-1]
    result = torch.eye(tokens, dtype=torch.float64)
    for attn in layers:
        fused = attn[0].double().mean(dim=0)
        step = torch.zeros(tokens, tokens, dtype=torch.float64)
        for i in range(tokens):
            row = [fused[i, j] + (1.0 if i == j else 0.0) for j in range(tokens)]
            total = sum(row)
            for j in range(tokens):
                step[i, j] = row[j] / total
        result = step @ result
    return result


def test_rollout_matches_a_hand_computation():
    layers = [random_attention(batch=1, seed=s) for s in range(3)]
    rollout = A.attention_rollout(layers)
    assert rollout.shape == (1, N + 1, N + 1)
    assert torch.allclose(rollout[0].double(), _rollout_by_hand(layers), atol=1e-5)
    assert torch.allclose(rollout.sum(dim=-1), torch.ones(1, N + 1), atol=1e-5)


def test_rollout_of_identity_is_identity_and_of_uniform_is_half_half():
    assert torch.allclose(A.attention_rollout([identity()]), torch.eye(N + 1).unsqueeze(0))
    tokens = N + 1
    expected = 0.5 * torch.eye(tokens) + 0.5 / tokens
    assert torch.allclose(A.attention_rollout([uniform()])[0], expected, atol=1e-6)


def test_rollout_options():
    layers = [random_attention(batch=1, seed=s) for s in range(2)]
    maxed = A.attention_rollout(layers, head_fusion="max")
    assert not torch.allclose(maxed, A.attention_rollout(layers))
    discarded = A.attention_rollout(layers[:1], discard_ratio=0.5)
    fused = layers[0].mean(dim=1)[0]
    weakest = fused[0, 1:].argsort()[: N // 2]
    assert (discarded[0, 0, 1 + weakest] == 0).all()  # cls row lost its weakest patch weights
    assert discarded[0, 0, 0] > 0  # the class-token column is kept
    with pytest.raises(ValueError, match="head_fusion"):
        A.attention_rollout(layers, head_fusion="median")
    with pytest.raises(ValueError, match="discard_ratio"):
        A.attention_rollout(layers, discard_ratio=1.0)


# ---------------------------------------------------------------- with a real model
@pytest.fixture(scope="module")
def micro_model():
    from mae_lab.models import MaskedAutoencoder, get_preset

    return MaskedAutoencoder(get_preset("mae_micro"), seed=0)


def test_attention_maps_from_a_model(micro_model):
    images = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    depth, heads = micro_model.config.depth, micro_model.config.num_heads
    attns = A.attention_maps(micro_model, images)
    assert len(attns) == depth
    assert attns[0].shape == (2, heads, 1 + 16, 1 + 16)
    assert torch.allclose(attns[0].sum(dim=-1), torch.ones(2, heads, 17), atol=1e-5)
    mask = micro_model.make_mask(2, ratio=0.75, seed=0)
    masked = A.attention_maps(micro_model, images, mask)
    assert masked[-1].shape == (2, heads, 1 + 4, 1 + 4)
    grid_map = A.cls_attention(masked, mask=mask)
    assert torch.isnan(grid_map).sum().item() == 2 * 12
    distance = A.mean_attention_distance(attns, micro_model.grid, micro_model.patch_size)
    assert distance.shape == (depth, heads) and (distance > 0).all()
    assert micro_model.training  # attention_maps restores the mode
