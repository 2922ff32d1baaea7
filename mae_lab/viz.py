"""Figures for masked modeling: masks, reconstructions, attention and training curves.

Everything here *draws what it is given*; nothing trains or loads a model.  There are
two kinds of functions:

* **matplotlib figures** (``show_mask``, ``mask_gallery``, ``plot_reconstruction``,
  ``plot_attention``, ``plot_attention_distance``, ``plot_training``, ``plot_snapshots``):
  each returns a :class:`matplotlib.figure.Figure` (not registered with pyplot, so it is
  shown once when it is the last value of a notebook cell, and never leaks);
* **plotly figures** where hovering helps (``plotly_patch_error``, ``plotly_attention``):
  each patch tells its index, position and value.

The fast numpy panels the live widgets use live in :mod:`mae_lab.panels`.

Images are tensors ``[C, H, W]`` or ``[B, C, H, W]`` with values in [0, 1]; one channel
is shown in grey.  Hidden patches are drawn in flat grey (``fill=0.5``), as in the figures
of He et al. (2021), "Masked Autoencoders Are Scalable Vision Learners".  The attention
plots follow Dosovitskiy et al. (2021, ViT) and Abnar & Zuidema (2020, rollout).
"""

from __future__ import annotations

import functools
import math
import textwrap
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from . import attention as attn_lib
from . import panels
from .masking import Mask, for_images, get_masker, list_maskers
from .panels import (
    COLUMN_TITLES,
    GREY,
    VISIBLE_VEIL,
    as_batch,
    default_patch_size,
    grey_hidden,
    grid_of,
    hidden_grid,
    infer_grid,
    scale_for,
    to_hwc,
    to_uint8,
    upscale,
)

__all__ = [
    "default_patch_size",
    "figure_to_array",
    "mask_gallery",
    "plot_attention",
    "plot_attention_distance",
    "plot_patch_tokens",
    "plot_position_similarity",
    "plot_reconstruction",
    "plot_snapshots",
    "plot_targets",
    "plot_training",
    "plotly_attention",
    "plotly_patch_error",
    "position_similarity",
    "show_mask",
    "to_hwc",
]

def _moved(module, name: str):
    """A deprecated alias of ``module.<name>``, kept for one release."""
    function = getattr(module, name)
    new_home = "mae_lab.masking" if module is for_images else module.__name__

    @functools.wraps(function)
    def alias(*args, **kwargs):
        warnings.warn(f"mae_lab.viz.{name} moved to {new_home}.{name}; the old name will be removed "
                      "in the next release", DeprecationWarning, stacklevel=2)
        return function(*args, **kwargs)

    return alias


patch_saliency = _moved(for_images, "patch_saliency")
mask_for_image = _moved(for_images, "mask_for_image")
render_mask = _moved(panels, "render_mask")
render_reconstruction = _moved(panels, "render_reconstruction")
render_attention = _moved(panels, "render_attention")
render_tiles = _moved(panels, "render_tiles")
png_bytes = _moved(panels, "png_bytes")
colorize = _moved(panels, "colorize")


