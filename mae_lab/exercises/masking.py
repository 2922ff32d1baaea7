"""Exercises of labs 00-02 (masking): how many tokens stay visible, MAE's argsort masking, BEiT's blocks.

* :func:`check_num_visible` — a count (lab 00).
* :func:`check_random_masking` — MAE's masking by sorting noise (lab 02).
* :func:`check_block_mask` — BEiT's block-wise masking (Bao et al., 2021, Algorithm 1) with our exact-count
  rule (lab 02). The reference is :func:`mae_lab.masking.block.block_mask`; a random algorithm cannot be
  compared draw by draw, so the check tests what must hold for every draw (the exact count, the shape,
  the use of the generator) and what must hold on average (hidden patches come in blocks, blocks are at
  least ``min_block_patches`` large).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ..masking.block import block_mask
from .core import CheckResult, _call, _fail, _ok, _shape

__all__ = ["block_statistics", "check_block_mask", "check_num_visible", "check_random_masking"]


def check_num_visible(answer: Any, num_patches: int = 196, ratio: float = 0.75) -> CheckResult:
    """Predict: how many tokens does MAE's encoder see for ``num_patches`` at ``ratio``?"""
    name = f"visible tokens at {ratio:.0%} of {num_patches}"
    expected = num_patches - int(round(num_patches * ratio))
    try:
        value = int(answer)
    except (TypeError, ValueError):
        return _fail(name, f"answer with a whole number, got {answer!r}.")
    if value == expected:
        return _ok(name, f"correct — {expected} visible patch tokens (plus the class token: {expected + 1} in all).")
    if value == expected + 1:
        return _ok(name, f"correct, counting the class token — {expected} patches + 1 class token.")
    if value == num_patches - expected:
        return _fail(name, f"{value} is the number of *hidden* patches; the encoder sees the others.")
    return _fail(name, f"{value} is not it: the ratio is the fraction hidden, so {num_patches} × (1 − {ratio}) are seen.")


def check_random_masking(fn: Callable[[torch.Tensor, float], Any]) -> CheckResult:
    """Exercise: ``fn(noise [B, N], ratio) -> (ids_keep [B, N_vis], ids_restore [B, N])``, MAE's argsort masking."""
    name = "random masking"
    gen = torch.Generator().manual_seed(1)
    noise = torch.rand(3, 50, generator=gen)
    ratio = 0.75
    num_keep = 50 - int(round(50 * ratio))  # 12 (not int(50 * 0.25) = 12 here; see below)
    ids_shuffle = torch.argsort(noise, dim=1)
    expected_keep = ids_shuffle[:, :num_keep]
    expected_restore = torch.argsort(ids_shuffle, dim=1)
    result, failure = _call(name, fn, noise.clone(), ratio)
    if failure is not None:
        return failure
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        return _fail(name, "return two tensors: (ids_keep, ids_restore).")
    ids_keep, ids_restore = (torch.as_tensor(r) for r in result)
    if ids_keep.shape != expected_keep.shape:
        if ids_keep.shape[-1] == 50 - num_keep:
            return _fail(name, f"ids_keep has {ids_keep.shape[-1]} entries per sample: that is the hidden count. "
                         f"Keep N·(1−ratio) = {num_keep}.")
        return _fail(name, f"ids_keep should have shape {_shape(expected_keep)}, got {_shape(ids_keep)}.")
    if ids_restore.shape != expected_restore.shape:
        return _fail(name, f"ids_restore should have shape {_shape(expected_restore)}, got {_shape(ids_restore)}.")
    if torch.equal(ids_keep.sort(dim=1).values, ids_shuffle[:, -num_keep:].sort(dim=1).values):
        return _fail(name, "you kept the patches with the *largest* noise; argsort is ascending, keep the first ones.")
    if not torch.equal(ids_keep.sort(dim=1).values, expected_keep.sort(dim=1).values):
        return _fail(name, "ids_keep does not hold the patches with the smallest noise.")
    if torch.equal(ids_restore, ids_shuffle):
        return _fail(name, "ids_restore equals ids_shuffle; it must undo it: ids_restore = argsort(ids_shuffle).")
    if not torch.equal(ids_restore, expected_restore):
        return _fail(name, "ids_restore does not invert the shuffle: gathering with it must give 0, 1, ..., N−1.")
    return _ok(name, f"correct — {num_keep} of 50 patches kept in every sample, and ids_restore undoes the shuffle.")


