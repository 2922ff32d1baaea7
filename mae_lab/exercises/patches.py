"""Exercises of lab 01 (images as patches): patchify in MAE's order, and counting tokens."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ..patches import patchify as _reference_patchify
from .core import CheckResult, _as_tensor, _call, _fail, _ok, _shape

__all__ = ["check_patchify", "check_token_count"]


def check_patchify(fn: Callable[[torch.Tensor, int], torch.Tensor]) -> CheckResult:
    """Exercise: ``fn(images [B, C, H, W], p) -> patches [B, N, p*p*C]`` in MAE's order."""
    name = "patchify"
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(2, 3, 8, 12, generator=gen)  # rectangular on purpose
    p = 4
    expected = _reference_patchify(images, p)  # [2, 6, 48]
    result, failure = _call(name, fn, images.clone(), p)
    if failure is not None:
        return failure
    result, failure = _as_tensor(name, result, "the patches")
    if failure is not None:
        return failure
    if result.shape != expected.shape:
        hint = ""
        if result.numel() == expected.numel():
            hint = " You have the right number of values; check the final reshape to [B, N, p*p*C]."
        if result.ndim == 3 and result.shape[1] == 8 * 12:
            hint = " It looks like one token per pixel: each token should hold a whole p×p patch."
        return _fail(name, f"expected shape {_shape(expected)} (B, N=(H/p)·(W/p), p·p·C), got {_shape(result)}.{hint}")
    if torch.allclose(result.float(), expected):
        return _ok(name, f"correct — {_shape(images)} → {_shape(expected)}, every value in place.")
    b, c, h, w = images.shape
    gh, gw = h // p, w // p
    grid = images.reshape(b, c, gh, p, gw, p)
    variants = {
        "the values inside each patch are ordered (channel, row, column); MAE orders them (row, column, channel) "
        "— move the channel axis last before flattening": grid.permute(0, 2, 4, 1, 3, 5).reshape(b, gh * gw, -1),
        "off by a transpose inside each patch: rows and columns of a patch are swapped": grid.permute(
            0, 2, 4, 5, 3, 1
        ).reshape(b, gh * gw, -1),
        "the patches are listed column by column; list them row by row (left to right, then top to bottom)": grid.permute(
            0, 4, 2, 3, 5, 1
        ).reshape(b, gh * gw, -1),
    }
    for message, variant in variants.items():
        if torch.allclose(result.float(), variant):
            return _fail(name, message + ".")
    if torch.allclose(result.float().sort(dim=-1).values, expected.sort(dim=-1).values):
        return _fail(name, "each token holds the right pixels but in the wrong order; check the permute before the reshape.")
    return _fail(name, "the shape is right but the values are not the patches; reshape to [B, C, h, p, w, p] first.")


def check_token_count(fn: Callable[[int, int, int, int], Any]) -> CheckResult:
    """Exercise: ``fn(height, width, patch_size, channels) -> (num_tokens, values_per_token)``."""
    name = "token count"
    cases = [(224, 224, 16, 3), (32, 32, 4, 3), (28, 28, 7, 1), (64, 96, 8, 3)]
    for height, width, p, channels in cases:
        expected = ((height // p) * (width // p), p * p * channels)
        result, failure = _call(name, fn, height, width, p, channels)
        if failure is not None:
            return failure
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            return _fail(name, "return two numbers: (num_tokens, values_per_token).")
        try:
            got = (int(result[0]), int(result[1]))
        except (TypeError, ValueError):
            return _fail(name, f"return two whole numbers, got {result!r}.")
        if got == expected:
            continue
        case = f"for a {height}×{width} image with {channels} channel(s) and {p}-px patches"
        if got == expected[::-1]:
            return _fail(name, f"{case} you returned {got}: the two numbers are swapped — (num_tokens, values_per_token).")
        if got[0] == height * width // p:
            return _fail(name, f"{case} you got {got[0]} tokens: a patch covers p×p pixels, so divide H·W by p² "
                         f"(= {expected[0]}).")
        if got[0] == expected[0] + 1:
            return _fail(name, f"{case} count only the patch tokens ({expected[0]}); the class token is added later.")
        if got[0] != expected[0]:
            return _fail(name, f"{case} expected (H/p)·(W/p) = {expected[0]} tokens, got {got[0]}.")
        if got[1] == p * p:
            return _fail(name, f"{case} each token holds every channel of its patch: p·p·C = {expected[1]}, not {got[1]}.")
        if got[1] == p * channels:
            return _fail(name, f"{case} a patch is p×p pixels, so a token holds p·p·C = {expected[1]} numbers.")
        return _fail(name, f"{case} expected {expected[1]} numbers per token (p·p·C), got {got[1]}.")
    return _ok(name, "correct — a 224×224 RGB image with 16-px patches is 196 tokens of 768 numbers (ViT-B/16).")
