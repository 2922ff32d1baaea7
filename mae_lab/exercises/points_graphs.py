"""Exercises for the point-cloud and graph lab: build farthest-point sampling, the Chamfer distance,
GraphMAE's scaled cosine error and its re-mask step.

Each check runs the student's function on inputs it makes itself, compares it with the reference in
:mod:`mae_lab.points` / :mod:`mae_lab.graphs`, and names the likely mistake.

>>> from mae_lab.exercises.points_graphs import check_chamfer
>>> check_chamfer(my_chamfer)        # doctest: +SKIP
✓ Chamfer distance: correct — ...
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..graphs import remask as _reference_remask
from ..graphs import sce_loss as _reference_sce
from ..points import chamfer_distance as _reference_chamfer
from ..points import farthest_point_sample as _reference_fps
from .core import CheckResult, _as_tensor, _call, _fail, _ok, _shape

__all__ = ["check_chamfer", "check_farthest_point_sampling", "check_remask", "check_sce_loss"]


def _number(name: str, value) -> tuple[float | None, CheckResult | None]:
    tensor, failure = _as_tensor(name, value, "the loss")
    if failure is not None:
        return None, failure
    if tensor.numel() != 1:
        return None, _fail(name, f"return one number (a scalar), got a tensor of shape {_shape(tensor)}; "
                                 "average over the rows / the batch.")
    return float(tensor), None


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-7)


# --------------------------------------------------------------------------- farthest-point sampling
def check_farthest_point_sampling(fn: Callable[[torch.Tensor, int], torch.Tensor]) -> CheckResult:
    """Exercise: ``fn(points [N, 3], num) -> long [num]``: indices chosen by farthest-point sampling from point 0."""
    name = "farthest-point sampling"
    points = torch.rand(200, 3, generator=torch.Generator().manual_seed(3))
    num = 12
    expected = _reference_fps(points.unsqueeze(0), num)[0]  # [num]
    result, failure = _call(name, fn, points.clone(), num)
    if failure is not None:
        return failure
    result, failure = _as_tensor(name, result, "the indices")
    if failure is not None:
        return failure
    if result.shape == (num, 3) and result.is_floating_point():
        return _fail(name, "you returned the points' coordinates; return their indices (a long tensor [num]).")
    if result.shape != (num,):
        return _fail(name, f"expected {num} indices, shape [{num}], got {_shape(result)}.")
    if result.is_floating_point():
        if not torch.equal(result, result.round()):
            return _fail(name, "return whole-number indices (a long tensor), not coordinates or distances.")
        result = result.long()
    if int(result.min()) < 0 or int(result.max()) >= len(points):
        return _fail(name, f"indices must lie between 0 and {len(points) - 1}.")
    if torch.equal(result, expected):
        return _ok(name, f"correct — {num} of {len(points)} points, each the farthest from all those chosen before it.")
    # farthest from the newest point only, not from the whole chosen set
    last_only = [0]
    for _ in range(num - 1):
        last_only.append(int(((points - points[last_only[-1]]) ** 2).sum(-1).argmax()))
    if result.tolist() == last_only:
        return _fail(name, "each pick is the farthest from the *last* chosen point only, so the picks bounce between "
                           "two ends of the cloud. Take the farthest from the chosen SET: keep for every point its "
                           "distance to the nearest chosen point (min_dist = minimum(min_dist, new distances)).")
    # farthest by the SUM (or mean) of distances to the chosen points
    total = torch.zeros(len(points))
    by_sum = [0]
    for _ in range(num - 1):
        total = total + ((points - points[by_sum[-1]]) ** 2).sum(-1)
        by_sum.append(int(total.argmax()))
    if result.tolist() == by_sum:
        return _fail(name, "you add up the distances to the chosen points; farthest-point sampling uses the distance "
                           "to the NEAREST chosen point (a minimum, not a sum).")
    if len(set(result.tolist())) < num:
        return _fail(name, "a point was picked twice: after each pick, measure every point's distance to its "
                           "nearest chosen point (a chosen point has distance 0, so it is never picked again).")
    # how many picks were the farthest from the set chosen so far?
    dist = ((points.unsqueeze(1) - points.unsqueeze(0)) ** 2).sum(-1)  # [N, N] squared distances
    good = 0
    for step in range(1, num):
        nearest = dist[:, result[:step]].min(dim=1).values  # [N]
        good += int(result[step]) == int(nearest.argmax())
    if good <= (num - 1) // 2:
        return _fail(name, f"only {good} of your {num - 1} picks after the first are the point farthest from the chosen "
                           "set: it looks like random (or first-N) points. At each step take the argmax of every "
                           "point's distance to its nearest chosen point.")
    if int(result[0]) != 0:
        return _fail(name, f"start from point 0 (as the official kernel does); your first index is {int(result[0])}.")
    return _fail(name, f"{good} of {num - 1} picks are right; check how the distances are updated after each pick "
                       "(and that they are measured from the newest chosen point).")


# --------------------------------------------------------------------------- Chamfer distance
def check_chamfer(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> CheckResult:
    """Exercise: ``fn(a [B, n, 3], b [B, m, 3]) -> scalar``, the symmetric squared Chamfer distance."""
    name = "Chamfer distance"
    gen = torch.Generator().manual_seed(4)
    a, b = torch.randn(2, 20, 3, generator=gen), torch.randn(2, 30, 3, generator=gen)
    expected = float(_reference_chamfer(a, b))
    result, failure = _call(name, fn, a.clone(), b.clone())
    if failure is not None:
        return failure
    if isinstance(result, torch.Tensor) and result.numel() == 2:
        return _fail(name, "you returned one value per cloud [B]; average over the batch to get one number.")
    value, failure = _number(name, result)
    if failure is not None:
        return failure
    if _close(value, expected):
        return _ok(name, f"correct — {value:.4f}: the mean squared distance to the nearest point, both ways, added.")
    dist2 = ((a.unsqueeze(2) - b.unsqueeze(1)) ** 2).sum(-1)  # [B, n, m] squared distances
    a_to_b, b_to_a = dist2.min(dim=2).values, dist2.min(dim=1).values  # [B, n], [B, m]
    dist = dist2.sqrt()
    variants = {
        "only one direction (from a to b): add the other one, every point of b to its nearest point of a — "
        "otherwise a prediction that puts all its points on one true point scores zero": float(a_to_b.mean()),
        "only one direction (from b to a): add the other one, every point of a to its nearest point of b — "
        "otherwise a loose cloud that covers everything scores well": float(b_to_a.mean()),
        "the distances are not squared: Point-MAE's `cdl2` uses squared distances (use (a - b)**2 summed "
        "over x, y, z, or cdist(...)**2)": float(dist.min(dim=2).values.mean() + dist.min(dim=1).values.mean()),
        "this is Point-MAE's other variant (`cdl1`: plain distances, the two directions averaged); here we use "
        "`cdl2`: squared distances, the two directions added": float(
            (dist.min(dim=2).values.mean() + dist.min(dim=1).values.mean()) / 2),
        "you averaged the two directions; as defined here (and in Point-MAE's `cdl2`) they are added": expected / 2,
        "you summed over the points; take the mean over the points of each cloud (a and b have different sizes)": float(
            (a_to_b.sum(1) + b_to_a.sum(1)).mean()),
        "you summed over the batch; average over the clouds": float(a_to_b.mean(1).sum() + b_to_a.mean(1).sum()),
        "you took the distance to the farthest point; Chamfer uses the nearest (min, not max)": float(
            dist2.max(dim=2).values.mean() + dist2.max(dim=1).values.mean()),
        "you averaged over all pairs of points; for each point keep only its nearest partner (a min first)": float(
            2 * dist2.mean()),
    }
    for message, variant in variants.items():
        if _close(value, variant):
            return _fail(name, message + ".")
    swapped = _call(name, fn, b.clone(), a.clone())[0]
    if swapped is not None and torch.as_tensor(swapped).numel() == 1 and not _close(float(torch.as_tensor(swapped)), value):
        return _fail(name, f"got {value:.4f}, expected {expected:.4f}; and chamfer(a, b) != chamfer(b, a): both "
                           "directions should count the same.")
    return _fail(name, f"got {value:.4f}, expected {expected:.4f}: for every point the squared distance to the nearest "
                       "point of the other cloud, averaged, in both directions, added.")


# --------------------------------------------------------------------------- scaled cosine error
def check_sce_loss(fn: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]) -> CheckResult:
    """Exercise: ``fn(pred [M, F], target [M, F], gamma) -> scalar``, GraphMAE's scaled cosine error."""
    name = "scaled cosine error"
    gen = torch.Generator().manual_seed(5)
    target = torch.randn(12, 6, generator=gen)
    pred = 3.0 * target + torch.randn(12, 6, generator=gen)  # a different scale, roughly the same direction
    for gamma in (2.0, 3.0, 1.0):
        expected = float(_reference_sce(pred, target, gamma))
        result, failure = _call(name, fn, pred.clone(), target.clone(), gamma)
        if failure is not None:
            return failure
        value, failure = _number(name, result)
        if failure is not None:
            return failure
        if _close(value, expected):
            continue
        cos = F.cosine_similarity(pred, target, dim=-1)
        dot = (pred * target).sum(-1)
        variants = {
            f"with gamma={gamma:g} your loss has no exponent: raise each row's (1 - cos) to the power gamma, "
            "then average": float((1 - cos).mean()),
            "the exponent goes on (1 - cos), not on the cosine: (1 - cos) ** gamma, not 1 - cos ** gamma": float(
                (1 - cos.pow(gamma)).mean()),
            "the rows are not normalised: divide pred and target by their lengths first (a cosine ignores scale, "
            "which is the point of SCE)": float((1 - dot).pow(gamma).mean()),
            "you summed over the nodes; average over them": float((1 - cos).pow(gamma).sum()),
            "you averaged before the exponent: raise each node's error to gamma first, then average": float(
                (1 - cos).mean().pow(gamma)),
            "that is the mean squared error; SCE compares directions: (1 - cos(pred, target)) ** gamma": float(
                F.mse_loss(pred, target)),
            "you computed the cosine over the wrong dimension: one cosine per node, over its features (dim=-1)": float(
                (1 - F.cosine_similarity(pred, target, dim=0)).pow(gamma).mean()),
        }
        for message, variant in variants.items():
            if _close(value, variant):
                return _fail(name, message + ".")
        return _fail(name, f"with gamma={gamma:g} got {value:.5f}, expected {expected:.5f}: "
                           "mean over nodes of (1 - cos(pred_i, target_i)) ** gamma.")
    return _ok(name, "correct — the error ignores the scale of pred (×3 here) and gamma > 1 shrinks small errors most.")


