"""Reference solutions for notebook 09 (targets: what a masked model predicts, and masked frequency modeling)."""

import math

import torch


def my_frequency_corrupt(images: torch.Tensor, filter: str, radius: float) -> torch.Tensor:  # noqa: A002
    """MFM's low- or high-pass corruption of whole images ``[B, C, H, W]`` (same shape, real)."""
    height, width = images.shape[-2:]
    u = torch.fft.fftfreq(height) * height  # [H]: row frequencies in cycles per image, fft2's order
    v = torch.fft.fftfreq(width) * width  # [W]
    distance = torch.sqrt(u[:, None] ** 2 + v[None, :] ** 2)  # [H, W]: distance from DC, no fftshift needed
    inside = distance < radius  # what a low-pass filter keeps
    removed = ~inside if filter == "low_pass" else inside
    spectrum = torch.fft.fft2(images)  # [B, C, H, W] complex, over the whole image
    return torch.fft.ifft2(spectrum.masked_fill(removed, 0)).real


def my_frequency_loss(pred: torch.Tensor, target: torch.Tensor, removed: torch.Tensor) -> torch.Tensor:
    """Mean of ``|F(pred) - F(target)|`` over the removed frequencies (``norm="ortho"``)."""
    distance = (torch.fft.fft2(pred, norm="ortho") - torch.fft.fft2(target, norm="ortho")).abs()  # [B, C, H, W]
    return distance[..., removed].mean()  # bool [H, W] indexes the last two dimensions


def my_hog_bins(dx: torch.Tensor, dy: torch.Tensor, num_bins: int) -> torch.Tensor:
    """HOG orientation bin of each gradient: ``dx, dy [M] -> long [M]`` in ``0 .. num_bins - 1``."""
    angle = torch.remainder(torch.atan2(dy, dx), math.pi)  # [M], unsigned orientation in [0, pi)
    bins = torch.floor(angle / math.pi * num_bins).long()  # bin k covers [k pi / bins, (k + 1) pi / bins)
    return bins.clamp(0, num_bins - 1)  # float round-off can land exactly on pi


# Add 0.2 to every pixel: which target stays the same, "pixels", "fft_amplitude" or "hog"?
# HOG is built from differences of neighbouring pixels, and a constant cancels in a difference.
BRIGHTNESS_SHIFT_TARGET = "hog"
