"""Structural checks for every figure: greyed patches, panel counts, titles, heat-map maxima, hover text."""

import numpy as np
import pytest
import torch
from fakes import fake_reconstruction, synthetic_attention

from mae_lab import attention as A
from mae_lab import panels, viz
from mae_lab.masking import list_maskers, make_mask


# ---------------------------------------------------------------- helpers
def test_mask_helpers_moved_to_masking_keep_deprecated_aliases(images):
    from mae_lab import masking

    with pytest.warns(DeprecationWarning, match=r"mae_lab\.masking\.patch_saliency"):
        scores = viz.patch_saliency(images[0], 4)
    assert torch.equal(scores, masking.patch_saliency(images[0], 4))
    with pytest.warns(DeprecationWarning, match=r"mae_lab\.masking\.mask_for_image"):
        mask = viz.mask_for_image("attention", (8, 8), ratio=0.25, seed=0, scores=scores)
    expected = masking.mask_for_image("attention", (8, 8), ratio=0.25, seed=0, scores=scores)
    assert torch.equal(mask.hidden, expected.hidden) and mask.grid == (8, 8)


def panel_arguments(name):
    image = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0))
    return {
        "render_mask": (image, make_mask("random", 1, grid=(4, 4), ratio=0.5, seed=0), 4),
        "render_reconstruction": (fake_reconstruction(),),
        "render_attention": (image, torch.linspace(0, 1, 16), 4),
        "render_tiles": (image, [np.arange(16.0)], 4, ["head 0"]),
        "png_bytes": (np.zeros((2, 3, 3), np.uint8),),
        "colorize": (np.eye(3),),
    }[name]


@pytest.mark.parametrize(
    "name", ["render_mask", "render_reconstruction", "render_attention", "render_tiles", "png_bytes", "colorize"]
)
def test_fast_panels_moved_to_panels_keep_deprecated_aliases(name):
    arguments = panel_arguments(name)
    with pytest.warns(DeprecationWarning, match=rf"mae_lab\.panels\.{name}"):
        old = getattr(viz, name)(*arguments)
    new = getattr(panels, name)(*arguments)
    assert old == new if isinstance(new, bytes) else np.array_equal(old, new)


# ---------------------------------------------------------------- masks
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


# ---------------------------------------------------------------- reconstruction
def test_plot_reconstruction_layout_and_error_maximum():
    rec = fake_reconstruction()
    fig = viz.plot_reconstruction(rec)
    image_axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(image_axes) == 2 * 5
    assert [ax.get_title() for ax in image_axes[:5]] == list(panels.COLUMN_TITLES)
    heat = np.asarray(image_axes[4].images[0].get_array())
    assert heat.shape == (4, 4)
    assert np.unravel_index(np.argmax(heat), heat.shape) == (1, 2)
    assert len(image_axes[4].images) == 2  # the veil over visible patches
    assert np.allclose(np.asarray(image_axes[1].images[0].get_array()), panels.to_hwc(rec.masked_input[0]))


def test_plot_reconstruction_from_a_model_output(images, tiny):
    out = tiny(images, ratio=0.75, seed=0)
    fig = viz.plot_reconstruction(out, images=images, model=tiny, max_images=2)
    image_axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(image_axes) == 10
    with pytest.raises(ValueError, match="model="):
        viz.plot_reconstruction(out)


# ---------------------------------------------------------------- attention
def test_plot_attention_cls_panels_titles_and_maximum():
    image = torch.rand(3, 16, 16)
    attns = synthetic_attention()
    fig = viz.plot_attention(image, attns)
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 2
    assert fig.axes[0].get_title() == "layer 0 · mean of heads"
    overlay = np.ma.filled(fig.axes[1].images[1].get_array(), np.nan)
    assert np.unravel_index(np.nanargmax(overlay), overlay.shape) == divmod(5, 4)
    fig = viz.plot_attention(image, attns, heads="all")
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


def test_plot_attention_rollout_single_panel():
    fig = viz.plot_attention(torch.rand(3, 16, 16), synthetic_attention(), kind="rollout")
    assert len(fig.axes) == 1 and "rollout" in fig.axes[0].get_title()
    with pytest.raises(ValueError, match="kind"):
        viz.plot_attention(torch.rand(3, 16, 16), synthetic_attention(), kind="nope")


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


# ---------------------------------------------------------------- training
def test_plot_training_loss_and_lr_on_twin_axes():
    history = [
        {"step": s, "epoch": s // 5, "loss": 1.0 / (s + 1), "lr": 1e-3 * min(1, s / 3)} for s in range(10)
    ]
    fig = viz.plot_training(history)
    loss_ax, lr_ax = fig.axes
    assert np.allclose(loss_ax.lines[0].get_ydata(), [h["loss"] for h in history])
    assert np.allclose(lr_ax.lines[0].get_ydata(), [h["lr"] for h in history])
    assert np.allclose(loss_ax.lines[0].get_xdata(), range(10))
    assert "learning rate" in lr_ax.get_ylabel()
    as_dict = viz.plot_training({"step": [0, 1], "loss": [2.0, 1.0], "lr": [0.1, 0.2]})
    assert np.allclose(as_dict.axes[0].lines[0].get_ydata(), [2.0, 1.0])


def test_plot_snapshots_rows_and_labels():
    snaps = {0: torch.rand(4, 3, 8, 8), 100: torch.rand(4, 3, 8, 8)}
    fig = viz.plot_snapshots(snaps, max_images=3)
    assert len(fig.axes) == 2 * 3
    assert [fig.axes[0].get_ylabel(), fig.axes[3].get_ylabel()] == ["step 0", "step 100"]
    with pytest.raises(ValueError):
        viz.plot_snapshots({})


# ---------------------------------------------------------------- plotly
def test_plotly_patch_error_hover_text():
    rec = fake_reconstruction()
    fig = viz.plotly_patch_error(rec, mask=rec.mask)
    heat = fig.data[1]
    assert heat.type == "heatmap"
    text = heat.text[1][2]
    assert text.startswith("patch 6 (row 1, col 2)")
    assert "error 1" in text
    hidden = bool(rec.mask.hidden[0, 6])
    assert ("hidden" in text) == hidden and ("visible" in text) == (not hidden)
    assert heat.z[1][2] == pytest.approx(1.0)


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

