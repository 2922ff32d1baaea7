"""Reference solutions for notebook 09 (beyond pixels: targets, designs, guided masks, schedules)."""

import math

import torch


def my_hog_bins(dx: torch.Tensor, dy: torch.Tensor, num_bins: int) -> torch.Tensor:
    """HOG orientation bin of each gradient: ``dx, dy [M] -> long [M]`` in ``0 .. num_bins - 1``."""
    angle = torch.remainder(torch.atan2(dy, dx), math.pi)  # [M], unsigned orientation in [0, pi)
    bins = torch.floor(angle / math.pi * num_bins).long()  # bin k covers [k pi / bins, (k + 1) pi / bins)
    return bins.clamp(0, num_bins - 1)  # float round-off can land exactly on pi


def my_fft_target(patches: torch.Tensor) -> torch.Tensor:
    """``log1p(|FFT2|)`` of each patch: ``[B, N, p, p] -> [B, N, p, p]``."""
    spectrum = torch.fft.fft2(patches, dim=(-2, -1), norm="ortho")  # complex, over rows and columns of a patch
    return torch.log1p(spectrum.abs())


# Add 0.2 to every pixel: which target stays the same, "pixels", "fft" or "hog"?
# HOG is built from differences of neighbouring pixels, and a constant cancels in a difference.
BRIGHTNESS_SHIFT_TARGET = "hog"


def my_cosine(progress: float, start: float, end: float) -> float:
    """Half a cosine wave from ``start`` (progress 0) to ``end`` (progress 1)."""
    weight = (1.0 - math.cos(math.pi * progress)) / 2.0  # 0 -> 1, slow at both ends
    return start + (end - start) * weight
