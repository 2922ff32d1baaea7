"""Named model sizes, from a micro model for 8x8 digits to the official ViT-B/L/H MAEs.

The small presets train in minutes on a laptop CPU; ``mae_base``, ``mae_large`` and
``mae_huge`` have the shapes of the official MAE models (He et al., 2021: ViT-B/16,
ViT-L/16 and ViT-H/14 encoders with an 8-block, 512-wide decoder), so the released weights
load into them (:func:`mae_lab.hub.load_pretrained`).

>>> from mae_lab.models import get_preset
>>> get_preset("mae_tiny", image_size=28, channels=1).grid
(7, 7)
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..utils import suggest
from .config import IMAGENET_MEAN, IMAGENET_STD, MAEConfig, _renamed

__all__ = ["OFFICIAL_PRESETS", "PRESETS", "PRESET_NOTES", "get_preset", "list_presets"]

_OFFICIAL_DECODER = {"decoder_embed_dim": 512, "decoder_depth": 8, "decoder_num_heads": 16}
_IMAGENET = {"pixel_mean": IMAGENET_MEAN, "pixel_std": IMAGENET_STD}

PRESETS: dict[str, MAEConfig] = {
    "mae_micro": MAEConfig(
        image_size=8, patch_size=2, channels=1, embed_dim=64, depth=2, num_heads=4,
        decoder_embed_dim=32, decoder_depth=1, decoder_num_heads=2, preset="mae_micro",
    ),
    "mae_tiny": MAEConfig(
        image_size=32, patch_size=4, channels=3, embed_dim=192, depth=6, num_heads=3,
        decoder_embed_dim=128, decoder_depth=2, decoder_num_heads=4, preset="mae_tiny",
    ),
    "mae_small": MAEConfig(
        image_size=64, patch_size=8, channels=3, embed_dim=384, depth=6, num_heads=6,
        decoder_embed_dim=256, decoder_depth=2, decoder_num_heads=8, preset="mae_small",
    ),
    "mae_base": MAEConfig(
        image_size=224, patch_size=16, channels=3, embed_dim=768, depth=12, num_heads=12,
        **_OFFICIAL_DECODER, **_IMAGENET, preset="mae_base",
    ),
    "mae_large": MAEConfig(
        image_size=224, patch_size=16, channels=3, embed_dim=1024, depth=24, num_heads=16,
        **_OFFICIAL_DECODER, **_IMAGENET, preset="mae_large",
    ),
    "mae_huge": MAEConfig(
        image_size=224, patch_size=14, channels=3, embed_dim=1280, depth=32, num_heads=16,
        **_OFFICIAL_DECODER, **_IMAGENET, preset="mae_huge",
    ),
}

PRESET_NOTES: dict[str, str] = {
    "mae_micro": "8x8 grey digits, 2-px patches (4x4 grid): trains in seconds, every token fits on a slide",
    "mae_tiny": "28-32 px images, 4-px patches (8x8 grid): trains in minutes on a CPU",
    "mae_small": "64 px images, 8-px patches (8x8 grid): a GPU helps",
    "mae_base": "official ViT-B/16 MAE shapes, 224 px (ImageNet normalisation inside the model)",
    "mae_large": "official ViT-L/16 MAE shapes, 224 px (ImageNet normalisation inside the model)",
    "mae_huge": "official ViT-H/14 MAE shapes, 224 px (ImageNet normalisation inside the model)",
}

OFFICIAL_PRESETS = ("mae_base", "mae_large", "mae_huge")


def list_presets() -> list[str]:
    """Preset names, smallest first."""
    return list(PRESETS)


def get_preset(name: str, **overrides: Any) -> MAEConfig:
    """A fresh :class:`MAEConfig` for preset ``name`` with some fields changed.

    >>> get_preset("mae_tiny", image_size=28, channels=1, target="norm_pixels").num_patches
    49

    Unknown names raise ``KeyError`` with suggestions; unknown fields raise ``ValueError``
    listing the valid ones.
    """
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}.{suggest(name, PRESETS)} Presets: {', '.join(PRESETS)}.")
    overrides = _renamed(overrides, "get_preset")
    fields = {f.name for f in dataclasses.fields(MAEConfig)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        hints = "".join(suggest(u, fields, n=1) for u in unknown)
        raise ValueError(f"MAEConfig has no field(s) {unknown}.{hints} Valid fields: {', '.join(sorted(fields))}")
    base = PRESETS[name]
    channels = overrides.get("channels", base.channels)
    changes_channels = not (isinstance(channels, int) and channels == base.channels)
    if changes_channels and base.pixel_mean is not None and "pixel_mean" not in overrides:
        overrides = {**overrides, "pixel_mean": None, "pixel_std": None}  # RGB statistics no longer fit
    return dataclasses.replace(base, **overrides)
