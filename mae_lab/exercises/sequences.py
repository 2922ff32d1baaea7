"""Exercises of the masked-language-modeling lab: masking a sequence."""

from __future__ import annotations

from collections.abc import Callable

import torch

from .core import CheckResult, _as_tensor, _call, _fail, _ok, _shape

__all__ = ["check_sequence_masking"]


def check_sequence_masking(fn: Callable[[int, float, torch.Generator], torch.Tensor]) -> CheckResult:
    """Exercise: ``fn(length, ratio, generator) -> hidden [length] bool`` hiding exactly ``round(length*ratio)`` positions at random."""
    name = "sequence masking"
    seen = []
    for length, ratio in [(20, 0.15), (64, 0.4), (7, 0.5)]:
        gen = torch.Generator().manual_seed(length)
        result, failure = _call(name, fn, length, ratio, gen)
        if failure is not None:
            return failure
        result, failure = _as_tensor(name, result, "the mask")
        if failure is not None:
            return failure
        if result.shape != (length,):
            return _fail(name, f"for a sequence of {length} return a [{length}] bool tensor, got {_shape(result)}.")
        count = int(result.bool().sum())
        expected = int(round(length * ratio))
        if count != expected:
            if count == length - expected:
                return _fail(name, f"you hid {count} of {length}: that is the number to keep. True should mark the hidden positions.")
            return _fail(name, f"length {length}, ratio {ratio}: hide round({length}×{ratio}) = {expected} positions, you hid {count}.")
        seen.append(result.bool())
    gen_a, gen_b = torch.Generator().manual_seed(0), torch.Generator().manual_seed(1)
    a, failure = _call(name, fn, 64, 0.4, gen_a)
    if failure is not None:
        return failure
    b, failure = _call(name, fn, 64, 0.4, gen_b)
    if failure is not None:
        return failure
    if torch.equal(torch.as_tensor(a).bool(), torch.as_tensor(b).bool()):
        return _fail(name, "two different generators gave the same mask: draw the positions with the generator you are given.")
    return _ok(name, "correct — exact counts, random positions, reproducible from the generator.")
