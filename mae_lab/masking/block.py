"""Block-wise masking: hide whole rectangles of patches instead of scattered ones.

* ``block`` -- BEiT (Bao et al., 2021, "BEiT: BERT Pre-Training of Image Transformers").
  Hidden patches come in rectangles, so a hidden patch usually has hidden neighbours and
  cannot be guessed by copying the patch next to it.  BEiT draws rectangles one after
  another until enough patches are hidden:

  1. pick a target area uniformly between ``min_block_patches`` (16) and the number of
     patches still to hide;
  2. pick an aspect ratio log-uniformly in ``[min_aspect, max_aspect]`` (0.3 to 1/0.3);
  3. ``h = round(sqrt(area * aspect))``, ``w = round(sqrt(area / aspect))``, a random
     top-left corner, and hide the rectangle -- accepted only if it hides at least one new
     patch and no more than are still to hide;
  4. up to 10 tries per rectangle; if all 10 fail, stop.

  BEiT never overshoots but can stop short.  Our exact-count rule: the remaining patches
  are **topped up at random** among the visible ones (see
  :func:`~mae_lab.masking.random_masks.adjust_to_count`).  BEiT hides about 40 % of the
  patches (75 of 196), so the default ratio is 0.4.

* ``simmim`` -- SimMIM (Xie et al., 2022, "SimMIM: A Simple Framework for Masked Image
  Modeling").  Random masking on a coarser grid: SimMIM hides 32-pixel "mask patches"
  while the model sees 16-pixel patches, so every hidden cell is a 2 x 2 square of model
  patches.  Default ratio 0.6.

The BEiT loop is written for a whole batch at once: in each round every unfinished sample
draws its 10 candidate rectangles together, and takes the first acceptable one -- the
same rule as trying them one by one, because a rejected try changes nothing.
"""

from __future__ import annotations

import math

import torch

from .base import invert_permutation
from .random_masks import adjust_to_count
from .registry import register

__all__ = ["block_mask", "simmim_mask"]

TRIES_PER_BLOCK = 10  # as in BEiT


