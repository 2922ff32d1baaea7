"""Tube masking for video: the same spatial mask at every time step.

From VideoMAE (Tong et al., 2022, "VideoMAE: Masked Autoencoders are Data-Efficient
Learners for Self-Supervised Video Pre-Training").  Neighbouring video frames are almost
identical, so with independent masks per frame a hidden patch could be copied from the
next frame.  Hiding the same spatial positions in every frame -- a "tube" through time --
closes that shortcut, which is why VideoMAE can hide 90 % of the patches.

The grid is ``(T, h, w)``: ``T`` temporal slots of ``h x w`` patches, ``N = T * h * w``,
patches numbered time-major (all of slot 0, then slot 1, ...).

Exact-count rule: ``round(N * ratio)`` is not always a multiple of ``T``.  With
``num_hidden = k * T + r`` (``0 <= r < T``) we hide ``k`` full tubes at random spatial
positions and one more, partial tube of ``r`` time steps (the steps and the position
chosen at random).  So every hidden patch belongs to a full tube except at most ``T - 1``.
Pass ``strict=True`` to forbid the partial tube: a ratio whose count is not a multiple of
``T`` then raises a ``ValueError`` that names the nearest ratios that work.
"""

from __future__ import annotations

import torch

from .base import invert_permutation
from .registry import register

__all__ = ["tube_mask"]


def _check_tube_count(grid: tuple[int, int, int], num_hidden: int) -> None:
    """``strict`` mode: raise when ``num_hidden`` is not a whole number of tubes."""
    frames, height, width = grid
    num_patches = frames * height * width
    if num_hidden % frames == 0:
        return
    below = num_hidden // frames
    candidates = [k for k in (below, below + 1) if k < height * width]
    nearest = " or ".join(f"{k * frames / num_patches:.4f} ({k} tubes)" for k in candidates)
    raise ValueError(
        f"ratio hides {num_hidden} of {num_patches} patches, which is not a whole number of tubes of "
        f"length {frames}; use a ratio of {nearest}, i.e. k / {height * width} for a whole k, "
        "or pass strict=False to allow one partial tube"
    )


@register(
    "tube",
    paper="VideoMAE (Tong et al., 2022)",
    idea="For video: hide the same spatial patches in every frame, so no frame can copy from its neighbour.",
    default_ratio=0.9,
    grid_dims=3,
)
def tube_mask(batch_size, grid, num_hidden, generator, *, strict=False):
    """Random tubes through time, exactly ``num_hidden`` patches: bool ``[B, T*h*w]``.

    Options:
        strict: if True, refuse counts that are not a multiple of ``T`` instead of adding
            one partial tube.
    """
    if len(grid) != 3:
        raise ValueError(f"tube masking needs a 3-D grid (T, h, w), got {tuple(grid)}")
    frames, height, width = grid
    if strict:
        _check_tube_count(tuple(grid), num_hidden)
    spatial = height * width
    full_tubes, partial_steps = divmod(num_hidden, frames)
    # A random order of spatial positions: the first `full_tubes` get full tubes,
    # the next one (if partial_steps > 0) the partial tube.
    position_order = torch.argsort(torch.rand(batch_size, spatial, generator=generator), dim=1)
    position_rank = invert_permutation(position_order)  # [B, h*w], a random permutation of 0 .. h*w-1
    full = (position_rank < full_tubes).unsqueeze(1).expand(batch_size, frames, spatial)  # [B, T, h*w]
    partial_position = (position_rank == full_tubes).unsqueeze(1)  # [B, 1, h*w]
    step_rank = invert_permutation(torch.argsort(torch.rand(batch_size, frames, generator=generator), dim=1))
    partial_steps_mask = (step_rank < partial_steps).unsqueeze(2)  # [B, T, 1]
    hidden = full | (partial_position & partial_steps_mask)  # [B, T, h*w]
    return hidden.reshape(batch_size, frames * spatial)
