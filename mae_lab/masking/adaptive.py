"""Adaptive masking: sample the *visible* patches from a learned distribution.

From AdaMAE (Bandara et al., 2023, "AdaMAE: Adaptive Masking for Efficient Spatiotemporal
Learning with Masked Autoencoders").  A small sampling network gives every patch a
probability (a categorical distribution over the ``N`` patches, one per image); the
visible patches are drawn from it *without replacement* and everything else is hidden.
The network is trained alongside the MAE (see :mod:`mae_lab.learned_masks`), so the mask
adapts to the data: AdaMAE learns to show the patches that carry information and to hide
the redundant ones.

``scores=`` are the sampling weights, a float ``[B, N]`` tensor of non-negative numbers
(probabilities, or any weights: each row is normalised by the sampler).  A weight of 0
means "never visible".
"""

from __future__ import annotations

import torch

from .base import select_top
from .registry import register

__all__ = ["adaptive_mask"]


@register(
    "adaptive",
    paper="AdaMAE (Bandara et al., 2023)",
    idea="Draw the visible patches from a learned categorical distribution (no replacement); hide the rest.",
    default_ratio=0.75,
    needs_scores=True,
)
def adaptive_mask(batch_size, grid, num_hidden, generator, *, scores):
    """Hide every patch except ``N - num_hidden`` drawn with probability proportional to ``scores``.

    The draw is sampling without replacement (``torch.multinomial(scores, N - num_hidden)``),
    done with the Gumbel-top-k trick: add Gumbel noise to ``log(scores)`` and keep the
    largest keys, which gives exactly the same distribution (Kool et al., 2019) and lets
    patches of weight 0 be drawn last, at random, when a row has too few positive weights.
    """
    if bool((scores < 0).any()):
        raise ValueError(
            "adaptive masking needs non-negative scores (sampling weights); pass probabilities, "
            "e.g. logits.softmax(dim=-1)"
        )
    num_visible = scores.shape[1] - num_hidden
    uniform = torch.rand(scores.shape, generator=generator).clamp(1e-12, 1.0 - 1e-7)  # [B, N]
    gumbel = -torch.log(-torch.log(uniform))  # [B, N]
    keys = torch.where(scores > 0, scores.clamp_min(1e-38).log() + gumbel, -1e4 + uniform)  # zeros come last
    return ~select_top(keys, num_visible)  # [B, N]: the N_vis largest keys are the visible patches