def _draw_rectangles(
    max_patches: torch.Tensor,
    grid: tuple[int, int],
    min_block_patches: int,
    log_aspect: tuple[float, float],
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``TRIES_PER_BLOCK`` candidate rectangles per sample: top, left, height, width, each ``[B, tries]``.

    ``max_patches`` ``[B]`` is how many patches each sample may still hide.  Rectangles
    that do not fit BEiT's size rule (``h < grid height`` and ``w < grid width``) get
    height 0, so they hide nothing and are rejected.
    """
    height, width = grid
    batch_size = max_patches.shape[0]
    uniforms = torch.rand(4, batch_size, TRIES_PER_BLOCK, generator=generator, dtype=torch.float64)
    low = float(min_block_patches)
    high = max_patches.to(torch.float64).unsqueeze(1)  # [B, 1]
    area = low + (high - low) * uniforms[0]  # uniform between min and the remaining count
    aspect = torch.exp(log_aspect[0] + (log_aspect[1] - log_aspect[0]) * uniforms[1])
    rect_h = torch.round(torch.sqrt(area * aspect)).long()  # [B, tries]
    rect_w = torch.round(torch.sqrt(area / aspect)).long()
    fits = (rect_h < height) & (rect_w < width)
    rect_h = torch.where(fits, rect_h, torch.zeros_like(rect_h))
    rect_w = torch.where(fits, rect_w, torch.zeros_like(rect_w))
    top = (uniforms[2] * (height - rect_h + 1)).long()  # uniform in 0 .. height - h
    left = (uniforms[3] * (width - rect_w + 1)).long()
    return top, left, rect_h, rect_w


def _one_round(
    hidden: torch.Tensor,
    remaining: torch.Tensor,
    min_block_patches: int,
    log_aspect: tuple[float, float],
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Add one BEiT rectangle to each sample of ``hidden`` ``[B, h, w]`` (modified in place).

    Returns ``(newly_hidden [B], success [B])``.
    """
    batch_size, height, width = hidden.shape
    top, left, rect_h, rect_w = _draw_rectangles(remaining, (height, width), min_block_patches, log_aspect,
                                                 generator)
    rows = torch.arange(height)
    cols = torch.arange(width)
    in_rows = (rows >= top.unsqueeze(-1)) & (rows < (top + rect_h).unsqueeze(-1))  # [B, tries, h]
    in_cols = (cols >= left.unsqueeze(-1)) & (cols < (left + rect_w).unsqueeze(-1))  # [B, tries, w]
    # already-hidden cells under each rectangle: rows^T . hidden . cols
    overlap = torch.einsum("bth,bhw,btw->bt", in_rows.float(), hidden.float(), in_cols.float())  # [B, tries]
    new_cells = rect_h * rect_w - overlap.round().long()  # [B, tries]
    accepted = (new_cells > 0) & (new_cells <= remaining.unsqueeze(1))  # [B, tries]
    success = accepted.any(dim=1)  # [B]
    first = accepted.int().argmax(dim=1)  # index of the first accepted try  [B]
    pick = torch.arange(batch_size)
    chosen = in_rows[pick, first].unsqueeze(2) & in_cols[pick, first].unsqueeze(1)  # [B, h, w]
    hidden |= chosen & success.view(-1, 1, 1)
    newly_hidden = torch.where(success, new_cells[pick, first], torch.zeros_like(remaining))
    return newly_hidden, success


def beit_blocks(
    batch_size: int,
    grid: tuple[int, int],
    num_hidden: int,
    generator: torch.Generator,
    min_block_patches: int = 16,
    min_aspect: float = 0.3,
    max_aspect: float | None = None,
) -> torch.Tensor:
    """BEiT's rectangles alone, before the exact-count top-up: bool ``[B, h, w]``.

    Each row hides at most ``num_hidden`` patches (often exactly that, sometimes fewer).
    """
    height, width = grid
    max_aspect = 1.0 / min_aspect if max_aspect is None else max_aspect
    log_aspect = (math.log(min_aspect), math.log(max_aspect))
    hidden = torch.zeros(batch_size, height, width, dtype=torch.bool)
    count = torch.zeros(batch_size, dtype=torch.long)
    active = torch.full((batch_size,), num_hidden > 0)
    while bool(active.any()):
        rows = active.nonzero().squeeze(1)  # only unfinished samples draw
        sub_hidden = hidden[rows]
        added, success = _one_round(sub_hidden, num_hidden - count[rows], min_block_patches, log_aspect,
                                    generator)
        hidden[rows] = sub_hidden
        count[rows] += added
        active[rows] = success & (count[rows] < num_hidden)
    return hidden


@register(
    "block",
    paper="BEiT (Bao et al., 2021)",
    idea="Hide random rectangles of at least 16 patches until ~40% is hidden; neighbours can't give it away.",
    default_ratio=0.4,
)
def block_mask(batch_size, grid, num_hidden, generator, *, min_block_patches=16, min_aspect=0.3,
               max_aspect=None):
    """BEiT block-wise masking, then a random top-up to exactly ``num_hidden``.

    Options:
        min_block_patches: smallest target area of one rectangle, in patches (BEiT: 16).
        min_aspect: smallest height/width ratio of a rectangle (BEiT: 0.3).
        max_aspect: largest ratio; ``None`` means ``1 / min_aspect``.
    """
    if len(grid) != 2:
        raise ValueError(f"block masking needs a 2-D grid (h, w), got {tuple(grid)}")
    if int(min_block_patches) < 1:
        raise ValueError(f"min_block_patches must be at least 1, got {min_block_patches}")
    if not min_aspect > 0 or (max_aspect is not None and not max_aspect >= min_aspect):
        raise ValueError(
            f"aspect ratios must satisfy 0 < min_aspect <= max_aspect, got min_aspect={min_aspect}, "
            f"max_aspect={max_aspect}"
        )
    blocks = beit_blocks(batch_size, tuple(grid), num_hidden, generator, int(min_block_patches),
                         float(min_aspect), None if max_aspect is None else float(max_aspect))
    return adjust_to_count(blocks.reshape(batch_size, -1), num_hidden, generator)  # [B, N]


@register(
    "simmim",
    paper="SimMIM (Xie et al., 2022)",
    idea="Random masking of coarse 2x2-patch squares (32 px mask patches over 16 px patches), ratio 0.6.",
    default_ratio=0.6,
)
def simmim_mask(batch_size, grid, num_hidden, generator, *, cell_size=2):
    """Random masking on a coarse grid of ``cell_size x cell_size`` squares of model patches.

    ``cell_size`` is SimMIM's mask-patch size divided by the model's patch size
    (32 px / 16 px = 2).  On a grid that is not a multiple of ``cell_size`` the last row and
    column of cells are cut to fit.

    Exact-count rule: cells are hidden whole, in a random order, until the next cell would
    overshoot; that last cell is then hidden only partly, its model patches chosen at
    random.  (So at most one cell per sample is partial.)
    """
    if len(grid) != 2:
        raise ValueError(f"simmim masking needs a 2-D grid (h, w), got {tuple(grid)}")
    cell_size = int(cell_size)
    if cell_size < 1:
        raise ValueError(f"cell_size must be a positive number of patches, got {cell_size}")
    height, width = grid
    cell_size = min(cell_size, max(height, width))  # a cell larger than the grid is the whole grid
    cells_h, cells_w = math.ceil(height / cell_size), math.ceil(width / cell_size)
    cell_noise = torch.rand(batch_size, cells_h * cells_w, generator=generator)  # [B, cells]
    cell_rank = invert_permutation(torch.argsort(cell_noise, dim=1)).float()  # 0 .. cells-1, random
    cell_rank = cell_rank.reshape(batch_size, cells_h, cells_w)
    per_patch = cell_rank.repeat_interleave(cell_size, 1).repeat_interleave(cell_size, 2)
    per_patch = per_patch[:, :height, :width].reshape(batch_size, -1)  # [B, N], a cell's rank on its patches
    # Order: by cell rank, and inside one cell at random (the tie-breaker is < 1).
    priority = per_patch + torch.rand(batch_size, height * width, generator=generator)
    order = torch.argsort(priority, dim=1)  # [B, N]
    hidden = torch.zeros(batch_size, height * width, dtype=torch.bool)
    hidden.scatter_(1, order[:, :num_hidden], True)
    return hidden
