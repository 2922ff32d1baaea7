"""Live apps for masked modeling (ipywidgets 8): drag a slider, see mask, reconstruction, attention.

* :class:`MaskExplorer` — every mask strategy of :mod:`mae_lab.masking` on your images;
* :class:`ReconstructionExplorer` — the same controls driving a masked autoencoder
  (He et al., 2021, "Masked Autoencoders Are Scalable Vision Learners");
* :class:`AttentionExplorer` — where the encoder looks: class token, a query patch, or
  attention rollout (Abnar & Zuidema, 2020), with or without masking;
* :class:`TrainingMonitor` — a ``pretrain`` callback that redraws the loss curve and
  reconstructions in place.

How they stay fast and portable: each picture is composed with numpy (see the fast
panels of :mod:`mae_lab.panels`) and sent as PNG bytes into a ``widgets.Image``, which works
in JupyterLab, Notebook 7, VS Code and Colab without extra front-end code.  Results are
memoised on the control values with a small LRU cache, and per-image model work (the
scores of guided strategies, attention maps) is cached.

Redraw rules:

* setting a control's ``.value`` from Python redraws before the assignment returns, so
  tests and benchmarks can measure it;
* changes coming from the browser (slider drags) go through a :class:`Throttle`: at most
  one redraw per ``throttle_s`` seconds, and the last value is always drawn;
* an error (e.g. a ratio that leaves no visible patch) is shown as a message in the app.

Each app is itself a widget (an ``ipywidgets.VBox``) with a ``.controls`` list; in a static
render (e.g. nbconvert HTML) its current picture is shown as a PNG instead of a dead widget.
"""

from __future__ import annotations

import ast
import base64
import html
import time
import typing
from collections import OrderedDict
from collections.abc import Callable, Hashable
from contextlib import contextmanager
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch

from . import attention as attn_lib
from . import panels, viz
from .viz.training import history_columns
from .masking import get_masker, list_maskers, mask_for_image, patch_saliency

__all__ = [
    "AttentionExplorer",
    "LRUCache",
    "MaskExplorer",
    "ReconstructionExplorer",
    "Throttle",
    "TrainingMonitor",
]


# ============================================================================ plumbing
def _call_later(delay: float, callback: Callable[[], None]):
    """Schedule ``callback`` on the running asyncio loop (the kernel's); None when there is no loop."""
    import asyncio

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    return loop.call_later(delay, callback)


class Throttle:
    """Coalesce bursts of redraw requests: run ``fn`` at most once per ``interval`` seconds.

    The first request after a quiet period runs at once; requests that arrive sooner are
    merged into one trailing run, scheduled for when the interval has passed, so the last
    state is always drawn and stale intermediate states are skipped.

    Args:
        fn: the work to do (it reads the current control values itself).
        interval: seconds between runs; 0 runs every request synchronously.
        clock: time source (injectable for tests).
        schedule: ``schedule(delay, callback) -> handle | None``; the default uses the
            running asyncio loop, and runs at once when there is none (plain Python).
    """

    def __init__(
        self,
        fn: Callable[[], None],
        interval: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        schedule: Callable[[float, Callable[[], None]], Any] = _call_later,
    ):
        self.fn = fn
        self.interval = float(interval)
        self.clock = clock
        self.schedule = schedule
        self.pending = False
        self._handle = None
        self._last_end = -float("inf")

    def __call__(self) -> None:
        """Request a run."""
        if self.interval <= 0:
            self._run()
            return
        wait = self.interval - (self.clock() - self._last_end)
        if self._handle is None and wait <= 0:
            self._run()
            return
        self.pending = True
        if self._handle is None:
            self._handle = self.schedule(max(wait, 0.0), self._fire)
            if self._handle is None:  # nothing to schedule on: do it now
                self._fire()

    def _fire(self) -> None:
        self._handle = None
        if self.pending:
            self._run()

    def flush(self) -> None:
        """Run a pending request now (and cancel its timer)."""
        if self._handle is not None and hasattr(self._handle, "cancel"):
            self._handle.cancel()
        self._handle = None
        if self.pending:
            self._run()

    def _run(self) -> None:
        self.pending = False
        try:
            self.fn()
        finally:
            self._last_end = self.clock()


