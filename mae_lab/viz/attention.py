"""Figures of attention: where the average patch, the class token or a query patch looks, layer by layer.

The maps follow Dosovitskiy et al. (2021), "An Image is Worth 16x16 Words" (class-token
attention, and mean attention distance against depth, their Figure 7), and Abnar &
Zuidema (2020), "Quantifying Attention Flow in Transformers" (attention rollout).  The
numbers come from :mod:`mae_lab.attention`; these functions lay them over the image.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from .. import attention as attn_lib
from ..masking import Mask
from ..panels import as_batch, grey_hidden, hidden_grid, infer_grid, to_hwc
from ._figure import new_figure, plain, resolve_query
from ._plotly import plotly_map

__all__ = ["plot_attention", "plot_attention_distance", "plotly_attention"]


def _overlay_axes(ax, rgb: np.ndarray, values: np.ndarray, grid, p: int, hidden, cmap: str, alpha: float,
                  title: str, query: int | None = None):
    """Draw the (masked) image and one per-patch map over it; returns the map's AxesImage."""
    ax.imshow(grey_hidden(rgb, hidden, p), interpolation="nearest")
    height, width = rgb.shape[:2]
    image = ax.imshow(np.ma.masked_invalid(values.reshape(grid)), cmap=cmap, alpha=alpha,
                      extent=(-0.5, width - 0.5, height - 0.5, -0.5), interpolation="nearest")
    if query is not None:
        row, col = divmod(query, grid[1])
        outline = Rectangle((col * p - 0.5, row * p - 0.5), p, p, fill=False, edgecolor="cyan", linewidth=1.5)
        ax.add_patch(outline)
    ax.set_title(title, fontsize=8)
    plain(ax)
    return image


