"""What a masked model is asked to predict for each hidden patch.

The choice of target changes what the encoder learns:

* ``pixels`` — the raw patch values, as in MAE (He et al., 2021, "Masked Autoencoders Are
  Scalable Vision Learners").
* ``norm_pixels`` — each patch normalised by its own mean and standard deviation (MAE's
  ``norm_pix_loss``): the model no longer spends effort on brightness and contrast, and the
  paper reports better features (MAE Table 1d).
* ``hog`` — histograms of oriented gradients, as in MaskFeat (Wei et al., 2022, "Masked
  Feature Prediction for Self-Supervised Visual Pre-Training"): edge directions in small cells.
  Like MaskFeat's, the histograms are computed for each colour channel separately, so an RGB
  patch keeps which channel an edge is in; what HOG drops is the level (a constant added to a
  channel cancels in its gradients) and each cell's contrast (every histogram is L2-normalised).
* ``fft_amplitude`` — the log amplitude of each hidden patch's own 2-D Fourier transform: a
  per-patch target for MAE's masked patches, with the phase (where things are inside the patch)
  thrown away. It is *not* masked frequency modeling (Xie et al., 2023), which hides a band of
  the whole image's spectrum and hides no patches at all: see :mod:`mae_lab.frequency`. The old
  name ``fft`` still works, with a ``DeprecationWarning``.

Every target is a function ``images [B, C, H, W] -> [B, N, D]`` with one row per patch, in the
same row-major patch order as :func:`mae_lab.patches.patchify`.

>>> from mae_lab.targets import compute_target, list_targets
>>> [t.name for t in list_targets()]
['pixels', 'norm_pixels', 'hog', 'fft_amplitude']
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .patches import grid_size, patchify
from .utils import deprecated_alias, suggest

__all__ = [
    "HOG_BINS",
    "NORM_PIX_EPS",
    "TargetInfo",
    "RENAMED_TARGETS",
    "compute_target",
    "current_target_name",
    "fft_amplitude_targets",
    "fft_targets",
    "get_target",
    "hog_cell_size",
    "hog_targets",
    "image_gradients",
    "list_targets",
    "normalized_pixel_targets",
    "patch_mean_std",
    "pixel_targets",
    "register_target",
    "target_dim",
]

NORM_PIX_EPS = 1e-6  # added to each patch's variance before the square root, as in MAE
HOG_BINS = 9  # orientation bins over [0, pi), as in MaskFeat


@dataclass(frozen=True)
class TargetInfo:
    """A named reconstruction target.

    Attributes:
        name: registry name (``MAEConfig.target``).
        paper: where the idea comes from.
        idea: one sentence for students.
        fn: ``fn(images [B, C, H, W], patch_size) -> [B, N, D]``.
        dim_fn: ``dim_fn(patch_size, channels) -> D``.
        is_pixels: True when predictions can be turned back into an image.
    """

    name: str
    paper: str
    idea: str
    fn: Callable[[torch.Tensor, int], torch.Tensor] = field(repr=False)
    dim_fn: Callable[[int, int], int] = field(repr=False)
    is_pixels: bool = False


_TARGETS: dict[str, TargetInfo] = {}

#: Old target names and the names they go by now (the old ones warn, for one release).
RENAMED_TARGETS = {"fft": "fft_amplitude"}


def register_target(name: str, *, paper: str, idea: str, dim_fn: Callable[[int, int], int], is_pixels=False):
    """Decorator: add ``fn(images, patch_size) -> [B, N, D]`` to the registry under ``name``."""

    def decorator(fn):
        _TARGETS[name] = TargetInfo(name, paper, idea, fn, dim_fn, is_pixels)
        return fn

    return decorator


def list_targets() -> list[TargetInfo]:
    """Every registered target, in registration order."""
    return list(_TARGETS.values())


def current_target_name(name: str, stacklevel: int = 4) -> str:
    """``name``, or the name a renamed target goes by now (with a ``DeprecationWarning``)."""
    if name in RENAMED_TARGETS:
        deprecated_alias(f"target {name!r}", RENAMED_TARGETS[name], stacklevel=stacklevel)
        return RENAMED_TARGETS[name]
    return name


def get_target(name: str) -> TargetInfo:
    """The :class:`TargetInfo` for ``name``; an unknown name raises ``KeyError`` with suggestions."""
    if isinstance(name, str):
        name = current_target_name(name)
    if isinstance(name, str) and name in _TARGETS:
        return _TARGETS[name]
    close = suggest(name, _TARGETS) if isinstance(name, str) else " A target is named by a string."
    raise KeyError(f"unknown target {name!r}.{close} Known targets: {', '.join(_TARGETS)}.")


def target_dim(name: str, patch_size: int, channels: int) -> int:
    """Length ``D`` of one patch's target vector."""
    return int(get_target(name).dim_fn(patch_size, channels))


