"""One place to find every mask strategy by name.

Each strategy module registers a function with :func:`register`.  The function gets the
batch size, the patch grid, the exact number of patches to hide and a CPU
``torch.Generator``, and returns a bool ``[B, N]`` tensor (True = hidden) or a ready
:class:`~mae_lab.masking.base.Mask`.  :func:`make_mask` checks the inputs, calls it,
checks that exactly ``round(N * ratio)`` patches are hidden in every sample, and wraps the
result in a :class:`Mask`.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from ..utils import deprecated_alias, suggest, whole_number
from .base import Mask, make_generator, num_hidden_for

__all__ = ["MaskerInfo", "get_masker", "list_maskers", "make_mask", "register"]


@dataclass(frozen=True)
class MaskerInfo:
    """What a strategy is: its name, the paper it comes from, its idea in one line, its options."""

    name: str
    paper: str
    idea: str
    fn: Callable[..., Any] = field(repr=False)
    default_ratio: float = 0.75
    options: dict[str, Any] = field(default_factory=dict)
    needs_scores: bool = False
    grid_dims: int = 2  # 2 for (h, w) grids, 3 for (T, h, w) tubes

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"<masker {self.name!r} ({self.paper}): {self.idea} [ratio={self.default_ratio}{', ' + opts if opts else ''}]>"


_REGISTRY: dict[str, MaskerInfo] = {}


def register(
    name: str,
    *,
    paper: str,
    idea: str,
    default_ratio: float = 0.75,
    needs_scores: bool = False,
    grid_dims: int = 2,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: add a strategy function to the registry under ``name``.

    The function's keyword-only arguments with defaults become the strategy's options
    (shown by widgets and :func:`list_maskers`).
    """

    def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(fn)
        options = {
            p.name: p.default
            for p in signature.parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is not inspect.Parameter.empty
        }
        _REGISTRY[name] = MaskerInfo(
            name=name,
            paper=paper,
            idea=idea,
            fn=fn,
            default_ratio=default_ratio,
            options=options,
            needs_scores=needs_scores,
            grid_dims=grid_dims,
        )
        return fn

    return decorator


def list_maskers() -> list[MaskerInfo]:
    """Every registered strategy, in registration order."""
    return list(_REGISTRY.values())


def get_masker(name: str) -> MaskerInfo:
    """The :class:`MaskerInfo` for ``name``; an unknown name raises ``KeyError`` with suggestions."""
    if isinstance(name, str) and name in _REGISTRY:
        return _REGISTRY[name]
    close = suggest(name, _REGISTRY) if isinstance(name, str) else " A masker is named by a string."
    raise KeyError(f"unknown masker {name!r}.{close} Known maskers: {', '.join(_REGISTRY)}.")


#: the most mask entries (batch size x patches) one call may draw: 2**31 booleans are 2 GB
MAX_MASK_ENTRIES = 2**31


def _normalise_grid(grid: Any, dims: int, name: str) -> tuple[int, ...]:
    shape = "(T, h, w)" if dims == 3 else "(h, w)"
    if not isinstance(grid, (tuple, list, torch.Size)):
        grid = (whole_number(grid, "grid", fix=f"pass patches per side, e.g. {(14,) * dims}"),) * dims
    grid = tuple(whole_number(g, "a grid side", minimum=1, fix=f"grid {grid!r} must be {shape} positive ints")
                 for g in grid)
    if len(grid) != dims:
        raise ValueError(f"strategy {name!r} expects a grid {shape}, got {grid}")
    return grid