def plot_attention(
    image: torch.Tensor,
    attentions: Sequence[torch.Tensor],
    kind: str = "mean",
    layers: Sequence[int] | None = None,
    heads: str | Sequence[int] | None = None,
    query: int | tuple[int, int] | None = None,
    mask: Mask | None = None,
    index: int = 0,
    patch_size: int | None = None,
    cmap: str = "inferno",
    alpha: float = 0.6,
    discard_ratio: float = 0.0,
    head_fusion: str = "mean",
    columns: int = 6,
    source: str = "mean",
) -> Figure:
    """Attention maps overlaid on the image.

    Args:
        image: ``[C, H, W]`` or ``[B, C, H, W]`` (sample ``index`` is drawn).
        attentions: :func:`mae_lab.attention.attention_maps` output, one ``[B, heads, T, T]`` per layer.
        kind: ``"mean"`` (what the average patch token looks at: the attention behind a mean-pooled
            feature, and the honest map for an MAE, whose loss never trains the class token),
            ``"cls"`` (what the class token looks at), ``"query"`` (what patch ``query`` looks at) or
            ``"rollout"`` (attention rolled out through all layers, for ``source``).
        layers: which layers (default all).
        heads: None = mean over heads (one panel per layer), ``"all"`` = one row per layer and
            one column per head, or a list of head indices.
        query: patch index or ``(row, col)`` for ``kind="query"``.
        mask: the mask the encoder saw (hidden patches are grey and get no attention).
        source: for ``kind="rollout"``, whose rolled-out attention: ``"mean"`` (the average patch)
            or ``"cls"`` (the class token).

    Returns:
        The Figure; panel titles say layer and head.
    """
    images = as_batch(image)
    rgb = to_hwc(images[index if images.shape[0] > 1 else 0])
    sample_mask = mask[index] if (mask is not None and mask.batch_size > 1) else mask
    attns = [a[index: index + 1] for a in attentions]
    num_layers, num_heads = len(attns), attns[0].shape[1]
    if patch_size is None:
        num_patches = mask.num_patches if mask is not None else attns[0].shape[-1] - 1
        grid, patch_size = infer_grid(rgb.shape[0], rgb.shape[1], num_patches)
    else:
        grid = (rgb.shape[0] // patch_size, rgb.shape[1] // patch_size)
    hidden = hidden_grid(sample_mask, grid) if sample_mask is not None else np.zeros(grid, dtype=bool)
    query = resolve_query(query, grid)

    if kind == "rollout":
        if source not in ("mean", "cls"):
            raise ValueError(f"source must be 'mean' (the average patch) or 'cls' (the class token), got {source!r}")
        rollout = attn_lib.attention_rollout(attns, discard_ratio=discard_ratio, head_fusion=head_fusion)
        read = attn_lib.mean_patch_attention if source == "mean" else attn_lib.cls_attention
        values = read(rollout, mask=sample_mask)[0].numpy()
        who = "average patch" if source == "mean" else "class token"
        fig = new_figure(3.2, 3.4)
        _overlay_axes(fig.add_subplot(), rgb, values, grid, patch_size, hidden, cmap, alpha,
                      f"rollout of the {who} ({num_layers} layers, {head_fusion} of heads)")
        return fig
    if kind not in ("mean", "cls", "query"):
        raise ValueError(f"kind must be 'mean', 'cls', 'query' or 'rollout', got {kind!r}")
    if kind == "query" and query is None:
        raise ValueError("kind='query' needs query= (a patch index or (row, col))")

    layers = list(range(num_layers)) if layers is None else [int(layer) % num_layers for layer in layers]
    if heads is None:
        head_list: list[int | None] = [None]
    elif heads == "all":
        head_list = list(range(num_heads))
    else:
        head_list = [int(h) for h in heads]
    panels = [(layer, head) for layer in layers for head in head_list]
    if heads is None:
        cols = min(columns, len(panels))
        rows = math.ceil(len(panels) / cols)
    else:
        rows, cols = len(layers), len(head_list)
    fig = new_figure(2.0 * cols + 0.4, 2.2 * rows + 0.3)
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax, (layer, head) in zip(axes.flat, panels):
        if kind == "mean":
            values = attn_lib.mean_patch_attention(attns, layer, head, mask=sample_mask)[0].numpy()
        elif kind == "cls":
            values = attn_lib.cls_attention(attns, layer, head, mask=sample_mask)[0].numpy()
        else:
            values = attn_lib.query_attention(attns, query, layer, head, mask=sample_mask)[0].numpy()
        head_name = "mean of heads" if head is None else f"head {head}"
        _overlay_axes(ax, rgb, values, grid, patch_size, hidden, cmap, alpha,
                      f"layer {layer} · {head_name}", query if kind == "query" else None)
    who = {"mean": "average patch", "cls": "class token"}.get(kind, f"query patch {query}")
    fig.suptitle(f"attention of the {who}", fontsize=10)
    return fig


def plot_attention_distance(
    distances: torch.Tensor | Mapping[str, torch.Tensor],
    ax=None,
    title: str = "Mean attention distance",
) -> Figure:
    """Mean attention distance of every head against depth (ViT paper, Figure 7).

    Args:
        distances: ``[L, heads]`` pixels from :func:`mae_lab.attention.mean_attention_distance`,
            or ``{label: [L, heads]}`` to compare models or settings (one colour each).

    Each dot is one head; the line joins the per-layer means.
    """
    series = dict(distances) if isinstance(distances, Mapping) else {"": distances}
    if ax is None:
        fig = new_figure(4.8, 3.4)
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    colors = colormaps["tab10"].colors
    for k, (label, values) in enumerate(series.items()):
        values = torch.as_tensor(values).detach().float().cpu().numpy()  # [L, heads]
        layers = np.arange(values.shape[0])  # 0-based, as in plot_attention and the explorer
        x = np.repeat(layers, values.shape[1])
        ax.scatter(x, values.reshape(-1), s=14, alpha=0.7, color=colors[k % 10], label=label or "heads")
        ax.plot(layers, values.mean(axis=1), color=colors[k % 10], linewidth=1, alpha=0.8)
    ax.set_xlabel("network depth (layer)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("mean attention distance (pixels)")
    ax.set_title(title, fontsize=10)
    ax.set_ylim(bottom=0)
    if len(series) > 1:
        ax.legend(fontsize=8)
    return fig


def plotly_attention(
    image: torch.Tensor,
    weights: torch.Tensor,
    query: int | tuple[int, int] | None = None,
    mask: Any = None,
    index: int = 0,
    title: str = "attention",
):
    """Interactive attention map over the image; hover a patch for its index and attention weight.

    Args:
        image: ``[C, H, W]`` or ``[B, C, H, W]``.
        weights: ``[N]`` or ``[B, N]`` per-patch weights (from :func:`mae_lab.attention.cls_attention`
            or :func:`~mae_lab.attention.query_attention`; NaN = hidden patch).
        query: the query patch to outline, if any.
    """
    images = as_batch(image)
    picture = images[index if images.shape[0] > 1 else 0]
    values = torch.as_tensor(weights).detach().float().cpu()
    values = (values[index] if values.ndim == 2 else values).numpy()
    grid, p = infer_grid(picture.shape[-2], picture.shape[-1], values.shape[0])
    hidden = hidden_grid(mask, grid, index) if mask is not None else None
    return plotly_map(picture, values, p, "weight", title, hidden, "Inferno", resolve_query(query, grid))
