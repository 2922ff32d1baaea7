"""Masks for one picture, without a model: any strategy on a 2-D patch grid, and a score per patch.

The explorers and figures show every registered strategy on a photo.  Two things stand
between a strategy and a photo: video strategies (``tube``) expect a ``(T, h, w)`` grid,
and guided strategies (``attention``, ``hard``) expect a score per patch.
:func:`mask_for_image` hides the first difference (one time step, and the mask's grid is
always ``(h, w)``); :func:`patch_saliency` fills the second when no model is at hand: the
contrast of each patch stands in for the teacher's attention of AttMask (Kakogeorgiou et
al., 2022) or the predicted loss of HPM (Wang et al., 2023).
"""

from __future__ import annotations

from typing import Any

import torch

from ..patches import patchify
from .base import Mask
from .registry import get_masker, make_mask

__all__ = ["mask_for_image", "patch_saliency"]


def patch_saliency(image: torch.Tensor, patch_size: int) -> torch.Tensor:
    """A model-free score per patch: the standard deviation of its pixels (texture, edges).

    Used to drive the guided strategies (``attention``, ``hard``) when no model is at hand.

    Args:
        image: ``[C, H, W]`` or ``[B, C, H, W]``; H and W multiples of ``patch_size``.
        patch_size: side of a square patch, in pixels.

    Returns:
        ``[B, N]`` float scores, higher = more contrast.
    """
    images = torch.as_tensor(image)
    if images.ndim == 3:
        images = images.unsqueeze(0)  # [1, C, H, W]
    if images.ndim != 4:
        raise ValueError(f"expected an image [C, H, W] or images [B, C, H, W], got shape {tuple(images.shape)}")
    patches = patchify(images.float(), patch_size)  # [B, N, p*p*C]
    return patches.std(dim=-1)  # [B, N]


def mask_for_image(
    strategy: str,
    grid: tuple[int, int],
    ratio: float | None = None,
    seed: int | None = 0,
    scores: torch.Tensor | None = None,
    batch_size: int = 1,
    **options: Any,
) -> Mask:
    """Draw a 2-D mask for a ``(h, w)`` patch grid with any registered strategy.

    Args:
        strategy: a name from :func:`~mae_lab.masking.list_maskers`.
        grid: patches per side ``(h, w)``.
        ratio: fraction of patches to hide (default: the strategy's own).
        seed: seed of the draw (the same seed gives the same mask).
        scores: ``[B, N]`` one score per patch; guided strategies need it
            (see :func:`patch_saliency`), the others ignore it.
        batch_size: how many masks to draw.
        options: the strategy's own options, e.g. ``color="blue"`` for ``noise``.

    Returns:
        A :class:`Mask` whose ``grid`` is ``(h, w)``; video strategies (``grid_dims == 3``)
        get one time step.
    """
    info = get_masker(strategy)
    if info.needs_scores:
        if scores is None:
            raise ValueError(f"strategy {strategy!r} is guided and needs scores=[B, N] (one per patch), "
                             "e.g. mae_lab.masking.patch_saliency(image, patch_size)")
        options = {**options, "scores": scores}
    full_grid = (1, *grid) if info.grid_dims == 3 else tuple(grid)
    mask = make_mask(strategy, batch_size, grid=full_grid, ratio=ratio, seed=seed, **options)
    if mask.grid != tuple(grid):
        mask = Mask(mask.hidden, mask.ids_keep, mask.ids_restore, mask.ids_shuffle, grid=tuple(grid),
                    masker=mask.masker)
    return mask