# ============================================================================ matplotlib figures
def _new_figure(width: float, height: float) -> Figure:
    """A Figure with an Agg canvas, outside pyplot (no global state, shown once in notebooks)."""
    _show_figures_in_ipython()
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _show_figures_in_ipython() -> None:
    """Let IPython draw a returned Figure as PNG even when pyplot (and its inline backend) was never imported."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None or not hasattr(shell, "display_formatter"):
        return
    formatter = shell.display_formatter.formatters["image/png"]
    try:
        formatter.lookup_by_type(Figure)
        return  # pyplot's inline backend (or an earlier call) already draws figures
    except KeyError:
        pass

    def to_png(fig: Figure) -> bytes:
        from IPython.core.pylabtools import print_figure

        return print_figure(fig, "png", bbox_inches="tight")

    formatter.for_type(Figure, to_png)


def figure_to_array(fig: Figure) -> np.ndarray:
    """Render a figure with Agg and return its pixels ``[H, W, 4]`` uint8 (for tests and thumbnails)."""
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba()).copy()


def _plain(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def _mask_title(mask_hidden: np.ndarray, name: str | None) -> str:
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
        fig = _new_figure(3.2, 3.4)
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    ax.imshow(grey_hidden(rgb, hidden, p, fill), interpolation="nearest")
    if grid_lines:
        for k in range(1, grid[0]):
            ax.axhline(k * p - 0.5, color="white", linewidth=0.5, alpha=0.6)
        for k in range(1, grid[1]):
            ax.axvline(k * p - 0.5, color="white", linewidth=0.5, alpha=0.6)
    name = mask.strategy if isinstance(mask, Mask) else None
    ax.set_title(title if title is not None else _mask_title(hidden, name), fontsize=9)
    _plain(ax)
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
        scores = for_images.patch_saliency(rgb_image, p)
    rows = math.ceil(len(names) / columns)
    cols = min(columns, len(names))
    fig = _new_figure(2.9 * cols, 4.0 * rows)
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    for ax, name in zip(axes.flat, names):
        info = get_masker(name)
        try:
            mask = for_images.mask_for_image(name, grid, ratio=ratio, seed=seed, scores=scores,
                                  **dict((options or {}).get(name, {})))
            show_mask(rgb_image, mask, patch_size=p, ax=ax, title="")
            counts = f"{mask.num_hidden}/{mask.num_patches} hidden"
        except (ValueError, KeyError, TypeError) as error:
            ax.imshow(to_hwc(rgb_image) * 0.3 + 0.7)
            ax.text(0.5, 0.5, textwrap.fill(str(error), 30), ha="center", va="center", fontsize=6,
                    transform=ax.transAxes, color="darkred")
            _plain(ax)
            counts = "could not draw"
        idea = textwrap.fill(info.idea, 38)
        ax.set_title(f"{name} · {counts}\n{idea}", fontsize=7, loc="left")
        ax.set_xlabel(textwrap.fill(info.paper, 42), fontsize=7)
    return fig


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
    fig = _new_figure(11.5, 2.4 * rows + 0.3)
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
            _plain(ax)
        heat = axes[r, 4].imshow(errors[r].reshape(grid), cmap=cmap, vmin=0.0, vmax=vmax,
                                 interpolation="nearest")
        if getattr(rec, "mask", None) is not None:  # visible patches are not in the loss: wash them out
            veil = np.zeros((*grid, 4), dtype=np.float32)
            veil[~hidden_grid(rec.mask, grid, r)] = (*VISIBLE_VEIL, 0.9)
            axes[r, 4].imshow(veil, interpolation="nearest")
        _plain(axes[r, 4])
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


def _resolve_query(query: int | tuple[int, int] | None, grid: tuple[int, int]) -> int | None:
    if query is None:
        return None
    if isinstance(query, (tuple, list)):
        row, col = int(query[0]), int(query[1])
        if not (0 <= row < grid[0] and 0 <= col < grid[1]):
            raise ValueError(f"query (row {row}, col {col}) is outside the {grid[0]}x{grid[1]} patch grid")
        return row * grid[1] + col
    if not 0 <= int(query) < grid[0] * grid[1]:
        raise ValueError(f"query patch {query} is outside the grid of {grid[0] * grid[1]} patches")
    return int(query)


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
    _plain(ax)
    return image


def plot_attention(
    image: torch.Tensor,
    attentions: Sequence[torch.Tensor],
    kind: str = "cls",
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
) -> Figure:
    """Attention maps overlaid on the image.

    Args:
        image: ``[C, H, W]`` or ``[B, C, H, W]`` (sample ``index`` is drawn).
        attentions: :func:`mae_lab.attention.attention_maps` output, one ``[B, heads, T, T]`` per layer.
        kind: ``"cls"`` (what the class token looks at), ``"query"`` (what patch ``query``
            looks at) or ``"rollout"`` (class-token attention rolled out through all layers).
        layers: which layers (default all).
        heads: None = mean over heads (one panel per layer), ``"all"`` = one row per layer and
            one column per head, or a list of head indices.
        query: patch index or ``(row, col)`` for ``kind="query"``.
        mask: the mask the encoder saw (hidden patches are grey and get no attention).

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
    query = _resolve_query(query, grid)

    if kind == "rollout":
        rollout = attn_lib.attention_rollout(attns, discard_ratio=discard_ratio, head_fusion=head_fusion)
        values = attn_lib.cls_attention(rollout, mask=sample_mask)[0].numpy()
        fig = _new_figure(3.2, 3.4)
        _overlay_axes(fig.add_subplot(), rgb, values, grid, patch_size, hidden, cmap, alpha,
                      f"attention rollout ({num_layers} layers, {head_fusion} of heads)")
        return fig
    if kind not in ("cls", "query"):
        raise ValueError(f"kind must be 'cls', 'query' or 'rollout', got {kind!r}")
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
    fig = _new_figure(2.0 * cols + 0.4, 2.2 * rows + 0.3)
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax, (layer, head) in zip(axes.flat, panels):
        if kind == "cls":
            values = attn_lib.cls_attention(attns, layer, head, mask=sample_mask)[0].numpy()
        else:
            values = attn_lib.query_attention(attns, query, layer, head, mask=sample_mask)[0].numpy()
        head_name = "mean of heads" if head is None else f"head {head}"
        _overlay_axes(ax, rgb, values, grid, patch_size, hidden, cmap, alpha,
                      f"layer {layer} · {head_name}", query if kind == "query" else None)
    who = "class token" if kind == "cls" else f"query patch {query}"
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
        fig = _new_figure(4.8, 3.4)
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


