"""Frame-wise random masking for video: a fresh random mask in every temporal slot.

The naive way to mask a video is to mask each frame as MAE masks an image: independent
random patches per frame.  VideoMAE (Tong et al., 2022, "VideoMAE: Masked Autoencoders are
Data-Efficient Learners for Self-Supervised Video Pre-Training") argues that this leaks:
neighbouring frames are nearly identical, so a patch hidden in one frame is often visible
at the same place in the next, and the model can copy it instead of understanding the clip.
``frame_random`` is that naive masker, kept as the baseline that ``tube`` is compared with.

The grid is ``(T, h, w)`` like ``tube``: ``T`` temporal slots of ``h x w`` patches,
numbered time-major.  Exact-count rule: with ``num_hidden = k * T + r`` (``0 <= r < T``)
every slot hides ``k`` patches and ``r`` slots, chosen at random, hide one more; so the
slots differ by at most one hidden patch and every sample hides exactly ``num_hidden``.
"""

from __future__ import annotations

import torch

from .base import invert_permutation
from .registry import register

__all__ = ["frame_random_mask"]


@register(
    "frame_random",
    paper="the frame-wise baseline of VideoMAE (Tong et al., 2022)",
    idea="For video: a new random mask per frame; a patch hidden now is often visible a frame later, so it leaks.",
    default_ratio=0.9,
    grid_dims=3,
)
def frame_random_mask(batch_size, grid, num_hidden, generator):
    """Independent random masks per temporal slot, exactly ``num_hidden`` patches: bool ``[B, T*h*w]``."""
    if len(grid) != 3:
        raise ValueError(f"frame_random masking needs a 3-D grid (T, h, w), got {tuple(grid)}")
    frames, height, width = grid
    spatial = height * width
    per_slot, extra = divmod(num_hidden, frames)
    # how many patches each slot hides: per_slot, plus one in `extra` random slots
    slot_rank = invert_permutation(torch.argsort(torch.rand(batch_size, frames, generator=generator), dim=1))
    counts = per_slot + (slot_rank < extra).long()  # [B, T]
    # a random order of the positions in every slot, drawn independently: hide the first counts[b, t]
    noise = torch.rand(batch_size, frames, spatial, generator=generator)  # [B, T, h*w]
    position_rank = invert_permutation(torch.argsort(noise, dim=2).reshape(-1, spatial))
    position_rank = position_rank.reshape(batch_size, frames, spatial)  # [B, T, h*w]
    hidden = position_rank < counts.unsqueeze(2)  # [B, T, h*w]
    return hidden.reshape(batch_size, frames * spatial)
