"""viz.reconstruction: the five columns, the error maximum in the right place, hover text per patch."""

import numpy as np
import pytest
from fakes import fake_reconstruction

from mae_lab import panels, viz


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