def _history_columns(history: Any) -> dict[str, np.ndarray]:
    """``{"step", "loss", "lr", ...}`` arrays from a list of dicts, a dict of lists or a result."""
    history = getattr(history, "history", history)
    if isinstance(history, Mapping):
        return {key: np.asarray(value, dtype=np.float64) for key, value in history.items()}
    rows = list(history)
    if not rows:
        return {"step": np.zeros(0), "loss": np.zeros(0), "lr": np.zeros(0)}
    keys = [k for k in rows[0] if isinstance(rows[0][k], (int, float))]
    columns = {k: np.asarray([row.get(k, np.nan) for row in rows], dtype=np.float64) for k in keys}
    if "step" not in columns:
        columns["step"] = np.arange(len(rows), dtype=np.float64)
    return columns


def plot_training(history: Any, ax=None, log_loss: bool = False, title: str = "pretraining") -> Figure:
    """Loss against step (left axis) and learning rate (right axis, dashed).

    Args:
        history: ``TrainState.history`` / ``PretrainResult`` (a list of dicts with ``step``,
            ``loss``, ``lr``), or a dict of lists.
        log_loss: log scale for the loss.

    Returns:
        The Figure; ``fig.axes[0]`` holds the loss line, ``fig.axes[1]`` the learning rate.
    """
    columns = _history_columns(history)
    if ax is None:
        fig = _new_figure(5.5, 3.0)
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    steps = columns["step"]
    ax.plot(steps, columns.get("loss", np.full_like(steps, np.nan)), color="tab:blue", label="loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (MSE on hidden patches)", color="tab:blue")
    if log_loss:
        ax.set_yscale("log")
    lr_ax = ax.twinx()
    lr_ax.plot(steps, columns.get("lr", np.full_like(steps, np.nan)), color="tab:orange", linestyle="--",
               label="learning rate")
    lr_ax.set_ylabel("learning rate", color="tab:orange")
    lr_ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
    ax.set_title(title, fontsize=10)
    return fig


