"""AttentionExplorer: where does the encoder look?  Layer, head, query patch, rollout, with or without a mask.

The default map is what the *average patch* reads (:func:`mae_lab.attention.mean_patch_attention`):
an MAE's loss never trains its class token (He et al., 2021, Appendix A.1), so the class token's map
is shown only on request.  Class-token attention and the attention of one query patch follow Dosovitskiy et al.
(2021), "An Image is Worth 16x16 Words"; attention rollout follows Abnar & Zuidema (2020),
"Quantifying Attention Flow in Transformers".  The numbers come from
:mod:`mae_lab.attention`; with masking on, the encoder sees only the visible patches, as
in MAE pretraining.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import numpy as np
import torch

from .. import attention as attn_lib
from .. import panels
from ..masking import mask_for_image
from .base import (
    LiveApp,
    MaskControls,
    ModelCache,
    as_image_batch,
    check_images_for_model,
    error_html,
    masker_argument,
    picture,
    threads_for,
)

__all__ = ["MODES", "AttentionExplorer"]


MODES = ("mean of patches", "class token", "query patch", "rollout")


class AttentionExplorer(LiveApp):
    """Where does the encoder look?  Layer, head (or their mean), query patch, rollout, masking.

    Shows the (masked) image | the attention map over it | the map alone, and below, the
    same map for every head of the chosen layer.  Pick the query patch by clicking it in
    the small patch grid (grids of up to 16 x 16 patches) or with the row and column
    sliders; it is outlined in cyan.  :meth:`pick` does the same from Python.

    Args:
        model: a :class:`~mae_lab.models.MaskedAutoencoder`.
        images: ``[B, C, H, W]`` in [0, 1], of the model's size and channels.
        masked: start with masking on (the encoder then sees only the visible patches).
        masker, ratio, seed: the mask used when masking is on.
        mode: the first map shown, one of :data:`MODES` (default: the average patch's attention).
    """

    def __init__(
        self,
        model,
        images: Any,
        masked: bool = False,
        masker: str = "random",
        ratio: float | None = None,
        seed: int = 0,
        throttle_s: float = 0.05,
        size: int = 224,
        cache_size: int = 16,
        strategy: str | None = None,  # the old name of masker
        mode: str = MODES[0],
    ):
        masker = masker_argument(masker, strategy)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(repr(m) for m in MODES)}, got {mode!r}")
        super().__init__(throttle_s=throttle_s, cache_size=cache_size)
        self.model = model.eval()
        self.images = as_image_batch(images)
        check_images_for_model(model, self.images)
        self.grid = tuple(model.grid)
        self.patch_size = int(model.patch_size)
        self.size = size
        self.model_cache = ModelCache(model, self.images)
        num_layers = len(self.model_cache.unmasked_attention(0))
        num_heads = self.model_cache.unmasked_attention(0)[0].shape[1]
        self.mode = widgets.ToggleButtons(options=list(MODES), value=mode, description="show")
        self.layer = widgets.IntSlider(
            value=num_layers - 1, min=0, max=num_layers - 1, description="layer", continuous_update=True
        )
        self.head = widgets.Dropdown(
            options=[("mean of heads", -1)] + [(f"head {h}", h) for h in range(num_heads)],
            value=-1,
            description="head",
        )
        self.query_row = widgets.IntSlider(
            value=self.grid[0] // 2,
            min=0,
            max=self.grid[0] - 1,
            description="query row",
            continuous_update=True,
        )
        self.query_col = widgets.IntSlider(
            value=self.grid[1] // 2,
            min=0,
            max=self.grid[1] - 1,
            description="query col",
            continuous_update=True,
        )
        self.masked = widgets.Checkbox(value=masked, description="apply a mask", indent=False)
        self.mask_controls = MaskControls(
            self,
            len(self.images),
            masker,
            ratio,
            seed,
            "Guided: patches are ranked by the model's last-layer class-token attention (unmasked image).",
        )
        self.heads_view = picture()
        self._watch(self.mode, self.layer, self.head, self.query_row, self.query_col, self.masked)
        self.patch_buttons = self._patch_buttons()
        self._button_colors: list[str | None] = [None] * len(self.patch_buttons)
        mc = self.mask_controls
        query_box = [widgets.VBox([self.query_row, self.query_col])]
        if self.patch_buttons:
            grid_box = widgets.GridBox(
                self.patch_buttons,
                layout=widgets.Layout(grid_template_columns=f"repeat({self.grid[1]}, 16px)", grid_gap="1px"),
            )
            query_box.append(
                widgets.VBox([widgets.HTML("<small>click a patch to query it</small>"), grid_box])
            )
        self.children = [
            widgets.HBox([self.mode, mc.image]),
            widgets.HBox([self.layer, self.head]),
            widgets.HBox(query_box),
            widgets.HBox([self.masked, mc.masker, mc.ratio, mc.seed]),
            mc.idea,
            mc.options_box,
            self.view,
            self.status,
            self.message,
            self.heads_view,
        ]
        self.weights = None
        self.redraw()

    @property
    def controls(self) -> list[widgets.Widget]:
        """mode, layer, head, query row, query col, masking on/off, then the mask controls."""
        return [
            self.mode,
            self.layer,
            self.head,
            self.query_row,
            self.query_col,
            self.masked,
            *self.mask_controls.widgets_list(),
        ]

    @property
    def query(self) -> int:
        """The query patch index (row-major)."""
        return self.query_row.value * self.grid[1] + self.query_col.value

    def pick(self, patch: int) -> None:
        """Show what patch ``patch`` (row-major index) attends to: the same as clicking it."""
        if not 0 <= int(patch) < self.grid[0] * self.grid[1]:
            outside = ValueError(f"patch {patch} is outside the {self.grid[0]}x{self.grid[1]} patch grid")
            self.message.value = error_html(outside)
            return
        with self.hold_redraw():
            self.mode.value = "query patch"
            self.query_row.value, self.query_col.value = divmod(int(patch), self.grid[1])

    def _patch_buttons(self, max_patches: int = 256) -> list[widgets.Button]:
        """One tiny button per patch (row-major), for clicking the query; none for large grids."""
        if self.grid[0] * self.grid[1] > max_patches:
            return []
        buttons = []
        for index in range(self.grid[0] * self.grid[1]):
            row, col = divmod(index, self.grid[1])
            button = widgets.Button(
                tooltip=f"patch {index} (row {row}, col {col})",
                layout=widgets.Layout(width="16px", height="16px", padding="0", margin="0"),
            )
            button.on_click(lambda _button, index=index: self.pick(index))
            buttons.append(button)
        return buttons

    def _color_buttons(self, mask, query: int | None) -> None:
        """Grey for hidden patches, cyan for the query; only changed buttons are sent."""
        hidden = mask.hidden[0].tolist() if mask is not None else [False] * len(self.patch_buttons)
        for index, button in enumerate(self.patch_buttons):
            color = "cyan" if index == query else ("#888888" if hidden[index] else None)
            if color != self._button_colors[index]:
                button.style.button_color = color
                self._button_colors[index] = color

    def _attention(self, index: int):
        """(attention list, mask or None, a key naming the two) for the current image and mask, cached."""
        if not self.masked.value:
            return self.model_cache.unmasked_attention(index), None, ("unmasked", index)
        mc = self.mask_controls
        key = ("masked",) + mc.key()
        cached = self.cache.get(key)
        if cached is None:
            scores = self.model_cache.cls_scores(index) if mc.info.needs_scores else None
            mask = mask_for_image(
                mc.masker.value,
                self.grid,
                ratio=mc.ratio.value,
                seed=mc.seed.value,
                scores=scores,
                **mc.options(),
            )
            with threads_for(self.model):
                cached = (attn_lib.attention_maps(self.model, self.images[index : index + 1], mask), mask)
            self.cache.put(key, cached)
        return (*cached, key)

    def _weights(self, attns, mask, head: int | None, layer: int, source: tuple) -> torch.Tensor:
        mode = self.mode.value
        if mode == "mean of patches":
            return attn_lib.mean_patch_attention(attns, layer, head, mask=mask)[0]
        if mode == "class token":
            return attn_lib.cls_attention(attns, layer, head, mask=mask)[0]
        if mode == "query patch":
            return attn_lib.query_attention(attns, self.query, layer, head, mask=mask)[0]
        rollout_key = ("rollout",) + source  # `source` names the attention list (see _attention)
        rollout = self.cache.get(rollout_key)
        if rollout is None:
            rollout = attn_lib.attention_rollout(attns)
            self.cache.put(rollout_key, rollout)
        return attn_lib.mean_patch_attention(rollout, mask=mask)[0]  # what the average patch gathered

    def _heads_png(self, index: int, attns, mask, layer: int, source: tuple, query: int | None) -> bytes:
        """Every head of one layer as tiles (PNG), cached: the head dropdown does not change them."""
        key = ("heads", self.mode.value, layer, query) + source
        png = self.cache.get(key)
        if png is None:
            num_heads = attns[layer].shape[1]
            maps = [self._weights(attns, mask, h, layer, source).numpy() for h in range(num_heads)]
            labels = [f"L{layer} head {h}" for h in range(num_heads)]
            png = panels.png_bytes(panels.render_tiles(self.images[index], maps, self.patch_size,
                                                       labels, mask=mask))
            self.cache.put(key, png)
        return png

    def _render(self) -> tuple[bytes, str]:
        index = self.mask_controls.image.value
        attns, mask, source = self._attention(index)
        head = None if self.head.value == -1 else int(self.head.value)
        layer = self.layer.value
        query = self.query if self.mode.value == "query patch" else None
        self.weights = self._weights(attns, mask, head, layer, source)  # [N]
        panel = panels.render_attention(
            self.images[index], self.weights, self.patch_size, mask=mask, query=query, size=self.size
        )
        self._color_buttons(mask, query)
        if self.mode.value == "rollout":
            self.heads_view.layout.display = "none"
        else:
            self.heads_view.value = self._heads_png(index, attns, mask, layer, source, query)
            self.heads_view.layout.display = None
        where = {
            "mean of patches": "mean of the patch queries",
            "class token": "class token (not trained by MAE's loss)",
            "query patch": f"query patch {self.query}",
            "rollout": "rollout of all layers (mean of the patch queries)",
        }[self.mode.value]
        masking = f" · {mask.num_hidden}/{mask.num_patches} patches hidden" if mask is not None else ""
        head_name = "mean of heads" if head is None else f"head {head}"
        status = (
            f"{where} · layer {layer} · {head_name}{masking} · "
            f"max weight {float(np.nanmax(self.weights.numpy())):.3f}"
        )
        return panels.png_bytes(panel), status
