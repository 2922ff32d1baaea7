"""Masks for one picture: every strategy on a 2-D grid, and patch contrast as a model-free score."""

import pytest
import torch

from mae_lab import masking
from mae_lab.masking import list_maskers, mask_for_image, patch_saliency


def test_mask_for_image_handles_video_and_guided_strategies(images):
    tube = mask_for_image("tube", (8, 8), ratio=0.5, seed=0)
    assert tube.grid == (8, 8) and tube.num_hidden == 32
    scores = patch_saliency(images[0], 4)
    assert scores.shape == (1, 64)
    guided = mask_for_image("attention", (8, 8), ratio=0.25, seed=0, scores=scores)
    top = set(scores[0].argsort(descending=True)[:16].tolist())
    assert set(torch.nonzero(guided.hidden[0]).flatten().tolist()) == top
    with pytest.raises(ValueError, match="scores"):
        mask_for_image("attention", (8, 8), ratio=0.25)


def test_mask_for_image_draws_every_strategy_on_a_2d_grid():
    scores = torch.rand(2, 48, generator=torch.Generator().manual_seed(0))
    for info in list_maskers():
        mask = mask_for_image(info.name, (6, 8), seed=1, scores=scores, batch_size=2)
        assert mask.grid == (6, 8) and mask.hidden.shape == (2, 48), info.name
        assert mask.masker == info.name
        assert mask.num_hidden == round(48 * info.default_ratio), info.name


def test_mask_for_image_is_reproducible_and_passes_options():
    one = mask_for_image("noise", (8, 8), ratio=0.5, seed=3, color="red")
    again = mask_for_image("noise", (8, 8), ratio=0.5, seed=3, color="red")
    other = mask_for_image("noise", (8, 8), ratio=0.5, seed=3, color="blue")
    assert torch.equal(one.hidden, again.hidden)
    assert not torch.equal(one.hidden, other.hidden)


def test_mask_for_image_names_the_fix_for_guided_strategies():
    with pytest.raises(ValueError, match=r"mae_lab\.masking\.patch_saliency"):
        mask_for_image("hard", (4, 4), ratio=0.5)


def test_patch_saliency_is_the_standard_deviation_of_each_patch():
    image = torch.zeros(1, 8, 8)
    image[0, :4, 6:] = 1.0  # patch 1 (row 0, col 1): left half 0, right half 1
    image[0, 4:, :4] = 0.7  # patch 2: flat
    scores = patch_saliency(image, 4)
    assert scores.shape == (1, 4)
    assert scores[0, 1] == pytest.approx(torch.tensor([0.0, 1.0]).repeat(8).std().item())
    assert torch.equal(scores[0, [0, 2, 3]], torch.zeros(3))


def test_patch_saliency_takes_a_batch_and_rejects_other_shapes():
    batch = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    scores = patch_saliency(batch, 2)
    assert scores.shape == (3, 16)
    assert torch.allclose(scores[1:2], patch_saliency(batch[1], 2))
    with pytest.raises(ValueError, match=r"\[C, H, W\]"):
        patch_saliency(torch.rand(8, 8), 4)


def test_the_masking_package_exports_both_helpers():
    assert {"mask_for_image", "patch_saliency"} <= set(masking.__all__)
    assert masking.mask_for_image is mask_for_image and masking.patch_saliency is patch_saliency
