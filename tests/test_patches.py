"""Patches: patchify / unpatchify invert each other, and the sin-cos position embeddings match MAE's formula."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mae_lab.patches import grid_size, patch_centers, patchify, sincos_pos_embed_2d, unpatchify


# ---------------------------------------------------------------------- patchify / unpatchify
@settings(max_examples=40, deadline=None)
@given(
    batch=st.integers(1, 3),
    channels=st.sampled_from([1, 3, 5]),
    patch=st.integers(1, 5),
    rows=st.integers(1, 5),
    cols=st.integers(1, 5),
    seed=st.integers(0, 2**16),
)
def test_patchify_unpatchify_invert_exactly(batch, channels, patch, rows, cols, seed):
    gen = torch.Generator().manual_seed(seed)
    images = torch.rand(batch, channels, rows * patch, cols * patch, generator=gen)
    patches = patchify(images, patch)
    assert patches.shape == (batch, rows * cols, patch * patch * channels)
    back = unpatchify(patches, patch, grid=(rows, cols), channels=channels)
    assert torch.equal(back, images)
    # and the other way round: any patch tensor survives unpatchify -> patchify
    random_patches = torch.rand(batch, rows * cols, patch * patch * channels, generator=gen)
    assert torch.equal(patchify(unpatchify(random_patches, patch, grid=(rows, cols)), patch), random_patches)


def test_patch_values_are_ordered_row_column_channel():
    batch, channels, patch, rows, cols = 2, 3, 2, 2, 3
    images = torch.arange(batch * channels * rows * patch * cols * patch, dtype=torch.float32)
    images = images.reshape(batch, channels, rows * patch, cols * patch)
    patches = patchify(images, patch)
    for b in range(batch):
        for i in range(rows):
            for j in range(cols):
                n = i * cols + j  # row-major patch index
                for r in range(patch):
                    for c in range(patch):
                        for ch in range(channels):
                            k = (r * patch + c) * channels + ch
                            expected = images[b, ch, i * patch + r, j * patch + c]
                            assert patches[b, n, k] == expected


def test_unpatchify_infers_square_grid_and_channels():
    images = torch.rand(2, 3, 12, 12)
    assert torch.equal(unpatchify(patchify(images, 4), 4), images)


def test_non_divisible_size_names_both_numbers():
    with pytest.raises(ValueError) as error:
        patchify(torch.rand(1, 3, 30, 32), 4)
    assert "30" in str(error.value) and "4" in str(error.value)
    with pytest.raises(ValueError) as error:
        grid_size((32, 50), 16)
    assert "50" in str(error.value) and "16" in str(error.value)


def test_unpatchify_rejects_wrong_grid():
    with pytest.raises(ValueError, match="grid"):
        unpatchify(torch.rand(1, 6, 4), 2, grid=(2, 2))
    with pytest.raises(ValueError, match="square"):
        unpatchify(torch.rand(1, 6, 4), 2)


def test_grid_size_and_patch_centers():
    assert grid_size(224, 16) == (14, 14)
    assert grid_size((32, 48), 8) == (4, 6)
    centers = patch_centers((2, 3), patch_size=4)
    assert centers.shape == (6, 2)
    assert centers[0].tolist() == [2.0, 2.0] and centers[5].tolist() == [6.0, 10.0]


# ---------------------------------------------------------------------- sin-cos position embeddings
def reference_sincos(embed_dim: int, height: int, width: int, cls_token: bool) -> np.ndarray:
    """MAE's formula, written out position by position and frequency by frequency.

    For the patch in row i, column j and a quarter of the channels q = D/4, frequency
    k in [0, q) is 1 / 10000**(k / q); the four quarters are sin(j w_k), cos(j w_k),
    sin(i w_k), cos(i w_k) (the official code puts the column first).
    """
    quarter = embed_dim // 4
    rows_out = []
    if cls_token:
        rows_out.append([0.0] * embed_dim)
    for i in range(height):
        for j in range(width):
            row = [0.0] * embed_dim
            for k in range(quarter):
                freq = 1.0 / (10000.0 ** (k / quarter))
                row[k] = math.sin(j * freq)
                row[quarter + k] = math.cos(j * freq)
                row[2 * quarter + k] = math.sin(i * freq)
                row[3 * quarter + k] = math.cos(i * freq)
            rows_out.append(row)
    return np.array(rows_out, dtype=np.float64)


@pytest.mark.parametrize("cls_token", [False, True])
@pytest.mark.parametrize(("embed_dim", "grid"), [(16, (4, 4)), (32, (3, 5)), (64, (14, 14)), (8, (1, 2))])
def test_sincos_matches_independent_formula(embed_dim, grid, cls_token):
    emb = sincos_pos_embed_2d(embed_dim, grid, cls_token=cls_token)
    expected = reference_sincos(embed_dim, *grid, cls_token)
    assert emb.dtype == np.float32
    assert emb.shape == expected.shape == (grid[0] * grid[1] + int(cls_token), embed_dim)
    np.testing.assert_allclose(emb, expected, atol=1e-6, rtol=0)
    if cls_token:
        assert not emb[0].any()


def test_sincos_square_int_grid_and_bad_dim():
    assert np.array_equal(sincos_pos_embed_2d(16, 4), sincos_pos_embed_2d(16, (4, 4)))
    with pytest.raises(ValueError, match="divisible by 4"):
        sincos_pos_embed_2d(18, (4, 4))
