"""Reference solutions for notebook 16 (several modalities: MultiMAE)."""

import math

import torch


def my_split_budget(shares: torch.Tensor, budget: int, sizes: list) -> torch.Tensor:
    """Exact visible counts ``[M]``: they sum to ``budget``, none above ``sizes[m]``, each near ``share * budget``."""
    ideal = [
        float(s) / float(sum(shares)) * budget for s in shares
    ]  # what each modality would get, unrounded
    counts = [min(math.floor(v), size) for v, size in zip(ideal, sizes)]  # round down, never above the size
    while sum(counts) < budget:  # hand out the missing tokens one at a time ...
        room = [m for m in range(len(counts)) if counts[m] < sizes[m]]
        best = max(room, key=lambda m: ideal[m] - counts[m])  # ... to the largest remainder that has room
        counts[best] += 1
    return torch.tensor(counts)


def my_joint_sequence(tokens: list, pos_embed: torch.Tensor, modality_embed: torch.Tensor) -> torch.Tensor:
    """``M x [B, N, D]`` -> ``[B, M*N, D]``: position and modality embedding added, modalities one after another."""
    parts = [t + pos_embed + modality_embed[m] for m, t in enumerate(tokens)]  # each [B, N, D]
    return torch.cat(parts, dim=1)  # [B, M*N, D]


def my_modality_losses(preds: dict, targets: dict, hidden: dict) -> dict:
    """``{name: mean squared error over that modality's hidden patches}``; 0 where nothing is hidden."""
    losses = {}
    for name, pred in preds.items():
        per_patch = ((pred - targets[name]) ** 2).mean(dim=-1)  # [B, N] mean over the patch's values
        h = hidden[name].float()  # [B, N] 1 where hidden
        losses[name] = (per_patch * h).sum() / h.sum().clamp(min=1)  # 0 / 1 = 0 when nothing is hidden
    return losses
