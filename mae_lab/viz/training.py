"""Figures of training: the loss and learning-rate curves, and reconstructions as training goes on.

The curves read ``TrainState.history`` / ``PretrainResult`` of :mod:`mae_lab.train` (a list
of dicts with ``step``, ``loss``, ``lr``) or a dict of lists; the snapshots are the images
the live training monitor keeps, one row per step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ..panels import as_batch, to_hwc
from ._figure import new_figure, plain

__all__ = ["history_columns", "plot_snapshots", "plot_training"]


def history_columns(history: Any) -> dict[str, np.ndarray]:
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
    columns = history_columns(history)
    if ax is None:
        fig = new_figure(5.5, 3.0)
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
    fig = new_figure(1.4 * columns + 0.8, 1.5 * len(items) + 0.4)
    axes = fig.subplots(len(items), columns, squeeze=False)
    for r, (label, images) in enumerate(items):
        images = as_batch(images)
        for c in range(columns):
            axes[r, c].imshow(to_hwc(images[c]), interpolation="nearest")
            plain(axes[r, c])
        name = f"step {label}" if isinstance(label, (int, np.integer)) else str(label)
        axes[r, 0].set_ylabel(name, fontsize=8)
    fig.suptitle(title, fontsize=10)
    return fig
