"""ReconstructionExplorer: mask an image and watch a masked autoencoder fill it in, live.

The same controls as the mask explorer drive a model: each change draws a new mask, runs
the model on the visible patches and shows what it predicts for the hidden ones, with the
error of every patch and the loss, as in He et al. (2021), "Masked Autoencoders Are
Scalable Vision Learners" (their Figures 2 and 3).
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import torch

from .. import panels
from ..masking import mask_for_image
from ..utils import module_device
from .base import (
    LiveApp,
    MaskControls,
    ModelCache,
    as_image_batch,
    check_images_for_model,
    masker_argument,
    threads_for,
)

__all__ = ["ReconstructionExplorer"]

LOSS_NAMES = {"mse": "mean squared error", "l1": "mean absolute error"}  # MAE uses mse, SimMIM l1


class ReconstructionExplorer(LiveApp):
    """Mask an image and watch a masked autoencoder fill it in, with the per-patch error.

    Shows original | masked input | reconstruction | reconstruction with the visible
    patches pasted back | per-patch error, and the loss on the hidden patches (mean squared
    error for MAE, mean absolute error for SimMIM: the model's ``config.resolved_loss_type``).

    Args:
        model: a :class:`~mae_lab.models.MaskedAutoencoder` (put in eval mode here).
        images: ``[B, C, H, W]`` in [0, 1], of the model's size and channels.
        masker, ratio, seed: starting values.
        throttle_s: at most one redraw per this many seconds while a slider is dragged.
        size: about how many pixels wide each picture is drawn.

    Guided strategies rank patches by the model's last-layer class-token attention,
    computed once per image without masking.
    """

    def __init__(
        self,
        model,
        images: Any,
        masker: str = "random",
        ratio: float | None = None,
        seed: int = 0,
        throttle_s: float = 0.05,
        size: int = 160,
        cache_size: int = 64,
        strategy: str | None = None,  # the old name of masker
    ):
        masker = masker_argument(masker, strategy)
        super().__init__(throttle_s=throttle_s, cache_size=cache_size)
        self.model = model.eval()
        self.images = as_image_batch(images)
        check_images_for_model(model, self.images)
        self.device = module_device(model)
        self.size = size
        self.model_cache = ModelCache(model, self.images)
        self.output = None
        self.reconstruction = None
        self.loss_readout = widgets.HTML()
        self.mask_controls = MaskControls(
            self,
            len(self.images),
            masker,
            ratio,
            seed,
            "Guided: patches are ranked by the model's last-layer class-token attention (unmasked image).",
        )
        self.children = [
            *self.mask_controls.layout(),
            self.view,
            self.loss_readout,
            self.status,
            self.message,
        ]
        self.redraw()

    @property
    def controls(self) -> list[widgets.Widget]:
        """strategy, ratio, seed, image, then the current strategy's options."""
        return self.mask_controls.widgets_list()

    @property
    def loss(self) -> float | None:
        """The loss of the picture on show (the model's own loss, on the hidden patches)."""
        return None if self.output is None else float(self.output.loss)

    def _render(self) -> tuple[bytes, str]:
        mc = self.mask_controls
        key = mc.key()
        cached = self.cache.get(key)
        if cached is None:
            with threads_for(self.model):
                cached = self._compute(mc)
            self.cache.put(key, cached)
        png, status, loss_html, self.output, self.reconstruction = cached
        self.loss_readout.value = loss_html
        return png, status

    @torch.no_grad()
    def _compute(self, mc: MaskControls) -> tuple:
        index = mc.image.value
        scores = self.model_cache.cls_scores(index) if mc.info.needs_scores else None
        mask = mask_for_image(
            mc.masker.value,
            tuple(self.model.grid),
            ratio=mc.ratio.value,
            seed=mc.seed.value,
            scores=scores,
            **mc.options(),
        )
        image = self.images[index : index + 1].to(self.device)
        output = self.model(image, mask=mask.to(self.device))
        rec = self.model.reconstruct(image, output)
        png = panels.png_bytes(panels.render_reconstruction(rec, 0, size=self.size))
        loss = float(output.loss)
        loss_type = self.model.config.resolved_loss_type
        loss_html = (
            f"<b>loss</b> ({LOSS_NAMES.get(loss_type, loss_type)} on the {mask.num_hidden} hidden patches): "
            f"<code>{loss:.5f}</code>"
        )
        status = f"{mask.masker}: {mask.num_hidden} hidden / {mask.num_visible} visible ({mask.ratio:.0%})"
        return png, status, loss_html, output, rec