# --------------------------------------------------------------------------- re-mask
def check_remask(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> CheckResult:
    """Exercise: ``fn(codes [N, D], hidden [N] bool) -> [N, D]``: hidden nodes' codes set to zero, the rest kept."""
    name = "re-mask"
    gen = torch.Generator().manual_seed(6)
    leaf = torch.randn(10, 4, generator=gen, requires_grad=True)
    codes = leaf * 1.0  # [N, D] like an encoder's output: not a leaf, so an in-place write is allowed
    hidden = torch.zeros(10, dtype=torch.bool)
    hidden[[1, 4, 5, 8]] = True
    original = leaf.detach().clone()
    expected = _reference_remask(original, hidden)
    result, failure = _call(name, fn, codes, hidden.clone())
    if failure is not None:
        return failure
    result, failure = _as_tensor(name, result, "the codes")
    if failure is not None:
        return failure
    if result.shape != codes.shape:
        if result.shape == (int((~hidden).sum()), 4):
            return _fail(name, "you dropped the hidden rows; keep all N nodes (the decoder needs every node, "
                               "hidden ones included) and set the hidden rows to zero.")
        return _fail(name, f"expected shape {_shape(codes)}, got {_shape(result)}: keep one row per node.")
    if torch.allclose(result.detach(), expected):
        if not result.requires_grad:
            return _fail(name, "right values, but the result is cut from the computation graph (detach or no_grad): "
                               "the visible nodes' codes must still carry gradients to the encoder.")
        return _ok(name, "correct — the hidden nodes are blank for the decoder, which must rebuild them from "
                         "their neighbours.")
    detached = result.detach()
    if torch.allclose(detached, original.masked_fill(~hidden[:, None], 0.0)):
        return _fail(name, "you zeroed the VISIBLE nodes; it is the hidden ones (hidden == True) that are re-masked.")
    if torch.allclose(detached[~hidden], original[~hidden]) and not torch.allclose(detached[hidden], torch.zeros(1)):
        rows = detached[hidden]
        if torch.allclose(rows, rows[:1].expand_as(rows)):
            return _fail(name, "the hidden rows hold one shared vector; GraphMAE's re-mask sets them to zero.")
        return _fail(name, "the hidden rows are not zero; set every hidden node's code to 0.")
    return _fail(name, "the visible rows changed; keep them exactly as they are and zero only the hidden ones.")