def compute_target(name: str, images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Target ``name`` for ``images [B, C, H, W]``: ``[B, N, D]``."""
    info = get_target(name)
    if images.ndim != 4:
        raise ValueError(f"targets expect images of shape [B, C, H, W], got shape {tuple(images.shape)}")
    return info.fn(images, patch_size)


# ---------------------------------------------------------------------- pixels
def _pixel_dim(patch_size: int, channels: int) -> int:
    return patch_size * patch_size * channels


@register_target(
    "pixels",
    paper="MAE (He et al., 2021)",
    idea="Predict the raw values of every hidden pixel.",
    dim_fn=_pixel_dim,
    is_pixels=True,
)
def pixel_targets(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Raw patches: ``[B, C, H, W] -> [B, N, p*p*C]``."""
    return patchify(images, patch_size)


@register_target(
    "norm_pixels",
    paper="MAE norm_pix_loss (He et al., 2021)",
    idea="Predict each patch after removing its own mean and scaling by its own std: shapes, not brightness.",
    dim_fn=_pixel_dim,
    is_pixels=True,
)
def normalized_pixel_targets(images: torch.Tensor, patch_size: int, eps: float = NORM_PIX_EPS) -> torch.Tensor:
    """Per-patch normalised pixels: ``(x - mean) / sqrt(var + eps)`` over each patch, ``[B, N, p*p*C]``.

    ``var`` is the unbiased variance (``torch.var`` default), exactly as MAE computes it.
    """
    patches = patchify(images, patch_size)  # [B, N, p*p*C]
    mean = patches.mean(dim=-1, keepdim=True)  # [B, N, 1]
    var = patches.var(dim=-1, keepdim=True)  # [B, N, 1]
    return (patches - mean) / (var + eps) ** 0.5


def patch_mean_std(images: torch.Tensor, patch_size: int, eps: float = NORM_PIX_EPS):
    """Each patch's mean and ``sqrt(var + eps)``, both ``[B, N, 1]`` (to undo ``norm_pixels``)."""
    patches = patchify(images, patch_size)  # [B, N, p*p*C]
    mean = patches.mean(dim=-1, keepdim=True)
    std = (patches.var(dim=-1, keepdim=True) + eps) ** 0.5
    return mean, std


# ---------------------------------------------------------------------- HOG (MaskFeat)
def hog_cell_size(patch_size: int) -> int:
    """Side of a HOG cell: half a patch when the patch is even and at least 4 px, else the whole patch.

    For 16-px patches this gives MaskFeat's 8x8 cells (2x2 cells per patch).
    """
    if patch_size >= 4 and patch_size % 2 == 0:
        return patch_size // 2
    return patch_size


def _hog_dim(patch_size: int, channels: int) -> int:
    cells_per_side = patch_size // hog_cell_size(patch_size)
    return cells_per_side * cells_per_side * channels * HOG_BINS


def image_gradients(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Central differences ``dx, dy`` of every channel, ``[B, C, H, W]`` each.

    Computed as a depth-wise convolution with the ``[-1, 0, 1]`` filter; borders are
    replicated so the image frame does not look like an edge.
    """
    batch, channels, height, width = images.shape
    kernel_x = images.new_tensor([[0.0, 0.0, 0.0], [-1.0, 0.0, 1.0], [0.0, 0.0, 0.0]])  # [3, 3]
    kernels = torch.stack([kernel_x, kernel_x.T]).unsqueeze(1)  # [2, 1, 3, 3]: d/dx, d/dy
    flat = images.reshape(batch * channels, 1, height, width)
    padded = F.pad(flat, (1, 1, 1, 1), mode="replicate")
    grads = F.conv2d(padded, kernels)  # [B*C, 2, H, W]
    grads = grads.reshape(batch, channels, 2, height, width)
    return grads[:, :, 0], grads[:, :, 1]


@register_target(
    "hog",
    paper="MaskFeat (Wei et al., 2022)",
    idea="Predict histograms of edge orientations (9 bins per small cell and colour channel): "
    "edges and texture, not brightness or contrast.",
    dim_fn=_hog_dim,
)
def hog_targets(images: torch.Tensor, patch_size: int, num_bins: int = HOG_BINS) -> torch.Tensor:
    """Histograms of oriented gradients per patch, ``[B, N, cells * C * num_bins]``.

    1. gradients ``dx, dy`` per channel (:func:`image_gradients`);
    2. unsigned orientation ``atan2(dy, dx) mod pi`` split into ``num_bins`` equal bins
       (bin 0 holds horizontal gradients, i.e. vertical edges; bin ``num_bins // 2`` vertical
       gradients, i.e. horizontal edges);
    3. each pixel votes its gradient magnitude into its bin, summed over cells of
       :func:`hog_cell_size` pixels;
    4. each cell's histogram (per channel) is L2-normalised.

    Like MaskFeat's HOG, every colour channel gets its own histograms (108 values for a 16-px RGB patch),
    so an edge between two colours of equal brightness still shows; a constant added to a channel, and
    each cell's contrast, do not.

    Inside a patch the values are ordered (cell row, cell column, channel, bin).
    """
    batch, channels, height, width = images.shape
    h, w = grid_size((height, width), patch_size)
    cell = hog_cell_size(patch_size)
    k = patch_size // cell  # cells per patch side
    dx, dy = image_gradients(images.float())  # [B, C, H, W] each
    magnitude = torch.sqrt(dx**2 + dy**2)  # [B, C, H, W]
    angle = torch.remainder(torch.atan2(dy, dx), math.pi)  # [B, C, H, W] in [0, pi)
    bins = (angle / math.pi * num_bins).floor().long().clamp_(0, num_bins - 1)  # [B, C, H, W]
    votes = torch.zeros(batch, channels, num_bins, height, width, device=images.device)
    votes.scatter_(2, bins.unsqueeze(2), magnitude.unsqueeze(2))  # [B, C, bins, H, W]
    votes = votes.reshape(batch, channels * num_bins, height, width)
    hist = F.avg_pool2d(votes, cell) * (cell * cell)  # [B, C*bins, H/cell, W/cell]: sum per cell
    hist = hist.reshape(batch, channels, num_bins, h, k, w, k)
    hist = F.normalize(hist, p=2, dim=2)  # L2 per (channel, cell)
    hist = hist.permute(0, 3, 5, 4, 6, 1, 2)  # [B, h, w, k, k, C, bins]
    return hist.reshape(batch, h * w, k * k * channels * num_bins)  # [B, N, D_hog]


# ---------------------------------------------------------------------- per-patch Fourier amplitude
@register_target(
    "fft_amplitude",
    paper="a per-patch spectrum (not MFM: see mae_lab.frequency)",
    idea="Predict how much of each spatial frequency a hidden patch holds (log1p of its own Fourier "
    "amplitude; the phase is dropped).",
    dim_fn=_pixel_dim,
)
def fft_amplitude_targets(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """``log1p(|FFT2(patch)|)`` per patch and channel, ``[B, N, p*p*C]``.

    The 2-D FFT runs over each patch's rows and columns with ``norm="ortho"`` (so the
    scale does not grow with the patch size); the amplitude is compressed with
    ``log1p``.  Values are ordered (frequency row, frequency column, channel), entry 0 of
    each channel being the DC term (``patch mean * p``).  Only the amplitude is kept: two
    patches whose contents are shifted copies of each other get the same target.
    """
    batch, channels = images.shape[:2]
    p = patch_size
    patches = patchify(images.float(), p)  # [B, N, p*p*C]
    num_patches = patches.shape[1]
    patches = patches.reshape(batch, num_patches, p, p, channels)  # [B, N, p, p, C]
    spectrum = torch.fft.fft2(patches, dim=(2, 3), norm="ortho")  # [B, N, p, p, C] complex
    amplitude = torch.log1p(spectrum.abs())  # [B, N, p, p, C]
    return amplitude.reshape(batch, num_patches, p * p * channels)


def fft_targets(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Deprecated: :func:`fft_amplitude_targets` (the target is now called ``fft_amplitude``)."""
    deprecated_alias("fft_targets", "fft_amplitude_targets")
    return fft_amplitude_targets(images, patch_size)
