"""Probing figures: label efficiency (log x, one line per method) and a probe with its baselines."""

from __future__ import annotations

import numpy as np

from mae_lab import viz
from mae_lab.probe import LabelEfficiency, ProbeResult


def test_label_efficiency_draws_every_method_at_its_labels():
    result = LabelEfficiency([10, 100, None], {"finetune": [0.6, 0.8, 0.9], "scratch": [0.3, 0.6, 0.85],
                                               "pixels": [0.5, 0.7, 0.84]}, num_test=1000)
    fig = viz.plot_label_efficiency(result, full_size=6000)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"MAE, fine-tuned", "same ViT from scratch", "logistic regression on pixels"}
    assert np.allclose(lines["MAE, fine-tuned"].get_xdata(), [10, 100, 6000])
    assert np.allclose(lines["same ViT from scratch"].get_ydata(), [30, 60, 85])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["10", "100", "all"]
    assert viz.plot_label_efficiency(result.to_dict()).axes  # a plain dict works too


def test_probe_bars_carry_their_accuracies():
    result = ProbeResult("knn", 0.87, {"random_init": 0.71, "raw_pixels": 0.846}, num_test=10000)
    fig = viz.plot_probe(result)
    ax = fig.axes[0]
    assert [round(bar.get_height(), 1) for bar in ax.patches] == [87.0, 71.0, 84.6]
    assert [t.get_text() for t in ax.texts] == ["87.0", "71.0", "84.6"]
