"""MAE's only augmentation, on the device: random resized crop and horizontal flip of a whole batch.

He et al., "Masked Autoencoders Are Scalable Vision Learners" (2021), pretrain with random resized
crops (area 0.2-1) and flips alone: masking is the hard part of the task, so strong colour
augmentations are not needed.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["random_resized_crop_flip"]


def random_resized_crop_flip(
    images: torch.Tensor,
    generator: torch.Generator,
    scale: tuple[float, float] = (0.35, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    flip: bool = True,
) -> torch.Tensor:
    """Random resized crop + horizontal flip of a batch ``[B, C, H, W]``, in one ``grid_sample``.

    Each sample gets its own crop: area fraction in ``scale``, aspect ratio in ``ratio`` (log-uniform),
    a uniform position, and a flip with probability 1/2. Parameters are drawn on the CPU from
    ``generator`` (so the result is the same on every device); the resampling runs where the images are.
    """
    batch = images.shape[0]
    area = torch.empty(batch).uniform_(scale[0], scale[1], generator=generator)  # [B]
    log_ratio = torch.empty(batch).uniform_(math.log(ratio[0]), math.log(ratio[1]), generator=generator)
    aspect = log_ratio.exp()
    width = (area * aspect).sqrt().clamp(max=1.0)  # fraction of the image width
    height = (area / aspect).sqrt().clamp(max=1.0)
    center_x = (torch.rand(batch, generator=generator) * 2 - 1) * (1 - width)  # in [-1, 1] coordinates
    center_y = (torch.rand(batch, generator=generator) * 2 - 1) * (1 - height)
    sign = torch.ones(batch)
    if flip:
        sign = torch.where(torch.rand(batch, generator=generator) < 0.5, -1.0, 1.0)
    theta = torch.zeros(batch, 2, 3)
    theta[:, 0, 0] = width * sign
    theta[:, 0, 2] = center_x
    theta[:, 1, 1] = height
    theta[:, 1, 2] = center_y
    theta = theta.to(device=images.device, dtype=images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)  # [B, H, W, 2]
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
