"""``viz.plot_targets``: the four reconstruction targets of one image, drawn side by side."""

import numpy as np
import pytest
import torch
from matplotlib.collections import LineCollection

from mae_lab import viz


def _hog_axes(fig):
    return next(ax for ax in fig.axes if ax.get_title().startswith("hog ·"))


def test_plot_targets_draws_every_target_and_the_zoomed_patch():
    image = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0))
    fig = viz.plot_targets(image, 8, patch=(1, 2))
    titles = " ".join(ax.get_title() for ax in fig.axes)
    for name in ("pixels", "norm_pixels", "hog", "fft"):
        assert name in titles
    assert "patch 6 (row 1, col 2)" in titles
    assert "192 values per patch" in titles and "108 values per patch" in titles  # 8*8*3 and 4 cells*3*9
    glyphs = [c for c in _hog_axes(fig).collections if isinstance(c, LineCollection)]
    assert len(glyphs) == 1 and len(glyphs[0].get_segments()) == 16 * 4 * 9  # patches x cells x bins
    assert viz.figure_to_array(fig).std() > 0


def test_plot_targets_defaults_to_the_patch_with_most_contrast_and_takes_a_batch():
    images = torch.zeros(2, 1, 16, 16)
    images[0, :, 8:, :8] = torch.rand(8, 8, generator=torch.Generator().manual_seed(1))  # patch 2 of a 2x2 grid
    fig = viz.plot_targets(images, 8)
    assert any("patch 2 (row 1, col 0)" in ax.get_title() for ax in fig.axes)


def test_plot_targets_rejects_a_patch_size_that_does_not_divide_the_image():
    with pytest.raises(ValueError, match="does not divide"):
        viz.plot_targets(torch.rand(3, 30, 30), 8)


def test_hog_glyphs_point_along_the_edge():
    image = torch.zeros(1, 1, 8, 8)
    image[..., 4:] = 1.0  # a vertical edge: horizontal gradient, bin 0
    fig = viz.plot_targets(image, 8)
    lines = next(c for c in _hog_axes(fig).collections if isinstance(c, LineCollection))
    alphas = lines.get_colors()[:, 3]
    (x0, y0), (x1, y1) = lines.get_segments()[int(np.argmax(alphas))]
    # the brightest line runs along the edge: vertical, up to half a bin (10 degrees) of tilt
    assert abs(x1 - x0) <= np.tan(np.radians(10.5)) * abs(y1 - y0) and abs(y1 - y0) > 1


def test_plot_frequency_corruption_draws_the_image_both_filters_and_their_spectra():
    image = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(2))
    fig = viz.plot_frequency_corruption(image, radius=4)
    titles = [ax.get_title() for ax in fig.axes]
    assert len(fig.axes) == 6
    assert any("low-pass filtered" in t for t in titles) and any("high-pass filtered" in t for t in titles)
    kept = [t for t in titles if "of the frequencies kept" in t]
    assert kept[0].startswith("low-pass: 4.4%") and kept[1].startswith("high-pass: 95.6%")  # 45 of 1024 within 4
    assert all(any(type(p).__name__ == "Circle" for p in ax.patches) for ax in fig.axes[3:])  # the radius, drawn
    assert "radius 2.28" in viz.plot_frequency_corruption(image).axes[3].get_title()  # MFM's 16 of 224, scaled
    assert viz.figure_to_array(fig).std() > 0
