"""widgets.training_monitor: the loss curve and reconstructions update in place during pretraining."""

from types import SimpleNamespace

import numpy as np
import torch
from fakes import FakeTimer

from mae_lab import widgets as W
from mae_lab.models import MaskedAutoencoder, get_preset


def fake_state(model, images, step, loss, history, lr=1e-3, epoch=0):
    return SimpleNamespace(
        step=step,
        epoch=epoch,
        total_steps=20,
        loss=loss,
        lr=lr,
        images_per_sec=100.0,
        model=model,
        preview_images=images,
        history=history,
        config=SimpleNamespace(mask_ratio=0.75, masker="block", masker_options={}),
    )


def test_training_monitor_updates_in_place(images):
    model = MaskedAutoencoder(get_preset("mae_tiny"), seed=0)
    history = []  # the engine's list, shared with the monitor
    monitor = W.TrainingMonitor(num_preview=2, plot_every_s=0.0)
    assert monitor.controls == []
    monitor.on_train_start(fake_state(model, images, 0, None, history))
    assert monitor.recon_view.value and 0 in monitor.snapshots
    figure = monitor._figure
    loss_pictures = set()
    for step in range(1, 6):
        history.append({"step": step, "epoch": 0, "loss": 1.0 / step, "lr": 1e-3})
        monitor.on_step_end(fake_state(model, images, step, 1.0 / step, history))
        loss_pictures.add(bytes(monitor.loss_view.value))
    assert len(loss_pictures) == 5 and monitor._figure is figure  # same figure, new data
    assert np.allclose(figure.axes[0].lines[0].get_ydata(), [1.0 / s for s in range(1, 6)])
    assert "step 5/20" in monitor.status.value and "loss 0.2000" in monitor.status.value
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01)
    before = bytes(monitor.recon_view.value)
    monitor.on_epoch_end(fake_state(model, images, 5, 0.2, history))
    assert bytes(monitor.recon_view.value) != before and set(monitor.snapshots) == {0, 5}
    assert monitor.snapshots[5].shape == (2, 3, 32, 32)
    assert model.training  # restored after drawing
    monitor.on_train_end(fake_state(model, images, 5, 0.2, history))
    assert "finished" in monitor.status.value and monitor.message.value == ""


def test_training_monitor_with_pretrain():
    from mae_lab import train

    config = train.PretrainConfig(
        dataset="digits",
        model="mae_micro",
        epochs=2,
        limit=128,
        batch_size=32,
        device="cpu",
        progress=False,
        out_dir=None,
        num_preview=3,
        amp=False,
    )
    monitor = W.TrainingMonitor(plot_every_s=0.0)
    result = train.pretrain(config, callbacks=[monitor])
    steps = len(result.history)
    assert steps > 0 and monitor.history is result.history
    assert np.allclose(monitor._figure.axes[0].lines[0].get_ydata(), [h["loss"] for h in result.history])
    assert len(monitor.snapshots) >= 2 and 0 in monitor.snapshots
    assert "finished" in monitor.status.value and monitor.message.value == ""


def test_training_monitor_throttles_the_loss_plot(images):
    timer = FakeTimer()
    monitor = W.TrainingMonitor(plot_every_s=1.0, clock=timer.clock)
    state = SimpleNamespace(step=0, epoch=0, loss=1.0, lr=0.1, history=[])
    monitor.on_train_start(state)
    drawn = bytes(monitor.loss_view.value)
    for step in range(1, 4):
        monitor.on_step_end(SimpleNamespace(step=step, epoch=0, loss=1.0 / step, lr=0.1))
    assert bytes(monitor.loss_view.value) == drawn and len(monitor.history) == 3
    timer.now += 2.0
    monitor.on_step_end(SimpleNamespace(step=4, epoch=0, loss=0.2, lr=0.1))
    assert bytes(monitor.loss_view.value) != drawn