class LRUCache:
    """A tiny least-recently-used cache: ``get(key)`` / ``put(key, value)``, at most ``maxsize`` items."""

    def __init__(self, maxsize: int = 32):
        self.maxsize = int(maxsize)
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, default: Any = None) -> Any:
        if key in self._items:
            self._items.move_to_end(key)
            self.hits += 1
            return self._items[key]
        self.misses += 1
        return default

    def put(self, key: Hashable, value: Any) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.maxsize:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


def _picture() -> widgets.Image:
    """An Image widget shown at its natural size (never stretched by the surrounding box)."""
    return widgets.Image(format="png", layout=widgets.Layout(max_width="100%", align_self="flex-start"))


def _from_frontend(widget: widgets.Widget) -> bool:
    """True while ``widget`` is applying a state update sent by the browser."""
    return bool(getattr(widget, "_property_lock", None))


def _error_html(error: BaseException) -> str:
    kind = type(error).__name__
    return (
        f'<div style="color:#b00020;border-left:3px solid #b00020;padding:2px 8px">'
        f"<b>Cannot draw this:</b> {html.escape(str(error))} <small>({kind})</small></div>"
    )


def _as_image_batch(images: Any) -> torch.Tensor:
    """Images ``[B, C, H, W]`` float in [0, 1] from a tensor, an array or a list of ``[C, H, W]``."""
    if isinstance(images, (list, tuple)):
        images = torch.stack(
            [torch.as_tensor(np.asarray(i) if not isinstance(i, torch.Tensor) else i) for i in images]
        )
    images = torch.as_tensor(images) if not isinstance(images, torch.Tensor) else images
    if images.ndim == 3:
        images = images.unsqueeze(0)
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"expected images [B, C, H, W] with C = 1 or 3, got shape {tuple(images.shape)}")
    return images.detach().float().cpu()


class _LiveApp(widgets.VBox):
    """Shared machinery: a PNG view, a status line, an error area, throttled redraws, a cache."""

    def __init__(self, throttle_s: float = 0.0, cache_size: int = 64, **kwargs):
        super().__init__(**kwargs)
        self.view = _picture()
        self.status = widgets.HTML()
        self.message = widgets.HTML()
        self.cache = LRUCache(cache_size)
        self.throttle = Throttle(self.redraw, interval=throttle_s)
        self.last_error: str | None = None
        self._suspended = 0

    # ---------------------------------------------------------------- wiring
    def _watch(self, *controls: widgets.Widget) -> None:
        for control in controls:
            control.observe(self._on_change, names="value")

    def _on_change(self, change: dict) -> None:
        if self._suspended:
            return
        if _from_frontend(change["owner"]):
            self.throttle()
        else:
            self.redraw()

    @contextmanager
    def hold_redraw(self):
        """Change several controls at once and redraw once at the end."""
        self._suspended += 1
        try:
            yield
        finally:
            self._suspended -= 1
        if not self._suspended:
            self.redraw()

    def redraw(self) -> None:
        """Draw the current state now (errors become a message in the app, never an exception)."""
        self.throttle.pending = False  # this draw shows the latest values; a queued one is not needed
        try:
            png, status = self._render()
        except Exception as error:  # shown to the student instead of a traceback
            self.last_error = str(error)
            self.message.value = _error_html(error)
            self.status.value = "(the picture above is the last one that could be drawn)"
            return
        self.last_error = None
        self.message.value = ""
        self.status.value = status
        self.view.value = png

    def _render(self) -> tuple[bytes, str]:
        raise NotImplementedError

    # ---------------------------------------------------------------- display
    @property
    def image_bytes(self) -> bytes:
        """The PNG bytes currently shown."""
        return bytes(self.view.value)

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        if self.view.value:
            bundle["image/png"] = base64.b64encode(bytes(self.view.value)).decode("ascii")
        bundle["text/plain"] = f"<{type(self).__name__}: run this notebook live to use its controls>"
        return bundle


