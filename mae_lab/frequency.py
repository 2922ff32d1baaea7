"""Masked frequency modeling: hide a band of the whole image's spectrum, predict what is missing.

Xie et al., 2023 (ICLR), "Masked Frequency Modeling for Self-Supervised Visual Pre-Training" (MFM).
Instead of hiding patches, MFM corrupts the **whole image** in the frequency domain (its Figure 2):

1. take the 2-D Fourier transform of the image (every channel);
2. remove a band of frequencies with a circular filter around the zero frequency (DC): a
   **low-pass** filter keeps the frequencies within ``radius`` of DC and removes the rest (the image
   becomes blurry), a **high-pass** filter removes those within ``radius`` and keeps the rest (only
   edges and fine texture remain);
3. transform back: the encoder sees this filtered image, **all** of its tokens, and no mask token;
4. a one-layer head predicts the image, and the loss compares the *spectra* of prediction and
   original on the removed frequencies only (:func:`frequency_loss`).

The official code (github.com/Jiahao000/MFM, ``data/data_mfm.py`` and ``models/mfm.py``) draws a
low-pass filter for half of the images and a high-pass one for the other half, with radius 16 for
224-pixel images; its ViT-B/16 reaches 83.1 % top-1 on ImageNet after 300 epochs of pretraining
and 100 of fine-tuning (the repository's model table).

This is a different idea from the ``fft_amplitude`` target of :mod:`mae_lab.targets`, which keeps
MAE's hidden *patches* and only changes what is predicted for each of them.

Frequencies are indexed as ``torch.fft.fft2`` returns them: DC at ``[0, 0]``, and position
``(i, j)`` holds the frequency ``(u, v) = (fftfreq(H)[i] * H, fftfreq(W)[j] * W)`` in whole cycles
per image. Its distance from DC is ``sqrt(u**2 + v**2)``. For pictures, ``torch.fft.fftshift``
moves DC to the centre (``[H // 2, W // 2]``); the masks here are never shifted.

>>> import torch
>>> from mae_lab.frequency import frequency_corrupt
>>> images = torch.rand(2, 3, 32, 32)
>>> blurry, removed = frequency_corrupt(images, "low_pass", radius=4)
>>> blurry.shape, removed.shape, bool(removed[0, 0])          # DC is kept by a low-pass filter
(torch.Size([2, 3, 32, 32]), torch.Size([32, 32]), False)
>>> bool(torch.fft.fft2(blurry)[..., removed].abs().max() < 1e-4)
True
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .utils import suggest

__all__ = [
    "FILTERS",
    "LOW_PASS_PROBABILITY",
    "MFM_RADIUS_FRACTION",
    "FrequencyMask",
    "apply_frequency_mask",
    "default_radius",
    "draw_frequency_mask",
    "frequency_corrupt",
    "frequency_distance",
    "frequency_filter",
    "frequency_loss",
]

FILTERS = ("low_pass", "high_pass")
MFM_RADIUS_FRACTION = 16 / 224  # MFM's radius (16) as a fraction of its image size (224)
LOW_PASS_PROBABILITY = 0.5  # MFM draws a low-pass filter for half of the images (its SAMPLE_RATIO)


def default_radius(height: int, width: int | None = None) -> float:
    """MFM's radius scaled to an image of this size: 16 for 224 px, never below 2.

    Below 2 a low-pass filter would keep little more than the mean colour (radius 1 keeps DC alone).
    """
    side = min(height, width if width is not None else height)
    return max(MFM_RADIUS_FRACTION * side, 2.0)


def frequency_distance(height: int, width: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Distance of every frequency from DC, ``[H, W]``, in ``torch.fft.fft2`` order (DC at ``[0, 0]``)."""
    u = torch.fft.fftfreq(height, device=device) * height  # [H]: 0, 1, ..., -2, -1 (whole cycles per image)
    v = torch.fft.fftfreq(width, device=device) * width  # [W]
    return torch.sqrt(u[:, None] ** 2 + v[None, :] ** 2)  # [H, W]


def _check_filter(filter: str) -> str:  # noqa: A002 (the paper's word)
    if filter not in FILTERS:
        raise ValueError(f"unknown filter {filter!r}.{suggest(filter, FILTERS)} Choose 'low_pass' (keep the "
                         "frequencies within radius of DC) or 'high_pass' (remove them).")
    return filter


def frequency_filter(height: int, width: int, radius: float, filter: str = "low_pass",  # noqa: A002
                     device: torch.device | str | None = None) -> torch.Tensor:
    """Which frequencies a filter removes: bool ``[H, W]`` in ``torch.fft.fft2`` order, True = removed.

    ``low_pass`` keeps the frequencies at a distance below ``radius`` from DC and removes the others;
    ``high_pass`` removes exactly those a low-pass filter keeps (as in MFM's code, ``1 - mask``).
    """
    _check_filter(filter)
    if not radius > 0:
        raise ValueError(f"radius must be positive (in cycles per image), got {radius}")
    inside = frequency_distance(height, width, device) < radius  # [H, W]: what a low-pass filter keeps
    return ~inside if filter == "low_pass" else inside


def apply_frequency_mask(images: torch.Tensor, removed: torch.Tensor) -> torch.Tensor:
    """Zero the ``removed`` frequencies of every channel of ``images [..., H, W]``; same shape, real.

    ``removed`` is bool ``[H, W]`` (one filter for all) or ``[B, H, W]`` (one per image of
    ``[B, C, H, W]``), in ``torch.fft.fft2`` order. Both filters are symmetric about DC, so the
    filtered spectrum stays that of a real image and the imaginary part of the inverse is round-off.
    """
    if removed.ndim == 3 and images.ndim == 4:
        removed = removed[:, None]  # [B, 1, H, W]: the same filter for every channel of an image
    spectrum = torch.fft.fft2(images.float())  # [..., H, W] complex
    kept = spectrum.masked_fill(removed.to(spectrum.device), 0)
    return torch.fft.ifft2(kept).real.to(images.dtype)


