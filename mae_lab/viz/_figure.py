"""What every figure shares: a pyplot-free Figure, plain axes, a query patch on the grid.

Figures are made with :class:`matplotlib.figure.Figure` and an Agg canvas rather than
``pyplot``: nothing is registered globally, so a figure returned as the last value of a
notebook cell is shown once and never leaks, and the same code runs headless in tests.
"""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["figure_to_array", "new_figure", "plain", "resolve_query"]


def new_figure(width: float, height: float) -> Figure:
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


def plain(ax) -> None:
    """No ticks: a picture, not a plot."""
    ax.set_xticks([])
    ax.set_yticks([])


def resolve_query(query: int | tuple[int, int] | None, grid: tuple[int, int]) -> int | None:
    """A patch given as an index or ``(row, col)`` -> its row-major index (None stays None)."""
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
