"""Fast panels: images as arrays, greyed patches, colour lookup tables, stacked panels, PNG bytes."""

import io

import numpy as np
import pytest
import torch
from fakes import fake_reconstruction
from PIL import Image

from mae_lab import panels
from mae_lab.masking import make_mask
from mae_lab.models import Reconstruction


def decode_png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


# ---------------------------------------------------------------- images and grids
def test_to_hwc_handles_grey_colour_and_batches():
    grey = torch.rand(1, 8, 8)
    rgb = panels.to_hwc(grey)
    assert rgb.shape == (8, 8, 3) and np.allclose(rgb[..., 0], rgb[..., 2])
    assert panels.to_hwc(torch.rand(1, 3, 8, 8)).shape == (8, 8, 3)
    assert panels.to_hwc(torch.full((3, 4, 4), 2.0)).max() == 1.0  # clipped
    with pytest.raises(ValueError, match="one image"):
        panels.to_hwc(torch.rand(2, 3, 8, 8))


def test_default_patch_size():
    assert panels.default_patch_size(224) == 16
    assert panels.default_patch_size(32) == 4
    assert panels.default_patch_size(28) == 4
    assert 64 % panels.default_patch_size(64) == 0


def test_grid_of_reads_the_patch_size_from_the_mask_or_its_shape():
    mask = make_mask("random", 2, grid=(4, 4), ratio=0.5, seed=0)
    assert panels.grid_of((16, 16), mask) == ((4, 4), 4)
    assert panels.grid_of((16, 16), torch.zeros(2, 4, 4, dtype=torch.bool)[0]) == ((4, 4), 4)  # an [h, w] grid
    assert panels.grid_of((16, 16), torch.zeros(64, dtype=torch.bool)) == ((8, 8), 2)
    assert panels.grid_of((32, 32), None, patch_size=8) == ((4, 4), 8)
    with pytest.raises(ValueError, match="patch_size="):
        panels.infer_grid(16, 16, 7)
    hidden = panels.hidden_grid(mask, (4, 4), index=1)
    assert hidden.shape == (4, 4) and np.array_equal(hidden.reshape(-1), mask.hidden[1].numpy())
    with pytest.raises(ValueError, match="patch_size"):
        panels.hidden_grid(mask, (8, 8))


# ---------------------------------------------------------------- composition
def test_png_bytes_round_trip():
    rgb = (np.arange(4 * 5 * 3).reshape(4, 5, 3) * 4).astype(np.uint8)
    assert np.array_equal(decode_png(panels.png_bytes(rgb)), rgb)


def test_colorize_uses_the_lookup_table_and_paints_nan_grey():
    values = np.array([[0.0, 1.0], [0.5, np.nan]])
    rgb = panels.colorize(values, "magma")
    assert rgb.shape == (2, 2, 3)
    assert np.allclose(rgb[0, 0], panels.lut("magma")[0]) and np.allclose(rgb[0, 1], panels.lut("magma")[255])
    assert np.allclose(rgb[1, 1], panels.GREY)


def test_stacks_pad_with_white_and_captions_add_a_band():
    a, b = np.zeros((4, 3, 3), np.uint8), np.zeros((6, 2, 3), np.uint8)
    row = panels.hstack([a, b], gap=1)
    assert row.shape == (6, 3 + 1 + 2, 3) and (row[4:, :3] == 255).all() and (row[:, 3] == 255).all()
    column = panels.vstack([a, b], gap=2)
    assert column.shape == (4 + 2 + 6, 3, 3) and (column[:4, 2:] == 0).all()
    assert panels.caption(np.zeros((10, 40, 3), np.uint8), "hi", height=12).shape == (22, 40, 3)


# ---------------------------------------------------------------- panels
def test_render_mask_panel(images):
    mask = make_mask("random", 1, grid=(8, 8), ratio=0.5, seed=1)
    panel = panels.render_mask(images[0], mask, 4, size=64, grid_lines=False)
    assert panel.shape == (64, 64 * 2 + 4, 3)
    masked = panel[:, 68:]
    hidden = mask.hidden[0].reshape(8, 8).numpy()
    row, col = map(int, np.argwhere(hidden)[0])
    assert (masked[row * 8 : row * 8 + 8, col * 8 : col * 8 + 8] == 128).all()


def test_render_reconstruction_panel_puts_the_brightest_colour_on_the_worst_patch():
    rec = fake_reconstruction()
    panel = panels.render_reconstruction(rec, 0, size=32, captions=False)
    assert panel.shape == (32, 5 * 32 + 4 * 4, 3)
    heat = panel[:, 4 * 36 :]
    patch = heat[8 * 1 + 4, 8 * 2 + 4]  # centre of patch (1, 2): 8 px per patch at this size
    assert tuple(patch) == tuple(np.round(panels.lut("magma")[255] * 255).astype(np.uint8))
    captioned = panels.render_reconstruction(rec, 0, size=32)
    assert captioned.shape[0] > panel.shape[0]


def test_render_reconstruction_skips_missing_pixel_columns():
    rec = fake_reconstruction()
    rec = Reconstruction(rec.original, rec.masked_input, None, None, rec.patch_error, rec.mask)
    panel = panels.render_reconstruction(rec, 0, size=32, captions=False)
    assert panel.shape[1] == 3 * 32 + 2 * 4


def test_render_attention_and_tiles():
    image = torch.rand(3, 16, 16)
    weights = torch.zeros(16)
    weights[6] = 1.0
    panel = panels.render_attention(image, weights, 4, query=6, size=32)
    assert panel.shape == (32, 3 * 32 + 2 * 4, 3)
    heat = panel[:, 2 * 36 :]
    brightest = tuple(np.round(panels.lut("inferno")[255] * 255).astype(np.uint8))
    assert tuple(heat[1 * 8 + 4, 2 * 8 + 4]) == brightest
    assert tuple(panel[8, 2 * 8 + 4]) == (0, 255, 255)  # top edge of the query outline
    tiles = panels.render_tiles(image, [weights.numpy()] * 7, 4, [f"h{i}" for i in range(7)], tile=16, columns=3)
    assert tiles.shape[1] == 3 * 16 + 2 * 4





def test_render_frequency_filter_panel_changes_with_the_filter_and_radius(images):
    low = panels.render_frequency_filter(images[0], "low_pass", 2, size=96)
    assert low.dtype == np.uint8 and low.ndim == 3 and low.shape[2] == 3
    assert low.shape[1] > 3 * 96  # three panels side by side
    assert not np.array_equal(low, panels.render_frequency_filter(images[0], "high_pass", 2, size=96))
    assert not np.array_equal(low, panels.render_frequency_filter(images[0], "low_pass", 6, size=96))