def frequency_corrupt(images: torch.Tensor, filter: str = "low_pass",  # noqa: A002
                      radius: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """MFM's corruption of whole images: ``(corrupted, removed)``.

    Args:
        images: ``[..., H, W]`` (e.g. ``[B, C, H, W]``); every channel gets the same filter.
        filter: ``"low_pass"`` (keep the frequencies within ``radius`` of DC, a blurry image) or
            ``"high_pass"`` (remove them: edges and texture remain).
        radius: in whole cycles per image; ``None`` uses :func:`default_radius` (MFM's 16 of 224 px).

    Returns:
        ``corrupted``, the same shape as ``images``, whose 2-D spectrum (``torch.fft.fft2`` over the
        last two dimensions) is zero where ``removed`` is True; and ``removed``, bool ``[H, W]`` in
        ``torch.fft.fft2`` order (DC at ``[0, 0]``; ``torch.fft.fftshift`` centres it for pictures).
        Unlike MFM's code, the result is not clamped to ``[0, 1]``: clamping would bring back some
        of the removed frequencies.
    """
    if images.ndim < 2:
        raise ValueError(f"images need at least two dimensions [..., H, W], got shape {tuple(images.shape)}")
    height, width = images.shape[-2:]
    radius = default_radius(height, width) if radius is None else float(radius)
    removed = frequency_filter(height, width, radius, filter, device=images.device)  # [H, W]
    return apply_frequency_mask(images, removed), removed


@dataclass(frozen=True)
class FrequencyMask:
    """What an MFM model hides: one filter per image of a batch (the patch :class:`Mask`'s counterpart).

    Attributes:
        removed: bool ``[B, H, W]`` in ``torch.fft.fft2`` order, True where a frequency is removed.
        filters: ``"low_pass"`` or ``"high_pass"`` for each image.
        radius: the filters' radius, in cycles per image.
    """

    removed: torch.Tensor
    filters: tuple[str, ...]
    radius: float

    @property
    def batch_size(self) -> int:
        return int(self.removed.shape[0])

    @property
    def removed_fraction(self) -> torch.Tensor:
        """Share of the frequencies removed in each image, ``[B]``."""
        return self.removed.float().mean(dim=(1, 2))

    def to(self, device: torch.device | str) -> FrequencyMask:
        return FrequencyMask(self.removed.to(device), self.filters, self.radius)

    def __repr__(self) -> str:
        lows = sum(f == "low_pass" for f in self.filters)
        return (f"FrequencyMask({self.batch_size} images: {lows} low-pass, {self.batch_size - lows} high-pass, "
                f"radius {self.radius:g}, grid {tuple(self.removed.shape[1:])})")


def draw_frequency_mask(batch_size: int, height: int, width: int, radius: float | None = None,
                        filter: str = "random", seed: int | None = None,  # noqa: A002
                        generator: torch.Generator | None = None) -> FrequencyMask:
    """One filter per image: ``filter="random"`` draws low-pass with probability 0.5, else high-pass (MFM).

    ``filter="low_pass"`` or ``"high_pass"`` gives every image the same one. The draw uses
    ``generator`` (or a new one seeded with ``seed``); torch's global random state is not touched.
    """
    if filter != "random":
        _check_filter(filter)
    radius = default_radius(height, width) if radius is None else float(radius)
    if filter == "random":
        if generator is None:
            generator = torch.Generator().manual_seed(0 if seed is None else int(seed))
        low = torch.rand(batch_size, generator=generator) < LOW_PASS_PROBABILITY  # [B]
        filters = tuple("low_pass" if is_low else "high_pass" for is_low in low.tolist())
    else:
        filters = (filter,) * batch_size
    masks = {name: frequency_filter(height, width, radius, name) for name in set(filters)}
    removed = torch.stack([masks[name] for name in filters]) if filters else torch.zeros(0, height, width,
                                                                                           dtype=torch.bool)
    return FrequencyMask(removed, filters, radius)


def frequency_loss(pred: torch.Tensor, target: torch.Tensor, removed: torch.Tensor | None = None) -> torch.Tensor:
    """MFM's loss: the mean distance between the spectra of ``pred`` and ``target`` on the removed frequencies.

    ``pred`` and ``target`` are images ``[B, C, H, W]``; both are transformed with
    ``torch.fft.fft2(norm="ortho")``, and at each frequency the distance is the modulus of the complex
    difference, ``|F(pred) - F(target)|`` — amplitude and phase both count. It is averaged over the
    removed frequencies (``removed``: bool ``[H, W]`` or ``[B, H, W]``; ``None``: all frequencies), the
    channels and the batch. This is the focal frequency loss MFM's code uses, with its settings
    (exponent 1, no spectrum weight matrix; ``RECOVER_TARGET_TYPE: masked``, the removed band only).
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must have the same shape")
    difference = torch.fft.fft2(pred.float(), norm="ortho") - torch.fft.fft2(target.float(), norm="ortho")
    distance = torch.sqrt(difference.real**2 + difference.imag**2 + 1e-12)  # [B, C, H, W], smooth at zero
    if removed is None:
        return distance.mean()
    removed = removed.to(distance.device)
    if removed.ndim == 3:
        removed = removed[:, None]  # [B, 1, H, W]
    weights = removed.expand_as(distance).to(distance.dtype)
    return (distance * weights).sum() / weights.sum().clamp_min(1.0)

