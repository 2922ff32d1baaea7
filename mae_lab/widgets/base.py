"""What every live app shares: throttled redraws, a small cache, errors shown as messages, mask controls.

* :class:`Throttle` merges a burst of slider events into at most one redraw per interval,
  and always draws the last value;
* :class:`LRUCache` memoises pictures on the control values;
* :class:`LiveApp` is the base of the explorers: a PNG view, a status line, an error area;
  ``redraw`` turns an exception into a readable message instead of a traceback;
* :class:`MaskControls` are the strategy, ratio, seed and image controls, with one more
  control per option of the chosen strategy (read from the masking registry);
* :class:`ModelCache` and :func:`threads_for` keep per-image encoder work cheap.

Redraw rules:

* setting a control's ``.value`` from Python redraws before the assignment returns, so
  tests and benchmarks can measure it;
* changes coming from the browser (slider drags) go through a :class:`Throttle`: at most
  one redraw per ``throttle_s`` seconds, and the last value is always drawn;
* an error (e.g. a ratio that leaves no visible patch) is shown as a message in the app.
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

from .. import attention as attn_lib
from ..masking import get_masker, list_maskers
from ..utils import deprecated_alias, module_device

__all__ = [
    "LRUCache",
    "LiveApp",
    "MaskControls",
    "ModelCache",
    "Throttle",
    "as_image_batch",
    "check_images_for_model",
    "error_html",
    "picture",
    "threads_for",
]


# ============================================================================ redraws and cache
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


def picture() -> widgets.Image:
    """An Image widget shown at its natural size (never stretched by the surrounding box)."""
    return widgets.Image(format="png", layout=widgets.Layout(max_width="100%", align_self="flex-start"))


def _from_frontend(widget: widgets.Widget) -> bool:
    """True while ``widget`` is applying a state update sent by the browser."""
    return bool(getattr(widget, "_property_lock", None))


def error_html(error: BaseException) -> str:
    """An error as a short red message for the app (the text of the error, never a traceback)."""
    kind = type(error).__name__
    return (
        f'<div style="color:#b00020;border-left:3px solid #b00020;padding:2px 8px">'
        f"<b>Cannot draw this:</b> {html.escape(str(error))} <small>({kind})</small></div>"
    )


def as_image_batch(images: Any) -> torch.Tensor:
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


class LiveApp(widgets.VBox):
    """Shared machinery: a PNG view, a status line, an error area, throttled redraws, a cache."""

    def __init__(self, throttle_s: float = 0.0, cache_size: int = 64, **kwargs):
        super().__init__(**kwargs)
        self.view = picture()
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
        except Exception as error:  # noqa: BLE001 - shown to the student instead of a traceback
            self.last_error = str(error)
            self.message.value = error_html(error)
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
    except Exception:  # noqa: BLE001 - annotations that do not resolve: read them as written
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


def masker_argument(masker: str, strategy: str | None) -> str:
    """``masker``, or the value of the old keyword ``strategy=`` (with a DeprecationWarning)."""
    if strategy is None:
        return masker
    deprecated_alias("strategy=", "masker=", stacklevel=4)
    return strategy


class MaskControls:
    """Masker (the mask strategy), ratio, seed, image and the masker's own options, shared by the apps."""

    def __init__(
        self, app: LiveApp, num_images: int, masker: str, ratio: float | None, seed: int, scores_note: str
    ):
        self.app = app
        infos = {info.name: info for info in list_maskers()}
        if masker not in infos:
            get_masker(masker)  # raises KeyError with suggestions
        self.infos = infos
        self.scores_note = scores_note
        self.masker = widgets.Dropdown(options=list(infos), value=masker, description="masker")
        start_ratio = infos[masker].default_ratio if ratio is None else ratio
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
        self._show_strategy(masker)
        self.masker.observe(self._on_strategy, names="value")
        app._watch(self.ratio, self.seed, self.image)

    @property
    def strategy(self) -> widgets.Dropdown:
        """Deprecated name of :attr:`masker`."""
        deprecated_alias("MaskControls.strategy", "MaskControls.masker")
        return self.masker

    @property
    def info(self):
        return self.infos[self.masker.value]

    def option_widgets(self) -> list[widgets.Widget]:
        return list(self._option_widgets[self.masker.value].values())

    def options(self) -> dict[str, Any]:
        """Current option values of the selected strategy."""
        return {name: _option_value(w) for name, w in self._option_widgets[self.masker.value].items()}

    def key(self) -> tuple:
        options = tuple(sorted((k, _hashable(v)) for k, v in self.options().items()))
        return (
            self.image.value,
            self.masker.value,
            round(float(self.ratio.value), 6),
            int(self.seed.value),
            options,
        )

    def widgets_list(self) -> list[widgets.Widget]:
        return [self.masker, self.ratio, self.seed, self.image, *self.option_widgets()]

    def layout(self) -> list[widgets.Widget]:
        return [widgets.HBox([self.masker, self.ratio, self.seed]), self.image, self.idea, self.options_box]

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


# ============================================================================ model helpers
SMALL_MODEL_WORK = 1e9  # patches x parameters below which one CPU thread is fastest


@contextmanager
def threads_for(model):
    """Run a small model on one CPU thread.

    For a batch of one image through a small ViT, splitting each tiny matrix product over
    several threads costs more than it saves (and much more on a busy machine), so the
    forward pass runs single-threaded; large models keep every thread.
    """
    num_params = sum(p.numel() for p in model.parameters())
    small = module_device(model).type == "cpu" and model.num_patches * num_params < SMALL_MODEL_WORK
    previous = torch.get_num_threads()
    if small and previous > 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


def check_images_for_model(model, images: torch.Tensor) -> None:
    config = model.config
    expected = (config.channels, config.image_size, config.image_size)
    if tuple(images.shape[1:]) != expected:
        raise ValueError(
            f"the model expects images [B, {expected[0]}, {expected[1]}, {expected[2]}], got "
            f"{list(images.shape)}; resize them, e.g. mae_lab.sample_images(..., image_size="
            f"{config.image_size})"
        )


class ModelCache:
    """Per-image encoder work: unmasked attention maps (and the guided scores drawn from them)."""

    def __init__(self, model, images: torch.Tensor, size: int = 16):
        self.model = model
        self.images = images
        self.attention = LRUCache(size)

    def unmasked_attention(self, index: int) -> list[torch.Tensor]:
        attns = self.attention.get(index)
        if attns is None:
            with threads_for(self.model):
                attns = attn_lib.attention_maps(self.model, self.images[index : index + 1])
            self.attention.put(index, attns)
        return attns

    def cls_scores(self, index: int) -> torch.Tensor:
        """``[1, N]`` last-layer class-token attention (mean of heads), without masking."""
        return attn_lib.cls_attention(self.unmasked_attention(index), layer=-1)
