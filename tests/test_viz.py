"""The viz package: every figure under its old name, and the names that moved out of it, for one release."""


import numpy as np
import pytest
import torch
from fakes import fake_reconstruction

from mae_lab import masking, panels, viz
from mae_lab.masking import make_mask

NAMES_BEFORE_THE_SPLIT = [  # every public name of the single-file viz module, as notebooks and scripts use them
    "to_hwc", "default_patch_size", "patch_saliency", "mask_for_image", "figure_to_array", "show_mask",
    "mask_gallery", "plot_reconstruction", "plot_attention", "plot_attention_distance", "plot_training",
    "plot_snapshots", "plotly_patch_error", "plotly_attention", "render_mask", "render_reconstruction",
    "render_attention", "render_tiles", "png_bytes", "plot_patch_tokens", "position_similarity",
    "plot_position_similarity", "plot_targets",
]


def test_every_name_of_the_old_module_still_works():
    missing = [name for name in NAMES_BEFORE_THE_SPLIT if not callable(getattr(viz, name, None))]
    assert not missing
    assert {"plot_reconstruction", "plotly_attention", "show_mask"} <= set(viz.__all__)
    assert not {"render_mask", "png_bytes", "mask_for_image", "patch_saliency"} & set(viz.__all__)


def test_figure_functions_live_in_one_file_per_subject():
    assert viz.show_mask.__module__ == "mae_lab.viz.masks"
    assert viz.plot_reconstruction.__module__ == "mae_lab.viz.reconstruction"
    assert viz.plotly_attention.__module__ == "mae_lab.viz.attention"
    assert viz.plot_training.__module__ == "mae_lab.viz.training"
    assert viz.plot_patch_tokens.__module__ == "mae_lab.viz.tokens"
    assert viz.plot_targets.__module__ == "mae_lab.viz.targets"


def test_mask_helpers_moved_to_masking_keep_deprecated_aliases(images):
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