def plot_snapshots(
    snapshots: Any, max_images: int = 8, title: str = "reconstructions during training"
) -> Figure:
    """Reconstructions of the same images over training: one row per snapshot.

    Args:
        snapshots: ``{step: images [n, C, H, W]}`` or a list of ``(label, images)``; an int
            label is written "step N".
        max_images: columns at most.
    """
    items = list(snapshots.items()) if isinstance(snapshots, Mapping) else list(snapshots)
    if not items:
        raise ValueError("plot_snapshots needs at least one (label, images) snapshot")
    columns = min(max_images, int(as_batch(items[0][1]).shape[0]))
    fig = _new_figure(1.4 * columns + 0.8, 1.5 * len(items) + 0.4)
    axes = fig.subplots(len(items), columns, squeeze=False)
    for r, (label, images) in enumerate(items):
        images = as_batch(images)
        for c in range(columns):
            axes[r, c].imshow(to_hwc(images[c]), interpolation="nearest")
            _plain(axes[r, c])
        name = f"step {label}" if isinstance(label, (int, np.integer)) else str(label)
        axes[r, 0].set_ylabel(name, fontsize=8)
    fig.suptitle(title, fontsize=10)
    return fig


# ============================================================================ plotly figures
def _hover_grid(values: np.ndarray, grid: tuple[int, int], label: str, hidden: np.ndarray | None) -> list:
    """Hover text per patch: index, row/column, value (and whether it was hidden)."""
    text = []
    for row in range(grid[0]):
        line = []
        for col in range(grid[1]):
            index = row * grid[1] + col
            value = values[index]
            shown = "—" if not np.isfinite(value) else f"{value:.4g}"
            state = ""
            if hidden is not None:
                state = "<br>hidden" if hidden[row, col] else "<br>visible"
            line.append(f"patch {index} (row {row}, col {col})<br>{label} {shown}{state}")
        text.append(line)
    return text


