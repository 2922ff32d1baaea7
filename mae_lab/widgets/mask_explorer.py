"""MaskExplorer: every mask strategy of :mod:`mae_lab.masking` on your images, live.

Strategy, ratio, seed and image are controls, and so is every option of the chosen
strategy.  No model is involved: the picture is the image with its hidden patches greyed,
as in He et al. (2021), "Masked Autoencoders Are Scalable Vision Learners".
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets

from .. import panels
from ..masking import mask_for_image, patch_saliency
from .base import LiveApp, MaskControls, as_image_batch, masker_argument

__all__ = ["MaskExplorer"]


class MaskExplorer(LiveApp):
    """Try every mask strategy on your images: strategy, ratio, seed, image and options.

    Args:
        images: ``[B, C, H, W]`` (or ``[C, H, W]``, or a list) in [0, 1].
        patch_size: pixels per patch (default: 16 for large images, else a grid of about 8x8).
        masker, ratio, seed: the starting values (ratio None = the strategy's default).
        throttle_s: at most one redraw per this many seconds while a slider is dragged.
        size: about how many pixels wide each picture is drawn.

    Guided strategies (``needs_scores``) rank patches by a model-free saliency: the
    standard deviation of each patch's pixels (:func:`mae_lab.masking.patch_saliency`).

    Example::

        app = MaskExplorer(mae_lab.sample_images("photos", n=4))
        app            # shows the app; app.controls lists its widgets
        app.controls[1].value = 0.5   # redraws at once
    """

    def __init__(
        self,
        images: Any,
        patch_size: int | None = None,
        masker: str = "random",
        ratio: float | None = None,
        seed: int = 0,
        throttle_s: float = 0.0,
        size: int = 256,
        cache_size: int = 64,
        strategy: str | None = None,  # the old name of masker
    ):
        masker = masker_argument(masker, strategy)
        super().__init__(throttle_s=throttle_s, cache_size=cache_size)
        self.images = as_image_batch(images)
        height, width = self.images.shape[-2:]
        self.patch_size = int(patch_size or panels.default_patch_size(height, width))
        self.grid = (height // self.patch_size, width // self.patch_size)
        self.size = size
        self.scores = patch_saliency(self.images, self.patch_size)  # [B, N]
        self.mask = None
        self.mask_controls = MaskControls(
            self,
            len(self.images),
            masker,
            ratio,
            seed,
            "Guided: patches are ranked by their contrast (std of their pixels); with a model, "
            "ReconstructionExplorer ranks them by the model's class-token attention.",
        )
        self.children = [*self.mask_controls.layout(), self.view, self.status, self.message]
        self.redraw()

    @property
    def controls(self) -> list[widgets.Widget]:
        """strategy, ratio, seed, image, then the current strategy's options."""
        return self.mask_controls.widgets_list()

    def _render(self) -> tuple[bytes, str]:
        mc = self.mask_controls
        key = mc.key()
        cached = self.cache.get(key)
        if cached is not None:
            self.mask = cached[2]
            return cached[0], cached[1]
        index = mc.image.value
        mask = mask_for_image(
            mc.masker.value,
            self.grid,
            ratio=mc.ratio.value,
            seed=mc.seed.value,
            scores=self.scores[index : index + 1],
            **mc.options(),
        )
        png = panels.png_bytes(panels.render_mask(self.images[index], mask, self.patch_size, size=self.size))
        status = (
            f"{mask.num_hidden} hidden / {mask.num_visible} visible ({mask.ratio:.0%}) · "
            f"{self.grid[0]}x{self.grid[1]} patches of {self.patch_size} px"
        )
        self.cache.put(key, (png, status, mask))
        self.mask = mask
        return png, status