# ============================================================================ strategy options
def _option_choices(info, name: str) -> tuple | None:
    """Allowed values of a strategy option, when they are known.

    Known means: annotated ``Literal[...]``, or listed in a constant of the strategy's module
    named after the option (``COLORS`` for ``color``, ``ATTENTION_MODES`` for ``mode``).
    """
    try:
        hints = typing.get_type_hints(info.fn)
    except Exception:
        hints = getattr(info.fn, "__annotations__", {})
    hint = hints.get(name)
    if typing.get_origin(hint) is typing.Literal:
        return typing.get_args(hint)
    # a module constant named after the option: COLORS for color, ATTENTION_MODES for mode
    module_globals = getattr(info.fn, "__globals__", {})
    suffix = f"{name.upper()}S"
    for constant, value in module_globals.items():
        if (
            constant.isupper()
            and (constant == suffix or constant.endswith("_" + suffix))
            and isinstance(value, (dict, tuple, list))
            and all(isinstance(v, str) for v in value)
        ):
            return tuple(value)
    return None


def _option_widget(info, name: str, default: Any) -> widgets.Widget:
    """A control for one strategy option, chosen from its default value (and Literal choices)."""
    style = {"description_width": "initial"}
    choices = _option_choices(info, name)
    if choices:
        return widgets.Dropdown(
            options=list(choices),
            value=default if default in choices else choices[0],
            description=name,
            style=style,
        )
    if isinstance(default, bool):
        return widgets.Checkbox(value=default, description=name, style=style, indent=False)
    if isinstance(default, int):
        return widgets.IntText(
            value=default, description=name, style=style, layout=widgets.Layout(width="210px")
        )
    if isinstance(default, float) and 0.0 <= default < 1.0:
        return widgets.FloatSlider(
            value=default, min=0.0, max=1.0, step=0.01, description=name, style=style, continuous_update=True
        )
    if isinstance(default, float) and default >= 1.0:
        return widgets.FloatSlider(
            value=default,
            min=0.0,
            max=4 * default,
            step=default / 20,
            description=name,
            style=style,
            continuous_update=True,
        )
    if isinstance(default, float):
        return widgets.FloatText(
            value=default, description=name, style=style, layout=widgets.Layout(width="210px")
        )
    if isinstance(default, str):
        return widgets.Text(value=default, description=name, style=style, continuous_update=False)
    text = widgets.Text(
        value=repr(default),
        description=name,
        style=style,
        continuous_update=False,
        placeholder="a Python literal, e.g. None or (0.3, 3.3)",
    )
    text.literal = True  # parsed with ast.literal_eval
    return text


def _option_value(widget: widgets.Widget) -> Any:
    if getattr(widget, "literal", False):
        try:
            return ast.literal_eval(widget.value.strip() or "None")
        except (ValueError, SyntaxError):
            raise ValueError(
                f"option {widget.description}={widget.value!r} is not a Python literal; "
                "type e.g. None, 3, 0.5 or (0.3, 3.3)"
            ) from None
    return widget.value


def _hashable(value: Any) -> Hashable:
    try:
        hash(value)
        return value
    except TypeError:
        return repr(value)


