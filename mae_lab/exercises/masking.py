"""Exercises of labs 00-02 (masking): how many tokens stay visible, and MAE's argsort masking."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .core import CheckResult, _call, _fail, _ok, _shape

__all__ = ["check_num_visible", "check_random_masking"]


def check_num_visible(answer: Any, num_patches: int = 196, ratio: float = 0.75) -> CheckResult:
    """Predict: how many tokens does MAE's encoder see for ``num_patches`` at ``ratio``?"""
    name = f"visible tokens at {ratio:.0%} of {num_patches}"
    expected = num_patches - int(round(num_patches * ratio))
    try:
        value = int(answer)
    except (TypeError, ValueError):
        return _fail(name, f"answer with a whole number, got {answer!r}.")
    if value == expected:
        return _ok(name, f"correct — {expected} visible patch tokens (plus the class token: {expected + 1} in all).")
    if value == expected + 1:
        return _ok(name, f"correct, counting the class token — {expected} patches + 1 class token.")
    if value == num_patches - expected:
        return _fail(name, f"{value} is the number of *hidden* patches; the encoder sees the others.")
    return _fail(name, f"{value} is not it: the ratio is the fraction hidden, so {num_patches} × (1 − {ratio}) are seen.")


def check_random_masking(fn: Callable[[torch.Tensor, float], Any]) -> CheckResult:
    """Exercise: ``fn(noise [B, N], ratio) -> (ids_keep [B, N_vis], ids_restore [B, N])``, MAE's argsort masking."""
    name = "random masking"
    gen = torch.Generator().manual_seed(1)
    noise = torch.rand(3, 50, generator=gen)
    ratio = 0.75
    num_keep = 50 - int(round(50 * ratio))  # 12 (not int(50 * 0.25) = 12 here; see below)
    ids_shuffle = torch.argsort(noise, dim=1)
    expected_keep = ids_shuffle[:, :num_keep]
    expected_restore = torch.argsort(ids_shuffle, dim=1)
    result, failure = _call(name, fn, noise.clone(), ratio)
    if failure is not None:
        return failure
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        return _fail(name, "return two tensors: (ids_keep, ids_restore).")
    ids_keep, ids_restore = (torch.as_tensor(r) for r in result)
    if ids_keep.shape != expected_keep.shape:
        if ids_keep.shape[-1] == 50 - num_keep:
            return _fail(name, f"ids_keep has {ids_keep.shape[-1]} entries per sample: that is the hidden count. "
                         f"Keep N·(1−ratio) = {num_keep}.")
        return _fail(name, f"ids_keep should have shape {_shape(expected_keep)}, got {_shape(ids_keep)}.")
    if ids_restore.shape != expected_restore.shape:
        return _fail(name, f"ids_restore should have shape {_shape(expected_restore)}, got {_shape(ids_restore)}.")
    if torch.equal(ids_keep.sort(dim=1).values, ids_shuffle[:, -num_keep:].sort(dim=1).values):
        return _fail(name, "you kept the patches with the *largest* noise; argsort is ascending, keep the first ones.")
    if not torch.equal(ids_keep.sort(dim=1).values, expected_keep.sort(dim=1).values):
        return _fail(name, "ids_keep does not hold the patches with the smallest noise.")
    if torch.equal(ids_restore, ids_shuffle):
        return _fail(name, "ids_restore equals ids_shuffle; it must undo it: ids_restore = argsort(ids_shuffle).")
    if not torch.equal(ids_restore, expected_restore):
        return _fail(name, "ids_restore does not invert the shuffle: gathering with it must give 0, 1, ..., N−1.")
    return _ok(name, f"correct — {num_keep} of 50 patches kept in every sample, and ids_restore undoes the shuffle.")
