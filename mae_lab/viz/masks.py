"""Figures of masks: which patches a strategy hides, on one image or for every strategy at once.

Hidden patches are drawn in flat grey (``fill=0.5``), as in the figures of He et al. (2021),
"Masked Autoencoders Are Scalable Vision Learners"; the gallery writes each strategy's
paper and idea under its panel, from the registry of :mod:`mae_lab.masking`.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from ..masking import Mask, get_masker, list_maskers, mask_for_image, patch_saliency
from ..panels import GREY, as_batch, default_patch_size, grey_hidden, grid_of, hidden_grid, to_hwc
from ._figure import new_figure, plain

__all__ = ["mask_gallery", "show_mask"]


def _mask_title(mask_hidden: np.ndarray, name: str | None) -> str:
    """The title of a mask: ``strategy: k hidden / m visible (r%)``."""
    hidden = int(mask_hidden.sum())
    total = mask_hidden.size
    head = f"{name}: " if name else ""
    return f"{head}{hidden} hidden / {total - hidden} visible ({hidden / total:.0%})"


def show_mask(
    image: torch.Tensor,
    mask: Any,
    index: int = 0,
    patch_size: int | None = None,
    ax=None,
    fill: float = GREY,
    grid_lines: bool = True,
    title: str | None = None,
) -> Figure:
    """An image with its hidden patches greyed out, the patch grid, and the counts in the title.

    Args:
        image: ``[C, H, W]`` or ``[B, C, H, W]`` (then sample ``index`` is shown).
        mask: a :class:`~mae_lab.masking.Mask`, or a bool tensor ``[N]``, ``[B, N]`` or ``[h, w]``
            (True = hidden).
        patch_size: pixels per patch; inferred from the mask's number of patches when omitted.
        ax: draw into this matplotlib Axes instead of a new figure.
        fill: grey level of hidden patches.
        title: replaces the default "strategy: k hidden / m visible (r%)".

    Returns:
        The Figure.
    """
    images = as_batch(image)
    rgb = to_hwc(images[index if images.shape[0] > 1 else 0])
    grid, p = grid_of(rgb.shape[:2], mask, patch_size)
    hidden = hidden_grid(mask, grid, index)
    if ax is None:
        fig = new_figure(3.2, 3.4)
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    ax.imshow(grey_hidden(rgb, hidden, p, fill), interpolation="nearest")
    if grid_lines:
        for k in range(1, grid[0]):
            ax.axhline(k * p - 0.5, color="white", linewidth=0.5, alpha=0.6)
        for k in range(1, grid[1]):
            ax.axvline(k * p - 0.5, color="white", linewidth=0.5, alpha=0.6)
    name = mask.masker if isinstance(mask, Mask) else None
    ax.set_title(title if title is not None else _mask_title(hidden, name), fontsize=9)
    plain(ax)
    return fig


def mask_gallery(
    image: torch.Tensor,
    strategies: Iterable[str] | None = None,
    ratio: float | None = None,
    seed: int = 0,
    patch_size: int | None = None,
    scores: torch.Tensor | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    columns: int = 4,
) -> Figure:
    """Every mask strategy on the same image, side by side, with its name, paper and idea.

    Args:
        image: ``[C, H, W]`` (or a batch; the first image is used).
        strategies: names to show (default: every registered 2-D or video strategy).
        ratio: the same ratio for all (default: each strategy's own default ratio).
        seed: one seed for all, so the gallery is reproducible.
        patch_size: pixels per patch (default: :func:`default_patch_size`).
        scores: per-patch scores for guided strategies (default: :func:`mae_lab.masking.patch_saliency`).
        options: per-strategy options, e.g. ``{"noise": {"color": "blue"}}``.

    A strategy that cannot draw with these settings shows its error message in its panel.
    """
    rgb_image = as_batch(image)[0]
    height, width = rgb_image.shape[-2:]
    p = patch_size or default_patch_size(height, width)
    grid = (height // p, width // p)
    names = list(strategies) if strategies is not None else [info.name for info in list_maskers()]
    if scores is None:
        scores = patch_saliency(rgb_image, p)
    rows = math.ceil(len(names) / columns)
    cols = min(columns, len(names))
    fig = new_figure(2.9 * cols, 4.0 * rows)
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    for ax, name in zip(axes.flat, names):
        info = get_masker(name)
        try:
            mask = mask_for_image(name, grid, ratio=ratio, seed=seed, scores=scores,
                                  **dict((options or {}).get(name, {})))
            show_mask(rgb_image, mask, patch_size=p, ax=ax, title="")
            counts = f"{mask.num_hidden}/{mask.num_patches} hidden"
        except (ValueError, KeyError, TypeError) as error:
            ax.imshow(to_hwc(rgb_image) * 0.3 + 0.7)
            ax.text(0.5, 0.5, textwrap.fill(str(error), 30), ha="center", va="center", fontsize=6,
                    transform=ax.transAxes, color="darkred")
            plain(ax)
            counts = "could not draw"
        idea = textwrap.fill(info.idea, 38)
        ax.set_title(f"{name} · {counts}\n{idea}", fontsize=7, loc="left")
        ax.set_xlabel(textwrap.fill(info.paper, 42), fontsize=7)
    return fig