class _MaskControls:
    """Strategy, ratio, seed, image and the strategy's own options, shared by the apps."""

    def __init__(
        self, app: _LiveApp, num_images: int, strategy: str, ratio: float | None, seed: int, scores_note: str
    ):
        self.app = app
        infos = {info.name: info for info in list_maskers()}
        if strategy not in infos:
            get_masker(strategy)  # raises KeyError with suggestions
        self.infos = infos
        self.scores_note = scores_note
        self.strategy = widgets.Dropdown(options=list(infos), value=strategy, description="strategy")
        start_ratio = infos[strategy].default_ratio if ratio is None else ratio
        self.ratio = widgets.FloatSlider(
            value=start_ratio,
            min=0.0,
            max=0.99,
            step=0.01,
            description="mask ratio",
            readout_format=".2f",
            continuous_update=True,
        )
        self.seed = widgets.IntText(value=int(seed), description="seed", layout=widgets.Layout(width="180px"))
        self.image = widgets.IntSlider(
            value=0, min=0, max=max(num_images - 1, 0), description="image", continuous_update=True
        )
        if num_images <= 1:
            self.image.layout.display = "none"
        self.idea = widgets.HTML()
        self.options_box = widgets.HBox(layout=widgets.Layout(flex_flow="row wrap"))
        self._option_widgets: dict[str, dict[str, widgets.Widget]] = {}
        self._show_strategy(strategy)
        self.strategy.observe(self._on_strategy, names="value")
        app._watch(self.ratio, self.seed, self.image)

    @property
    def info(self):
        return self.infos[self.strategy.value]

    def option_widgets(self) -> list[widgets.Widget]:
        return list(self._option_widgets[self.strategy.value].values())

    def options(self) -> dict[str, Any]:
        """Current option values of the selected strategy."""
        return {name: _option_value(w) for name, w in self._option_widgets[self.strategy.value].items()}

    def key(self) -> tuple:
        options = tuple(sorted((k, _hashable(v)) for k, v in self.options().items()))
        return (
            self.image.value,
            self.strategy.value,
            round(float(self.ratio.value), 6),
            int(self.seed.value),
            options,
        )

    def widgets_list(self) -> list[widgets.Widget]:
        return [self.strategy, self.ratio, self.seed, self.image, *self.option_widgets()]

    def layout(self) -> list[widgets.Widget]:
        return [widgets.HBox([self.strategy, self.ratio, self.seed]), self.image, self.idea, self.options_box]

    def _show_strategy(self, name: str) -> None:
        info = self.infos[name]
        if name not in self._option_widgets:
            built = {opt: _option_widget(info, opt, default) for opt, default in info.options.items()}
            self._option_widgets[name] = built
            self.app._watch(*built.values())
        self.options_box.children = tuple(self._option_widgets[name].values())
        note = f"<br><small>{html.escape(self.scores_note)}</small>" if info.needs_scores else ""
        self.idea.value = (
            f"<b>{html.escape(name)}</b> — {html.escape(info.idea)} "
            f"<i>({html.escape(info.paper)})</i>{note}"
        )

    def _on_strategy(self, change: dict) -> None:
        with self.app.hold_redraw():
            self._show_strategy(change["new"])
            self.ratio.value = self.infos[change["new"]].default_ratio


