"""Figures of tokens: an image cut into patches, the sequence a ViT reads, and where positions live.

Dosovitskiy et al. (2021), "An Image is Worth 16x16 Words": an image becomes a sequence of
patch tokens, and each token carries a position embedding; their Figure 7 shows how alike
the embeddings of two positions are.  With a mask, the sequence holds only the visible
patches, as the MAE encoder gets them (He et al., 2021).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..masking import Mask
from ..panels import as_batch, grid_of, hidden_grid, scale_for, to_hwc, upscale
from ._figure import new_figure, plain, resolve_query
from .masks import show_mask

__all__ = ["plot_patch_tokens", "plot_position_similarity", "position_similarity"]


def _token_mosaic(rgb: np.ndarray, grid: tuple[int, int], p: int, order: Sequence[int], per_row: int,
                  scale: int, gap: int, row_gap: int) -> np.ndarray:
    """The patches of ``rgb`` listed in ``order``, ``per_row`` to a row, as one float RGB mosaic (white gaps)."""
    tile_px = p * scale
    rows = max(1, math.ceil(len(order) / per_row))
    columns = min(per_row, max(len(order), 1))
    mosaic = np.ones((rows * (tile_px + row_gap), columns * (tile_px + gap) - gap, 3), dtype=np.float32)
    for slot, index in enumerate(order):
        row, col = divmod(int(index), grid[1])
        tile = upscale(rgb[row * p: (row + 1) * p, col * p: (col + 1) * p], scale)  # [p*s, p*s, 3]
        top, left = (slot // per_row) * (tile_px + row_gap), (slot % per_row) * (tile_px + gap)
        mosaic[top: top + tile_px, left: left + tile_px] = tile
    return mosaic


def plot_patch_tokens(
    image: torch.Tensor,
    patch_size: int | None = None,
    mask: Any = None,
    per_row: int = 16,
    numbers: bool | None = None,
    title: str | None = None,
) -> Figure:
    """An image cut into patches (left) and the sequence of tokens a ViT reads (right).

    Left: the image with its patch grid and every patch's index (row-major: left to right,
    then top to bottom).  Right: the patches laid out as a sequence, ``per_row`` to a line,
    each labelled with its index.  With a ``mask``, hidden patches are grey on the left and
    the sequence holds only the visible patches, in ``mask.ids_keep`` order: exactly the
    tokens an MAE encoder gets (their order does not matter, their positions travel with them).

    Args:
        image: ``[C, H, W]`` or ``[B, C, H, W]`` (the first image is drawn).
        patch_size: pixels per patch (default: from the mask, else :func:`default_patch_size`).
        mask: optional :class:`~mae_lab.masking.Mask` (sample 0 is drawn).
        numbers: write patch indices (default: when there are at most 100 patches).
    """
    rgb = to_hwc(as_batch(image)[0])
    grid, p = grid_of(rgb.shape[:2], mask, patch_size)
    hidden = hidden_grid(mask, grid, 0)
    num_patches = grid[0] * grid[1]
    numbers = num_patches <= 100 if numbers is None else numbers
    if isinstance(mask, Mask):
        order = mask.ids_keep[0].tolist()
    else:
        order = [i for i in range(num_patches) if not hidden.reshape(-1)[i]]
    per_row = max(1, min(per_row, len(order)))
    scale = scale_for(p, 24)
    tile_px = p * scale
    gap, row_gap = max(2, tile_px // 6), (tile_px // 2 + 2 if numbers else max(2, tile_px // 6))
    mosaic = _token_mosaic(rgb, grid, p, order, per_row, scale, gap, row_gap)
    strip_rows = math.ceil(len(order) / per_row)
    fig = new_figure(10.0, max(3.6, 0.45 * strip_rows + 1.4))
    left, right = fig.subplots(1, 2, width_ratios=[1.0, 1.6])
    left_title = f"{grid[0]} x {grid[1]} = {num_patches} patches of {p} x {p} px"
    if hidden.any():
        left_title += f", {int(hidden.sum())} hidden"
    show_mask(rgb.transpose(2, 0, 1), hidden, patch_size=p, ax=left, title=left_title)
    if numbers:
        for index in range(num_patches):
            row, col = divmod(index, grid[1])
            left.text(col * p + p / 2 - 0.5, row * p + p / 2 - 0.5, str(index), ha="center", va="center",
                      fontsize=6 if num_patches > 36 else 8, color="white",
                      bbox={"boxstyle": "round,pad=0.1", "facecolor": "black", "alpha": 0.35, "linewidth": 0})
    right.imshow(mosaic, interpolation="nearest")
    if numbers:  # each token's patch index, under it
        for slot, index in enumerate(order):
            r, c = divmod(slot, per_row)
            right.text(c * (tile_px + gap) + tile_px / 2, r * (tile_px + row_gap) + tile_px, str(index),
                       ha="center", va="top", fontsize=6, color="0.2")
    values = p * p * int(as_batch(image).shape[1])  # p*p*C numbers per token
    what = "visible tokens, in the order the encoder gets them" if mask is not None else "tokens, in order"
    right.set_title(title or f"{len(order)} {what} (each {values} numbers)", fontsize=9)
    plain(right)
    return fig


def position_similarity(pos_embed: torch.Tensor | np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Cosine similarity of every position embedding with every other: ``[N, N]``.

    ``pos_embed`` is ``[N, D]`` (or ``[1 + N, D]`` with a class-token row first, which is dropped),
    e.g. :func:`mae_lab.patches.sincos_pos_embed_2d` or ``model.encoder.pos_embed[0]``.
    """
    values = torch.as_tensor(np.asarray(pos_embed.detach().cpu() if isinstance(pos_embed, torch.Tensor)
                                        else pos_embed), dtype=torch.float64)
    if values.ndim == 3 and values.shape[0] == 1:
        values = values[0]
    num_patches = grid[0] * grid[1]
    if values.ndim != 2 or values.shape[0] not in (num_patches, num_patches + 1):
        raise ValueError(f"pos_embed should be [N, D] or [1 + N, D] with N = {num_patches} for grid {tuple(grid)}, "
                         f"got shape {tuple(values.shape)}")
    values = values[-num_patches:]  # drop the class token's row
    unit = torch.nn.functional.normalize(values, dim=1)
    return (unit @ unit.T).numpy()  # [N, N]


