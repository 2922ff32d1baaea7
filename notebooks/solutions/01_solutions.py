"""Reference solutions for notebook 01 (images as patches)."""

import torch


def my_patchify(images: torch.Tensor, p: int) -> torch.Tensor:
    """``[B, C, H, W] -> [B, N, p*p*C]``, patches row by row, values (row, column, channel)."""
    batch, channels, height, width = images.shape
    h, w = height // p, width // p
    x = images.reshape(batch, channels, h, p, w, p)  # [B, C, h, p, w, p]
    x = x.permute(0, 2, 4, 3, 5, 1)  # [B, h, w, p, p, C]: patch row, patch column, then inside the patch
    return x.reshape(batch, h * w, p * p * channels)  # [B, N, p*p*C]


def token_count(height: int, width: int, patch_size: int, channels: int) -> tuple[int, int]:
    """``(number of patch tokens, numbers per token)`` for an image cut into square patches."""
    num_tokens = (height // patch_size) * (width // patch_size)
    values_per_token = patch_size * patch_size * channels
    return num_tokens, values_per_token


# Which position's embedding is most like the one of patch (3, 3), apart from itself?
NEAREST = "neighbour"
