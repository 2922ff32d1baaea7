"""Reference solutions for notebook 15 (beyond grids: point clouds and graphs)."""

import torch
import torch.nn.functional as F


def my_farthest_point_sample(points: torch.Tensor, num: int) -> torch.Tensor:
    """Indices ``long [num]`` of ``points [N, 3]``: start at point 0, then always the point farthest from the chosen set."""
    chosen = [0]
    min_dist = ((points - points[0]) ** 2).sum(dim=1)  # [N] squared distance to the nearest chosen point
    for _ in range(num - 1):
        newest = int(min_dist.argmax())
        chosen.append(newest)
        min_dist = torch.minimum(min_dist, ((points - points[newest]) ** 2).sum(dim=1))
    return torch.tensor(chosen)


def my_chamfer(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Symmetric squared Chamfer distance of ``a [B, n, 3]`` and ``b [B, m, 3]``: one number."""
    dist = ((a.unsqueeze(2) - b.unsqueeze(1)) ** 2).sum(dim=-1)  # [B, n, m] squared distances
    a_to_b = dist.min(dim=2).values  # [B, n] each point of a to its nearest point of b
    b_to_a = dist.min(dim=1).values  # [B, m] each point of b to its nearest point of a
    return a_to_b.mean() + b_to_a.mean()


def my_sce_loss(pred: torch.Tensor, target: torch.Tensor, gamma: float) -> torch.Tensor:
    """GraphMAE's scaled cosine error over the rows of ``pred``, ``target`` ``[M, F]``: one number."""
    cos = (F.normalize(pred, dim=-1) * F.normalize(target, dim=-1)).sum(dim=-1)  # [M]
    return (1 - cos).pow(gamma).mean()


def my_remask(codes: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
    """``codes [N, D]`` with the rows of hidden nodes (``hidden [N]`` True) set to zero."""
    return torch.where(hidden[:, None], torch.zeros_like(codes), codes)
