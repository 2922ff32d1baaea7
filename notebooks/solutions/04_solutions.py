"""Reference solutions for notebook 04 (reconstruction explorer)."""

import torch


def mean_visible_baseline(patches: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
    """Guess every patch as the mean of the visible patches of its image: ``[B, N, D], [B, N] -> [B, N, D]``."""
    visible = (~hidden).unsqueeze(-1).float()  # [B, N, 1]
    mean = (patches * visible).sum(dim=1, keepdim=True) / visible.sum(dim=1, keepdim=True)  # [B, 1, D]
    return mean.expand_as(patches)  # [B, N, D]


# At the same ratio, which masks are harder to fill in: "block", "random" or "same"?
HARDER = "block"

# Which patches does the model get most wrong, in pixels: "textured" or "flat"?
HARDEST = "textured"
