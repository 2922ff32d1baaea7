"""Reference solutions for notebook 13 (teachers and tokens)."""

import math

import torch


def my_feature_loss(pred: torch.Tensor, target: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
    """Mean squared error on the hidden patches; the teacher's target is behind a stop-gradient."""
    per_patch = ((pred - target.detach()) ** 2).mean(dim=-1)  # [B, N]: one error per patch
    return per_patch[hidden].mean()  # only the hidden patches count


def my_nearest_code(vectors: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """``vectors [M, d]``, ``codebook [K, d]`` -> long ``[M]``: the index of the closest code."""
    distances = torch.cdist(vectors, codebook)  # [M, K]: every vector against every code
    return distances.argmin(dim=1)  # the smallest distance, over the codes


def my_reveal_schedule(num_tokens: int, steps: int) -> list:
    """How many tokens stay hidden after each step: N * cos(pi/2 * (t+1)/steps), at least one revealed per step."""
    counts, hidden = [], num_tokens
    for t in range(steps):
        hidden = min(math.floor(num_tokens * math.cos(math.pi / 2 * (t + 1) / steps)), hidden - 1)
        counts.append(max(hidden, 0))
    counts[-1] = 0  # after the last step, everything is revealed
    return counts


def my_unmask_step(probs, codes, hidden, num_hidden_after):
    """One greedy MaskGIT step: reveal the most confident guesses, keep ``num_hidden_after`` hidden."""
    confidence, guess = probs.max(dim=-1)  # [B, N] each: the best code and its probability
    guess = torch.where(hidden, guess, codes)  # revealed tokens keep their code
    confidence = torch.where(hidden, confidence, torch.inf)  # ... and are never hidden again
    least_sure = confidence.argsort(dim=1)[:, :num_hidden_after]  # [B, num_hidden_after]
    still_hidden = torch.zeros_like(hidden).scatter_(1, least_sure, True)
    new_codes = torch.where(still_hidden, codes, guess)  # still-hidden positions keep the mask id
    return new_codes, still_hidden
