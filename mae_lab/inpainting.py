"""Guesses for hidden patches that need no learning: the baselines a masked autoencoder must beat.

* :func:`mean_of_visible` — every hidden pixel gets the mean colour of the visible pixels of its
  image (the best constant guess);
* :func:`biharmonic` — scikit-image's biharmonic inpainting (Damelin & Hoang, 2018, "On Surface
  Completion and Image Inpainting by Biharmonic Functions"): the smoothest surface that agrees with
  every visible pixel, a strong classical guess when hidden regions are small.

Both fill ``[B, C, H, W]`` images in ``[0, 1]`` whose hidden patches a :class:`~mae_lab.masking.Mask`
(``hidden [B, N]``, a ``p × p`` patch each) marks. :func:`hidden_patch_error` scores any filled
image on the hidden pixels only, the same way for a model and for the baselines.
"""

from __future__ import annotations

import numpy as np
import torch

from .masking import Mask
from .patches import unpatchify

__all__ = ["biharmonic", "hidden_patch_error", "hidden_pixels", "mean_of_visible"]


def hidden_pixels(mask: Mask, patch_size: int, channels: int = 1) -> torch.Tensor:
    """The mask as a bool image ``[B, C, H, W]``: True on every pixel of a hidden patch."""
    hidden = mask.hidden.float()  # [B, N]
    batch, num_patches = hidden.shape
    patches = hidden[:, :, None].expand(batch, num_patches, patch_size * patch_size * channels)
    return unpatchify(patches.contiguous(), patch_size, mask.grid, channels) > 0.5


def mean_of_visible(images: torch.Tensor, mask: Mask, patch_size: int) -> torch.Tensor:
    """``images`` with every hidden pixel set to the per-channel mean of the image's visible pixels."""
    hidden = hidden_pixels(mask, patch_size, images.shape[1]).to(images.device)  # [B, C, H, W]
    visible = (~hidden).float()
    mean = (images * visible).sum(dim=(2, 3), keepdim=True) / visible.sum(dim=(2, 3), keepdim=True).clamp_min(1)
    return torch.where(hidden, mean.expand_as(images), images)


def biharmonic(images: torch.Tensor, mask: Mask, patch_size: int) -> torch.Tensor:
    """``images`` with the hidden pixels filled by biharmonic inpainting (scikit-image), per image."""
    from skimage.restoration import inpaint_biharmonic

    hidden = hidden_pixels(mask, patch_size, 1)[:, 0].cpu().numpy()  # [B, H, W]
    filled = []
    for image, holes in zip(images.detach().cpu().numpy(), hidden):
        if holes.all():  # nothing visible to continue from: fall back to mid grey
            filled.append(np.full_like(image, 0.5))
            continue
        out = inpaint_biharmonic(np.moveaxis(image, 0, -1), holes, channel_axis=-1)  # [H, W, C]
        filled.append(np.moveaxis(out, -1, 0))
    return torch.from_numpy(np.stack(filled)).to(images).clamp(0, 1)


def hidden_patch_error(filled: torch.Tensor, images: torch.Tensor, mask: Mask, patch_size: int) -> float:
    """Mean squared error (pixels in [0, 1]) between ``filled`` and ``images`` on the hidden pixels only."""
    hidden = hidden_pixels(mask, patch_size, images.shape[1]).to(images.device)
    if not bool(hidden.any()):
        return 0.0
    return float(((filled - images) ** 2)[hidden].mean())
