"""viz.training: loss and learning rate on twin axes, reconstructions over training."""

import numpy as np
import pytest
import torch

from mae_lab import viz


def test_plot_training_loss_and_lr_on_twin_axes():
    history = [
        {"step": s, "epoch": s // 5, "loss": 1.0 / (s + 1), "lr": 1e-3 * min(1, s / 3)} for s in range(10)
    ]
    fig = viz.plot_training(history)
    loss_ax, lr_ax = fig.axes
    assert np.allclose(loss_ax.lines[0].get_ydata(), [h["loss"] for h in history])
    assert np.allclose(lr_ax.lines[0].get_ydata(), [h["lr"] for h in history])
    assert np.allclose(loss_ax.lines[0].get_xdata(), range(10))
    assert "learning rate" in lr_ax.get_ylabel()
    as_dict = viz.plot_training({"step": [0, 1], "loss": [2.0, 1.0], "lr": [0.1, 0.2]})
    assert np.allclose(as_dict.axes[0].lines[0].get_ydata(), [2.0, 1.0])


def test_plot_snapshots_rows_and_labels():
    snaps = {0: torch.rand(4, 3, 8, 8), 100: torch.rand(4, 3, 8, 8)}
    fig = viz.plot_snapshots(snaps, max_images=3)
    assert len(fig.axes) == 2 * 3
    assert [fig.axes[0].get_ylabel(), fig.axes[3].get_ylabel()] == ["step 0", "step 100"]
    with pytest.raises(ValueError):
        viz.plot_snapshots({})


def test_history_columns_reads_rows_columns_and_results():
    from types import SimpleNamespace

    from mae_lab.viz.training import history_columns

    rows = [{"loss": 2.0, "lr": 0.1, "note": "warm-up"}, {"loss": 1.0, "lr": 0.2, "note": ""}]
    columns = history_columns(rows)
    assert set(columns) == {"step", "loss", "lr"}  # numbers only; steps counted when missing
    assert np.allclose(columns["step"], [0, 1]) and np.allclose(columns["loss"], [2.0, 1.0])
    assert np.allclose(history_columns({"step": [5], "loss": [0.5]})["step"], [5])
    assert np.allclose(history_columns(SimpleNamespace(history=rows))["lr"], [0.1, 0.2])
    assert history_columns([])["loss"].shape == (0,)
