"""Reference solutions for notebook 14 (learning what to hide: HPM and AdaMAE)."""

import torch
import torch.nn.functional as F


def my_hpm_mask(predicted_loss: torch.Tensor, num_hidden: int, alpha: float,
                generator: torch.Generator) -> torch.Tensor:
    """bool ``[B, N]``: the ``round(alpha * num_hidden)`` highest predicted losses, the rest uniformly at random."""
    batch, num_patches = predicted_loss.shape
    num_hard = round(alpha * num_hidden)
    hardest = predicted_loss.argsort(dim=1, descending=True)[:, :num_hard]  # [B, num_hard]
    hidden = torch.zeros(batch, num_patches, dtype=torch.bool)
    hidden.scatter_(1, hardest, True)
    # random part: a random priority for every patch, -1 for those already hidden so they are never picked again
    priority = torch.rand(batch, num_patches, generator=generator).masked_fill(hidden, -1.0)
    extra = priority.argsort(dim=1, descending=True)[:, : num_hidden - num_hard]  # [B, num_hidden - num_hard]
    return hidden.scatter_(1, extra, True)


def my_ranking_loss(predicted: torch.Tensor, actual: torch.Tensor) -> torch.Tensor:
    """HPM's relative loss: mean of -log sigmoid(pred_j - pred_i) over pairs of one image with actual_j > actual_i."""
    gap = predicted.unsqueeze(1) - predicted.unsqueeze(2)  # [B, M, M]: gap[b, i, j] = pred_j - pred_i
    harder = actual.unsqueeze(1) > actual.unsqueeze(2)  # [B, M, M]: patch j is harder than patch i
    return F.softplus(-gap[harder]).mean()  # softplus(-x) = -log sigmoid(x)


def my_sampling_loss(probs: torch.Tensor, hidden: torch.Tensor, patch_loss: torch.Tensor) -> torch.Tensor:
    """AdaMAE's sampling loss: -mean over hidden patches of log p * (detached) loss, then mean over images."""
    weights = hidden.float()  # [B, N]
    reward = patch_loss.detach()  # a reward, not something to minimise
    per_image = -(probs.log() * reward * weights).sum(dim=1) / weights.sum(dim=1)  # [B]
    return per_image.mean()
