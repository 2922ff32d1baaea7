"""What the two interactive figures share: plotly, imported only when one is drawn, and hover text per patch.

plotly is optional: the matplotlib figures and the widgets work without it, and drawing a
plotly figure without it raises ``ModuleNotFoundError`` with the line to install it.
"""

from __future__ import annotations

import numpy as np
import torch

from ..panels import grey_hidden, to_hwc, to_uint8

__all__ = ["hover_grid", "plotly_graph_objects", "plotly_map"]


def plotly_graph_objects():
    """``plotly.graph_objects``, or a ``ModuleNotFoundError`` that says how to install plotly."""
    try:
        import plotly.graph_objects as go
    except ImportError as error:
        raise ModuleNotFoundError(
            "the interactive (hover) figures need plotly, which is not installed; run `pip install plotly`, "
            "or use the matplotlib figures of mae_lab.viz instead",
            name="plotly",
        ) from error
    return go


def hover_grid(values: np.ndarray, grid: tuple[int, int], label: str, hidden: np.ndarray | None) -> list:
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


def plotly_map(image: torch.Tensor, values: np.ndarray, patch_size: int, label: str, title: str,
               hidden: np.ndarray | None, colorscale: str, query: int | None = None):
    """The image with one value per patch over it as a heat map; hovering a patch shows its numbers."""
    go = plotly_graph_objects()
    rgb = to_hwc(image)
    grid = (rgb.shape[0] // patch_size, rgb.shape[1] // patch_size)
    base = grey_hidden(rgb, hidden, patch_size) if hidden is not None else rgb
    z = values.reshape(grid).astype(float)
    fig = go.Figure()
    fig.add_trace(go.Image(z=to_uint8(base), hoverinfo="skip"))
    fig.add_trace(go.Heatmap(
        z=np.where(np.isfinite(z), z, None).tolist(),
        x0=(patch_size - 1) / 2, dx=patch_size, y0=(patch_size - 1) / 2, dy=patch_size,
        colorscale=colorscale, opacity=0.55, text=hover_grid(values, grid, label, hidden),
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
