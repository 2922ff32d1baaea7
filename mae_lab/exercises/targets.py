"""Exercises of the targets lab: HOG bins, a per-patch frequency target, a cosine schedule."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from .core import CheckResult, _as_tensor, _call, _fail, _ok, _shape

__all__ = ["check_cosine_schedule", "check_fft_target", "check_hog_bins"]


def check_hog_bins(fn: Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]) -> CheckResult:
    """Exercise: ``fn(dx [M], dy [M], num_bins) -> long [M]``, the HOG orientation bin of each gradient.

    Unsigned orientation ``atan2(dy, dx)`` folded into ``[0, pi)``, split into ``num_bins`` equal bins.
    """
    name = "HOG orientation bins"
    gen = torch.Generator().manual_seed(7)
    dx, dy = torch.randn(200, generator=gen), torch.randn(200, generator=gen)
    num_bins = 9

    def binned(angle, span=math.pi, rounding=torch.floor):
        return rounding(angle / span * num_bins).long().clamp(0, num_bins - 1)

    expected = binned(torch.remainder(torch.atan2(dy, dx), math.pi))  # [M]
    result, failure = _call(name, fn, dx.clone(), dy.clone(), num_bins)
    if failure is not None:
        return failure
    result, failure = _as_tensor(name, result, "the bins")
    if failure is not None:
        return failure
    if result.shape != expected.shape:
        return _fail(name, f"return one bin per gradient: shape {_shape(expected)}, got {_shape(result)}.")
    if result.is_floating_point():
        if not torch.equal(result, result.round()):
            return _fail(name, "bins are whole numbers 0 … num_bins − 1; take the floor and convert with .long().")
        result = result.long()
    if torch.equal(result, expected):
        return _ok(name, "correct — unsigned orientations in [0°, 180°), 9 bins of 20° each, as in MaskFeat's HOG.")
    folded = torch.remainder(torch.atan2(dy, dx), math.pi)  # [M] in [0, pi)
    rounded = (folded / math.pi * num_bins).round().long()
    if torch.equal(result, rounded) or torch.equal(result, rounded.clamp(0, num_bins - 1)):
        return _fail(name, "use the floor, not rounding: bin k holds the angles from k·π/bins up to (k+1)·π/bins.")
    if torch.equal(result, binned(torch.remainder(torch.atan2(dy, dx), 2 * math.pi), span=2 * math.pi)):
        return _fail(name, "you split the full circle; HOG's orientations are unsigned (an edge from dark to light "
                     "is the same edge as light to dark): fold the angle into [0, π).")
    if torch.equal(result, binned(torch.remainder(torch.atan2(dx, dy), math.pi))):
        return _fail(name, "off by a transpose: torch.atan2 takes (dy, dx) — the y component first.")
    if int(result.min()) < 0:
        return _fail(name, "some bins are negative: atan2 returns angles in (−π, π]; fold them into [0, π) with "
                     "torch.remainder(angle, math.pi).")
    if int(result.max()) >= num_bins:
        return _fail(name, f"some bins are {int(result.max())} or more; there are {num_bins} bins, numbered 0 … "
                     f"{num_bins - 1}.")
    wrong = int((result != expected).sum())
    return _fail(name, f"{wrong} of {len(expected)} gradients are in the wrong bin: floor(angle / π · num_bins), "
                 "with angle = atan2(dy, dx) folded into [0, π).")


def check_fft_target(fn: Callable[[torch.Tensor], torch.Tensor]) -> CheckResult:
    """Exercise: ``fn(patches [B, N, p, p]) -> [B, N, p, p]``, ``log1p(|FFT2|)`` of each patch with ``norm="ortho"``."""
    name = "frequency target"
    gen = torch.Generator().manual_seed(6)
    patches = torch.rand(2, 5, 4, 4, generator=gen)
    spectrum = torch.fft.fft2(patches, dim=(-2, -1), norm="ortho")  # [B, N, p, p] complex
    expected = torch.log1p(spectrum.abs())
    result, failure = _call(name, fn, patches.clone())
    if failure is not None:
        return failure
    result, failure = _as_tensor(name, result, "the frequency target")
    if failure is not None:
        return failure
    if result.is_complex():
        return _fail(name, "the result is complex; keep the amplitude only, spectrum.abs(), then torch.log1p.")
    if result.shape != expected.shape:
        return _fail(name, f"expected shape {_shape(expected)} (one p×p spectrum per patch), got {_shape(result)}.")
    result = result.float()
    if torch.allclose(result, expected, atol=1e-5):
        return _ok(name, "correct — log1p(|FFT|) of every patch; entry [0, 0] is the patch mean × p.")

    def ortho(x, dim):
        return torch.fft.fftn(x, dim=dim, norm="ortho")

    wrong = [
        (spectrum.abs(), "you return the raw amplitude; compress it with torch.log1p, or the large low "
         "frequencies drown out the rest of the loss"),
        (torch.log1p(torch.fft.fft2(patches, dim=(-2, -1)).abs()), "the scale is off by a factor p: pass "
         "norm=\"ortho\" so the amplitudes do not grow with the patch size"),
        (torch.log1p(spectrum.real.abs()), "you used the real part; the amplitude is the absolute value of the "
         "complex number, spectrum.abs()"),
        (torch.log1p(spectrum.abs() ** 2), "that is the power |F|²; the target is the amplitude |F|"),
        (torch.log1p(ortho(patches, dim=(-1,)).abs()), "a 1-D transform along rows only; use a 2-D transform "
         "over both axes of each patch, dim=(-2, -1)"),
        (torch.log1p(ortho(patches, dim=(1, 2)).abs()), "you transformed across patches; transform within "
         "each patch, dim=(-2, -1)"),
        (torch.fft.fftshift(expected, dim=(-2, -1)), "right values, shifted: fftshift is for pictures only; "
         "keep the frequency (0, 0) at index [0, 0]"),
    ]
    for variant, message in wrong:
        if torch.allclose(result, variant, atol=1e-5):
            return _fail(name, message + ".")
    return _fail(name, "not the target: torch.log1p(torch.fft.fft2(patches, dim=(-2, -1), norm=\"ortho\").abs()).")


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