def _check_option(name: str, key: str, value: Any, default: Any) -> Any:
    """Refuse an option value of the wrong kind (the kind of its default), naming the option and the fix."""
    def number(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

    if isinstance(default, bool):
        ok, kind = isinstance(value, bool), "True or False"
    elif isinstance(default, int):
        ok, kind = number(value) and float(value).is_integer(), "a whole number"
    elif isinstance(default, float):
        ok, kind = number(value), "a finite number"
    elif isinstance(default, str):
        ok, kind = isinstance(value, str), "a string"
    elif default is None:
        ok, kind = value is None or number(value), "a finite number or None"
    else:
        return value
    if not ok:
        raise ValueError(f"option {key}={value!r} of masker {name!r} must be {kind} (its default is {default!r})")
    return value


def make_mask(
    masker: str | None = None,
    batch_size: int | None = None,
    grid: int | tuple[int, ...] = (14, 14),
    ratio: float | None = None,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    **options: Any,
) -> Mask:
    """Draw a mask with the mask strategy ("masker") ``masker``.

    Args:
        masker: a name from :func:`list_maskers` (``"random"``, ``"block"``, ...).
        batch_size: ``B``, how many masks to draw (one per sample).
        grid: patches per side, ``(h, w)`` (``(T, h, w)`` for ``tube``).
        ratio: fraction of patches to hide, in ``[0, 1)``; the strategy's default when None.
        seed: makes the draw reproducible (same seed, same mask, on any device).
        generator: a CPU ``torch.Generator`` to draw from instead of ``seed``.  With
            neither, a fresh seed comes from the OS; torch's global RNG is never used.
            Masks are always drawn on the CPU, so a seed gives the same mask whatever
            device the model runs on: move the result with ``mask.to(device)``.
        **options: the strategy's own options (e.g. ``color="green"`` for ``noise``,
            ``scores=`` for the guided strategies).

    Returns:
        A :class:`Mask` whose ``hidden`` is ``[B, N]`` with exactly ``round(N * ratio)``
        True values in every row.
    """
    if "name" in options or "strategy" in options:  # the old spellings of the first argument
        old = "name" if "name" in options else "strategy"
        deprecated_alias(f"make_mask({old}=...)", "make_mask(masker=...)")
        masker = options.pop(old)
    if masker is None or batch_size is None:
        raise TypeError("make_mask needs a masker name and a batch_size, e.g. make_mask('random', 8, grid=(14, 14))")
    name = masker
    info = get_masker(name)
    grid = _normalise_grid(grid, info.grid_dims, name)
    num_patches = math.prod(grid)
    batch_size = whole_number(batch_size, "batch_size", minimum=1, fix="it is the number of masks to draw")
    if batch_size * num_patches > MAX_MASK_ENTRIES:
        raise ValueError(f"batch_size={batch_size}: {batch_size} masks of {num_patches:,} patches (grid {grid}) are too "
                         "many for one call; draw fewer at a time")
    ratio = info.default_ratio if ratio is None else ratio
    num_hidden = num_hidden_for(num_patches, ratio)
    unknown = set(options) - set(info.options) - ({"scores"} if info.needs_scores else set())
    if unknown:
        known = sorted(info.options) + (["scores"] if info.needs_scores else [])
        raise TypeError(
            f"strategy {name!r} has no option(s) {sorted(unknown)}; its options are {known or 'none'}"
        )
    for key in set(options) & set(info.options):
        _check_option(name, key, options[key], info.options[key])
    if info.needs_scores:
        options["scores"] = _check_scores(options.get("scores"), int(batch_size), num_patches, name, grid)
    gen = make_generator(seed, generator)
    result = info.fn(int(batch_size), grid, num_hidden, gen, **options)
    mask = result if isinstance(result, Mask) else Mask.from_hidden(result, grid=grid, masker=name)
    counts = mask.hidden.sum(dim=1)
    if mask.hidden.shape != (int(batch_size), num_patches) or not bool((counts == num_hidden).all()):
        raise RuntimeError(
            f"strategy {name!r} returned a mask of shape {tuple(mask.hidden.shape)} hiding {counts.tolist()} "
            f"patches; expected [{batch_size}, {num_patches}] hiding {num_hidden} each (this is a bug)"
        )
    if mask.masker != name or mask.grid != grid:
        mask = Mask(mask.hidden, mask.ids_keep, mask.ids_restore, mask.ids_shuffle, grid=grid, masker=name)
    return mask


def _check_scores(scores: Any, batch_size: int, num_patches: int, name: str, grid: tuple[int, int]) -> torch.Tensor:
    if scores is None:
        raise ValueError(
            f"strategy {name!r} is guided: pass scores= as a float tensor [B, N] = [{batch_size}, {num_patches}] "
            "(e.g. the class-token attention of each patch, or a predicted per-patch loss)"
        )
    try:
        scores = torch.as_tensor(scores, dtype=torch.float32).detach().cpu()
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"scores for strategy {name!r} must be a float tensor [B, N] = [{batch_size}, "
                         f"{num_patches}], got {type(scores).__name__} {scores!r:.80}") from None
    if scores.ndim == 1 and scores.shape[0] == num_patches:
        scores = scores.unsqueeze(0).expand(batch_size, num_patches)
    if tuple(scores.shape) != (batch_size, num_patches):
        raise ValueError(
            f"scores for masker {name!r} must have shape [B, N] = [{batch_size}, {num_patches}] (N from "
            f"grid={tuple(grid)}), got {list(scores.shape)}: make the scores for this grid, or pass the grid they "
            "were made for"
        )
    if not bool(torch.isfinite(scores).all()):
        raise ValueError(f"scores for strategy {name!r} contain NaN or inf")
    return scores
