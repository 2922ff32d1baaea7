"""Reference solutions for notebook 02 (masking strategies)."""

import torch


def my_random_masking(noise: torch.Tensor, ratio: float) -> tuple[torch.Tensor, torch.Tensor]:
    """MAE's argsort masking: ``noise [B, N] -> (ids_keep [B, N_vis], ids_restore [B, N])``."""
    num_patches = noise.shape[1]
    num_keep = num_patches - round(num_patches * ratio)
    ids_shuffle = torch.argsort(noise, dim=1)  # ascending: the smallest noise is kept
    ids_restore = torch.argsort(ids_shuffle, dim=1)  # undoes the shuffle
    ids_keep = ids_shuffle[:, :num_keep]  # [B, N_vis]
    return ids_keep, ids_restore


# At a 75 % ratio, which strategy makes the easiest task: "random", "block" or "grid"?
EASIEST = "grid"

# How many patches stay visible on an 8 x 8 grid at a 90 % ratio?  64 - round(57.6) = 6.
VISIBLE_AT_90 = 6
