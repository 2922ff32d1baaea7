"""Images as sequences of patches, and where each patch sits.

A Vision Transformer never sees an image: it sees a sequence of flattened square
patches. This module turns images into patches and back, and builds the fixed 2-D
sine-cosine position embeddings that MAE adds to every patch token.

Conventions (the same as the official MAE code, so its weights line up):

* images are ``[B, C, H, W]``;
* patches are ``[B, N, p*p*C]`` with ``N = (H/p) * (W/p)`` in row-major order
  (left to right, then top to bottom);
* inside one patch the values are ordered ``(row, column, channel)``.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = [
    "grid_size",
    "patch_centers",
    "patchify",
    "sincos_pos_embed_1d",
    "sincos_pos_embed_2d",
    "unpatchify",
]


def _as_pair(x: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(x, (tuple, list)):
        if len(x) != 2:
            raise ValueError(f"expected an int or a pair (h, w), got {x!r}")
        return int(x[0]), int(x[1])
    return int(x), int(x)


def grid_size(image_size: int | tuple[int, int], patch_size: int) -> tuple[int, int]:
    """Number of patches along each side: ``(H // p, W // p)``.

    Raises ``ValueError`` when a side is not a multiple of the patch size.
    """
    height, width = _as_pair(image_size)
    if patch_size <= 0:
        raise ValueError(f"patch_size must be a positive integer, got {patch_size}")
    for name, side in (("height", height), ("width", width)):
        if side % patch_size != 0:
            raise ValueError(
                f"image {name} {side} is not divisible by patch size {patch_size}; "
                f"resize or crop the image to a multiple of {patch_size} "
                f"(e.g. {side // patch_size * patch_size} or {(side // patch_size + 1) * patch_size})"
            )
    return height // patch_size, width // patch_size


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Cut images into flattened, non-overlapping patches.

    Args:
        images: ``[B, C, H, W]``; H and W must be multiples of ``patch_size``.
        patch_size: side ``p`` of a square patch, in pixels.

    Returns:
        ``[B, N, p*p*C]`` with ``N = (H/p)*(W/p)``; values inside a patch are
        ordered (row, column, channel), as in the official MAE code.
    """
    if images.ndim != 4:
        raise ValueError(f"patchify expects images of shape [B, C, H, W], got shape {tuple(images.shape)}")
    batch, channels, height, width = images.shape
    h, w = grid_size((height, width), patch_size)
    p = patch_size
    x = images.reshape(batch, channels, h, p, w, p)  # [B, C, h, p, w, p]
    x = x.permute(0, 2, 4, 3, 5, 1)  # [B, h, w, p, p, C]
    return x.reshape(batch, h * w, p * p * channels)  # [B, N, p*p*C]


def unpatchify(
    patches: torch.Tensor,
    patch_size: int,
    grid: tuple[int, int] | None = None,
    channels: int | None = None,
) -> torch.Tensor:
    """Inverse of :func:`patchify`.

    Args:
        patches: ``[B, N, p*p*C]``.
        patch_size: ``p``.
        grid: ``(h, w)`` patches per side; if omitted the grid must be square.
        channels: ``C``; inferred from the last dimension when omitted.

    Returns:
        images ``[B, C, h*p, w*p]``.
    """
    if patches.ndim != 3:
        raise ValueError(f"unpatchify expects patches of shape [B, N, p*p*C], got shape {tuple(patches.shape)}")
    batch, num_patches, dim = patches.shape
    p = patch_size
    if channels is None:
        if dim % (p * p) != 0:
            raise ValueError(f"patch dimension {dim} is not a multiple of patch_size**2 = {p * p}")
        channels = dim // (p * p)
    if dim != p * p * channels:
        raise ValueError(f"patch dimension {dim} does not equal patch_size**2 * channels = {p * p * channels}")
    if grid is None:
        side = int(round(num_patches**0.5))
        if side * side != num_patches:
            raise ValueError(f"{num_patches} patches do not form a square grid; pass grid=(h, w)")
        grid = (side, side)
    h, w = grid
    if h * w != num_patches:
        raise ValueError(f"grid {grid} holds {h * w} patches but the input has {num_patches}")
    x = patches.reshape(batch, h, w, p, p, channels)  # [B, h, w, p, p, C]
    x = x.permute(0, 5, 1, 3, 2, 4)  # [B, C, h, p, w, p]
    return x.reshape(batch, channels, h * p, w * p)  # [B, C, H, W]


def sincos_pos_embed_1d(embed_dim: int, positions: np.ndarray) -> np.ndarray:
    """1-D sine-cosine embedding of ``positions`` (any shape, flattened): ``[M, embed_dim]``.

    Frequencies ``omega_i = 1 / 10000**(i / (D/2))``; the first half of the output is
    ``sin(pos * omega)``, the second half ``cos(pos * omega)``.
    """
    if embed_dim % 2 != 0:
        raise ValueError(f"embed_dim must be even for sine-cosine embeddings, got {embed_dim}")
    omega = np.arange(embed_dim // 2, dtype=np.float64) / (embed_dim / 2.0)
    omega = 1.0 / 10000**omega  # [D/2]
    angles = np.einsum("m,d->md", positions.reshape(-1).astype(np.float64), omega)  # [M, D/2]
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)  # [M, D]


def sincos_pos_embed_2d(
    embed_dim: int, grid: int | tuple[int, int], cls_token: bool = False
) -> np.ndarray:
    """Fixed 2-D sine-cosine position embeddings, as in MAE.

    Half of the channels encode the patch's row, the other half its column.  Following
    the official code, the first half is driven by the *column* index and the second by
    the *row* index.

    Args:
        embed_dim: ``D``, divisible by 4.
        grid: ``(h, w)`` patches per side (or one int for a square grid).
        cls_token: prepend a row of zeros for the class token.

    Returns:
        ``[h*w, D]`` (or ``[1 + h*w, D]`` with ``cls_token``), float32 numpy.
    """
    if embed_dim % 4 != 0:
        raise ValueError(f"embed_dim must be divisible by 4 for 2-D sine-cosine embeddings, got {embed_dim}")
    h, w = _as_pair(grid)
    rows, cols = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
    emb_cols = sincos_pos_embed_1d(embed_dim // 2, cols)  # [h*w, D/2]
    emb_rows = sincos_pos_embed_1d(embed_dim // 2, rows)  # [h*w, D/2]
    emb = np.concatenate([emb_cols, emb_rows], axis=1)  # [h*w, D]
    if cls_token:
        emb = np.concatenate([np.zeros((1, embed_dim)), emb], axis=0)  # [1+h*w, D]
    return emb.astype(np.float32)


def patch_centers(grid: int | tuple[int, int], patch_size: int = 1) -> torch.Tensor:
    """Centre of each patch in pixels, ``[N, 2]`` as (row, column), row-major order."""
    h, w = _as_pair(grid)
    rows, cols = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    centers = torch.stack([rows.reshape(-1), cols.reshape(-1)], dim=1).float()
    return (centers + 0.5) * patch_size
