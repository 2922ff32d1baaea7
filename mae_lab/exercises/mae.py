"""Exercises of labs 03-04 (inside the MAE): the loss on hidden patches, normalised pixels, a baseline."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from .core import CheckResult, _as_tensor, _call, _fail, _ok, _shape

__all__ = ["check_masked_loss", "check_mean_baseline", "check_norm_pixels"]


def check_masked_loss(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], Any]) -> CheckResult:
    """Exercise: ``fn(pred [B, N, D], target [B, N, D], hidden [B, N] bool) -> scalar``, MSE on hidden patches."""
    name = "masked loss"
    gen = torch.Generator().manual_seed(2)
    pred, target = torch.rand(2, 16, 12, generator=gen), torch.rand(2, 16, 12, generator=gen)
    hidden = torch.zeros(2, 16, dtype=torch.bool)
    hidden[:, ::4] = True
    hidden[:, 1::4] = True  # half hidden
    per_patch = ((pred - target) ** 2).mean(dim=-1)  # [B, N]
    expected = (per_patch * hidden).sum() / hidden.sum()
    result, failure = _call(name, fn, pred.clone(), target.clone(), hidden.clone())
    if failure is not None:
        return failure
    result, failure = _as_tensor(name, result, "the loss")
    if failure is not None:
        return failure
    if result.numel() != 1:
        return _fail(name, f"the loss should be one number, got a tensor of shape {_shape(result)}; average it.")
    value = float(result)
    if math.isclose(value, float(expected), rel_tol=1e-5):
        return _ok(name, f"correct — {value:.4f}, the mean squared error over hidden patches only.")
    if math.isclose(value, float(per_patch.mean()), rel_tol=1e-5):
        return _fail(name, "you averaged over all patches; MAE's loss counts only the hidden ones (visible ones are easy).")
    if math.isclose(value, float((per_patch * ~hidden).sum() / (~hidden).sum()), rel_tol=1e-5):
        return _fail(name, "you averaged over the visible patches; True in `hidden` marks the ones to score.")
    if math.isclose(value, float((((pred - target) ** 2).sum(-1) * hidden).sum() / hidden.sum()), rel_tol=1e-5):
        return _fail(name, "you summed the squared error over each patch's values; take their mean first.")
    if math.isclose(value, float((per_patch * hidden).sum()), rel_tol=1e-5):
        return _fail(name, "you summed over hidden patches; divide by how many there are.")
    return _fail(name, f"got {value:.4f}, expected {float(expected):.4f}: per-patch mean of squared errors, then mean over hidden patches.")


def check_norm_pixels(fn: Callable[[torch.Tensor], torch.Tensor]) -> CheckResult:
    """Exercise: ``fn(patches [B, N, D]) -> [B, N, D]``, each patch normalised to mean 0, variance 1 (eps 1e-6)."""
    name = "per-patch normalisation"
    gen = torch.Generator().manual_seed(3)
    patches = torch.rand(2, 9, 48, generator=gen) * 3 + 1
    mean = patches.mean(dim=-1, keepdim=True)
    var = patches.var(dim=-1, keepdim=True)
    expected = (patches - mean) / (var + 1e-6) ** 0.5
    result, failure = _call(name, fn, patches.clone())
    if failure is not None:
        return failure
    result, failure = _as_tensor(name, result, "the normalised patches")
    if failure is not None:
        return failure
    if result.shape != expected.shape:
        return _fail(name, f"expected shape {_shape(expected)}, got {_shape(result)}; keep one row per patch (keepdim=True).")
    if torch.allclose(result, expected, atol=1e-4):
        return _ok(name, "correct — every patch now has mean 0 and variance 1, as in MAE's norm_pix_loss.")
    global_norm = (patches - patches.mean()) / (patches.var() + 1e-6) ** 0.5
    if torch.allclose(result, global_norm, atol=1e-4):
        return _fail(name, "you normalised the whole batch at once; normalise each patch over its own values (dim=-1).")
    across = (patches - patches.mean(1, keepdim=True)) / (patches.var(1, keepdim=True) + 1e-6) ** 0.5
    if torch.allclose(result, across, atol=1e-4):
        return _fail(name, "you normalised across patches (dim=1); normalise within each patch (dim=-1).")
    if torch.allclose(result, (patches - mean) / (var.sqrt() + 1e-6), atol=1e-4):
        return _ok(name, "correct up to where eps goes (MAE adds it to the variance before the square root).")
    if torch.allclose(result, patches - mean, atol=1e-4):
        return _fail(name, "you subtracted the mean but did not divide by the standard deviation.")
    return _fail(name, "not the per-patch normalisation: (x − mean) / sqrt(var + 1e-6) over each patch's values.")


def check_mean_baseline(fn: Callable[[torch.Tensor, torch.Tensor], Any]) -> CheckResult:
    """Exercise: ``fn(patches [B, N, D], hidden [B, N] bool) -> pred [B, N, D]``.

    The trivial baseline: every hidden patch is predicted as the mean of the *visible*
    patches of the same image (only the hidden rows are checked).
    """
    name = "mean-of-visible baseline"
    gen = torch.Generator().manual_seed(6)
    patches = torch.rand(3, 16, 12, generator=gen) + torch.arange(3).view(3, 1, 1)  # images differ in brightness
    hidden = torch.zeros(3, 16, dtype=torch.bool)
    for b in range(3):
        hidden[b, torch.randperm(16, generator=gen)[:12]] = True  # 75 % hidden
    visible = (~hidden).unsqueeze(-1).float()  # [B, N, 1]
    visible_mean = (patches * visible).sum(1, keepdim=True) / visible.sum(1, keepdim=True)  # [B, 1, D]
    expected = visible_mean.expand_as(patches)
    result, failure = _call(name, fn, patches.clone(), hidden.clone())
    if failure is not None:
        return failure
    result, failure = _as_tensor(name, result, "the prediction")
    if failure is not None:
        return failure
    if result.shape != patches.shape:
        hint = " Broadcast the mean back to every patch (e.g. .expand_as(patches))." if result.numel() < patches.numel() else ""
        return _fail(name, f"return one prediction per patch: shape {_shape(patches)}, got {_shape(result)}.{hint}")
    rows = hidden.unsqueeze(-1).expand_as(patches)
    got = result.float()[rows]
    if torch.allclose(got, expected[rows], atol=1e-5):
        return _ok(name, "correct — each hidden patch is guessed as the average visible patch of its own image.")
    wrong = {
        "you averaged every patch, hidden ones included; the model cannot see the hidden ones, so neither may "
        "the baseline": patches.mean(1, keepdim=True).expand_as(patches),
        "you averaged the hidden patches: that peeks at the answer. Use the visible ones (~hidden)": (
            (patches * hidden.unsqueeze(-1)).sum(1, keepdim=True) / hidden.sum(1).view(3, 1, 1)
        ).expand_as(patches),
        "you averaged the visible patches of the whole batch; each image needs its own mean (average over dim=1 "
        "per image)": ((patches * visible).sum((0, 1), keepdim=True) / visible.sum()).expand_as(patches),
        "you averaged the values inside each patch (dim=-1); average over the patches instead (dim=1)": (
            patches.mean(-1, keepdim=True).expand_as(patches)
        ),
    }
    for message, variant in wrong.items():
        if torch.allclose(got, variant[rows], atol=1e-5):
            return _fail(name, message + ".")
    return _fail(name, "the hidden patches' predictions are not the mean of the visible patches of their image.")
