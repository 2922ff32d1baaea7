"""Self-checking exercises for lab 13 (teachers and tokens).

Each check runs the student's function on inputs it makes itself, compares the result with the
reference in :mod:`mae_lab.feature_targets` / :mod:`mae_lab.tokens`, and names the likely mistake.

>>> from mae_lab.exercises.tokens import check_nearest_code
>>> check_nearest_code(my_nearest_code)        # doctest: +SKIP
✓ nearest code: correct — ...
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from ..feature_targets import feature_loss as _reference_feature_loss
from ..tokens import nearest_code as _reference_nearest_code
from ..tokens import reveal_schedule as _reference_reveal_schedule
from ..tokens import unmask_step as _reference_unmask_step
from .core import CheckResult, _as_tensor, _call, _call_for_loss, _fail, _ok, _shape

__all__ = ["check_feature_loss", "check_nearest_code", "check_reveal_schedule", "check_unmask_step"]


# --------------------------------------------------------------------------- teacher targets
def check_feature_loss(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], Any]) -> CheckResult:
    """Exercise: ``fn(pred [B, N, D], target [B, N, D], hidden [B, N] bool) -> scalar``.

    Mean squared error on the hidden patches, with the teacher's target behind a stop-gradient.
    """
    name = "feature loss"
    gen = torch.Generator().manual_seed(13)
    pred = torch.randn(2, 16, 8, generator=gen)
    teacher_out = torch.randn(2, 16, 8, generator=gen)
    hidden = torch.zeros(2, 16, dtype=torch.bool)
    hidden[0, :12], hidden[1, 4:] = True, True  # 12 of 16 hidden in each image
    expected = float(_reference_feature_loss(pred, teacher_out, hidden))
    pred_in = pred.clone().requires_grad_(True)
    target_in = teacher_out.clone().requires_grad_(True)  # as if it came from an EMA teacher's graph
    result, failure = _call_for_loss(name, fn, pred_in, target_in, hidden.clone())
    if failure is not None:
        return failure
    value = float(result.detach())
    per_patch = ((pred - teacher_out) ** 2).mean(-1)  # [B, N]
    if not math.isclose(value, expected, rel_tol=1e-4):
        wrong = {
            "you averaged over every patch; only the hidden patches are scored (the visible ones the student saw)":
                per_patch.mean(),
            "you averaged over the visible patches; True in `hidden` marks the patches to score":
                per_patch[~hidden].mean(),
            "you summed the squared errors over the feature dimension; take the mean over each patch's D values":
                ((pred - teacher_out) ** 2).sum(-1)[hidden].mean(),
            "you summed over the hidden patches; divide by how many there are": per_patch[hidden].sum(),
            "you compared features without squaring the difference; use the mean *squared* error":
                (pred - teacher_out).abs().mean(-1)[hidden].mean(),
        }
        for message, variant in wrong.items():
            if math.isclose(value, float(variant), rel_tol=1e-4):
                return _fail(name, message + ".")
        return _fail(name, f"got {value:.4f}, expected {expected:.4f}: the mean over hidden patches of the mean "
                     "squared difference per patch.")
    if not result.requires_grad:
        return _fail(name, "the loss carries no gradient: the student's prediction must stay in the graph "
                     "(do not detach `pred`, and do not wrap it all in torch.no_grad()).")
    result.reshape(()).backward()
    if target_in.grad is not None and float(target_in.grad.abs().sum()) > 0:
        return _fail(name, "the value is right, but gradient flows into the teacher's target: detach it "
                     "(target.detach()), or the loss would pull the teacher towards the student.")
    if pred_in.grad is None or float(pred_in.grad.abs().sum()) == 0:
        return _fail(name, "no gradient reached the prediction; compute the loss from `pred` itself.")
    if float(pred_in.grad[~hidden].abs().sum()) > 0:
        return _fail(name, "visible patches receive gradient; score the hidden patches only.")
    return _ok(name, f"correct — {value:.4f} on the hidden patches, and the teacher's target gets no gradient.")


# --------------------------------------------------------------------------- the tokenizer
def check_nearest_code(fn: Callable[[torch.Tensor, torch.Tensor], Any]) -> CheckResult:
    """Exercise: ``fn(vectors [M, d], codebook [K, d]) -> codes [M]``, the index of the closest code."""
    name = "nearest code"
    gen = torch.Generator().manual_seed(7)
    codebook = torch.rand(6, 4, generator=gen)
    codebook[0] *= 4.0  # one code with a large norm: a dot product would prefer it, a distance does not
    codebook[5] = -2.0  # one code far from every vector: the farthest, and the worst dot product
    vectors = torch.rand(10, 4, generator=gen)
    expected = _reference_nearest_code(vectors, codebook)  # [10]
    result, failure = _call(name, fn, vectors.clone(), codebook.clone())
    if failure is not None:
        return failure
    result, failure = _as_tensor(name, result, "the codes")
    if failure is not None:
        return failure
    distances = torch.cdist(vectors, codebook)  # [10, 6]
    if result.shape != expected.shape:
        if tuple(result.shape) == (codebook.shape[0],):
            return _fail(name, f"you returned {codebook.shape[0]} values, one per code: the min/argmin ran over the "
                         "vectors (dim 0) instead of over the codes (dim 1 of the [M, K] distances).")
        if tuple(result.shape) == tuple(distances.shape):
            return _fail(name, "you returned the whole [M, K] table of distances; take the argmin over the codes.")
        return _fail(name, f"expected one code per vector, shape {_shape(expected)}, got {_shape(result)}.")
    if result.is_floating_point():
        if not torch.equal(result, result.round()):
            return _fail(name, "return code *indices* (integers from argmin), not distances.")
        result = result.long()
    if torch.equal(result, expected):
        return _ok(name, f"correct — each of the {len(vectors)} vectors gets its closest code (argmin of the distance).")
    if torch.equal(result, distances.argmax(dim=1)):
        return _fail(name, "you picked the *farthest* code: with distances, the smallest one wins (argmin, not argmax).")
    if torch.equal(result, (vectors @ codebook.T).argmax(dim=1)):
        return _fail(name, "you picked the largest dot product; codes with a large norm win that contest. "
                     "Use the distance (torch.cdist, or |v|² − 2 v·c + |c|²) and take its argmin.")
    if torch.equal(result, (vectors @ codebook.T).argmin(dim=1)):
        return _fail(name, "you took the argmin of the dot product, which is not a distance; use torch.cdist.")
    return _fail(name, "some vectors got a code that is not their closest; compare each vector with every code.")


# --------------------------------------------------------------------------- MaskGIT
def check_reveal_schedule(fn: Callable[[int, int], Any]) -> CheckResult:
    """Exercise: ``fn(num_tokens, steps) -> list`` of how many tokens stay hidden after each step."""
    name = "reveal schedule"
    for num_tokens, steps in [(16, 4), (16, 8), (64, 10), (16, 1), (16, 16)]:
        expected = _reference_reveal_schedule(num_tokens, steps)
        result, failure = _call(name, fn, num_tokens, steps)
        if failure is not None:
            return failure
        try:
            got = [int(v) for v in (result.tolist() if isinstance(result, torch.Tensor) else result)]
        except (TypeError, ValueError):
            return _fail(name, f"return a list of whole numbers, one per step; got {result!r}.")
        if got == expected:
            continue
        case = f"for N={num_tokens}, steps={steps}"
        if len(got) != steps:
            return _fail(name, f"{case} return one count per step ({steps} numbers), got {len(got)}.")
        if got == [num_tokens - e for e in expected]:
            return _fail(name, f"{case} you returned how many tokens are *revealed*; return how many stay hidden.")
        if got[-1] != 0:
            return _fail(name, f"{case} the last count is {got[-1]}: after the last step every token must be revealed (0).")
        if any(b >= a for a, b in zip([num_tokens] + got, got)):
            return _fail(name, f"{case} you returned {got}: every step must reveal at least one token, so each count "
                         "must be smaller than the one before (start from N).")
        shifted = [math.floor(num_tokens * math.cos(math.pi / 2 * t / steps)) for t in range(steps)]
        if got[:-1] == [min(s, num_tokens - 1 - t) for t, s in enumerate(shifted)][:-1]:
            return _fail(name, f"{case} off by one step: after step t (0-based) use (t + 1) / steps in the cosine.")
        linear = [math.floor(num_tokens * (1 - (t + 1) / steps)) for t in range(steps)]
        if got == linear:
            return _fail(name, f"{case} you returned {got}: a straight line. MaskGIT's schedule is a cosine, "
                         "N·cos(π/2·(t+1)/steps): few tokens revealed at first, many at the end.")
        return _fail(name, f"{case} expected {expected}, got {got}.")
    return _ok(name, "correct — e.g. 16 tokens in 4 steps: 14, 11, 6, 0 stay hidden; the model commits slowly at first.")


def _unmask_inputs():
    """A batch where revealed tokens have *low* confidence, so re-hiding them is easy to catch."""
    gen = torch.Generator().manual_seed(11)
    batch, length, num_codes = 3, 12, 5
    logits = torch.randn(batch, length, num_codes, generator=gen) * 2.0
    hidden = torch.zeros(batch, length, dtype=torch.bool)
    for b in range(batch):
        hidden[b, torch.randperm(length, generator=gen)[:8]] = True  # 8 hidden, 4 revealed
    logits[~hidden] = 0.0  # revealed positions: a flat, unsure distribution (probability 1/K everywhere)
    codes = torch.randint(0, num_codes, (batch, length), generator=gen)
    codes[hidden] = num_codes  # the mask id, where hidden
    return torch.softmax(logits, dim=-1), codes, hidden, num_codes


def check_unmask_step(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor, int], Any]) -> CheckResult:
    """Exercise: ``fn(probs [B, N, K], codes [B, N], hidden [B, N] bool, num_hidden_after) -> (codes, hidden)``.

    Greedy MaskGIT step: guess the most probable code everywhere, reveal the hidden positions whose
    guess is most confident, keep ``num_hidden_after`` of them hidden; revealed codes never change.
    """
    name = "unmasking step"
    probs, codes, hidden, mask_id = _unmask_inputs()
    num_after = 5
    _, exp_hidden = _reference_unmask_step(probs.log(), codes, hidden, num_after, mask_id)
    result, failure = _call(name, fn, probs.clone(), codes.clone(), hidden.clone(), num_after)
    if failure is not None:
        return failure
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        return _fail(name, "return two tensors: (codes, hidden).")
    (new_codes, failure), (new_hidden, failure2) = (_as_tensor(name, r, w) for r, w in zip(result, ("codes", "hidden")))
    if failure is not None or failure2 is not None:
        return failure or failure2
    if new_codes.shape != codes.shape or new_hidden.shape != hidden.shape:
        return _fail(name, f"return codes and hidden of shape {_shape(codes)}, got {_shape(new_codes)} and {_shape(new_hidden)}.")
    new_hidden = new_hidden.bool()
    counts = new_hidden.sum(dim=1)
    if bool((new_hidden & ~hidden).any()):
        return _fail(name, "a token that was already revealed is hidden again. Revealed tokens are final: give them "
                     "infinite confidence (torch.where(hidden, confidence, inf)) before choosing what stays hidden.")
    if not bool((counts == num_after).all()):
        if bool((counts == hidden.sum(1) - num_after).all()):
            return _fail(name, f"you kept {int(counts[0])} hidden: that is how many should be *revealed*. "
                         f"num_hidden_after = {num_after} tokens stay hidden.")
        return _fail(name, f"expected {num_after} hidden tokens in every row, got {counts.tolist()}.")
    revealed_before = ~hidden
    if not torch.equal(new_codes[revealed_before], codes[revealed_before]):
        return _fail(name, "a code that was already revealed changed; keep the old codes where hidden is False.")
    guess = probs.argmax(dim=-1)
    newly = hidden & ~new_hidden
    if not torch.equal(new_codes[newly], guess[newly]):
        return _fail(name, "a newly revealed code is not the model's most probable code at that position (argmax over K).")
    if torch.equal(new_hidden, exp_hidden):
        return _ok(name, f"correct — the {int(newly[0].sum())} most confident guesses are revealed in each row, the "
                   f"{num_after} least confident stay hidden, and revealed tokens never come back.")
    confidence = probs.max(dim=-1).values.masked_fill(~hidden, -torch.inf)  # hidden positions only
    most = torch.zeros_like(hidden).scatter_(1, confidence.argsort(dim=1, descending=True)[:, :num_after], True)
    if torch.equal(new_hidden, most):
        return _fail(name, "you kept the *most* confident guesses hidden and revealed the least confident ones; "
                     "it is the other way round: commit to what the model is surest of.")
    return _fail(name, "the tokens that stay hidden should be the hidden ones with the lowest confidence "
                 "(the probability of their guessed code).")
