"""Self-checking exercises for the video lab (tubelets, tube masks, the frame-to-frame leak).

Each check runs the student's function on inputs it makes itself, compares with a reference
computed here, and names the likely mistake: a tube that changes over time, a count per
frame that is off, tokens listed space-first, a leak counted across the clip's wrap-around...

>>> from mae_lab.exercises.video import check_tube_mask
>>> check_tube_mask(my_tube_mask)        # doctest: +SKIP
✓ tube mask: correct — ...
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from .core import CheckResult, _as_tensor, _call, _fail, _ok, _shape

__all__ = ["check_leak_rate", "check_tube_mask", "check_tubelet_patchify"]


# --------------------------------------------------------------------------- tubelet patchify
def _reference_tubelets(clips: torch.Tensor, t: int, p: int, order=(0, 2, 4, 6, 3, 5, 7, 1)) -> torch.Tensor:
    b, c, frames, height, width = clips.shape
    x = clips.reshape(b, c, frames // t, t, height // p, p, width // p, p)  # [B, C, T', t, h, p, w, p]
    return x.permute(*order).reshape(b, (frames // t) * (height // p) * (width // p), -1)


def check_tubelet_patchify(fn: Callable[[torch.Tensor, int, int], Any]) -> CheckResult:
    """Exercise: ``fn(clips [B, C, T, H, W], t, p) -> tokens [B, N, t*p*p*C]``, time-major tokens,
    values inside a token ordered (time, row, column, channel) as in VideoMAE."""
    name = "tubelet patchify"
    clips = torch.rand(2, 2, 4, 8, 8, generator=torch.Generator().manual_seed(0))  # C = 2 on purpose
    t, p = 2, 4
    expected = _reference_tubelets(clips, t, p)  # [2, 8, 64]
    result, failure = _call(name, fn, clips.clone(), t, p)
    if failure is not None:
        return failure
    result, failure = _as_tensor(name, result, "the tokens")
    if failure is not None:
        return failure
    if result.shape != expected.shape:
        if result.ndim == 3 and tuple(result.shape[1:]) == (4 * 2 * 2, 4 * 4 * 2):
            return _fail(name, f"got {_shape(result)}: one token per frame and patch. A tubelet spans t = {t} frames, "
                         f"so there are T/t·(H/p)·(W/p) = 8 tokens of t·p·p·C = 64 values.")
        if result.numel() == expected.numel():
            return _fail(name, f"expected shape {_shape(expected)} (B, N, t·p·p·C), got {_shape(result)}: "
                         "the right values, wrong final reshape.")
        return _fail(name, f"expected shape {_shape(expected)} (B, N = T/t·H/p·W/p, t·p·p·C), got {_shape(result)}.")
    result = result.float()
    if torch.allclose(result, expected):
        return _ok(name, f"correct — {_shape(clips)} → {_shape(expected)}: time-major tubelets, VideoMAE's order.")
    variants = {
        "your tokens are listed space-first (all time slots of one position, then the next); list them time-major: "
        "every position of slot 0, then slot 1, ... (the order the video maskers use)": (0, 4, 6, 2, 3, 5, 7, 1),
        "inside each token the channel comes first; VideoMAE orders the values (time, row, column, channel)":
            (0, 2, 4, 6, 1, 3, 5, 7),
        "inside each token time comes last; VideoMAE orders the values (time, row, column, channel)":
            (0, 2, 4, 6, 5, 7, 3, 1),
        "off by a transpose inside each token: rows and columns are swapped": (0, 2, 4, 6, 3, 7, 5, 1),
    }
    for message, order in variants.items():
        if torch.allclose(result, _reference_tubelets(clips, t, p, order)):
            return _fail(name, message + ".")
    if torch.allclose(result.sort(dim=-1).values, expected.sort(dim=-1).values):
        return _fail(name, "each token holds the right pixels in the wrong order; check the permute before the reshape.")
    return _fail(name, "the shape is right but the tokens are not the tubelets; reshape to "
                 "[B, C, T/t, t, H/p, p, W/p, p] first, then permute.")


# --------------------------------------------------------------------------- tube mask
def check_tube_mask(fn: Callable[[int, tuple[int, int, int], float, torch.Generator], Any]) -> CheckResult:
    """Exercise: ``fn(batch_size, (T, h, w), ratio, generator) -> bool [B, T, h, w]``: in every sample
    the same ``round(h * w * ratio)`` positions hidden in every frame, drawn with ``generator``."""
    name = "tube mask"
    batch, grid, ratio = 6, (4, 5, 6), 0.72
    frames, height, width = grid
    per_frame = round(height * width * ratio)  # 21.6 -> 22 of 30
    result, failure = _call(name, fn, batch, grid, ratio, torch.Generator().manual_seed(0))
    if failure is not None:
        return failure
    mask, failure = _as_tensor(name, result, "the mask")
    if failure is not None:
        return failure
    if tuple(mask.shape) != (batch, *grid):
        if tuple(mask.shape) == (batch, height, width):
            return _fail(name, f"got {_shape(mask)}: one spatial mask per sample is the start; repeat it over the "
                         f"{frames} frames to make [B, T, h, w].")
        if tuple(mask.shape) == (batch, frames * height * width):
            return _fail(name, f"got a flat {_shape(mask)}; return it as [B, T, h, w] = [{batch}, {frames}, {height}, "
                         f"{width}] (.reshape).")
        return _fail(name, f"expected shape [B, T, h, w] = [{batch}, {frames}, {height}, {width}], got {_shape(mask)}.")
    if mask.dtype != torch.bool:
        if not bool(((mask == 0) | (mask == 1)).all()):
            return _fail(name, "return a bool mask (True = hidden), not numbers other than 0 and 1.")
        mask = mask.bool()
    counts = mask.sum(dim=(2, 3))  # [B, T]
    if not bool((mask == mask[:, :1]).all()):
        if int(mask.sum()) == batch * round(frames * height * width * ratio) or bool((counts == per_frame).all()):
            return _fail(name, "your tube changes over time: the hidden positions differ from frame to frame. Draw "
                         "ONE spatial mask per sample and repeat it over T — otherwise the next frame shows what "
                         "this one hides.")
        return _fail(name, "your tube changes over time: every frame of a sample must hide the same positions.")
    if bool((counts == height * width - per_frame).all()):
        return _fail(name, f"your frames hide {height * width - per_frame} positions and show {per_frame}: True must "
                     "mark the hidden positions, and the ratio is the share hidden.")
    if not bool((counts == per_frame).all()):
        got = sorted(set(counts[:, 0].tolist()))
        hint = " (int() rounds down; use round())" if got == [int(height * width * ratio)] else ""
        return _fail(name, f"each frame must hide exactly round(h·w·ratio) = {per_frame} of {height * width} "
                     f"positions, in every sample; yours hide {got}{hint}.")
    if all(torch.equal(mask[0], mask[b]) for b in range(1, batch)):
        return _fail(name, "every sample got the same tube mask; draw a new random spatial mask for each sample.")
    again, _ = _call(name, fn, batch, grid, ratio, torch.Generator().manual_seed(0))
    other, _ = _call(name, fn, batch, grid, ratio, torch.Generator().manual_seed(1))
    if again is None or not torch.equal(torch.as_tensor(again).bool(), mask):
        return _fail(name, "the same generator seed gave a different mask: draw with generator=generator "
                     "(e.g. torch.rand(..., generator=generator)), not torch's global random state.")
    if other is not None and torch.equal(torch.as_tensor(other).bool(), mask):
        return _fail(name, "another generator seed gave the same mask: the positions must be random.")
    return _ok(name, f"correct — {per_frame} of {height * width} positions hidden in all {frames} frames, a new "
               "tube pattern per sample, reproducible from the generator.")


# --------------------------------------------------------------------------- leak rate
def _leak(hidden: torch.Tensor, window=(-1, 1), wrap: bool = False, denominator: str = "hidden") -> float:
    """Reference and its usual variants: share of hidden cells visible at a time offset in ``window``."""
    seen = torch.zeros_like(hidden)
    for shift in window:
        if wrap:
            seen |= ~torch.roll(hidden, shifts=-shift, dims=1)
            continue
        shifted = torch.zeros_like(hidden)  # visible at t + shift?  (outside the clip: no)
        if shift > 0:
            shifted[:, :-shift] = ~hidden[:, shift:]
        else:
            shifted[:, -shift:] = ~hidden[:, :shift]
        seen |= shifted
    leaks = (hidden & seen).sum()
    total = hidden.sum() if denominator == "hidden" else torch.tensor(hidden.numel())
    return float(leaks) / float(total)


def check_leak_rate(fn: Callable[[torch.Tensor], Any]) -> CheckResult:
    """Exercise: ``fn(hidden [B, T, h, w] bool) -> float``: the share of hidden patches whose
    position is visible in the previous or the next time slot."""
    name = "leak rate"
    gen = torch.Generator().manual_seed(4)
    hidden = torch.rand(3, 5, 4, 4, generator=gen) < 0.6  # independent per frame: leaky
    hidden[0, :, 0, 0] = True  # a full tube: never leaks
    expected = _leak(hidden)
    result, failure = _call(name, fn, hidden.clone())
    if failure is not None:
        return failure
    try:
        value = float(torch.as_tensor(result).float().mean()) if torch.as_tensor(result).numel() > 1 else float(result)
        single = torch.as_tensor(result).numel() == 1
    except (TypeError, ValueError, RuntimeError):
        return _fail(name, f"return one number (a share between 0 and 1), got {type(result).__name__}.")
    if not single:
        return _fail(name, "return one number for the whole batch: leaking hidden patches / all hidden patches.")
    if math.isclose(value, expected, rel_tol=1e-5, abs_tol=1e-7):
        tube = torch.zeros(2, 4, 3, 3, dtype=torch.bool)
        tube[:, :, 1] = True
        tube_value, failure = _call(name, fn, tube)
        if failure is not None:
            return failure
        if not math.isclose(float(tube_value), 0.0, abs_tol=1e-7):
            return _fail(name, f"a tube mask (the same positions hidden at every slot) must leak 0, you got "
                         f"{float(tube_value):.3f}.")
        return _ok(name, f"correct — {value:.3f} of the hidden patches can be copied from the slot before or after "
                   "(a tube mask gives 0).")
    variants = {
        "you let the first and last slots see each other (torch.roll wraps around); a clip does not loop — "
        "pad the ends as hidden instead": _leak(hidden, wrap=True),
        "you only looked one way in time; a patch also leaks when the previous slot shows it":
            _leak(hidden, window=(1,)),
        "you only looked one way in time; a patch also leaks when the next slot shows it":
            _leak(hidden, window=(-1,)),
        "you looked at every slot of the clip; count only the adjacent ones (t − 1 and t + 1)":
            _leak(hidden, window=(-4, -3, -2, -1, 1, 2, 3, 4)),
        "you divided by all the patches; the rate is a share of the *hidden* ones": _leak(hidden, denominator="all"),
    }
    for message, wrong in variants.items():
        if math.isclose(value, wrong, rel_tol=1e-5):
            return _fail(name, message + ".")
    flipped = _leak(~hidden)
    if math.isclose(value, flipped, rel_tol=1e-5):
        return _fail(name, "you treated True as visible; in `hidden`, True marks the hidden patches.")
    return _fail(name, f"got {value:.4f}, expected {expected:.4f}: hidden patches whose position is visible at "
                 "t − 1 or t + 1, divided by the number of hidden patches.")
