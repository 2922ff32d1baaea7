"""Exercises of lab 09 (what to predict): HOG bins, masked frequency modeling's corruption and its loss."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ..frequency import frequency_corrupt, frequency_distance, frequency_filter, frequency_loss
from .core import CheckResult, _as_tensor, _call, _call_for_loss, _fail, _ok, _shape

__all__ = ["check_frequency_corrupt", "check_frequency_loss", "check_hog_bins"]


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


def _centred_filter(height: int, width: int, radius: float, filter: str) -> torch.Tensor:
    """The same filter with DC at the centre ``[H // 2, W // 2]``, as a picture shows it (True = removed)."""
    return torch.fft.fftshift(frequency_filter(height, width, radius, filter))


def _frequency_mistakes(images: torch.Tensor, filter: str, radius: float) -> list[tuple[torch.Tensor, str]]:
    """What the usual mistakes return for ``images [B, C, H, W]``, each with what to say about it."""
    height, width = images.shape[-2:]
    other = "high_pass" if filter == "low_pass" else "low_pass"
    spectrum = torch.fft.fft2(images)
    centred = _centred_filter(height, width, radius, filter)
    shifted = torch.fft.fftshift(spectrum, dim=(-2, -1)).masked_fill(centred, 0)
    mistakes = []
    if height % 8 == 0 and width % 8 == 0:  # each 8 x 8 patch filtered on its own
        patches = frequency_corrupt(images.unfold(2, 8, 8).unfold(3, 8, 8), filter, radius)[0]  # [B, C, h, w, 8, 8]
        mistakes.append((patches.permute(0, 1, 2, 4, 3, 5).reshape(images.shape),
                         "you filtered each patch on its own: MFM filters the spectrum of the whole image "
                         "(torch.fft.fft2 over its last two dimensions), with no patches at all"))
    inclusive = frequency_distance(height, width) <= radius  # the boundary counted as inside
    boundary = ~inclusive if filter == "low_pass" else inclusive
    cycles = torch.sqrt(torch.fft.fftfreq(height)[:, None] ** 2 + torch.fft.fftfreq(width)[None, :] ** 2) < radius
    per_pixel = ~cycles if filter == "low_pass" else cycles
    right = frequency_corrupt(images, filter, radius)[0]
    return [
        (frequency_corrupt(images, other, radius)[0],
         "you kept the wrong band: a low-pass filter keeps the frequencies within radius of DC (the "
         "image gets blurry) and removes the rest; a high-pass filter removes exactly those"),
        *mistakes,
        (torch.fft.ifft2(spectrum.masked_fill(centred, 0)).real,
         "your filter is centred (DC at [H // 2, W // 2]), but torch.fft.fft2 puts DC at [0, 0]: "
         "fftshift the spectrum before applying a centred filter (and ifftshift it back), or measure the "
         "distance with torch.fft.fftfreq, which needs no shift"),
        (torch.fft.ifft2(shifted).real,
         "you shifted the spectrum with fftshift but never shifted it back: apply torch.fft.ifftshift "
         "before torch.fft.ifft2"),
        (torch.fft.ifft2(torch.fft.fftshift(shifted, dim=(-2, -1))).real,
         "you undid fftshift with fftshift: for an odd size they differ by one place, use torch.fft.ifftshift"),
        (torch.fft.ifft2(spectrum.masked_fill(boundary, 0)).real,
         "only the frequencies at exactly distance radius are wrong: a low-pass filter keeps distance < "
         "radius (strictly), and a high-pass filter removes exactly those"),
        (torch.fft.ifft2(spectrum.masked_fill(per_pixel, 0)).real,
         "nothing (or everything) was removed: torch.fft.fftfreq(n) is in cycles per pixel (at most 0.5); "
         "multiply it by n for whole cycles per image, the unit of radius"),
        (right.clamp(0.0, 1.0), "do not clamp to [0, 1]: clamping changes the spectrum and brings back some "
         "of the removed frequencies (MFM's code clamps before normalising; here return the filtered image "
         "as it is)"),
        (right * (height * width) ** 0.5, "the scale is off by √(H·W): use the same norm for fft2 and ifft2"),
        (right / (height * width) ** 0.5, "the scale is off by √(H·W): use the same norm for fft2 and ifft2"),
    ]


def check_frequency_corrupt(fn: Callable[[torch.Tensor, str, float], torch.Tensor]) -> CheckResult:
    """Exercise: ``fn(images [B, C, H, W], filter, radius) -> [B, C, H, W]``, MFM's low- or high-pass corruption.

    The whole image's 2-D spectrum (every channel) is zeroed outside (low-pass) or inside (high-pass) the
    circle of ``radius`` around DC, and transformed back (the real part).
    """
    name = "frequency corruption"
    gen = torch.Generator().manual_seed(9)
    cases = [(torch.rand(2, 3, 16, 24, generator=gen), 3.0), (torch.rand(1, 2, 9, 11, generator=gen), 2.0)]
    for images, radius in cases:
        for filter in ("low_pass", "high_pass"):  # noqa: A001 (the paper's word)
            expected = frequency_corrupt(images, filter, radius)[0]
            result, failure = _call(name, fn, images.clone(), filter, radius)
            if failure is not None:
                return failure
            if isinstance(result, tuple):
                return _fail(name, "return only the corrupted images (one tensor), not a tuple.")
            result, failure = _as_tensor(name, result, "the corrupted images")
            if failure is not None:
                return failure
            if result.is_complex():
                return _fail(name, "the result is complex: the inverse transform of a filtered real image is "
                             "real up to round-off, keep torch.fft.ifft2(...).real.")
            if result.shape != expected.shape:
                return _fail(name, f"return images of the input's shape {_shape(expected)}, got {_shape(result)}.")
            result = result.float()
            if torch.allclose(result, expected, atol=1e-4):
                continue
            if torch.allclose(result, images, atol=1e-4):
                return _fail(name, f"{filter}: the images came back unchanged, nothing was removed. Zero the removed "
                             "frequencies of torch.fft.fft2(images) before transforming back; if you did, check the "
                             "distances: torch.fft.fftfreq(n) is in cycles per pixel (at most 0.5), multiply it by n "
                             "for whole cycles per image, the unit of radius.")
            for variant, message in _frequency_mistakes(images, filter, radius):
                if torch.allclose(result, variant.float(), atol=1e-4):
                    return _fail(name, f"{filter}: {message}.")
            return _fail(name, f"{filter}: not the filtered image. Take F = torch.fft.fft2(images), zero F where the "
                         "filter removes a frequency (low-pass: distance from DC ≥ radius, with distances from "
                         "torch.fft.fftfreq(n) * n), and return torch.fft.ifft2(F).real.")
    return _ok(name, "correct — the whole image's spectrum, a circle of radius around DC kept (low-pass) or "
               "removed (high-pass), every channel alike, no patch and no mask token.")


def check_frequency_loss(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> CheckResult:
    """Exercise: ``fn(pred, target [B, C, H, W], removed [H, W] bool) -> scalar``, MFM's frequency loss.

    The mean, over the removed frequencies (and channels and images), of ``|F(pred) - F(target)|`` with
    ``F = torch.fft.fft2(·, norm="ortho")``.
    """
    name = "frequency loss"
    gen = torch.Generator().manual_seed(10)
    pred, target = torch.rand(2, 3, 12, 16, generator=gen), torch.rand(2, 3, 12, 16, generator=gen)
    removed = frequency_filter(12, 16, 3.0, "low_pass")
    expected = float(frequency_loss(pred, target, removed))
    result, failure = _call_for_loss(name, fn, pred.clone(), target.clone(), removed.clone())
    if failure is not None:
        return failure
    if result.is_complex():
        return _fail(name, "the loss is complex: take the modulus of the difference, (F(pred) − F(target)).abs().")
    value = float(result)
    if math.isclose(value, expected, rel_tol=1e-4):
        return _ok(name, f"correct — {value:.4f}: the distance between the two spectra, on the removed "
                   "frequencies only, amplitude and phase both counted.")
    fp, ft = torch.fft.fft2(pred, norm="ortho"), torch.fft.fft2(target, norm="ortho")
    diff = fp - ft
    weights = removed.expand_as(diff.real).float()

    def over(values, where=weights):
        return float((values * where).sum() / where.sum())

    mistakes = [
        (float(diff.abs().mean()), "you averaged over every frequency: MFM's loss counts only the removed ones "
         "(the encoder was shown the others)"),
        (over(diff.abs(), 1 - weights), "you scored the frequencies the filter kept: True in removed marks the "
         "ones to score"),
        (over(diff.abs() ** 2), "that is the squared distance; MFM's loss is the modulus |F(pred) − F(target)| "
         "itself (its exponent is 1)"),
        (over((fp.abs() - ft.abs()).abs()), "you compared amplitudes only: compare the complex values, the phase "
         "says where things are"),
        (over(diff.real.abs()), "you used only the real part of the difference: the modulus needs both parts, "
         "sqrt(re² + im²), which is what .abs() gives"),
        (over((torch.fft.fft2(pred) - torch.fft.fft2(target)).abs()), "the scale is off by √(H·W): transform "
         "with norm=\"ortho\""),
        (float(((pred - target) ** 2).mean()), "that is a pixel loss: transform both images with torch.fft.fft2 "
         "first and compare the spectra"),
        (float((diff.abs() * weights).sum()), "you summed over the removed frequencies: divide by how many "
         "there are (the mean)"),
    ]
    for wrong, message in mistakes:
        if math.isclose(value, wrong, rel_tol=1e-4):
            return _fail(name, message + ".")
    return _fail(name, f"got {value:.4f}, expected {expected:.4f}: the mean of |fft2(pred) − fft2(target)| "
                 "(norm=\"ortho\") over the removed frequencies.")
