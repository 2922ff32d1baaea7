"""Reference solutions for notebook 10 (designs: SimMIM's mask tokens, guided masks, ratio schedules)."""

import math

import torch


def my_simmim_tokens(tokens: torch.Tensor, hidden: torch.Tensor, mask_token: torch.Tensor,
                     pos_embed: torch.Tensor) -> torch.Tensor:
    """SimMIM's encoder input ``[B, N, D]``: hidden embeddings replaced by the mask token, then positions added."""
    replaced = torch.where(hidden.unsqueeze(-1), mask_token, tokens)  # [B, N, 1] broadcasts over D
    return replaced + pos_embed  # every token, mask tokens included, learns where it sits


def my_cosine(progress: float, start: float, end: float) -> float:
    """Half a cosine wave from ``start`` (progress 0) to ``end`` (progress 1)."""
    weight = (1.0 - math.cos(math.pi * progress)) / 2.0  # 0 -> 1, slow at both ends
    return start + (end - start) * weight


# At the same ratio, which AttMask mode makes reconstruction harder, "high" or "low"?
# Hiding the most attended patches (usually the object) leaves the least to go on.
GUIDED_MASK_HARDER = "high"
