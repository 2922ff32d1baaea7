"""Exercises of lab 11 (masked language modeling): BERT's 80-10-10 corruption."""

from __future__ import annotations

from collections.abc import Callable

import torch

from .core import CheckResult, _as_tensor, _call, _fail, _ok, _shape

__all__ = ["check_bert_corruption"]


def check_bert_corruption(fn: Callable[[torch.Tensor, torch.Tensor, int, int, torch.Generator], torch.Tensor]
                          ) -> CheckResult:
    """Exercise: ``fn(ids [B, L], chosen [B, L] bool, mask_id, vocab_size, generator) -> corrupted ids [B, L]``.

    Of the ``k`` chosen positions of each sequence, exactly ``round(0.8 k)`` show ``mask_id``,
    ``round(0.1 k)`` show a random token from ``0 .. vocab_size - 1``, and the rest keep their token;
    positions not chosen never change; everything random is drawn with ``generator``.
    """
    name = "80-10-10 corruption"
    vocab, mask_id = 20, 20
    data = torch.Generator().manual_seed(12)
    ids = torch.randint(0, vocab, (64, 100), generator=data)
    chosen = torch.zeros(64, 100, dtype=torch.bool)
    for row in range(64):
        chosen[row, torch.randperm(100, generator=data)[:40]] = True  # k = 40: 32 [MASK], 4 random, 4 kept
    k = 40
    num_mask, num_random = round(0.8 * k), round(0.1 * k)
    result, failure = _call(name, fn, ids.clone(), chosen.clone(), mask_id, vocab, torch.Generator().manual_seed(0))
    if failure is not None:
        return failure
    result, failure = _as_tensor(name, result, "the corrupted ids")
    if failure is not None:
        return failure
    if result.shape != ids.shape:
        return _fail(name, f"return one id per position, shape {_shape(ids)}, got {_shape(result)}.")
    if result.is_floating_point() or result.dtype == torch.bool:
        return _fail(name, "return token ids, a long tensor (e.g. built from ids.clone()).")
    result = result.long()
    if not torch.equal(result[~chosen], ids[~chosen]):
        return _fail(name, "you changed positions that were not chosen: only the chosen positions are corrupted.")
    shown_mask = (result == mask_id) & chosen  # [B, L]
    mask_counts = shown_mask.sum(dim=1)  # [B]
    if bool((mask_counts == k).all()):
        return _fail(name, "every chosen token became [MASK] (that is plain masking): BERT shows [MASK] at 80 % of "
                     "them, a random token at 10 % and leaves 10 % as they are.")
    others = chosen & ~shown_mask  # chosen positions not shown as [MASK]
    values = result[others]
    if bool(((values < 0) | (values > mask_id)).any()):
        return _fail(name, f"some random tokens are not in the vocabulary (ids 0 … {vocab - 1}): draw them with "
                     "torch.randint(0, vocab_size, ...).")
    if (int(mask_counts.min()) == num_mask and int(mask_counts.max()) > num_mask
            and int(mask_counts.max()) <= num_mask + num_random):  # a few random draws hit the [MASK] id
        return _fail(name, "some random tokens are the [MASK] id: draw random tokens from the real vocabulary, "
                     "0 … vocab_size − 1 (torch.randint's upper bound is excluded).")
    if not bool((mask_counts == num_mask).all()):
        if abs(float(mask_counts.float().mean()) - num_mask) <= 4:
            return _fail(name, f"about 80 % [MASK] but not exactly: each sequence has k = {k} chosen positions and "
                         f"needs exactly round(0.8·k) = {num_mask}; pick them from a random order of its chosen "
                         f"positions (you have {mask_counts.min().item()} to {mask_counts.max().item()}).")
        return _fail(name, f"each sequence should show exactly round(0.8·k) = {num_mask} [MASK] tokens, yours show "
                     f"{mask_counts.min().item()} to {mask_counts.max().item()}.")
    changed = (result != ids) & others  # random tokens that differ from the truth
    kept = (result == ids) & others
    if int(changed.sum()) == 0:
        return _fail(name, "none of the chosen tokens got a random token: 10 % of them (round(0.1·k) per sequence) "
                     "show a random token from the vocabulary.")
    if bool((kept.sum(dim=1) < k - num_mask - num_random).any()):
        return _fail(name, f"too few chosen tokens were left as they are: round(0.1·k) = {num_random} random tokens "
                     f"per sequence, and the other {k - num_mask - num_random} keep their own token.")
    if bool((changed.sum(dim=1) > num_random).any()):
        return _fail(name, f"too many random tokens: exactly round(0.1·k) = {num_random} per sequence.")
    if int(changed.sum()) < 0.6 * num_random * len(ids):
        return _fail(name, f"too few random tokens: round(0.1·k) = {num_random} per sequence should show a random "
                     "token (one equal to the true token by chance is rare).")
    if len(torch.unique(result[changed])) < 5:
        return _fail(name, "the random tokens are nearly all the same: draw each one uniformly from the vocabulary.")
    again, failure = _call(name, fn, ids.clone(), chosen.clone(), mask_id, vocab, torch.Generator().manual_seed(0))
    if failure is not None:
        return failure
    other, failure = _call(name, fn, ids.clone(), chosen.clone(), mask_id, vocab, torch.Generator().manual_seed(1))
    if failure is not None:
        return failure
    if not torch.equal(torch.as_tensor(again).long(), result):
        return _fail(name, "the same generator seed gave a different result: draw every random choice with the "
                     "generator you are given (torch.randperm / torch.randint(..., generator=generator)).")
    if torch.equal(torch.as_tensor(other).long(), result):
        return _fail(name, "two different generators gave the same result: draw the positions and the random "
                     "tokens with the generator you are given.")
    return _ok(name, f"correct — of the {k} chosen positions of each sequence, {num_mask} show [MASK], {num_random} a "
               f"random character and {k - num_mask - num_random} their own: the corruption rate is 90 % of the "
               "prediction rate.")
