"""TrainingMonitor: a ``pretrain`` callback that redraws the loss curve and reconstructions in place.

It follows the callback protocol of :mod:`mae_lab.train` (``on_train_start``,
``on_step_end``, ``on_epoch_end``, ``on_train_end``) without importing it: the loss figure
is :func:`mae_lab.viz.plot_training`, updated in place, and the reconstructions of a few
fixed images are fast panels of :mod:`mae_lab.panels`.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable

import ipywidgets as widgets
import numpy as np
import torch

from .. import panels, viz
from ..masking import get_masker, list_maskers
from ..utils import module_device
from ..viz.training import history_columns
from .base import error_html, picture

__all__ = ["TrainingMonitor"]


class TrainingMonitor(widgets.VBox):
    """A ``pretrain`` callback that redraws the loss curve and reconstructions in place.

    Use it like this::

        monitor = TrainingMonitor()
        display(monitor)
        result = pretrain(config, callbacks=[monitor])

    The loss plot is redrawn at most every ``plot_every_s`` seconds (and at every epoch's
    end); reconstructions of the fixed preview images (same mask every time, so the rows are
    comparable) are redrawn at the start, at each epoch's end and at the end of training,
    and kept in ``snapshots`` for :func:`mae_lab.viz.plot_snapshots`.

    Args:
        num_preview: how many preview images to reconstruct.
        plot_every_s: minimum seconds between loss-plot redraws during an epoch.
        mask_seed: seed of the preview mask.
        clock: time source (injectable for tests).
    """

    def __init__(
        self,
        num_preview: int = 4,
        plot_every_s: float = 1.0,
        mask_seed: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ):
        super().__init__()
        self.num_preview = num_preview
        self.plot_every_s = plot_every_s
        self.mask_seed = mask_seed
        self.clock = clock
        self.status = widgets.HTML("waiting for training to start…")
        self.loss_view = picture()
        self.recon_view = picture()
        self.message = widgets.HTML()
        self.children = [self.status, self.loss_view, self.recon_view, self.message]
        self.history: list[dict] = []
        self.snapshots: dict[int, torch.Tensor] = {}
        self._figure = None
        self._last_plot = -float("inf")

    @property
    def controls(self) -> list[widgets.Widget]:
        """A monitor has nothing to set; the list is empty."""
        return []

    # ---------------------------------------------------------------- callback protocol
    def on_train_start(self, state) -> None:
        if not self._is_main(state):
            return
        self.history = self._history_of(state, reset=True)
        self.snapshots = {}
        self._update_status(state)
        self._draw_loss()
        self._draw_reconstructions(state)

    def on_step_end(self, state) -> None:
        if not self._is_main(state):
            return
        self.history = self._history_of(state)
        self._update_status(state)
        if self.clock() - self._last_plot >= self.plot_every_s:
            self._draw_loss()

    def on_epoch_end(self, state) -> None:
        if not self._is_main(state):
            return
        self.history = self._history_of(state)
        self._update_status(state)
        self._draw_loss()
        self._draw_reconstructions(state)

    def on_train_end(self, state) -> None:
        if not self._is_main(state):
            return
        self.history = self._history_of(state)
        self._update_status(state, done=True)
        self._draw_loss()
        if int(getattr(state, "step", 0)) not in self.snapshots:
            self._draw_reconstructions(state)

    @staticmethod
    def _is_main(state) -> bool:
        """Only the first process of a distributed run draws."""
        return int(getattr(state, "rank", 0) or 0) == 0

    def _history_of(self, state, reset: bool = False) -> list[dict]:
        """The engine's own history list when the state carries one, else our record of the steps."""
        engine_history = getattr(state, "history", None)
        if engine_history is not None:
            return engine_history
        history = [] if reset else self.history
        if getattr(state, "loss", None) is not None and not reset:
            history.append(
                {
                    "step": int(state.step),
                    "epoch": int(getattr(state, "epoch", 0)),
                    "loss": float(state.loss),
                    "lr": float(getattr(state, "lr", float("nan"))),
                }
            )
        return history

    # ---------------------------------------------------------------- drawing
    def _update_status(self, state, done: bool = False) -> None:
        total = getattr(state, "total_steps", None)
        speed = getattr(state, "images_per_sec", None)
        loss = getattr(state, "loss", None)
        parts = [
            f"<b>{'finished' if done else 'training'}</b>",
            f"epoch {getattr(state, 'epoch', 0)}",
            f"step {getattr(state, 'step', 0)}" + (f"/{total}" if total else ""),
        ]
        if loss is not None and np.isfinite(float(loss)):
            parts.append(f"loss {float(loss):.4f}")
        if getattr(state, "lr", None) is not None:
            parts.append(f"lr {float(state.lr):.2e}")
        if speed:
            parts.append(f"{float(speed):.0f} img/s")
        self.status.value = " · ".join(parts)

    def _draw_loss(self) -> None:
        """Update the persistent loss figure's line data and send it as PNG (no new figure)."""
        if self._figure is None:
            self._figure = viz.plot_training(self.history, title="pretraining (live)")
        loss_ax, lr_ax = self._figure.axes[0], self._figure.axes[1]
        columns = history_columns(self.history)
        steps = columns["step"]
        loss_ax.lines[0].set_data(steps, columns.get("loss", np.full_like(steps, np.nan)))
        lr_ax.lines[0].set_data(steps, columns.get("lr", np.full_like(steps, np.nan)))
        for ax in (loss_ax, lr_ax):
            ax.relim()
            ax.autoscale_view()
        buffer = io.BytesIO()
        self._figure.canvas.print_png(buffer)
        self.loss_view.value = buffer.getvalue()
        self._last_plot = self.clock()

    def _draw_reconstructions(self, state) -> None:
        model = getattr(state, "model", None)
        previews = getattr(state, "preview_images", None)
        if model is None or previews is None:
            return
        try:
            rec = self._reconstruct(model, previews[: self.num_preview], state)
            rows = [
                panels.render_reconstruction(rec, i, size=96, captions=(i == 0))
                for i in range(len(rec.original))
            ]
            self.recon_view.value = panels.png_bytes(panels.vstack(rows))
            shown = rec.pasted if rec.pasted is not None else rec.original
            self.snapshots[int(getattr(state, "step", 0))] = shown.detach().cpu()
            self.message.value = ""
        except Exception as error:  # noqa: BLE001 - never stop a training run for a picture
            self.message.value = error_html(error)

    def _reconstruct(self, model, images: torch.Tensor, state):
        """Reconstruct the previews with the run's masker and base ratio, and a fixed seed."""
        model = getattr(model, "module", model)  # unwrap DistributedDataParallel
        config = getattr(state, "config", None)
        masker = getattr(config, "masker", "random")
        options = dict(getattr(config, "masker_options", None) or {})
        if masker not in {info.name for info in list_maskers()} or get_masker(masker).needs_scores:
            masker, options = "random", {}  # guided strategies need scores the monitor does not have
        ratio = getattr(config, "mask_ratio", None)
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                images = images.to(module_device(model))
                mask = model.make_mask(images.shape[0], masker, ratio=ratio, seed=self.mask_seed, **options)
                output = model(images, mask=mask.to(images.device))
                return model.reconstruct(images, output)
        finally:
            model.train(was_training)
