"""Random masking, as in MAE (He et al., 2021, "Masked Autoencoders Are Scalable Vision Learners").

Draw one uniform random number per patch, sort the patches by it, keep the first
``N - num_hidden`` and hide the rest.  With a high ratio (MAE uses 75 %) the task cannot
be solved by copying a neighbour, so the model has to learn what objects look like.
"""

from __future__ import annotations

import torch

from .base import Mask
from .registry import register


def random_noise(batch_size: int, num_patches: int, generator: torch.Generator) -> torch.Tensor:
    """Uniform noise ``[B, N]`` in [0, 1), drawn on the CPU from ``generator``."""
    return torch.rand(batch_size, num_patches, generator=generator)


def mask_from_noise(noise: torch.Tensor, num_hidden: int, grid=None, strategy: str = "random") -> Mask:
    """MAE's argsort masking: keep the patches with the smallest noise, hide the rest.

    Args:
        noise: ``[B, N]`` one value per patch (any device).
        num_hidden: how many patches to hide in each sample.

    Returns:
        A :class:`Mask` whose ``ids_shuffle`` is ``argsort(noise)`` exactly as in the
        official code, so feeding the same noise reproduces the official mask.
    """
    batch_size, num_patches = noise.shape
    num_visible = num_patches - num_hidden
    ids_shuffle = torch.argsort(noise, dim=1)  # [B, N] ascending: small noise is kept
    ids_restore = torch.argsort(ids_shuffle, dim=1)  # [B, N]
    ids_keep = ids_shuffle[:, :num_visible]  # [B, N_vis]
    hidden = torch.ones(batch_size, num_patches, dtype=torch.bool, device=noise.device)
    hidden[:, :num_visible] = False  # in shuffled order: the first N_vis are visible
    hidden = torch.gather(hidden, 1, ids_restore)  # [B, N] back in patch order
    return Mask(hidden, ids_keep, ids_restore, ids_shuffle, grid=grid, strategy=strategy)


@register(
    "random",
    paper="MAE (He et al., 2021)",
    idea="Hide a uniformly random subset of patches; 75% is MAE's sweet spot.",
    default_ratio=0.75,
)
def random_mask(batch_size, grid, num_hidden, generator):
    num_patches = 1
    for side in grid:
        num_patches *= side
    noise = random_noise(batch_size, num_patches, generator)  # [B, N]
    return mask_from_noise(noise, num_hidden, grid=tuple(grid), strategy="random")
