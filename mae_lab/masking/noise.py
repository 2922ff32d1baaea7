"""Coloured-noise masks: random, but with a chosen texture.

From ColorMAE (Hinojosa, Liu and Ghanem, 2024, "ColorMAE: Exploring data-independent
masking strategies in Masked AutoEncoders").  Random masking is *white* noise: every patch
is hidden independently, with no preferred size of hidden region.  Filtering that white
noise before thresholding it changes the texture of the mask, without looking at the image:

* ``red`` (low-pass: a Gaussian blur of the noise) -- large smooth blobs, hidden patches
  clump together, like block masking;
* ``blue`` (high-pass: noise minus its blur) -- hidden patches spread out evenly, rarely
  touching, close to grid masking;
* ``green`` (band-pass: the difference of a small and a large blur) -- mid-sized clusters
  at a regular spacing; ColorMAE's best colour for dense downstream tasks;
* ``purple`` (band-stop: noise minus the green noise) -- keeps both the large and the fine
  scales, removes the middle one.

The filtered value of each patch is a score; the ``round(N * ratio)`` patches with the
highest score are hidden, so the count is always exact.  ColorMAE pre-computes large noise
textures and crops a random window from them; because white noise looks the same
everywhere, filtering fresh white noise drawn on a slightly larger canvas (the extra
margin absorbs the blur's borders) gives the same kind of window, on the fly.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..utils import suggest
from .base import select_top
from .registry import register

__all__ = ["COLORS", "filtered_noise", "noise_mask"]

# Gaussian widths, in patches (times the `scale` option).
LOW_PASS_SIGMA = 1.2  # red: blur
HIGH_PASS_SIGMA = 0.8  # blue: noise minus this blur
BAND_SIGMAS = (0.6, 1.6)  # green: blur(small) - blur(large)

COLORS = {
    "red": "low-pass: Gaussian blur of white noise (large blobs)",
    "blue": "high-pass: noise minus its blur (evenly spread patches)",
    "green": "band-pass: difference of two blurs (mid-sized clusters)",
    "purple": "band-stop: noise minus green noise (large and fine scales, no middle)",
}


def _gaussian_kernel(sigma: float, radius: int) -> torch.Tensor:
    """Normalised 1-D Gaussian ``[2 * radius + 1]``."""
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return kernel / kernel.sum()


def _blur_valid(noise: torch.Tensor, sigma: float, radius: int, margin: int) -> torch.Tensor:
    """Blur ``noise`` ``[B, 1, H + 2m, W + 2m]`` and return the central ``[B, 1, H, W]`` window.

    The blur is separable (rows, then columns) and uses only real noise: no padding enters
    the window because ``radius <= margin``.
    """
    kernel = _gaussian_kernel(sigma, radius)
    trim = margin - radius
    if trim > 0:
        noise = noise[:, :, trim:-trim, trim:-trim]
    out = F.conv2d(noise, kernel.view(1, 1, -1, 1))  # blur along rows
    return F.conv2d(out, kernel.view(1, 1, 1, -1))  # blur along columns


def filtered_noise(
    batch_size: int,
    grid: tuple[int, int],
    color: str,
    generator: torch.Generator,
    scale: float = 1.0,
) -> torch.Tensor:
    """Coloured noise on the patch grid: float ``[B, h, w]`` (higher = hidden first).

    Args:
        batch_size: ``B``.
        grid: ``(h, w)``.
        color: ``"red"``, ``"blue"``, ``"green"`` or ``"purple"`` (or ``"white"`` for no filter).
        generator: CPU generator the white noise is drawn from.
        scale: multiplies every Gaussian width (bigger = coarser texture).
    """
    color = _check_color(color)
    height, width = grid
    sigmas = [s * scale for s in (LOW_PASS_SIGMA, HIGH_PASS_SIGMA, *BAND_SIGMAS)]
    margin = 0 if color == "white" else math.ceil(3 * max(sigmas))
    white = torch.randn(batch_size, 1, height + 2 * margin, width + 2 * margin, generator=generator)
    centre = white[:, :, margin:margin + height, margin:margin + width]  # [B, 1, h, w]

    def blur(sigma: float) -> torch.Tensor:
        return _blur_valid(white, sigma, math.ceil(3 * sigma), margin)

    if color == "white":
        field = centre
    elif color == "red":
        field = blur(sigmas[0])
    elif color == "blue":
        field = centre - blur(sigmas[1])
    else:
        green = blur(sigmas[2]) - blur(sigmas[3])
        field = green if color == "green" else centre - green
    return field[:, 0]  # [B, h, w]


def _check_color(color: str) -> str:
    known = [*COLORS, "white"]
    if color in known:
        return color
    raise ValueError(f"unknown noise color {color!r}.{suggest(color, known, n=2)} Choose one of {', '.join(known)}.")


@register(
    "noise",
    paper="ColorMAE (Hinojosa et al., 2024)",
    idea="Threshold filtered noise: red = blobs, blue = spread out, green = mid-sized clusters (best).",
    default_ratio=0.75,
)
def noise_mask(batch_size, grid, num_hidden, generator, *, color="green", scale=1.0):
    """Hide the ``num_hidden`` patches where the coloured noise is highest.

    Options:
        color: ``"green"`` (band-pass, default), ``"red"`` (low-pass), ``"blue"``
            (high-pass), ``"purple"`` (band-stop) or ``"white"`` (no filter = random masking).
        scale: multiplies the Gaussian widths (1.0 suits a 14 x 14 grid).
    """
    if len(grid) != 2:
        raise ValueError(f"noise masking needs a 2-D grid (h, w), got {tuple(grid)}")
    if not float(scale) > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    widest = 4 * max(grid) / max(LOW_PASS_SIGMA, HIGH_PASS_SIGMA, *BAND_SIGMAS)  # blurs wider than this are flat
    if float(scale) > widest:
        raise ValueError(f"scale {scale} makes the noise coarser than the whole {grid[0]}x{grid[1]} grid (and costs "
                         f"memory for nothing); use a scale of at most {widest:.3g}")
    field = filtered_noise(batch_size, tuple(grid), color, generator, float(scale))  # [B, h, w]
    return select_top(field.reshape(batch_size, -1), num_hidden)  # [B, N]