def plot_position_similarity(
    pos_embed: torch.Tensor | np.ndarray,
    grid: tuple[int, int],
    queries: Sequence[int | tuple[int, int]] | None = None,
    cmap: str = "viridis",
    title: str | None = None,
    vmin: float | None = None,
) -> Figure:
    """How alike position embeddings are: each map colours every patch by its cosine similarity to one position.

    With ``queries=None`` every position gets its own small map, laid out on the patch grid
    (the figure of Dosovitskiy et al., 2021, ViT, Figure 7): the map in row ``i``, column ``j``
    shows the similarity of position ``(i, j)`` with all the others.  With ``queries`` (patch
    indices or ``(row, col)`` pairs) there is one larger map per query, outlined in red.

    The colour scale runs from ``vmin`` (default: the lowest similarity in the matrix) to 1:
    sine-cosine embeddings share many slowly varying channels, so all their similarities are
    high and a -1..1 scale would hide the pattern.
    """
    sims = position_similarity(pos_embed, grid)  # [N, N]
    h, w = grid
    vmin = float(sims.min()) if vmin is None else float(vmin)
    if queries is None:
        gap = 1
        mosaic = np.full((h * (h + gap) - gap, w * (w + gap) - gap), np.nan, dtype=np.float32)
        for index in range(h * w):
            row, col = divmod(index, w)
            mosaic[row * (h + gap): row * (h + gap) + h, col * (w + gap): col * (w + gap) + w] = \
                sims[index].reshape(h, w)
        fig = new_figure(5.6, 5.0)
        ax = fig.add_subplot()
        shown = ax.imshow(np.ma.masked_invalid(mosaic), cmap=cmap, vmin=vmin, vmax=1, interpolation="nearest")
        centres = np.arange(h) * (h + gap) + (h - 1) / 2
        ax.set_yticks(centres, [str(r) for r in range(h)], fontsize=7)
        ax.set_xticks(np.arange(w) * (w + gap) + (w - 1) / 2, [str(c) for c in range(w)], fontsize=7)
        ax.set_xlabel("input patch column")
        ax.set_ylabel("input patch row")
        ax.tick_params(length=0)
        for side in ax.spines.values():
            side.set_visible(False)
        fig.colorbar(shown, ax=ax, shrink=0.8, label="cosine similarity")
        ax.set_title(title or "position embedding similarity (one small map per position)", fontsize=9)
        return fig
    indices = [resolve_query(q, grid) for q in queries]
    fig = new_figure(2.7 * len(indices) + 0.8, 2.9)
    axes = fig.subplots(1, len(indices), squeeze=False)[0]
    shown = None
    for ax, index in zip(axes, indices):
        shown = ax.imshow(sims[index].reshape(h, w), cmap=cmap, vmin=vmin, vmax=1, interpolation="nearest")
        row, col = divmod(index, w)
        ax.add_patch(Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2))
        ax.set_title(f"similarity to position (row {row}, col {col})", fontsize=8)
        plain(ax)
    fig.colorbar(shown, ax=list(axes), shrink=0.8, label="cosine similarity")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
