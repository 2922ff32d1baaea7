"""The configuration of a masked autoencoder: one dataclass, saved as JSON next to every checkpoint.

>>> from mae_lab.models import MAEConfig
>>> MAEConfig(image_size=32, patch_size=4, channels=3, embed_dim=192, depth=6, num_heads=3).grid
(8, 8)
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from typing import Any

from ..frequency import default_radius
from ..patches import grid_size
from ..targets import RENAMED_TARGETS, current_target_name, get_target, target_dim
from ..utils import deprecated_alias

__all__ = ["DESIGNS", "IMAGENET_MEAN", "IMAGENET_STD", "LOSS_TYPES", "RENAMED_FIELDS", "MAEConfig"]

DESIGNS = ("mae", "simmim", "mfm")
LOSS_TYPES = ("mse", "l1")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Upper bounds of the sizes (well above ViT-H): a config beyond them is refused before anything is built.
SIZE_LIMITS = {"image_size": 4096, "patch_size": 512, "channels": 64, "embed_dim": 4096, "depth": 128,
               "num_heads": 128, "decoder_embed_dim": 4096, "decoder_depth": 128, "decoder_num_heads": 128}
MAX_PATCHES = 16_384


@dataclass
class MAEConfig:
    """Everything needed to build a :class:`MaskedAutoencoder` (JSON-safe, saved with checkpoints).

    Field names follow the official MAE constructor where one exists; the image is described with
    mae_lab's words everywhere, ``image_size`` and ``channels`` (the official ``img_size`` and
    ``in_chans`` are still understood, with a ``DeprecationWarning``).

    Attributes:
        image_size: side of the square input image, in pixels.
        patch_size: side ``p`` of a square patch; ``image_size`` must be a multiple of it.
        channels: image channels ``C`` (1 for digits, 3 for photos).
        embed_dim, depth, num_heads: encoder width ``D``, number of blocks, attention heads.
        decoder_embed_dim, decoder_depth, decoder_num_heads: the same for the MAE decoder.
        mlp_ratio: hidden width of each MLP, as a multiple of the block width.
        target: what to predict, a name from :mod:`mae_lab.targets` (``"pixels"``,
            ``"norm_pixels"``, ``"hog"``, ``"fft_amplitude"``).
        design: ``"mae"`` (encoder sees visible tokens only), ``"simmim"`` (mask tokens go
            through the encoder, linear head) or ``"mfm"`` (masked frequency modeling: no patch is
            hidden; the encoder sees the whole low- or high-pass filtered image, a linear head
            predicts the image and the loss compares spectra on the removed frequencies, see
            :mod:`mae_lab.frequency`; its target is ``"pixels"``).
        qkv_bias: bias in the attention's ``qkv`` projection.
        norm_eps: LayerNorm epsilon (1e-6 in the official MAE).
        preset: name of the preset this config came from, if any.
        loss_type: ``"mse"`` or ``"l1"``; ``None`` picks the design's own (MAE: mse, SimMIM: l1).
        pixel_mean, pixel_std: per-channel statistics to normalise ``[0, 1]`` images with
            inside the model (``None``: feed images as they are).
        frequency_radius: ``"mfm"`` only: the filters' radius in cycles per image (``None``: MFM's
            16 of 224 px scaled to ``image_size``, at least 2).
    """

    image_size: int = 224
    patch_size: int = 16
    channels: int = 3
    embed_dim: int = 1024
    depth: int = 24
    num_heads: int = 16
    decoder_embed_dim: int = 512
    decoder_depth: int = 8
    decoder_num_heads: int = 16
    mlp_ratio: float = 4.0
    target: str = "pixels"
    design: str = "mae"
    qkv_bias: bool = True
    norm_eps: float = 1e-6
    preset: str | None = None
    loss_type: str | None = None
    pixel_mean: tuple[float, ...] | None = None
    pixel_std: tuple[float, ...] | None = None
    frequency_radius: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.target, str):
            raise TypeError(f"target must be the name of a target (a string such as 'norm_pixels'), "
                            f"got {type(self.target).__name__} {self.target!r:.60}")
        self.target = current_target_name(self.target, stacklevel=5)  # "fft" is now "fft_amplitude"
        if self.pixel_mean is not None:
            self.pixel_mean = tuple(float(v) for v in self.pixel_mean)
        if self.pixel_std is not None:
            self.pixel_std = tuple(float(v) for v in self.pixel_std)
        self.validate()

    # -- checks ---------------------------------------------------------------------
    def validate(self) -> None:
        """Raise ``ValueError``/``KeyError`` with a fix for inconsistent settings."""
        if self.design not in DESIGNS:
            raise ValueError(f"design must be one of {DESIGNS}, got {self.design!r}")
        if self.loss_type is not None and self.loss_type not in LOSS_TYPES:
            raise ValueError(f"loss_type must be one of {LOSS_TYPES} or None, got {self.loss_type!r}")
        self._check_sizes()
        get_target(self.target)  # KeyError with suggestions for an unknown target
        if self.design == "mfm" and self.target != "pixels":
            raise ValueError(f"design='mfm' predicts the image and compares spectra; its target is 'pixels', "
                             f"got {self.target!r}")
        if self.frequency_radius is not None and not float(self.frequency_radius) > 0:
            raise ValueError(f"frequency_radius must be positive (cycles per image), got {self.frequency_radius!r}")
        grid_size(self.image_size, self.patch_size)  # image_size must be a multiple of patch_size
        self._check_width("embed_dim", self.embed_dim, "num_heads", self.num_heads)
        if self.design == "mae":
            self._check_width("decoder_embed_dim", self.decoder_embed_dim, "decoder_num_heads",
                              self.decoder_num_heads)
        for name in ("pixel_mean", "pixel_std"):
            values = getattr(self, name)
            if values is not None and len(values) != self.channels:
                raise ValueError(f"{name} has {len(values)} values but channels is {self.channels}")
        if (self.pixel_mean is None) != (self.pixel_std is None):
            raise ValueError("give both pixel_mean and pixel_std, or neither")

    def _check_sizes(self) -> None:
        """Whole, positive sizes within generous bounds (a config read from a file may be absurd)."""
        for name, limit in SIZE_LIMITS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
                raise ValueError(f"{name} must be a whole number from 1 to {limit:,}, got {value!r}; "
                                 "a config with this value cannot be built (is the file damaged?)")
        if not 0 < float(self.mlp_ratio) <= 16:
            raise ValueError(f"mlp_ratio must be in (0, 16], got {self.mlp_ratio!r}")
        if self.image_size % self.patch_size == 0 and self.num_patches > MAX_PATCHES:
            raise ValueError(f"{self.num_patches:,} patches is more than {MAX_PATCHES:,}; use larger patches "
                             f"(patch_size) or smaller images (image_size)")

    @staticmethod
    def _check_width(width_name: str, width: int, heads_name: str, heads: int) -> None:
        if width % 4 != 0:
            raise ValueError(f"{width_name}={width} must be divisible by 4 for 2-D sine-cosine positions")
        if heads < 1 or width % heads != 0:
            raise ValueError(f"{width_name}={width} is not divisible by {heads_name}={heads}")

    # -- derived sizes --------------------------------------------------------------
    @property
    def grid(self) -> tuple[int, int]:
        """Patches per side ``(h, w)``."""
        return grid_size(self.image_size, self.patch_size)

    @property
    def num_patches(self) -> int:
        """``N = h * w``."""
        h, w = self.grid
        return h * w

    @property
    def target_dim(self) -> int:
        """Length of one patch's target vector (``p*p*C`` for pixel targets)."""
        return target_dim(self.target, self.patch_size, self.channels)

    @property
    def resolved_frequency_radius(self) -> float:
        """``frequency_radius``, or MFM's radius scaled to ``image_size`` when it is ``None``."""
        if self.frequency_radius is not None:
            return float(self.frequency_radius)
        return default_radius(self.image_size)

    @property
    def resolved_loss_type(self) -> str:
        """``loss_type``, or the design's default when it is ``None``."""
        if self.loss_type is not None:
            return self.loss_type
        return "l1" if self.design == "simmim" else "mse"

    # -- serialisation --------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (tuples become lists)."""
        out = dataclasses.asdict(self)
        for key, value in out.items():
            if isinstance(value, tuple):
                out[key] = list(value)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MAEConfig:
        """Inverse of :meth:`to_dict`; unknown keys are ignored with a warning."""
        data = _renamed(data, "MAEConfig.from_dict", warn=False)  # checkpoints written before the rename
        if data.get("target") in RENAMED_TARGETS:  # likewise for target names
            data = {**data, "target": RENAMED_TARGETS[data["target"]]}
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            warnings.warn(f"MAEConfig.from_dict ignores unknown keys {unknown}", stacklevel=2)
        return cls(**{k: v for k, v in data.items() if k in names})

    def replace(self, **changes: Any) -> MAEConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **_renamed(changes, "MAEConfig.replace"))

    # -- the official spellings, kept for one release -------------------------------
    @property
    def img_size(self) -> int:
        deprecated_alias("img_size", "image_size", "MAEConfig")
        return self.image_size

    @property
    def in_chans(self) -> int:
        deprecated_alias("in_chans", "channels", "MAEConfig")
        return self.channels


#: Old field names (the official MAE / timm spellings) and the names mae_lab uses for them.
RENAMED_FIELDS = {"img_size": "image_size", "in_chans": "channels"}


def _renamed(fields: dict[str, Any], where: str, warn: bool = True) -> dict[str, Any]:
    """``fields`` with the old names of :data:`RENAMED_FIELDS` replaced by the new ones."""
    out = dict(fields)
    for old, new in RENAMED_FIELDS.items():
        if old in out:
            if warn:
                deprecated_alias(old, new, where, stacklevel=4)
            if new in out and out[new] != out[old]:
                raise ValueError(f"{where} got both {old}={out[old]} and {new}={out[new]}; give only {new}")
            out[new] = out.pop(old)
    return out