# ---------------------------------------------------------------------- BEiT's block-wise masking
def _components(hidden: torch.Tensor) -> list[int]:
    """Sizes of the 4-connected groups of hidden patches in one ``[h, w]`` bool mask."""
    height, width = hidden.shape
    cells = hidden.tolist()
    seen = [[False] * width for _ in range(height)]
    sizes = []
    for row in range(height):
        for col in range(width):
            if not cells[row][col] or seen[row][col]:
                continue
            seen[row][col], stack, size = True, [(row, col)], 0
            while stack:
                r, c = stack.pop()
                size += 1
                for rr, cc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
                    if 0 <= rr < height and 0 <= cc < width and cells[rr][cc] and not seen[rr][cc]:
                        seen[rr][cc] = True
                        stack.append((rr, cc))
            sizes.append(size)
    return sizes


def block_statistics(masks: torch.Tensor) -> tuple[float, float]:
    """``(neighbour share, patches in large groups)`` of bool masks ``[M, h, w]``.

    *neighbour share*: of the side-neighbours of hidden patches, the fraction that are hidden too (about
    the ratio for random masks, much more for blocks). *patches in large groups*: the fraction of hidden
    patches that lie in a 4-connected group of at least 8 patches.
    """
    hidden = masks.bool()
    padded = torch.nn.functional.pad(hidden.float(), (1, 1, 1, 1))
    inside = torch.nn.functional.pad(torch.ones_like(hidden, dtype=torch.float), (1, 1, 1, 1))
    shifts = [(0, 1), (2, 1), (1, 0), (1, 2)]
    height, width = hidden.shape[-2:]
    hidden_next = sum(padded[:, r: r + height, c: c + width] for r, c in shifts)  # hidden side-neighbours
    all_next = sum(inside[:, r: r + height, c: c + width] for r, c in shifts)  # side-neighbours in the grid
    share = float((hidden_next * hidden).sum() / (all_next * hidden).sum().clamp_min(1))
    sizes = [size for mask in hidden for size in _components(mask)]
    total = sum(sizes)
    large = sum(size for size in sizes if size >= 8) / total if total else 0.0
    return share, large


def _reference_masks(grid, num_hidden, seeds, **options) -> torch.Tensor:
    rows = [block_mask(1, grid, num_hidden, torch.Generator().manual_seed(s), **options) for s in seeds]
    return torch.cat(rows).reshape(len(seeds), *grid)


def _as_grid_mask(name: str, result: Any, grid: tuple[int, int]) -> tuple[torch.Tensor | None, CheckResult | None]:
    """The student's mask as a bool ``[h, w]`` tensor, or a verdict saying what is wrong with it."""
    try:
        mask = torch.as_tensor(result)
    except Exception:
        return None, _fail(name, f"return a torch tensor (bool, True = hidden), got {type(result).__name__}.")
    height, width = grid
    if tuple(mask.shape) != (height, width):
        if tuple(mask.shape) == (width, height):
            return None, _fail(name, f"for a {height} × {width} grid you returned shape {_shape(mask)}: rows and "
                               "columns are swapped — the mask is [h, w], h rows of w patches.")
        if mask.numel() == height * width:
            return None, _fail(name, f"return the mask on the grid, shape [h, w] = [{height}, {width}], got "
                               f"{_shape(mask)} (reshape it).")
        return None, _fail(name, f"expected a bool mask of shape [{height}, {width}], got {_shape(mask)}.")
    if mask.dtype != torch.bool:
        if not bool(((mask == 0) | (mask == 1)).all()):
            return None, _fail(name, "return a bool mask (True = hidden); your values are not all 0 or 1.")
        mask = mask.bool()
    return mask, None