def _plotly_map(image: torch.Tensor, values: np.ndarray, patch_size: int, label: str, title: str,
                hidden: np.ndarray | None, colorscale: str, query: int | None = None):
    import plotly.graph_objects as go

    rgb = to_hwc(image)
    grid = (rgb.shape[0] // patch_size, rgb.shape[1] // patch_size)
    base = grey_hidden(rgb, hidden, patch_size) if hidden is not None else rgb
    z = values.reshape(grid).astype(float)
    fig = go.Figure()
    fig.add_trace(go.Image(z=to_uint8(base), hoverinfo="skip"))
    fig.add_trace(go.Heatmap(
        z=np.where(np.isfinite(z), z, None).tolist(),
        x0=(patch_size - 1) / 2, dx=patch_size, y0=(patch_size - 1) / 2, dy=patch_size,
        colorscale=colorscale, opacity=0.55, text=_hover_grid(values, grid, label, hidden),
        hovertemplate="%{text}<extra></extra>", colorbar={"title": label},
    ))
    if query is not None:
        row, col = divmod(query, grid[1])
        fig.add_shape(type="rect", x0=col * patch_size - 0.5, x1=(col + 1) * patch_size - 0.5,
                      y0=row * patch_size - 0.5, y1=(row + 1) * patch_size - 0.5,
                      line={"color": "cyan", "width": 2})
    fig.update_layout(title=title, width=480, height=440, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
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
    return _plotly_map(picture, errors, p, "error", title, hidden, "Magma")


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
    return _plotly_map(picture, values, p, "weight", title, hidden, "Inferno", _resolve_query(query, grid))


# ============================================================================ patches and positions
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
    fig = _new_figure(10.0, max(3.6, 0.45 * strip_rows + 1.4))
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
    _plain(right)
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
        fig = _new_figure(5.6, 5.0)
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
    indices = [_resolve_query(q, grid) for q in queries]
    fig = _new_figure(2.7 * len(indices) + 0.8, 2.9)
    axes = fig.subplots(1, len(indices), squeeze=False)[0]
    shown = None
    for ax, index in zip(axes, indices):
        shown = ax.imshow(sims[index].reshape(h, w), cmap=cmap, vmin=vmin, vmax=1, interpolation="nearest")
        row, col = divmod(index, w)
        ax.add_patch(Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2))
        ax.set_title(f"similarity to position (row {row}, col {col})", fontsize=8)
        _plain(ax)
    fig.colorbar(shown, ax=list(axes), shrink=0.8, label="cosine similarity")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


# ============================================================================ reconstruction targets
def _tile_patches(values: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Per-patch squares ``[N, p, p, ...]`` -> one picture ``[h*p, w*p, ...]`` in patch order."""
    h, w = grid
    p = values.shape[1]
    tiles = values.reshape(h, w, p, p, *values.shape[3:])
    return np.concatenate([np.concatenate(list(row), axis=1) for row in tiles], axis=0)


def _hog_segments(hog: np.ndarray, grid: tuple[int, int], patch_size: int, cell: int) -> tuple[list, np.ndarray]:
    """Line segments of HOG glyphs: one per (cell, bin), drawn along the *edge* direction."""
    num_bins = hog.shape[-1]
    k = patch_size // cell  # cells per patch side
    cells = hog.reshape(grid[0], grid[1], k, k, num_bins)  # [h, w, k, k, bins] (channels summed)
    strength = cells / max(float(cells.max()), 1e-12)
    angles = (np.arange(num_bins) + 0.5) * np.pi / num_bins + np.pi / 2  # gradient angle + 90° = edge
    segments, weights = [], []
    for (row, col, cy, cx, b), value in np.ndenumerate(strength):
        centre_x = col * patch_size + (cx + 0.5) * cell - 0.5
        centre_y = row * patch_size + (cy + 0.5) * cell - 0.5
        dx, dy = 0.48 * cell * np.cos(angles[b]), 0.48 * cell * np.sin(angles[b])
        segments.append([(centre_x - dx, centre_y - dy), (centre_x + dx, centre_y + dy)])
        weights.append(value)
    return segments, np.asarray(weights)


def plot_targets(image: torch.Tensor, patch_size: int, patch: int | tuple[int, int] | None = None) -> Figure:
    """What a masked model is asked to predict, for one image: the four targets of :mod:`mae_lab.targets`.

    Top row, the whole image: ``pixels`` (the image itself), ``norm_pixels`` (every patch
    rescaled to mean 0 and std 1, MAE's ``norm_pix_loss``), ``hog`` (the orientation histogram
    of each cell drawn as a star of lines along the edge directions, brighter = more gradient,
    as in MaskFeat) and ``fft`` (each patch's log Fourier amplitude, lowest frequency in the
    centre of its square).  Bottom row: the same four targets of one patch (outlined in cyan),
    with the number of values the model predicts for it.

    Args:
        image: ``[C, H, W]`` or ``[B, C, H, W]`` (the first image) in ``[0, 1]``.
        patch_size: pixels per patch side (HOG cells are half a patch when it is even and >= 4).
        patch: the patch to zoom into (index or ``(row, col)``); default the one with the most contrast.
    """
    from matplotlib.collections import LineCollection
    from matplotlib.colors import PowerNorm

    from .targets import HOG_BINS, compute_target, hog_cell_size

    x = as_batch(image)[:1].float()  # [1, C, H, W]
    channels, height, width = x.shape[1:]
    grid = (height // patch_size, width // patch_size)
    if grid[0] * patch_size != height or grid[1] * patch_size != width:
        raise ValueError(f"patch_size {patch_size} does not divide the {height}x{width} image; "
                         f"pick a divisor such as {default_patch_size(height, width)}")
    p, cell = patch_size, hog_cell_size(patch_size)
    query = _resolve_query(patch, grid)
    if query is None:
        query = int(for_images.patch_saliency(x, p)[0].argmax())
    targets = {name: compute_target(name, x, p)[0].numpy() for name in ("pixels", "norm_pixels", "hog", "fft")}
    rgb = to_hwc(x[0])
    norm = targets["norm_pixels"].reshape(-1, p, p, channels)  # [N, p, p, C]
    norm_rgb = to_hwc(np.moveaxis(_tile_patches(0.5 + 0.22 * norm, grid), -1, 0))
    hog = targets["hog"].reshape(grid[0] * grid[1], (p // cell) ** 2, channels, HOG_BINS).sum(axis=2)  # [N, cells, bins]
    fft = np.fft.fftshift(targets["fft"].reshape(-1, p, p, channels).mean(-1), axes=(1, 2))  # [N, p, p]

    fig = _new_figure(12.5, 6.6)
    axes = fig.subplots(2, 4, height_ratios=(1.35, 1))
    row, col = divmod(query, grid[1])
    outline = {"fill": False, "edgecolor": "cyan", "linewidth": 2}

    def grid_lines(ax, color="white"):
        for k in range(1, grid[0]):
            ax.axhline(k * p - 0.5, color=color, linewidth=0.6, alpha=0.5)
        for k in range(1, grid[1]):
            ax.axvline(k * p - 0.5, color=color, linewidth=0.6, alpha=0.5)
        ax.add_patch(Rectangle((col * p - 0.5, row * p - 0.5), p, p, **outline))
        _plain(ax)

    dims = {name: value.shape[-1] for name, value in targets.items()}
    axes[0, 0].imshow(rgb, interpolation="nearest")
    axes[0, 0].set_title(f"pixels · {dims['pixels']} values per patch\nthe patch itself", fontsize=9)
    axes[0, 1].imshow(norm_rgb, interpolation="nearest")
    axes[0, 1].set_title(f"norm_pixels · {dims['norm_pixels']} values per patch\neach patch: mean 0, std 1", fontsize=9)
    axes[0, 2].imshow(np.zeros_like(rgb))
    segments, weights = _hog_segments(hog, grid, p, cell)
    glyphs = np.column_stack([np.ones((len(weights), 3)), np.clip(weights, 0, 1) ** 0.8])
    axes[0, 2].add_collection(LineCollection(segments, colors=glyphs, linewidths=1.6))
    axes[0, 2].set_title(f"hog · {dims['hog']} values per patch\nedge directions in each {cell}x{cell} cell", fontsize=9)
    scale = PowerNorm(0.5, vmin=0.0, vmax=float(fft.max()))  # lifts the weak high frequencies into view
    axes[0, 3].imshow(_tile_patches(fft, grid), cmap="magma", norm=scale, interpolation="nearest")
    axes[0, 3].set_title(f"fft · {dims['fft']} values per patch\nlog amplitude, low frequencies centred", fontsize=9)
    for ax in axes[0]:
        grid_lines(ax, "grey" if ax is axes[0, 2] else "white")

    zoom = slice(row * p, (row + 1) * p), slice(col * p, (col + 1) * p)
    axes[1, 0].imshow(rgb[zoom], interpolation="nearest")
    axes[1, 0].set_title(f"patch {query} (row {row}, col {col}): pixels", fontsize=9)
    axes[1, 1].imshow(norm_rgb[zoom], interpolation="nearest")
    patch_pixels = targets["pixels"][query]
    axes[1, 1].set_title(f"normalised (was mean {patch_pixels.mean():.2f}, std {patch_pixels.std(ddof=1):.2f})",
                         fontsize=9)
    bins, num_cells = hog.shape[-1], hog.shape[1]
    for c, values in enumerate(hog[query]):  # one group of bars per cell
        axes[1, 2].bar(np.arange(bins) + c * (bins + 2), values, width=0.85)
    axes[1, 2].set_xticks(np.arange(num_cells) * (bins + 2) + (bins - 1) / 2,
                          [f"cell {c // (p // cell)},{c % (p // cell)}" for c in range(num_cells)], fontsize=8)
    axes[1, 2].set_xlabel(f"{bins} orientation bins per cell, gradient 0° → 180°", fontsize=8)
    axes[1, 2].set_title("hog of this patch (channels summed)", fontsize=9)
    shown = axes[1, 3].imshow(fft[query], cmap="magma", norm=scale, interpolation="nearest")
    axes[1, 3].set_title("fft amplitude of this patch", fontsize=9)
    fig.colorbar(shown, ax=axes[1, 3], shrink=0.85, label="log(1 + |F|)")
    for ax in (axes[1, 0], axes[1, 1], axes[1, 3]):
        _plain(ax)
    return fig
