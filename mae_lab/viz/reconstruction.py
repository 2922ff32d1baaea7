"""Figures of reconstructions: what the masked autoencoder fills in, and how wrong each patch is.

Five columns per image, as in Figure 2 of He et al. (2021), "Masked Autoencoders Are
Scalable Vision Learners", plus the per-patch error: original | masked input |
reconstruction | reconstruction with the visible patches pasted back | error.  The error
map of :func:`plotly_patch_error` tells each patch's number when hovered.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from ..panels import COLUMN_TITLES, VISIBLE_VEIL, as_batch, hidden_grid, infer_grid, to_hwc
from ._figure import new_figure, plain
from ._plotly import plotly_map

__all__ = ["plot_reconstruction", "plotly_patch_error"]


def _as_reconstruction(result: Any, images: torch.Tensor | None, model: Any) -> Any:
    """A Reconstruction from a Reconstruction, or from a model output plus the model and images."""
    if hasattr(result, "patch_error") and hasattr(result, "original"):
        return result
    if hasattr(result, "pred") and hasattr(result, "mask"):
        if model is None or images is None:
            raise ValueError("plot_reconstruction got a model output: pass model= and images= too, "
                             "or pass model.reconstruct(images, out)")
        with torch.no_grad():
            return model.reconstruct(as_batch(images), result)
    raise ValueError(f"plot_reconstruction expects model.reconstruct(...) output or a model output, "
                     f"got {type(result).__name__}")


def plot_reconstruction(
    result: Any,
    images: torch.Tensor | None = None,
    model: Any = None,
    max_images: int = 4,
    cmap: str = "magma",
) -> Figure:
    """Original | masked input | reconstruction | reconstruction + visible | per-patch error.

    Args:
        result: ``model.reconstruct(images, out)`` (a ``Reconstruction``), or the model output
            ``out = model(images, ...)`` together with ``model=`` and ``images=``.
        max_images: rows to draw at most (one row per image).
        cmap: colormap of the error heat map (one shared scale; the colour bar is on the right).
            Visible patches, which the MAE loss ignores, are washed out when the mask is known.

    Columns whose image is None (models that predict features rather than pixels) say so.
    """
    rec = _as_reconstruction(result, images, model)
    rows = min(int(rec.original.shape[0]), max_images)
    columns = [rec.original, rec.masked_input, rec.reconstruction, rec.pasted]
    fig = new_figure(11.5, 2.4 * rows + 0.3)
    axes = fig.subplots(rows, 5, squeeze=False)
    errors = rec.patch_error[:rows].detach().float().cpu().numpy()  # [rows, N]
    height, width = rec.original.shape[-2:]
    grid, _ = infer_grid(height, width, errors.shape[1])
    vmax = float(np.nanmax(errors)) if np.isfinite(errors).any() else 1.0
    heat = None
    for r in range(rows):
        for c, batch in enumerate(columns):
            ax = axes[r, c]
            if batch is None:
                ax.text(0.5, 0.5, "not pixels\n(feature target)", ha="center", va="center",
                        transform=ax.transAxes, fontsize=8)
            else:
                ax.imshow(to_hwc(batch[r]), interpolation="nearest")
            plain(ax)
        heat = axes[r, 4].imshow(errors[r].reshape(grid), cmap=cmap, vmin=0.0, vmax=vmax,
                                 interpolation="nearest")
        if getattr(rec, "mask", None) is not None:  # visible patches are not in the loss: wash them out
            veil = np.zeros((*grid, 4), dtype=np.float32)
            veil[~hidden_grid(rec.mask, grid, r)] = (*VISIBLE_VEIL, 0.9)
            axes[r, 4].imshow(veil, interpolation="nearest")
        plain(axes[r, 4])
        if getattr(rec, "mask", None) is not None:
            hidden = hidden_grid(rec.mask, grid, r).reshape(-1)
            summary = f"hidden-patch error {np.nanmean(errors[r][hidden]):.4f}"
        else:
            summary = f"mean error {np.nanmean(errors[r]):.4f}"
        axes[r, 0].set_ylabel(f"image {r}\n{summary}", fontsize=8)
    for c, name in enumerate(COLUMN_TITLES):
        axes[0, c].set_title(name, fontsize=9)
    fig.colorbar(heat, ax=axes[:, 4].tolist(), shrink=0.8, label="MSE per patch")
    return fig


def plotly_patch_error(
    image: Any,
    patch_error: torch.Tensor | None = None,
    mask: Any = None,
    index: int = 0,
    title: str = "per-patch reconstruction error",
):
    """Interactive heat map of the reconstruction error over the image; hover a patch for its numbers.

    Args:
        image: ``[C, H, W]`` / ``[B, C, H, W]``, or a ``Reconstruction`` (then ``patch_error``
            comes from it).
        patch_error: ``[N]`` or ``[B, N]`` error per patch.
        mask: optional mask, so the hover text says whether each patch was hidden.

    Returns:
        A ``plotly.graph_objects.Figure``.
    """
    if patch_error is None:
        if not hasattr(image, "patch_error"):
            raise ValueError("pass patch_error= or a Reconstruction from model.reconstruct(...)")
        image, patch_error = image.original, image.patch_error
    images = as_batch(image)
    picture = images[index if images.shape[0] > 1 else 0]
    errors = torch.as_tensor(patch_error).detach().float().cpu()
    errors = (errors[index] if errors.ndim == 2 else errors).numpy()  # [N]
    grid, p = infer_grid(picture.shape[-2], picture.shape[-1], errors.shape[0])
    hidden = hidden_grid(mask, grid, index) if mask is not None else None
    return plotly_map(picture, errors, p, "error", title, hidden, "Magma")
