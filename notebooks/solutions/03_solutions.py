"""Reference solutions for notebook 03 (inside the MAE)."""

import torch


def my_masked_loss(pred: torch.Tensor, target: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the hidden patches only: ``[B, N, D], [B, N, D], [B, N] -> scalar``."""
    per_patch = ((pred - target) ** 2).mean(dim=-1)  # [B, N]: one error per patch
    hidden = hidden.float()
    return (per_patch * hidden).sum() / hidden.sum()


def my_norm_pixels(patches: torch.Tensor) -> torch.Tensor:
    """Normalise each patch by its own mean and variance: ``[B, N, D] -> [B, N, D]``."""
    mean = patches.mean(dim=-1, keepdim=True)  # [B, N, 1]
    var = patches.var(dim=-1, keepdim=True)  # [B, N, 1]
    return (patches - mean) / (var + 1e-6) ** 0.5


# How many patch tokens does a ViT-B/16 MAE encoder see for a 224 x 224 image at 75 %?
VISIBLE_TOKENS_VIT_B = 49

# At 75 % masking, how much of the full-image work does the encoder do: "quarter", "half" or "same"?
ENCODER_COST = "quarter"