# ============================================================================ MaskExplorer
class MaskExplorer(_LiveApp):
    """Try every mask strategy on your images: strategy, ratio, seed, image and options.

    Args:
        images: ``[B, C, H, W]`` (or ``[C, H, W]``, or a list) in [0, 1].
        patch_size: pixels per patch (default: 16 for large images, else a grid of about 8x8).
        strategy, ratio, seed: the starting values (ratio None = the strategy's default).
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
        strategy: str = "random",
        ratio: float | None = None,
        seed: int = 0,
        throttle_s: float = 0.0,
        size: int = 256,
        cache_size: int = 64,
    ):
        super().__init__(throttle_s=throttle_s, cache_size=cache_size)
        self.images = _as_image_batch(images)
        height, width = self.images.shape[-2:]
        self.patch_size = int(patch_size or panels.default_patch_size(height, width))
        self.grid = (height // self.patch_size, width // self.patch_size)
        self.size = size
        self.scores = patch_saliency(self.images, self.patch_size)  # [B, N]
        self.mask = None
        self.mask_controls = _MaskControls(
            self,
            len(self.images),
            strategy,
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
            mc.strategy.value,
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


# ============================================================================ model helpers
def _model_device(model) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


SMALL_MODEL_WORK = 1e9  # patches x parameters below which one CPU thread is fastest


@contextmanager
def _threads_for(model):
    """Run a small model on one CPU thread.

    For a batch of one image through a small ViT, splitting each tiny matrix product over
    several threads costs more than it saves (and much more on a busy machine), so the
    forward pass runs single-threaded; large models keep every thread.
    """
    num_params = sum(p.numel() for p in model.parameters())
    small = _model_device(model).type == "cpu" and model.num_patches * num_params < SMALL_MODEL_WORK
    previous = torch.get_num_threads()
    if small and previous > 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


def _check_images_for_model(model, images: torch.Tensor) -> None:
    config = model.config
    expected = (config.in_chans, config.img_size, config.img_size)
    if tuple(images.shape[1:]) != expected:
        raise ValueError(
            f"the model expects images [B, {expected[0]}, {expected[1]}, {expected[2]}], got "
            f"{list(images.shape)}; resize them, e.g. mae_lab.sample_images(..., image_size="
            f"{config.img_size})"
        )


class _ModelCache:
    """Per-image encoder work: unmasked attention maps (and the guided scores drawn from them)."""

    def __init__(self, model, images: torch.Tensor, size: int = 16):
        self.model = model
        self.images = images
        self.attention = LRUCache(size)

    def unmasked_attention(self, index: int) -> list[torch.Tensor]:
        attns = self.attention.get(index)
        if attns is None:
            with _threads_for(self.model):
                attns = attn_lib.attention_maps(self.model, self.images[index : index + 1])
            self.attention.put(index, attns)
        return attns

    def cls_scores(self, index: int) -> torch.Tensor:
        """``[1, N]`` last-layer class-token attention (mean of heads), without masking."""
        return attn_lib.cls_attention(self.unmasked_attention(index), layer=-1)


# ============================================================================ ReconstructionExplorer
class ReconstructionExplorer(_LiveApp):
    """Mask an image and watch a masked autoencoder fill it in, with the per-patch error.

    Shows original | masked input | reconstruction | reconstruction with the visible
    patches pasted back | per-patch error, and the loss (MSE on hidden patches).

    Args:
        model: a :class:`~mae_lab.models.MaskedAutoencoder` (put in eval mode here).
        images: ``[B, C, H, W]`` in [0, 1], of the model's size and channels.
        strategy, ratio, seed: starting values.
        throttle_s: at most one redraw per this many seconds while a slider is dragged.
        size: about how many pixels wide each picture is drawn.

    Guided strategies rank patches by the model's last-layer class-token attention,
    computed once per image without masking.
    """

    def __init__(
        self,
        model,
        images: Any,
        strategy: str = "random",
        ratio: float | None = None,
        seed: int = 0,
        throttle_s: float = 0.05,
        size: int = 160,
        cache_size: int = 64,
    ):
        super().__init__(throttle_s=throttle_s, cache_size=cache_size)
        self.model = model.eval()
        self.images = _as_image_batch(images)
        _check_images_for_model(model, self.images)
        self.device = _model_device(model)
        self.size = size
        self.model_cache = _ModelCache(model, self.images)
        self.output = None
        self.reconstruction = None
        self.loss_readout = widgets.HTML()
        self.mask_controls = _MaskControls(
            self,
            len(self.images),
            strategy,
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
        """The loss of the picture on show (MSE on the hidden patches)."""
        return None if self.output is None else float(self.output.loss)

    def _render(self) -> tuple[bytes, str]:
        mc = self.mask_controls
        key = mc.key()
        cached = self.cache.get(key)
        if cached is None:
            with _threads_for(self.model):
                cached = self._compute(mc)
            self.cache.put(key, cached)
        png, status, loss_html, self.output, self.reconstruction = cached
        self.loss_readout.value = loss_html
        return png, status

    @torch.no_grad()
    def _compute(self, mc: _MaskControls) -> tuple:
        index = mc.image.value
        scores = self.model_cache.cls_scores(index) if mc.info.needs_scores else None
        mask = mask_for_image(
            mc.strategy.value,
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
        loss_html = (
            f"<b>loss</b> (mean squared error on the {mask.num_hidden} hidden patches): "
            f"<code>{loss:.5f}</code>"
        )
        status = f"{mask.strategy}: {mask.num_hidden} hidden / {mask.num_visible} visible ({mask.ratio:.0%})"
        return png, status, loss_html, output, rec


# ============================================================================ AttentionExplorer
MODES = ("class token", "query patch", "rollout")


class AttentionExplorer(_LiveApp):
    """Where does the encoder look?  Layer, head (or their mean), query patch, rollout, masking.

    Shows the (masked) image | the attention map over it | the map alone, and below, the
    same map for every head of the chosen layer.  Pick the query patch by clicking it in
    the small patch grid (grids of up to 16 x 16 patches) or with the row and column
    sliders; it is outlined in cyan.  :meth:`pick` does the same from Python.

    Args:
        model: a :class:`~mae_lab.models.MaskedAutoencoder`.
        images: ``[B, C, H, W]`` in [0, 1], of the model's size and channels.
        masked: start with masking on (the encoder then sees only the visible patches).
        strategy, ratio, seed: the mask used when masking is on.
    """

    def __init__(
        self,
        model,
        images: Any,
        masked: bool = False,
        strategy: str = "random",
        ratio: float | None = None,
        seed: int = 0,
        throttle_s: float = 0.05,
        size: int = 224,
        cache_size: int = 16,
    ):
        super().__init__(throttle_s=throttle_s, cache_size=cache_size)
        self.model = model.eval()
        self.images = _as_image_batch(images)
        _check_images_for_model(model, self.images)
        self.grid = tuple(model.grid)
        self.patch_size = int(model.patch_size)
        self.size = size
        self.model_cache = _ModelCache(model, self.images)
        num_layers = len(self.model_cache.unmasked_attention(0))
        num_heads = self.model_cache.unmasked_attention(0)[0].shape[1]
        self.mode = widgets.ToggleButtons(options=list(MODES), value=MODES[0], description="show")
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
        self.mask_controls = _MaskControls(
            self,
            len(self.images),
            strategy,
            ratio,
            seed,
            "Guided: patches are ranked by the model's last-layer class-token attention (unmasked image).",
        )
        self.heads_view = _picture()
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
            widgets.HBox([self.masked, mc.strategy, mc.ratio, mc.seed]),
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
            self.message.value = _error_html(outside)
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
        """(attention list, mask or None) for the current image and mask settings, cached."""
        if not self.masked.value:
            return self.model_cache.unmasked_attention(index), None
        mc = self.mask_controls
        key = ("masked",) + mc.key()
        cached = self.cache.get(key)
        if cached is None:
            scores = self.model_cache.cls_scores(index) if mc.info.needs_scores else None
            mask = mask_for_image(
                mc.strategy.value,
                self.grid,
                ratio=mc.ratio.value,
                seed=mc.seed.value,
                scores=scores,
                **mc.options(),
            )
            with _threads_for(self.model):
                cached = (attn_lib.attention_maps(self.model, self.images[index : index + 1], mask), mask)
            self.cache.put(key, cached)
        return cached

    def _weights(self, attns, mask, head: int | None, layer: int) -> torch.Tensor:
        mode = self.mode.value
        if mode == "class token":
            return attn_lib.cls_attention(attns, layer, head, mask=mask)[0]
        if mode == "query patch":
            return attn_lib.query_attention(attns, self.query, layer, head, mask=mask)[0]
        rollout_key = ("rollout", id(attns))
        rollout = self.cache.get(rollout_key)
        if rollout is None:
            rollout = attn_lib.attention_rollout(attns)
            self.cache.put(rollout_key, rollout)
        return attn_lib.cls_attention(rollout, mask=mask)[0]

    def _render(self) -> tuple[bytes, str]:
        index = self.mask_controls.image.value
        attns, mask = self._attention(index)
        head = None if self.head.value == -1 else int(self.head.value)
        layer = self.layer.value
        query = self.query if self.mode.value == "query patch" else None
        self.weights = self._weights(attns, mask, head, layer)  # [N]
        panel = panels.render_attention(
            self.images[index], self.weights, self.patch_size, mask=mask, query=query, size=self.size
        )
        self._color_buttons(mask, query)
        if self.mode.value == "rollout":
            self.heads_view.layout.display = "none"
        else:
            num_heads = attns[layer].shape[1]
            maps = [self._weights(attns, mask, h, layer).numpy() for h in range(num_heads)]
            tiles = panels.render_tiles(
                self.images[index],
                maps,
                self.patch_size,
                [f"L{layer} head {h}" for h in range(num_heads)],
                mask=mask,
            )
            self.heads_view.value = panels.png_bytes(tiles)
            self.heads_view.layout.display = None
        where = {
            "class token": "class token",
            "query patch": f"query patch {self.query}",
            "rollout": "rollout of all layers",
        }[self.mode.value]
        masking = f" · {mask.num_hidden}/{mask.num_patches} patches hidden" if mask is not None else ""
        head_name = "mean of heads" if head is None else f"head {head}"
        status = (
            f"{where} · layer {layer} · {head_name}{masking} · "
            f"max weight {float(np.nanmax(self.weights.numpy())):.3f}"
        )
        return panels.png_bytes(panel), status


# ============================================================================ TrainingMonitor
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
        self.loss_view = _picture()
        self.recon_view = _picture()
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
        import io

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
        except Exception as error:  # never stop a training run for a picture
            self.message.value = _error_html(error)

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
                images = images.to(_model_device(model))
                mask = model.make_mask(images.shape[0], masker, ratio=ratio, seed=self.mask_seed, **options)
                output = model(images, mask=mask.to(images.device))
                return model.reconstruct(images, output)
        finally:
            model.train(was_training)
