"""Exercises of lab 10 (designs): SimMIM's mask tokens before the encoder, a cosine ratio schedule."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from .core import CheckResult, _as_tensor, _call, _fail, _ok, _shape

__all__ = ["check_cosine_schedule", "check_simmim_tokens"]


def check_simmim_tokens(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
                        ) -> CheckResult:
    """Exercise: ``fn(tokens [B, N, D], hidden [B, N] bool, mask_token [1, 1, D], pos_embed [1, N, D]) -> [B, N, D]``.

    SimMIM's encoder input: every hidden patch embedding replaced by the learned mask token, then the
    position embeddings added to all ``N`` tokens (mask tokens included).
    """
    name = "SimMIM's encoder input"
    gen = torch.Generator().manual_seed(11)
    tokens = torch.randn(2, 9, 8, generator=gen)
    hidden = torch.zeros(2, 9, dtype=torch.bool)
    hidden[0, [0, 2, 3, 7, 8]] = True
    hidden[1, [1, 4, 5, 6, 8]] = True  # 5 of 9 hidden in each image
    mask_token, pos_embed = torch.randn(1, 1, 8, generator=gen), torch.randn(1, 9, 8, generator=gen)
    where = hidden.unsqueeze(-1)  # [B, N, 1]
    expected = torch.where(where, mask_token, tokens) + pos_embed  # [B, N, D]
    result, failure = _call(name, fn, tokens.clone(), hidden.clone(), mask_token.clone(), pos_embed.clone())
    if failure is not None:
        return failure
    result, failure = _as_tensor(name, result, "the encoder's input")
    if failure is not None:
        return failure
    if result.shape == (2, 4, 8):
        return _fail(name, "you dropped the hidden tokens, as MAE's encoder does: SimMIM keeps all N tokens, "
                     "the hidden ones replaced by the mask token.")
    if result.shape != expected.shape:
        return _fail(name, f"expected shape {_shape(expected)} (every patch, hidden or not), got {_shape(result)}.")
    result = result.float()
    if torch.allclose(result, expected, atol=1e-5):
        return _ok(name, "correct — all N tokens go into the encoder, the hidden ones as the learned mask token, "
                   "every one with its position.")
    mistakes = [
        (torch.where(where, mask_token, tokens + pos_embed), "the mask tokens have no position: replace first, "
         "then add pos_embed to every token — the encoder must know where each hidden patch is"),
        (torch.where(~where, mask_token, tokens) + pos_embed, "you replaced the visible tokens: True in hidden "
         "marks the ones to replace"),
        (tokens + where * mask_token + pos_embed, "you added the mask token to the hidden patch embeddings: "
         "replace them, or the encoder still sees the hidden patches"),
        (torch.where(where, mask_token, tokens), "add the position embeddings pos_embed to every token"),
        (torch.where(where, torch.zeros_like(tokens), tokens) + pos_embed, "you zeroed the hidden tokens: use "
         "the learned mask_token, which training can shape"),
    ]
    for variant, message in mistakes:
        if torch.allclose(result, variant, atol=1e-5):
            return _fail(name, message + ".")
    return _fail(name, "not SimMIM's input: torch.where(hidden.unsqueeze(-1), mask_token, tokens) + pos_embed.")


def check_cosine_schedule(fn: Callable[[float, float, float], float]) -> CheckResult:
    """Exercise: ``fn(progress, start, end) -> value``, a half-cosine from ``start`` (progress 0) to ``end`` (1)."""
    name = "cosine schedule"
    cases = [(p / 8, 0.4, 0.15) for p in range(9)] + [(p / 4, 0.0, 0.5) for p in range(5)]
    answers = []
    for progress, start, end in cases:
        result, failure = _call(name, fn, progress, start, end)
        if failure is not None:
            return failure
        try:
            answers.append(float(result))
        except (TypeError, ValueError):
            return _fail(name, f"return one number, got {type(result).__name__}.")

    def curve(weight):
        return [start + (end - start) * weight(p) for p, start, end in cases]

    def same(values):
        return all(math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9) for a, b in zip(answers, values))

    if same(curve(lambda p: (1 - math.cos(math.pi * p)) / 2)):
        return _ok(name, "correct — slow at the start, fastest halfway, slow again near the end.")
    if same(curve(lambda p: p)):
        return _fail(name, "that is a straight line; a cosine schedule follows (1 − cos(π·progress)) / 2.")
    if same(curve(lambda p: (1 + math.cos(math.pi * p)) / 2)):
        return _fail(name, "it runs backwards: at progress 0 the value must be start, at 1 it must be end.")
    if same(curve(lambda p: 1 - math.cos(math.pi * p))):
        return _fail(name, "overshoots: at progress 1 you get start + 2·(end − start); divide 1 − cos(π·progress) by 2.")
    if same(curve(lambda p: (1 - math.cos(2 * math.pi * p)) / 2)):
        return _fail(name, "a whole cosine period comes back to start; use half a period, cos(π·progress).")
    first, last = answers[0], answers[8]
    if not math.isclose(first, 0.4, abs_tol=1e-6) or not math.isclose(last, 0.15, abs_tol=1e-6):
        return _fail(name, f"with start=0.4 and end=0.15 expected 0.4 at progress 0 and 0.15 at 1, "
                     f"got {first:g} and {last:g}.")
    return _fail(name, "the ends are right but the shape is not half a cosine: start + (end − start) · "
                 "(1 − cos(π·progress)) / 2.")
