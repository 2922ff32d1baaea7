"""Random masking and its simple, hand-made relatives.

* ``random`` -- MAE (He et al., 2021, "Masked Autoencoders Are Scalable Vision Learners").
  Draw one uniform random number per patch, sort the patches by it, keep the first
  ``N - num_hidden`` and hide the rest.  With a high ratio (MAE uses 75 %) the task cannot
  be solved by copying a neighbour, so the model has to learn what objects look like.
* ``grid`` -- MAE's grid-wise sampling ablation: keep one patch in every cell of a regular
  lattice.  No hidden patch is far from a visible one, so it can be filled in by
  interpolation: the task is easy and the features are worse (MAE, Fig. 6).
* ``center`` / ``frame`` -- deterministic teaching baselines: hide the middle (inpainting,
  as in Context Encoders, Pathak et al., 2016) or the border (outpainting, as in
  Boundless, Teterwak et al., 2019).  The model cannot see across the gap, so these show
  what a masked autoencoder does when the hidden region is large and contiguous.

Every strategy hides exactly ``round(N * ratio)`` patches; :func:`adjust_to_count` is the
shared top-up / trim rule for strategies whose natural output misses that count.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .base import Mask, invert_permutation
from .registry import register


def random_noise(batch_size: int, num_patches: int, generator: torch.Generator) -> torch.Tensor:
    """Uniform noise ``[B, N]`` in [0, 1), drawn on the CPU from ``generator``."""
    return torch.rand(batch_size, num_patches, generator=generator)


def mask_from_noise(noise: torch.Tensor, num_hidden: int, grid=None, masker: str = "random") -> Mask:
    """MAE's argsort masking: keep the patches with the smallest noise, hide the rest.

    Args:
        noise: ``[B, N]`` one value per patch (any device).
        num_hidden: how many patches to hide in each sample.

    Returns:
        A :class:`Mask` whose ``ids_shuffle`` is ``argsort(noise)`` exactly as in the
        official code, so feeding the same noise reproduces the official mask.
    """
    batch_size, num_patches = noise.shape
    num_visible = num_patches - num_hidden
    ids_shuffle = torch.argsort(noise, dim=1)  # [B, N] ascending: small noise is kept
    ids_restore = invert_permutation(ids_shuffle)  # [B, N], = argsort(ids_shuffle)
    ids_keep = ids_shuffle[:, :num_visible]  # [B, N_vis]
    hidden = torch.ones(batch_size, num_patches, dtype=torch.bool, device=noise.device)
    hidden[:, :num_visible] = False  # in shuffled order: the first N_vis are visible
    hidden = torch.gather(hidden, 1, ids_restore)  # [B, N] back in patch order
    return Mask(hidden, ids_keep, ids_restore, ids_shuffle, grid=grid, masker=masker)


@register(
    "random",
    paper="MAE (He et al., 2021)",
    idea="Hide a uniformly random subset of patches; 75% is MAE's sweet spot.",
    default_ratio=0.75,
)
def random_mask(batch_size, grid, num_hidden, generator):
    num_patches = 1
    for side in grid:
        num_patches *= side
    noise = random_noise(batch_size, num_patches, generator)  # [B, N]
    return mask_from_noise(noise, num_hidden, grid=tuple(grid), masker="random")


# ---------------------------------------------------------------------- shared helper
def adjust_to_count(hidden: torch.Tensor, num_hidden: int, generator: torch.Generator) -> torch.Tensor:
    """Make every row of ``hidden`` hide exactly ``num_hidden`` patches, changing as little as possible.

    The rule, used by every strategy whose natural output can miss the count:

    * a row that hides **too few** patches is *topped up* with visible patches chosen uniformly
      at random;
    * a row that hides **too many** is *trimmed*: a uniformly random subset of its hidden
      patches, of the right size, stays hidden.

    Args:
        hidden: bool ``[B, N]`` (any counts per row).
        num_hidden: the count every row must end with.
        generator: CPU generator for the random choices.

    Returns:
        bool ``[B, N]`` with exactly ``num_hidden`` True values per row.
    """
    batch_size, num_patches = hidden.shape
    # Already-hidden patches get priority 2 + u, visible ones u (u uniform in [0, 1)):
    # taking the num_hidden highest priorities keeps hidden ones first, in random order.
    priority = hidden.cpu().float() * 2.0 + torch.rand(batch_size, num_patches, generator=generator)
    order = torch.argsort(priority, dim=1, descending=True)  # [B, N]
    result = torch.zeros(batch_size, num_patches, dtype=torch.bool)
    result.scatter_(1, order[:, :num_hidden], True)
    return result.to(hidden.device)


# ---------------------------------------------------------------------- grid (regular sampling)
def lattice_cell(height: int, width: int, num_visible: int) -> tuple[int, int]:
    """Cell size ``(a, b)`` of the coarsest regular lattice that still keeps ``num_visible`` patches.

    The lattice keeps the top-left patch of every ``a x b`` cell, i.e. the patches whose
    row is a multiple of ``a`` and whose column is a multiple of ``b``:
    ``ceil(h/a) * ceil(w/b)`` patches.  Cells are square or nearly square
    (``|a - b| <= 1``).  Among the cells that keep at least ``num_visible`` patches we pick
    the one that keeps the fewest (ties: the squarer cell, then the wider cell).  On a
    14 x 14 grid: ratio 0.75 gives 2 x 2 cells (49 patches, MAE's grid ablation), 0.5 gives
    1 x 2 cells (98 patches), 0.9 gives 3 x 4 cells (20 patches).
    """
    best_key, best_cell = None, (1, 1)
    for rows in range(1, height + 1):
        for cols in (rows - 1, rows, rows + 1):
            if not 1 <= cols <= width:
                continue
            kept = math.ceil(height / rows) * math.ceil(width / cols)
            if kept < num_visible:
                continue
            key = (kept, abs(rows - cols), rows)
            if best_key is None or key < best_key:
                best_key, best_cell = key, (rows, cols)
    return best_cell


@register(
    "grid",
    paper="MAE grid-wise sampling ablation (He et al., 2021)",
    idea="Keep one patch per cell of a regular lattice (2x2 cells at 75%); easy, because neighbours leak.",
    default_ratio=0.75,
)
def grid_mask(batch_size, grid, num_hidden, generator):
    """Regular sampling: keep the top-left patch of every cell of a lattice, hide the rest.

    Rule for any ratio: the cell size comes from :func:`lattice_cell` (the coarsest
    near-square lattice that keeps at least ``N - num_hidden`` patches).  When the lattice
    keeps more patches than needed (ratios that are not ``1 - 1/(a*b)``, or grids that are
    not multiples of the cell), the surplus lattice patches are hidden too, chosen at random
    with the generator.  So the visible patches are always lattice points.
    """
    height, width = grid
    num_visible = height * width - num_hidden
    rows_step, cols_step = lattice_cell(height, width, num_visible)
    rows = torch.arange(height).unsqueeze(1)  # [h, 1]
    cols = torch.arange(width).unsqueeze(0)  # [1, w]
    on_lattice = (rows % rows_step == 0) & (cols % cols_step == 0)  # [h, w]
    on_lattice = on_lattice.reshape(1, -1).expand(batch_size, -1)  # [B, N]
    visible = adjust_to_count(on_lattice, num_visible, generator)  # trim the surplus at random
    return ~visible


# ---------------------------------------------------------------------- center / frame (deterministic)
def _ring_and_distance(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Per patch (row-major): its ring (distance to the nearest edge) and squared distance to the centre.

    The squared distance is measured in half-patches, ``(2i - (h-1))**2 + (2j - (w-1))**2``,
    so it is an exact integer and ties are real ties.
    """
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    ring = np.minimum.reduce([rows, cols, height - 1 - rows, width - 1 - cols])  # [h, w]
    dist2 = (2 * rows - (height - 1)) ** 2 + (2 * cols - (width - 1)) ** 2  # [h, w]
    return ring.reshape(-1), dist2.reshape(-1)


def _hide_first(order: np.ndarray, batch_size: int, num_hidden: int) -> torch.Tensor:
    """bool ``[B, N]``: the first ``num_hidden`` patches of ``order`` hidden, the same in every row."""
    hidden = torch.zeros(order.shape[0], dtype=torch.bool)
    hidden[torch.as_tensor(order[:num_hidden])] = True
    return hidden.unsqueeze(0).repeat(batch_size, 1)  # [B, N]


@register(
    "center",
    paper="Context Encoders (Pathak et al., 2016), a teaching baseline",
    idea="Hide the middle of the image; the model must invent the object from its surroundings.",
    default_ratio=0.25,
)
def center_mask(batch_size, grid, num_hidden, generator):
    """Hide the central square of patches; deterministic (the generator is not used).

    Patches are hidden in this order: innermost ring first (ring = distance to the nearest
    edge, so rings are concentric rectangles), within a ring the ones closest to the centre
    first, then by patch index.  The first ``round(N * ratio)`` in that order are hidden.
    """
    height, width = grid
    ring, dist2 = _ring_and_distance(height, width)
    index = np.arange(height * width)
    order = np.lexsort((index, dist2, -ring))  # last key is the primary one
    return _hide_first(order, batch_size, num_hidden)


@register(
    "frame",
    paper="Image outpainting baseline (e.g. Teterwak et al., 2019)",
    idea="Hide the border of the image; the model must extend the scene outwards.",
    default_ratio=0.5,
)
def frame_mask(batch_size, grid, num_hidden, generator):
    """Hide the outer rings of patches; deterministic (the generator is not used).

    Patches are hidden in this order: outermost ring first, within a ring the ones farthest
    from the centre first (corners before edge middles), then by patch index.
    """
    height, width = grid
    ring, dist2 = _ring_and_distance(height, width)
    index = np.arange(height * width)
    order = np.lexsort((index, -dist2, ring))
    return _hide_first(order, batch_size, num_hidden)
