"""viz.masks: greyed patches, grid lines, counts in the title, and the gallery of every strategy."""

import numpy as np
import torch

from mae_lab import panels, viz
from mae_lab.masking import list_maskers, make_mask


def test_show_mask_greys_hidden_patches_and_counts_them(images):
    mask = make_mask("random", 1, grid=(8, 8), ratio=0.75, seed=0)
    fig = viz.show_mask(images[0], mask)
    ax = fig.axes[0]
    shown = np.asarray(ax.images[0].get_array())  # [32, 32, 3]
    hidden = mask.hidden[0].reshape(8, 8).numpy()
    original = panels.to_hwc(images[0])
    for row in range(8):
        for col in range(8):
            block = shown[row * 4 : (row + 1) * 4, col * 4 : (col + 1) * 4]
            if hidden[row, col]:
                assert np.allclose(block, 0.5)
            else:
                assert np.allclose(block, original[row * 4 : (row + 1) * 4, col * 4 : (col + 1) * 4])
    assert ax.get_title() == "random: 48 hidden / 16 visible (75%)"
    assert len(ax.lines) == 7 + 7  # grid lines between 8 rows and 8 columns
    pixels = viz.figure_to_array(fig)
    assert pixels.shape[2] == 4 and pixels.std() > 0


def test_show_mask_accepts_bool_grids_and_batches(images):
    hidden = torch.zeros(8, 8, dtype=torch.bool)
    hidden[2, 3] = True
    fig = viz.show_mask(images, hidden, index=1, grid_lines=False, title="one patch")
    shown = np.asarray(fig.axes[0].images[0].get_array())
    assert np.allclose(shown[8:12, 12:16], 0.5)
    assert not np.allclose(shown[0:4, 0:4], 0.5)
    assert fig.axes[0].get_title() == "one patch" and not fig.axes[0].lines


def test_mask_gallery_shows_every_strategy_with_its_idea(images):
    fig = viz.mask_gallery(images[0], seed=0)
    infos = list_maskers()
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert len(shown) == len(infos)
    for ax, info in zip(shown, infos):
        title = ax.get_title(loc="left")
        assert title.startswith(info.name)
        assert info.idea.split()[0] in title
        assert ax.get_xlabel().replace("\n", " ") == info.paper  # long names are wrapped
        assert "hidden" in title


def test_mask_gallery_reports_a_strategy_that_cannot_draw(images):
    fig = viz.mask_gallery(images[0], strategies=["random", "grid"], ratio=0.9, patch_size=16)
    titles = [ax.get_title(loc="left") for ax in fig.axes if ax.get_visible()]
    assert all("could not draw" in t for t in titles)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any("none visible" in t.replace("\n", " ") for t in texts)