def check_block_mask(fn: Callable[..., Any]) -> CheckResult:
    """Exercise: ``fn(grid, num_hidden, generator, min_block_patches=16, min_aspect=0.3) -> bool [h, w]``.

    BEiT's block-wise masking (Bao et al., 2021, Algorithm 1) for one image, with an exact count:
    draw rectangles — area uniform in ``[min_block_patches, still to hide]``, aspect ratio log-uniform in
    ``[min_aspect, 1 / min_aspect]``, ``h = round(sqrt(area · aspect))``, ``w = round(sqrt(area / aspect))``,
    a random position — keeping one only if it fits in the grid and hides at least one new patch but no
    more than are still to hide; after 10 failed tries in a row stop, and top up at random among the
    visible patches until exactly ``num_hidden`` are hidden. Every random number comes from ``generator``.
    """
    name = "block masking"
    cases = [((14, 14), 78, 16), ((6, 10), 24, 4), ((14, 14), 150, 16), ((5, 5), 0, 4), ((5, 5), 25, 4)]
    for grid, num_hidden, min_block in cases:
        for seed in range(3 if num_hidden in (0, grid[0] * grid[1]) else 12):
            result, failure = _call(name, fn, grid, num_hidden, torch.Generator().manual_seed(seed), min_block)
            if failure is not None:
                return failure
            mask, failure = _as_grid_mask(name, result, grid)
            if failure is not None:
                return failure
            count = int(mask.sum())
            where = f"on a {grid[0]} × {grid[1]} grid with num_hidden={num_hidden} (seed {seed})"
            if count > num_hidden:
                return _fail(name, f"{where} you hid {count} patches, more than asked: keep a rectangle only if "
                             "the patches it newly hides fit in what is still to hide.")
            if count < num_hidden:
                return _fail(name, f"{where} you hid only {count}: BEiT's loop can stop short (10 tries in a row "
                             "that fail), so top up at random among the visible patches to exactly num_hidden.")
    grid, num_hidden, min_block = (14, 14), 78, 16  # BEiT: 40 % of ViT-B/16's 196 patches, blocks of >= 16
    first, again = (fn(grid, num_hidden, torch.Generator().manual_seed(100), min_block) for _ in range(2))
    if not torch.equal(torch.as_tensor(first).bool(), torch.as_tensor(again).bool()):
        return _fail(name, "two calls with generators seeded alike gave different masks: draw every random number "
                     "from `generator` (torch.rand(..., generator=generator), torch.randint(..., generator=...)).")
    seeds = list(range(200, 240))
    masks = []
    for seed in seeds:
        mask, failure = _as_grid_mask(name, fn(grid, num_hidden, torch.Generator().manual_seed(seed), min_block), grid)
        if failure is not None:
            return failure
        masks.append(mask)
    masks = torch.stack(masks)  # [40, 14, 14]
    if all(torch.equal(masks[0], m) for m in masks[1:]):
        return _fail(name, "every seed gave the same mask: the positions and sizes of the rectangles must be "
                     "drawn with `generator`.")
    share, large = block_statistics(masks)
    ref_share, ref_large = block_statistics(_reference_masks(grid, num_hidden, seeds, min_block_patches=min_block))
    ratio = num_hidden / (grid[0] * grid[1])
    if share < (ratio + ref_share) / 2:
        return _fail(name, f"your hidden patches look scattered: {share:.0%} of their side-neighbours are hidden too, "
                     f"about what random masking gives ({ratio:.0%}); BEiT's rectangles give {ref_share:.0%}. Hide "
                     "whole rectangles, and top up at random only what the rectangles leave.")
    if large < ref_large - 0.2:
        return _fail(name, f"only {large:.0%} of your hidden patches lie in groups of 8 or more (BEiT: {ref_large:.0%}): "
                     "draw each rectangle's area between min_block_patches and the count still to hide, not from 1.")
    return _ok(name, f"correct — exactly num_hidden patches every time, in blocks ({share:.0%} of hidden patches' "
               f"neighbours hidden too; BEiT's reference {ref_share:.0%}, random masking about {ratio:.0%}), and the "
               "same generator gives the same mask.")
