"""viz.tokens: an image as patches and tokens, and the similarity of position embeddings (notebooks 01/03)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mae_lab import make_mask, panels, viz
from mae_lab.patches import patchify, sincos_pos_embed_2d


@pytest.fixture
def image() -> torch.Tensor:
    return torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0))


def test_position_similarity_is_a_cosine_matrix():
    pos = sincos_pos_embed_2d(64, (5, 5), cls_token=True)  # [1 + 25, 64]
    sims = viz.position_similarity(pos, (5, 5))
    assert sims.shape == (25, 25)
    assert np.allclose(np.diag(sims), 1.0) and np.allclose(sims, sims.T)
    centre = 2 * 5 + 2
    others = np.delete(sims[centre], centre)
    best = np.delete(np.arange(25), centre)[others.argmax()]
    row, col = divmod(int(best), 5)
    assert abs(row - 2) + abs(col - 2) == 1  # the most similar position is a neighbour


def test_position_similarity_rejects_a_wrong_grid():
    with pytest.raises(ValueError, match="N = 16"):
        viz.position_similarity(sincos_pos_embed_2d(32, (5, 5)), (4, 4))


def test_plot_position_similarity_mosaic_and_queries():
    pos = sincos_pos_embed_2d(32, (4, 4))
    mosaic = viz.plot_position_similarity(pos, (4, 4))
    shown = np.ma.getdata(mosaic.axes[0].images[0].get_array())
    assert shown.shape == (4 * 5 - 1, 4 * 5 - 1)  # 4 x 4 maps of 4 x 4 with 1-pixel gaps
    assert np.isclose(shown[0, 0], 1.0)  # map of position 0 at its own place
    single = viz.plot_position_similarity(pos, (4, 4), queries=[(1, 2), 0])
    maps = [ax for ax in single.axes if ax.images and ax.get_title()]
    assert len(maps) == 2 and "row 1, col 2" in maps[0].get_title()
    assert np.isclose(maps[0].images[0].get_array()[1, 2], 1.0)


def test_plot_patch_tokens_lists_every_patch_in_order(image):
    fig = viz.plot_patch_tokens(image, patch_size=4)
    left, right = fig.axes[:2]
    assert "4 x 4 = 16 patches" in left.get_title() and "16 tokens" in right.get_title()
    assert "48 numbers" in right.get_title()
    labels = [t.get_text() for t in right.texts]
    assert labels == [str(i) for i in range(16)]
    mosaic = np.asarray(right.images[0].get_array())
    scale = panels.scale_for(4, 24)  # how much the figure enlarges each patch
    first_patch = patchify(image[None], 4)[0, 0].reshape(4, 4, 3).numpy()  # (row, col, channel)
    assert np.allclose(mosaic[0:4 * scale:scale, 0:4 * scale:scale], first_patch, atol=1e-6)


def test_plot_patch_tokens_with_a_mask_shows_the_visible_tokens_in_keep_order(image):
    mask = make_mask("random", 1, grid=(4, 4), ratio=0.75, seed=0)
    fig = viz.plot_patch_tokens(image, mask=mask)
    left, right = fig.axes[:2]
    assert "12 hidden" in left.get_title() and "4 visible tokens" in right.get_title()
    assert [t.get_text() for t in right.texts] == [str(i) for i in mask.ids_keep[0].tolist()]
