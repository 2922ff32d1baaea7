"""Fast panels: numpy pictures encoded straight to PNG, for the live widgets.

A matplotlib redraw costs tens of milliseconds; composing the same picture with numpy
(enlarge each patch by repeating pixels, grey the hidden ones, colour a per-patch map
through a 256-entry lookup table, stack panels with white gaps, write a caption with
Pillow) and encoding it as PNG costs a few.  That is what lets a slider drag feel live in
:mod:`mae_lab.widgets`.  Nothing here makes a figure; :mod:`mae_lab.viz` draws the
matplotlib versions of the same pictures, from the same helpers.

* images: :func:`to_hwc` (one image as ``[H, W, 3]`` floats), :func:`as_batch`,
  :func:`default_patch_size`, and the patch grid of an image and its mask
  (:func:`grid_of`, :func:`infer_grid`, :func:`hidden_grid`);
* composition: :func:`grey_hidden`, :func:`colorize` (colour maps as lookup tables,
  :func:`lut`), :func:`upscale`, :func:`hstack`, :func:`vstack`, :func:`caption`,
  :func:`png_bytes`;
* panels: :func:`render_mask`, :func:`render_reconstruction`, :func:`render_attention`,
  :func:`render_tiles`, :func:`render_frequency_filter`, each a uint8 array ``[H, W, 3]``.

Images are tensors ``[C, H, W]`` or ``[B, C, H, W]`` with values in [0, 1]; one channel
is shown in grey.  Hidden patches are flat grey (``fill=0.5``), as in the figures of He
et al. (2021), "Masked Autoencoders Are Scalable Vision Learners".
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from matplotlib import colormaps

from .frequency import frequency_corrupt
from .masking import Mask

__all__ = [
    "as_batch",
    "caption",
    "colorize",
    "default_patch_size",
    "grey_hidden",
    "grid_of",
    "hidden_grid",
    "hstack",
    "infer_grid",
    "log_spectrum",
    "lut",
    "png_bytes",
    "render_attention",
    "render_frequency_filter",
    "render_mask",
    "render_reconstruction",
    "render_tiles",
    "scale_for",
    "to_hwc",
    "to_uint8",
    "upscale",
    "vstack",
]

GREY = 0.5  # value of a hidden patch
VISIBLE_VEIL = (0.80, 0.84, 0.90)  # pale blue-grey over visible patches in error maps (not a colormap colour)
COLUMN_TITLES = ("original", "masked input", "reconstruction", "reconstruction + visible", "per-patch error")
SHORT_TITLES = ("original", "masked", "prediction", "+ visible", "error")  # for narrow panels


# ============================================================================ image helpers
def to_hwc(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """One image as a float32 numpy array ``[H, W, 3]`` clipped to [0, 1].

    Accepts ``[C, H, W]`` (C = 1 or 3), ``[1, C, H, W]`` or ``[H, W]``; one channel is repeated
    to grey RGB.
    """
    if isinstance(image, torch.Tensor):
        image = image.detach().float().cpu().numpy()
    array = np.asarray(image, dtype=np.float32)
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    if array.ndim == 2:
        array = array[None]  # [1, H, W]
    if array.ndim != 3 or array.shape[0] not in (1, 3):
        raise ValueError(f"expected one image [C, H, W] with C = 1 or 3, got shape {tuple(array.shape)}; "
                         "pick one image from a batch with images[i]")
    array = np.moveaxis(array, 0, -1)  # [H, W, C]
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)  # [H, W, 3]
    return np.clip(array, 0.0, 1.0)


def as_batch(images: torch.Tensor) -> torch.Tensor:
    """``[C, H, W]`` -> ``[1, C, H, W]``; a batch is returned as it is."""
    if not isinstance(images, torch.Tensor):
        images = torch.as_tensor(np.asarray(images), dtype=torch.float32)
    if images.ndim == 3:
        return images.unsqueeze(0)
    if images.ndim != 4:
        raise ValueError(f"expected images [C, H, W] or [B, C, H, W], got shape {tuple(images.shape)}")
    return images


def default_patch_size(height: int, width: int | None = None) -> int:
    """A patch size for an image with no model attached.

    16 px (the ViT/MAE standard) for images of 112 px or more when it divides them,
    otherwise the divisor of both sides giving the grid closest to 8 patches per side.
    """
    width = height if width is None else width
    if min(height, width) >= 112 and height % 16 == 0 and width % 16 == 0:
        return 16
    divisors = [p for p in range(1, min(height, width) + 1) if height % p == 0 and width % p == 0]
    return min(divisors, key=lambda p: (abs(min(height, width) / p - 8), -p))


def infer_grid(height: int, width: int, num_patches: int) -> tuple[tuple[int, int], int]:
    """``((h, w), patch_size)`` for an image that is cut into ``num_patches`` square patches."""
    patch = math.sqrt(height * width / num_patches)
    p = round(patch)
    if p < 1 or height % p or width % p or (height // p) * (width // p) != num_patches:
        raise ValueError(f"cannot cut a {height}x{width} image into {num_patches} square patches; "
                         "pass patch_size=")
    return (height // p, width // p), p


def hidden_grid(mask: Any, grid: tuple[int, int], index: int = 0) -> np.ndarray:
    """bool ``[h, w]`` (True = hidden) for sample ``index`` of a Mask or a bool tensor."""
    if mask is None:
        return np.zeros(grid, dtype=bool)
    hidden = mask.hidden if isinstance(mask, Mask) else mask
    hidden = torch.as_tensor(hidden).detach().cpu().bool()
    if hidden.ndim == 2 and tuple(hidden.shape) == tuple(grid):
        return hidden.numpy()
    if hidden.ndim == 2:
        hidden = hidden[index]
    if hidden.numel() != grid[0] * grid[1]:
        raise ValueError(f"the mask has {hidden.numel()} patches but the image grid {grid} has "
                         f"{grid[0] * grid[1]}; pass the patch_size the mask was made for")
    return hidden.reshape(grid).numpy()


def grid_of(image_hw: tuple[int, int], mask: Any = None, patch_size: int | None = None):
    """``((h, w), p)`` from an explicit patch size, the mask's grid or size, or the default."""
    height, width = image_hw
    if patch_size is not None:
        return (height // patch_size, width // patch_size), patch_size
    if mask is None:
        p = default_patch_size(height, width)
        return (height // p, width // p), p
    if isinstance(mask, Mask):
        if mask.grid is not None and height % mask.grid[-2] == 0:
            grid = tuple(mask.grid[-2:])
            return grid, height // grid[0]
        return infer_grid(height, width, mask.num_patches)
    shape = tuple(torch.as_tensor(mask).shape)
    if len(shape) == 2 and _is_grid_shape(shape, height, width):
        return shape, height // shape[0]
    return infer_grid(height, width, shape[-1])


def _is_grid_shape(shape: tuple[int, int], height: int, width: int) -> bool:
    """True when a 2-D mask of this shape reads as a ``[h, w]`` patch grid of the image."""
    rows, cols = shape
    return height % rows == 0 and width % cols == 0 and height // rows == width // cols


# ============================================================================ numpy composition
def upscale(array: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement of ``[H, W, ...]`` by an integer factor."""
    if factor == 1:
        return array
    return np.repeat(np.repeat(array, factor, axis=0), factor, axis=1)


def _expand_patches(values_hw: np.ndarray, patch_size: int) -> np.ndarray:
    """Per-patch values ``[h, w, ...]`` -> per-pixel ``[h*p, w*p, ...]``."""
    return upscale(values_hw, patch_size)


def grey_hidden(
    image_hwc: np.ndarray, hidden_hw: np.ndarray, patch_size: int, fill: float = GREY
) -> np.ndarray:
    """Copy of ``image_hwc`` with every hidden patch painted ``fill`` grey."""
    pixels_hidden = _expand_patches(hidden_hw, patch_size)  # [H, W]
    out = image_hwc.copy()
    out[pixels_hidden] = fill
    return out


def _draw_grid_lines(rgb: np.ndarray, step: int, color=(1.0, 1.0, 1.0), alpha: float = 0.35) -> np.ndarray:
    """Blend thin lines at every ``step`` pixels (patch borders) into ``rgb`` ``[H, W, 3]``, in place."""
    color = np.asarray(color, dtype=rgb.dtype) * (255 if rgb.dtype == np.uint8 else 1)
    for axis in (0, 1):
        index = [slice(None)] * 3
        index[axis] = slice(step, rgb.shape[axis], step)
        region = rgb[tuple(index)].astype(np.float32)
        rgb[tuple(index)] = ((1 - alpha) * region + alpha * color).astype(rgb.dtype)
    return rgb


@lru_cache(maxsize=16)
def lut(cmap: str) -> np.ndarray:
    """256-entry RGB lookup table of a matplotlib colormap."""
    return colormaps[cmap](np.linspace(0, 1, 256))[:, :3].astype(np.float32)


def colorize(values: np.ndarray, cmap: str = "magma", vmin: float | None = None, vmax: float | None = None,
             nan_color=(GREY, GREY, GREY)) -> np.ndarray:
    """Map a 2-D array to RGB ``[..., 3]`` in [0, 1] with a colormap; NaN gets ``nan_color``."""
    values = np.asarray(values, dtype=np.float32)
    finite = np.isfinite(values)
    lo = float(np.min(values[finite])) if vmin is None and finite.any() else (vmin or 0.0)
    if vmax is not None:
        hi = float(vmax)
    else:
        hi = float(np.max(values[finite])) if finite.any() else 1.0
    scaled = (np.where(finite, values, lo) - lo) / max(hi - lo, 1e-12)
    index = np.clip((scaled * 255).round(), 0, 255).astype(np.int64)
    rgb = lut(cmap)[index]
    rgb[~finite] = nan_color
    return rgb


def _overlay(
    image_hwc: np.ndarray, map_hw: np.ndarray, patch_size: int, cmap: str, alpha: float
) -> np.ndarray:
    """Blend a per-patch map (coloured by ``cmap``) over an image; NaN patches stay as the image."""
    colour = _expand_patches(colorize(map_hw, cmap, nan_color=(np.nan, np.nan, np.nan)), patch_size)
    blend = (1 - alpha) * image_hwc + alpha * colour
    return np.where(np.isnan(colour), image_hwc, blend)


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    """Floats in [0, 1] -> uint8 in [0, 255] (rounded, clipped)."""
    return (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)


def scale_for(height: int, target: int) -> int:
    """The integer enlargement that brings ``height`` pixels closest to ``target`` (at least 1)."""
    return max(1, round(target / max(height, 1)))


def hstack(panels: Sequence[np.ndarray], gap: int = 4, background: int = 255) -> np.ndarray:
    """Panels ``[H, W_i, 3]`` uint8 side by side with a white gap (heights padded to the tallest)."""
    height = max(p.shape[0] for p in panels)
    width = sum(p.shape[1] for p in panels) + gap * (len(panels) - 1)
    canvas = np.full((height, width, 3), background, dtype=np.uint8)
    x = 0
    for panel in panels:
        canvas[: panel.shape[0], x: x + panel.shape[1]] = panel
        x += panel.shape[1] + gap
    return canvas


def vstack(rows: Sequence[np.ndarray], gap: int = 4, background: int = 255) -> np.ndarray:
    """Panels ``[H_i, W, 3]`` uint8 one above the other with a white gap (widths padded to the widest)."""
    width = max(r.shape[1] for r in rows)
    height = sum(r.shape[0] for r in rows) + gap * (len(rows) - 1)
    canvas = np.full((height, width, 3), background, dtype=np.uint8)
    y = 0
    for row in rows:
        canvas[y: y + row.shape[0], : row.shape[1]] = row
        y += row.shape[0] + gap
    return canvas


@lru_cache(maxsize=4)
def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType
        return ImageFont.load_default()


def caption(panel: np.ndarray, text: str, height: int = 18, short: str | None = None) -> np.ndarray:
    """Put a one-line caption above a uint8 panel (drawn with Pillow's built-in font).

    ``short`` replaces ``text`` when the panel is too narrow for it.
    """
    from PIL import Image, ImageDraw

    font = _font(height - 5)
    if short is not None and hasattr(font, "getlength") and font.getlength(text) > panel.shape[1] - 4:
        text = short
    band = Image.new("RGB", (panel.shape[1], height), (255, 255, 255))
    ImageDraw.Draw(band).text((2, 2), text, fill=(20, 20, 20), font=font)
    return np.concatenate([np.asarray(band), panel], axis=0)


def png_bytes(rgb: np.ndarray, compress_level: int = 1) -> bytes:
    """Encode an ``[H, W, 3]`` array (uint8, or float in [0, 1]) as PNG bytes, fast."""
    from PIL import Image

    if rgb.dtype != np.uint8:
        rgb = to_uint8(rgb)
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()


# ============================================================================ fast panels
def render_mask(image: torch.Tensor, mask: Any, patch_size: int | None = None, index: int = 0,
                size: int = 256, fill: float = GREY, grid_lines: bool = True,
                show_original: bool = True) -> np.ndarray:
    """uint8 panel: (the original and) the image with hidden patches greyed, enlarged to about ``size`` px."""
    images = as_batch(image)
    rgb = to_hwc(images[index if images.shape[0] > 1 else 0])
    grid, p = grid_of(rgb.shape[:2], mask, patch_size)
    hidden = hidden_grid(mask, grid, index)
    scale = scale_for(rgb.shape[0], size)
    masked = to_uint8(upscale(grey_hidden(rgb, hidden, p, fill), scale))
    if grid_lines and p * scale >= 6:
        _draw_grid_lines(masked, p * scale)
    panels = [masked]
    if show_original:
        panels.insert(0, to_uint8(upscale(rgb, scale)))
    return hstack(panels)


def render_reconstruction(rec: Any, index: int = 0, size: int = 192, cmap: str = "magma",
                          captions: bool = True) -> np.ndarray:
    """uint8 panel: original | masked input | reconstruction | + visible | per-patch error.

    ``rec`` is a ``Reconstruction`` (``original``, ``masked_input``, ``reconstruction``,
    ``pasted``, ``patch_error``, optionally ``mask``); columns whose image is None (non-pixel
    targets) are left out.  In the error map, visible patches (not in the loss) are washed out.
    """
    original = to_hwc(rec.original[index])
    scale = scale_for(original.shape[0], size)
    panels, names = [], []
    columns = (rec.original, rec.masked_input, rec.reconstruction, rec.pasted)
    for name, short, batch in zip(COLUMN_TITLES[:4], SHORT_TITLES[:4], columns):
        if batch is not None:
            panels.append(to_uint8(upscale(to_hwc(batch[index]), scale)))
            names.append((name, short))
    error = rec.patch_error[index].detach().float().cpu().numpy()  # [N]
    grid, p = infer_grid(original.shape[0], original.shape[1], error.shape[0])
    heat = colorize(error.reshape(grid), cmap, vmin=0.0)
    heat = _fade_visible(heat, getattr(rec, "mask", None), grid, index)
    panels.append(to_uint8(upscale(heat, p * scale)))
    names.append((COLUMN_TITLES[4], SHORT_TITLES[4]))
    if captions:
        panels = [caption(panel, name, short=short) for panel, (name, short) in zip(panels, names)]
    return hstack(panels)


def _fade_visible(heat_hw3: np.ndarray, mask: Any, grid: tuple[int, int], index: int) -> np.ndarray:
    """Wash out the visible patches of a per-patch error map: only hidden patches count in the loss."""
    if mask is None:
        return heat_hw3
    visible = ~hidden_grid(mask, grid, index)  # [h, w]
    faded = heat_hw3.copy()
    faded[visible] = 0.1 * faded[visible] + 0.9 * np.asarray(VISIBLE_VEIL, dtype=faded.dtype)
    return faded


def render_attention(image: torch.Tensor, weights: torch.Tensor | np.ndarray, patch_size: int,
                     mask: Any = None, query: int | None = None, size: int = 256, cmap: str = "inferno",
                     alpha: float = 0.6) -> np.ndarray:
    """uint8 panel: the (masked) image | attention over it | the attention map alone.

    ``weights`` is one value per patch ``[N]`` (NaN for hidden patches); the ``query``
    patch, if any, is outlined in cyan.
    """
    rgb = to_hwc(image)
    grid = (rgb.shape[0] // patch_size, rgb.shape[1] // patch_size)
    values = np.asarray(torch.as_tensor(weights).detach().float().cpu()).reshape(grid)
    hidden = hidden_grid(mask, grid) if mask is not None else np.zeros(grid, dtype=bool)
    base = grey_hidden(rgb, hidden, patch_size)
    scale = scale_for(rgb.shape[0], size)
    overlay = upscale(_overlay(base, values, patch_size, cmap, alpha), scale)
    heat = upscale(colorize(values, cmap), patch_size * scale)
    panels = [to_uint8(upscale(base, scale)), to_uint8(overlay), to_uint8(heat)]
    if query is not None:
        row, col = divmod(int(query), grid[1])
        for panel in panels:
            _outline(panel, row, col, patch_size * scale)
    return hstack(panels)


def _outline(panel: np.ndarray, row: int, col: int, cell: int, color=(0, 255, 255), width: int = 2) -> None:
    """Draw a rectangle around patch (row, col) of a uint8 panel whose patches are ``cell`` px."""
    top, left = row * cell, col * cell
    bottom, right = top + cell, left + cell
    width = max(1, min(width, cell // 3))
    panel[top: top + width, left:right] = color
    panel[bottom - width: bottom, left:right] = color
    panel[top:bottom, left: left + width] = color
    panel[top:bottom, right - width: right] = color


def render_tiles(image: torch.Tensor, maps: Sequence[np.ndarray], patch_size: int, titles: Sequence[str],
                 tile: int = 96, columns: int = 6, cmap: str = "inferno", mask: Any = None) -> np.ndarray:
    """uint8 grid of small overlays, one per map (e.g. every head of one layer), with captions."""
    rgb = to_hwc(image)
    grid = (rgb.shape[0] // patch_size, rgb.shape[1] // patch_size)
    hidden = hidden_grid(mask, grid) if mask is not None else np.zeros(grid, dtype=bool)
    base = grey_hidden(rgb, hidden, patch_size)
    scale = scale_for(rgb.shape[0], tile)
    tiles = []
    for values, title in zip(maps, titles):
        values = np.asarray(values, dtype=np.float32).reshape(grid)
        overlay = to_uint8(upscale(_overlay(base, values, patch_size, cmap, 0.6), scale))
        tiles.append(caption(overlay, title, 14))
    rows = [hstack(tiles[i: i + columns]) for i in range(0, len(tiles), columns)]
    return vstack(rows)


def log_spectrum(image: torch.Tensor) -> np.ndarray:
    """``log(1 + |F|)`` of an image ``[C, H, W]`` (channels averaged), DC in the centre: ``[H, W]``."""
    amplitude = torch.fft.fft2(image.float()).abs().mean(dim=0)  # [H, W]
    return torch.fft.fftshift(torch.log1p(amplitude)).numpy()


def render_frequency_filter(image: torch.Tensor, filter: str = "low_pass", radius: float | None = None,  # noqa: A002
                            size: int = 192) -> np.ndarray:
    """Masked frequency modeling's corruption as three panels: the image, the filtered image, its spectrum.

    The filtered image (:func:`mae_lab.frequency.frequency_corrupt`) is contrast-stretched to show it; the
    spectrum is the log amplitude of the filtered image, DC in the centre, the removed frequencies black.
    """
    x = as_batch(image)[0].float()  # [C, H, W]
    corrupted, removed = frequency_corrupt(x, filter, radius)  # [C, H, W], [H, W]
    stretched = (corrupted - corrupted.min()) / max(float(corrupted.max() - corrupted.min()), 1e-6)
    spectrum = colorize(log_spectrum(corrupted), "magma", vmin=0.0, vmax=float(log_spectrum(x).max()))
    factor = scale_for(x.shape[-2], size)
    kept = 1 - float(removed.float().mean())
    panels = [caption(to_uint8(upscale(to_hwc(x), factor)), "the image"),
              caption(to_uint8(upscale(to_hwc(stretched), factor)), f"{filter.replace('_', '-')} filtered"),
              caption(to_uint8(upscale(spectrum, factor)), f"its spectrum: {kept:.1%} kept")]
    return hstack(panels)
