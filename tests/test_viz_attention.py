"""viz.attention: panels per layer and head, the query outline, rollout, attention distance, hover text."""

import numpy as np
import pytest
import torch
from fakes import synthetic_attention

from mae_lab import attention as A
from mae_lab import viz
from mae_lab.masking import make_mask


def test_plot_attention_cls_panels_titles_and_maximum():
    image = torch.rand(3, 16, 16)
    attns = synthetic_attention()
    fig = viz.plot_attention(image, attns, kind="cls")
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 2
    assert fig.axes[0].get_title() == "layer 0 · mean of heads"
    overlay = np.ma.filled(fig.axes[1].images[1].get_array(), np.nan)
    assert np.unravel_index(np.nanargmax(overlay), overlay.shape) == divmod(5, 4)
    fig = viz.plot_attention(image, attns, kind="cls", heads="all")
    assert len(fig.axes) == 2 * 3
    assert fig.axes[5].get_title() == "layer 1 · head 2"


def test_plot_attention_query_outlines_the_query_and_respects_the_mask():
    image = torch.rand(3, 16, 16)
    mask = make_mask("random", 1, grid=(4, 4), ratio=0.5, seed=0)
    query = int(mask.ids_keep[0, 0])
    attns = synthetic_attention(n=mask.num_visible, hot=0)
    fig = viz.plot_attention(image, attns, kind="query", query=query, mask=mask, layers=[-1])
    ax = fig.axes[0]
    assert len(ax.patches) == 1  # the query outline
    values = np.ma.filled(ax.images[1].get_array(), np.nan).reshape(-1)
    assert np.isnan(values[mask.hidden[0].numpy()]).all()
    assert np.nanargmax(values) == int(mask.ids_keep[0, 0])
    hidden_query = int(torch.nonzero(mask.hidden[0])[0])
    with pytest.raises(ValueError, match="hidden"):
        viz.plot_attention(image, attns, kind="query", query=hidden_query, mask=mask)


def test_plot_attention_mean_of_patches_is_the_default():
    image = torch.rand(3, 16, 16)
    attns = synthetic_attention()
    fig = viz.plot_attention(image, attns)
    assert "average patch" in fig._suptitle.get_text()
    overlay = np.ma.filled(fig.axes[1].images[1].get_array(), np.nan).reshape(-1)
    expected = A.mean_patch_attention(attns, layer=1)[0].numpy()
    assert np.allclose(overlay, expected)


def test_plot_attention_rollout_single_panel():
    fig = viz.plot_attention(torch.rand(3, 16, 16), synthetic_attention(), kind="rollout")
    assert len(fig.axes) == 1 and "rollout of the average patch" in fig.axes[0].get_title()
    fig = viz.plot_attention(torch.rand(3, 16, 16), synthetic_attention(), kind="rollout", source="cls")
    assert "class token" in fig.axes[0].get_title()
    with pytest.raises(ValueError, match="kind"):
        viz.plot_attention(torch.rand(3, 16, 16), synthetic_attention(), kind="nope")
    with pytest.raises(ValueError, match="source"):
        viz.plot_attention(torch.rand(3, 16, 16), synthetic_attention(), kind="rollout", source="nope")


def test_plot_attention_distance_scatter():
    distances = torch.arange(12, dtype=torch.float32).reshape(4, 3)
    fig = viz.plot_attention_distance(distances)
    ax = fig.axes[0]
    offsets = ax.collections[0].get_offsets()
    assert len(offsets) == 12
    assert np.allclose(np.asarray(offsets)[:, 1], distances.reshape(-1).numpy())
    assert np.allclose(np.asarray(offsets)[:, 0], np.repeat([0, 1, 2, 3], 3))  # layers are 0-based, as in plot_attention
    assert "pixels" in ax.get_ylabel()
    fig = viz.plot_attention_distance({"masked": distances, "full": distances + 1})
    assert len(fig.axes[0].collections) == 2 and fig.axes[0].get_legend() is not None


def test_plotly_attention_hover_text_and_query():
    weights = torch.linspace(0, 1, 16)
    fig = viz.plotly_attention(torch.rand(3, 16, 16), weights, query=(0, 1))
    text = fig.data[1].text[3][3]
    assert text.startswith("patch 15 (row 3, col 3)") and "weight 1" in text
    assert len(fig.layout.shapes) == 1


def test_figures_work_with_real_model_attention(images, tiny):
    attns = A.attention_maps(tiny, images[:1])
    fig = viz.plot_attention(images[0], attns, layers=[0, -1], heads=[0, 2])
    assert len(fig.axes) == 4
    distances = A.mean_attention_distance(attns, tiny.grid, tiny.patch_size)
    fig = viz.plot_attention_distance(distances)
    assert len(fig.axes[0].collections[0].get_offsets()) == tiny.config.depth * tiny.config.num_heads
