"""Figures of probing: accuracy against the number of labels, and a probe with its baselines.

:func:`plot_label_efficiency` draws what :func:`mae_lab.probe.label_efficiency` measured — the
convincing picture of masked pretraining: with few labels, the pretrained encoder (fine-tuned or
probed) sits above the same architecture trained from scratch and above logistic regression on
pixels. :func:`plot_probe` draws one :class:`~mae_lab.probe.ProbeResult` as bars with its baselines.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ._figure import new_figure

__all__ = ["plot_label_efficiency", "plot_probe"]

#: How each method of a label-efficiency result is drawn: (label, colour, line style, marker).
METHOD_STYLES = {
    "finetune": ("MAE, fine-tuned", "tab:red", "-", "o"),
    "linear": ("MAE, linear probe (frozen)", "tab:orange", "-", "s"),
    "scratch": ("same ViT from scratch", "tab:blue", "--", "o"),
    "pixels": ("logistic regression on pixels", "0.35", ":", "D"),
}


def _per_class_axis(labels_per_class: list, full_size: int | None) -> list[float]:
    """x positions: the number of labels per class, ``None`` (all labels) placed at ``full_size``."""
    known = [n for n in labels_per_class if n is not None]
    fallback = (max(known) * 6) if known else 1
    return [float(full_size or fallback) if n is None else float(n) for n in labels_per_class]


def plot_label_efficiency(result: Any, full_size: int | None = None, title: str | None = None,
                          ax=None) -> Figure:
    """Test accuracy against labels per class (log scale), one line per method, baselines dashed/dotted.

    Args:
        result: a :class:`~mae_lab.probe.LabelEfficiency` (or its ``to_dict()``).
        full_size: labels per class of the whole training set, where "all" is drawn (default: 6x the
            largest other point, labelled "all").
        title: the axes title.

    Returns:
        The Figure; each method is one line whose label says what it is.
    """
    data = result.to_dict() if hasattr(result, "to_dict") else dict(result)
    per_class = list(data["labels_per_class"])
    x = _per_class_axis(per_class, full_size)
    if ax is None:
        fig = new_figure(6.2, 3.8)
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    for method, values in data["accuracy"].items():
        label, colour, style, marker = METHOD_STYLES.get(method, (method, None, "-", "o"))
        ax.plot(x, 100 * np.asarray(values, dtype=float), linestyle=style, marker=marker, color=colour,
                label=label, linewidth=2 if method == "finetune" else 1.5)
    ax.set_xscale("log")
    ax.set_xticks(x)
    ax.set_xticklabels(["all" if n is None else str(n) for n in per_class])
    ax.minorticks_off()
    ax.set_xlabel("labelled images per class")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title or f"label efficiency ({data.get('num_test', '?')} test images)")
    return fig


def plot_probe(result: Any, title: str | None = None, ax=None) -> Figure:
    """One probe as bars: the pretrained encoder, the same encoder at random init, raw pixels.

    ``result`` is a :class:`~mae_lab.probe.ProbeResult` (or its ``to_dict()``); each bar is labelled
    with its accuracy, so the gap over each baseline reads at a glance.
    """
    data = result.to_dict() if hasattr(result, "to_dict") else dict(result)
    names = ["pretrained", *data.get("baselines", {})]
    values = [data["accuracy"], *data.get("baselines", {}).values()]
    colours = {"pretrained": "tab:red", "random_init": "tab:blue", "raw_pixels": "0.5"}
    if ax is None:
        fig = new_figure(4.2, 3.0)
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    bars = ax.bar([n.replace("_", " ") for n in names], [100 * v for v in values],
                  color=[colours.get(n, "tab:green") for n in names])
    for bar, value in zip(bars, values):
        ax.annotate(f"{100 * value:.1f}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=9)
    low = 100 * min(values)
    ax.set_ylim(max(0.0, low - 15), min(100.0, 100 * max(values) + 5))
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title or f"{data.get('method', 'probe')} probe, {data.get('num_test', '?')} test images")
    return fig
