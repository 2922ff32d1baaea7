"""Figures of what a masked model predicts: the per-patch targets, and masked frequency modeling's filters.

* :func:`plot_targets` — the four targets of :mod:`mae_lab.targets` side by side: raw pixels (He et al.,
  2021, MAE), per-patch normalised pixels (MAE's ``norm_pix_loss``), histograms of oriented gradients
  (Wei et al., 2022, "Masked Feature Prediction for Self-Supervised Visual Pre-Training", MaskFeat) and
  each patch's own Fourier amplitude.
* :func:`plot_frequency_corruption` — masked frequency modeling (Xie et al., 2023, "Masked Frequency
  Modeling for Self-Supervised Visual Pre-Training"): a whole image and its spectrum, low-pass and
  high-pass filtered (:mod:`mae_lab.frequency`).
"""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.collections import LineCollection
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure
from matplotlib.patches import Circle, Rectangle

from ..frequency import default_radius, frequency_corrupt
from ..masking import patch_saliency
from ..panels import as_batch, default_patch_size, log_spectrum, to_hwc
from ..targets import HOG_BINS, compute_target, hog_cell_size
from ._figure import new_figure, plain, resolve_query

__all__ = ["plot_frequency_corruption", "plot_targets"]


def _tile_patches(values: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Per-patch squares ``[N, p, p, ...]`` -> one picture ``[h*p, w*p, ...]`` in patch order."""
    h, w = grid
    p = values.shape[1]
    tiles = values.reshape(h, w, p, p, *values.shape[3:])
    return np.concatenate([np.concatenate(list(row), axis=1) for row in tiles], axis=0)


def _hog_segments(hog: np.ndarray, grid: tuple[int, int], patch_size: int, cell: int) -> tuple[list, np.ndarray]:
    """Line segments of HOG glyphs: one per (cell, bin), drawn along the *edge* direction."""
    num_bins = hog.shape[-1]
    k = patch_size // cell  # cells per patch side
    cells = hog.reshape(grid[0], grid[1], k, k, num_bins)  # [h, w, k, k, bins] (channels summed)
    strength = cells / max(float(cells.max()), 1e-12)
    angles = (np.arange(num_bins) + 0.5) * np.pi / num_bins + np.pi / 2  # gradient angle + 90° = edge
    segments, weights = [], []
    for (row, col, cy, cx, b), value in np.ndenumerate(strength):
        centre_x = col * patch_size + (cx + 0.5) * cell - 0.5
        centre_y = row * patch_size + (cy + 0.5) * cell - 0.5
        dx, dy = 0.48 * cell * np.cos(angles[b]), 0.48 * cell * np.sin(angles[b])
        segments.append([(centre_x - dx, centre_y - dy), (centre_x + dx, centre_y + dy)])
        weights.append(value)
    return segments, np.asarray(weights)


def plot_targets(image: torch.Tensor, patch_size: int, patch: int | tuple[int, int] | None = None) -> Figure:
    """What a masked model is asked to predict, for one image: the four targets of :mod:`mae_lab.targets`.

    Top row, the whole image: ``pixels`` (the image itself), ``norm_pixels`` (every patch
    rescaled to mean 0 and std 1, MAE's ``norm_pix_loss``), ``hog`` (the orientation histogram
    of each cell drawn as a star of lines along the edge directions, brighter = more gradient,
    as in MaskFeat) and ``fft_amplitude`` (each patch's own log Fourier amplitude, lowest
    frequency in the centre of its square).  Bottom row: the same four targets of one patch (outlined in cyan),
    with the number of values the model predicts for it.

    Args:
        image: ``[C, H, W]`` or ``[B, C, H, W]`` (the first image) in ``[0, 1]``.
        patch_size: pixels per patch side (HOG cells are half a patch when it is even and >= 4).
        patch: the patch to zoom into (index or ``(row, col)``); default the one with the most contrast.
    """
    x = as_batch(image)[:1].float()  # [1, C, H, W]
    channels, height, width = x.shape[1:]
    grid = (height // patch_size, width // patch_size)
    if grid[0] * patch_size != height or grid[1] * patch_size != width:
        raise ValueError(f"patch_size {patch_size} does not divide the {height}x{width} image; "
                         f"pick a divisor such as {default_patch_size(height, width)}")
    p, cell = patch_size, hog_cell_size(patch_size)
    query = resolve_query(patch, grid)
    if query is None:
        query = int(patch_saliency(x, p)[0].argmax())
    targets = {name: compute_target(name, x, p)[0].numpy() for name in ("pixels", "norm_pixels", "hog", "fft_amplitude")}
    rgb = to_hwc(x[0])
    norm = targets["norm_pixels"].reshape(-1, p, p, channels)  # [N, p, p, C]
    norm_rgb = to_hwc(np.moveaxis(_tile_patches(0.5 + 0.22 * norm, grid), -1, 0))
    hog = targets["hog"].reshape(grid[0] * grid[1], (p // cell) ** 2, channels, HOG_BINS).sum(axis=2)  # [N, cells, bins]
    fft = np.fft.fftshift(targets["fft_amplitude"].reshape(-1, p, p, channels).mean(-1), axes=(1, 2))  # [N, p, p]

    fig = new_figure(12.5, 6.6)
    axes = fig.subplots(2, 4, height_ratios=(1.35, 1))
    row, col = divmod(query, grid[1])
    outline = {"fill": False, "edgecolor": "cyan", "linewidth": 2}

    def grid_lines(ax, color="white"):
        for k in range(1, grid[0]):
            ax.axhline(k * p - 0.5, color=color, linewidth=0.6, alpha=0.5)
        for k in range(1, grid[1]):
            ax.axvline(k * p - 0.5, color=color, linewidth=0.6, alpha=0.5)
        ax.add_patch(Rectangle((col * p - 0.5, row * p - 0.5), p, p, **outline))
        plain(ax)

    dims = {name: value.shape[-1] for name, value in targets.items()}
    axes[0, 0].imshow(rgb, interpolation="nearest")
    axes[0, 0].set_title(f"pixels · {dims['pixels']} values per patch\nthe patch itself", fontsize=9)
    axes[0, 1].imshow(norm_rgb, interpolation="nearest")
    axes[0, 1].set_title(f"norm_pixels · {dims['norm_pixels']} values per patch\neach patch: mean 0, std 1", fontsize=9)
    axes[0, 2].imshow(np.zeros_like(rgb))
    segments, weights = _hog_segments(hog, grid, p, cell)
    glyphs = np.column_stack([np.ones((len(weights), 3)), np.clip(weights, 0, 1) ** 0.8])
    axes[0, 2].add_collection(LineCollection(segments, colors=glyphs, linewidths=1.6))
    axes[0, 2].set_title(f"hog · {dims['hog']} values per patch\nedge directions in each {cell}x{cell} cell", fontsize=9)
    scale = PowerNorm(0.5, vmin=0.0, vmax=float(fft.max()))  # lifts the weak high frequencies into view
    axes[0, 3].imshow(_tile_patches(fft, grid), cmap="magma", norm=scale, interpolation="nearest")
    axes[0, 3].set_title(f"fft_amplitude · {dims['fft_amplitude']} values per patch\n"
                         "each patch's log amplitude, DC centred", fontsize=9)
    for ax in axes[0]:
        grid_lines(ax, "grey" if ax is axes[0, 2] else "white")

    zoom = slice(row * p, (row + 1) * p), slice(col * p, (col + 1) * p)
    axes[1, 0].imshow(rgb[zoom], interpolation="nearest")
    axes[1, 0].set_title(f"patch {query} (row {row}, col {col}): pixels", fontsize=9)
    axes[1, 1].imshow(norm_rgb[zoom], interpolation="nearest")
    patch_pixels = targets["pixels"][query]
    axes[1, 1].set_title(f"normalised (was mean {patch_pixels.mean():.2f}, std {patch_pixels.std(ddof=1):.2f})",
                         fontsize=9)
    bins, num_cells = hog.shape[-1], hog.shape[1]
    for c, values in enumerate(hog[query]):  # one group of bars per cell
        axes[1, 2].bar(np.arange(bins) + c * (bins + 2), values, width=0.85)
    axes[1, 2].set_xticks(np.arange(num_cells) * (bins + 2) + (bins - 1) / 2,
                          [f"cell {c // (p // cell)},{c % (p // cell)}" for c in range(num_cells)], fontsize=8)
    axes[1, 2].set_xlabel(f"{bins} orientation bins per cell, gradient 0° → 180°", fontsize=8)
    axes[1, 2].set_title("hog of this patch (channels summed)", fontsize=9)
    shown = axes[1, 3].imshow(fft[query], cmap="magma", norm=scale, interpolation="nearest")
    axes[1, 3].set_title("fft_amplitude of this patch", fontsize=9)
    fig.colorbar(shown, ax=axes[1, 3], shrink=0.85, label="log(1 + |F|)")
    for ax in (axes[1, 0], axes[1, 1], axes[1, 3]):
        plain(ax)
    return fig


def plot_frequency_corruption(image: torch.Tensor, radius: float | None = None) -> Figure:
    """Masked frequency modeling's corruption of one image: the image, low-pass and high-pass filtered.

    Top row: the image, and what the encoder sees after each filter (the whole image, every token, no
    mask token). Bottom row: the log amplitude of each spectrum with DC in the centre
    (``torch.fft.fftshift``); the removed frequencies are dark, and the cyan circle has the filters'
    ``radius`` (in cycles per image; ``None``: MFM's 16 of 224 px, scaled).

    Args:
        image: ``[C, H, W]`` or ``[B, C, H, W]`` (the first image) in ``[0, 1]``.
    """
    x = as_batch(image)[0].float()  # [C, H, W]
    height, width = x.shape[-2:]
    radius = default_radius(height, width) if radius is None else float(radius)
    columns = {"the image": (x, None)}
    for name in ("low_pass", "high_pass"):
        columns[name.replace("_", "-")] = frequency_corrupt(x, name, radius)  # (corrupted [C, H, W], removed)
    fig = new_figure(10.5, 6.6)
    axes = fig.subplots(2, 3)
    top = max(float(log_spectrum(x).max()), 1e-6)
    for col, (title, (picture, removed)) in enumerate(columns.items()):
        spectrum = log_spectrum(picture)  # before any stretching, which would bring DC back
        if removed is not None:  # a filtered image leaves [0, 1] (a high-pass one is centred on 0): stretch it
            picture = (picture - picture.min()) / max(float(picture.max() - picture.min()), 1e-6)
        rgb = to_hwc(picture.clamp(0, 1))
        axes[0, col].imshow(rgb, cmap="gray" if rgb.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
        axes[1, col].imshow(spectrum, cmap="magma", vmin=0.0, vmax=top, interpolation="nearest")
        axes[1, col].add_patch(Circle((width // 2, height // 2), radius, fill=False, edgecolor="cyan", linewidth=1.2))
        if removed is None:
            axes[0, col].set_title("the image", fontsize=9)
            axes[1, col].set_title(f"its spectrum (log amplitude, DC centred)\ncircle: radius {radius:g}", fontsize=9)
        else:
            axes[0, col].set_title(f"{title} filtered: what the encoder sees\n(contrast stretched to show it)",
                                   fontsize=9)
            axes[1, col].set_title(f"{title}: {1 - float(removed.float().mean()):.1%} of the frequencies kept",
                                   fontsize=9)
    for ax in axes.flat:
        plain(ax)
    return fig
