"""The two dataset classes every loader returns, and the pixel helpers that shape them.

* :class:`ImageArrayDataset` — a whole set in memory as ``uint8 [M, C, H, W]`` plus labels;
* :class:`ImageFolderDataset` — images read lazily from ``root/<class>/<file>``.

Items are ``(image float [C, H, W] in [0, 1], label int)``; both carry ``.num_classes``, ``.classes``,
``.channels`` and ``.image_size``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from ..utils import Stream, check_memory, generator

__all__ = [
    "IMAGE_EXTENSIONS",
    "ImageArrayDataset",
    "ImageFolderDataset",
    "convert_channels",
    "finish",
    "image_batches",
    "read_image_file",
    "take_subset",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")



# ---------------------------------------------------------------------------------------------
# the in-memory dataset
# ---------------------------------------------------------------------------------------------
class ImageArrayDataset(Dataset):
    """Images held in memory as a ``uint8`` tensor ``[M, C, H, W]`` plus integer labels ``[M]``.

    Item ``i`` is ``(images[i] / scale, labels[i])``: a float ``[C, H, W]`` in [0, 1] and an int.
    ``scale`` is 255 for 8-bit images and 16 for scikit-learn's digits (whose values are 0..16),
    so no precision is lost.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        *,
        classes: Sequence[str],
        name: str = "custom",
        split: str = "train",
        scale: float = 255.0,
    ):
        if images.ndim != 4:
            raise ValueError(f"images must be [M, C, H, W], got shape {tuple(images.shape)}")
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels; give one label per image")
        self.images = images.contiguous()  # [M, C, H, W] uint8
        self.labels = torch.as_tensor(labels, dtype=torch.long)  # [M]
        self.classes = list(classes)
        self.name = name
        self.split = split
        self.scale = float(scale)

    # ------------------------------------------------------------------ Dataset protocol
    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index].float().div_(self.scale), int(self.labels[index])

    # ------------------------------------------------------------------ description
    @property
    def channels(self) -> int:
        return int(self.images.shape[1])

    @property
    def image_size(self) -> int | tuple[int, int]:
        height, width = int(self.images.shape[2]), int(self.images.shape[3])
        return height if height == width else (height, width)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __repr__(self) -> str:
        c, h, w = self.images.shape[1:]
        return (
            f"ImageArrayDataset({self.name!r}, split={self.split!r}, {len(self)} images {c}×{h}×{w}, "
            f"{self.num_classes} classes)"
        )

    # ------------------------------------------------------------------ helpers
    def tensors(self, device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """All images as float ``[M, C, H, W]`` in [0, 1] and labels ``[M]`` (on ``device``)."""
        images = self.images.to(device) if device is not None else self.images
        labels = self.labels.to(device) if device is not None else self.labels
        return images.float().div_(self.scale), labels

    def subset(self, indices: Sequence[int] | torch.Tensor) -> ImageArrayDataset:
        """A new dataset with only ``indices`` (shares nothing it could mutate)."""
        indices = torch.as_tensor(indices, dtype=torch.long)
        return ImageArrayDataset(
            self.images[indices],
            self.labels[indices],
            classes=self.classes,
            name=self.name,
            split=self.split,
            scale=self.scale,
        )


def take_subset(dataset: ImageArrayDataset, limit: int | None, seed: int) -> ImageArrayDataset:
    """A random subset of ``limit`` items (drawn with ``seed``), or the dataset itself."""
    if limit is None or limit >= len(dataset):
        return dataset
    if limit < 1:
        raise ValueError(f"limit must be a positive number of images, got {limit}")
    order = torch.randperm(len(dataset), generator=generator(seed, Stream.SUBSET))[: int(limit)]
    return dataset.subset(order.sort().values)


# ---------------------------------------------------------------------------------------------
# pixel helpers
# ---------------------------------------------------------------------------------------------
def resize_uint8(
    images: torch.Tensor, size: int, mode: str = "interpolate", scale: float = 255.0
) -> torch.Tensor:
    """Resize ``uint8`` ``[M, C, H, W]`` to ``size × size``; returns ``uint8`` on the 0..255 scale.

    ``mode="interpolate"``: bilinear with antialiasing; ``mode="pad"``: centre the image on a black
    canvas (or centre-crop when it is larger).
    """
    height, width = images.shape[-2:]
    if mode == "pad":
        out = images if scale == 255.0 else (images.float() * (255.0 / scale)).round().to(torch.uint8)
        pad_h, pad_w = size - height, size - width
        top, left = pad_h // 2, pad_w // 2
        return F.pad(out, (left, pad_w - left, top, pad_h - top))  # negative pads crop
    if mode != "interpolate":
        raise ValueError(f"resize must be 'interpolate' or 'pad', got {mode!r}")
    chunks = []
    for start in range(0, len(images), 4096):
        chunk = images[start : start + 4096].float() * (255.0 / scale)
        chunk = F.interpolate(chunk, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        chunks.append(chunk.round_().clamp_(0, 255).to(torch.uint8))
    return torch.cat(chunks) if chunks else images.new_zeros((0, images.shape[1], size, size))


def convert_channels(images: torch.Tensor, channels: int | None) -> torch.Tensor:
    """Gray ``[M, 1, H, W]`` → RGB by repetition, RGB → gray by luminance (ITU-R 601 weights)."""
    if channels is None or channels == images.shape[1]:
        return images
    if channels == 3 and images.shape[1] == 1:
        return images.repeat(1, 3, 1, 1)
    if channels == 1 and images.shape[1] == 3:
        weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        return (images.float() * weights).sum(1, keepdim=True).round_().to(images.dtype)
    raise ValueError(f"channels must be 1 or 3, got {channels}")


def finish(
    images: torch.Tensor,
    labels: Any,
    *,
    classes: Sequence[str],
    name: str,
    split: str,
    image_size: int | None,
    native_size: int,
    channels: int | None,
    resize: str,
    scale: float = 255.0,
    limit: int | None,
    seed: int,
) -> ImageArrayDataset:
    """Subset first (cheap), then resize and convert channels, then wrap."""
    dataset = take_subset(
        ImageArrayDataset(
            images, torch.as_tensor(labels), classes=classes, name=name, split=split, scale=scale
        ),
        limit,
        seed,
    )
    pixels = dataset.images
    if image_size is not None and int(image_size) != native_size:
        per_image = pixels.shape[1] * int(image_size) ** 2  # bytes of one resized uint8 image
        check_memory(len(pixels) * per_image + min(len(pixels), 4096) * per_image * 4,  # + a float chunk
                     f"{len(pixels)} {name} images resized to {image_size}x{image_size}",
                     "pass a smaller limit= or image_size=")
        pixels, scale = resize_uint8(pixels, int(image_size), resize, dataset.scale), 255.0
    else:
        scale = dataset.scale
    pixels = convert_channels(pixels, channels)
    return ImageArrayDataset(pixels, dataset.labels, classes=classes, name=name, split=split, scale=scale)


# ---------------------------------------------------------------------------------------------
# image files
# ---------------------------------------------------------------------------------------------
def read_image_file(path: str | Path, size: int, channels: int = 3) -> torch.Tensor:
    """An image file as uint8 ``[C, size, size]``: shorter side resized (bicubic), then centre-cropped."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image = image.convert("RGB" if channels == 3 else "L")
            width, height = image.size
            factor = size / min(width, height)
            new_size = (max(size, round(width * factor)), max(size, round(height * factor)))
            image = image.resize(new_size, Image.BICUBIC)
            left, top = (new_size[0] - size) // 2, (new_size[1] - size) // 2
            array = np.asarray(image.crop((left, top, left + size, top + size)), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError(f"could not read the image {path} ({error}); pass a PNG or JPEG file") from None
    array = array[..., None] if array.ndim == 2 else array
    return torch.from_numpy(array.copy()).permute(2, 0, 1)


# ---------------------------------------------------------------------------------------------
# ImageFolder
# ---------------------------------------------------------------------------------------------
class ImageFolderDataset(Dataset):
    """Images read lazily from ``root/<class>/<file>``: shorter side resized, then centre-cropped.

    Item ``i`` is ``(float [C, S, S] in [0, 1], class index)``.
    """

    def __init__(
        self,
        files: Sequence[Path],
        labels: Sequence[int],
        classes: Sequence[str],
        image_size: int,
        channels: int = 3,
        split: str = "train",
    ):
        self.files = list(files)
        self.labels = torch.as_tensor(list(labels), dtype=torch.long)
        self.classes = list(classes)
        self.image_size = int(image_size)
        self.channels = int(channels)
        self.name = "folder"
        self.split = split

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.files)

    def read_uint8(self, index: int) -> torch.Tensor:
        """Image ``index`` as uint8 ``[C, S, S]``."""
        return read_image_file(self.files[index], self.image_size, self.channels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.read_uint8(index).float().div_(255.0), int(self.labels[index])

    def __repr__(self) -> str:
        return (
            f"ImageFolderDataset(split={self.split!r}, {len(self)} images {self.channels}×{self.image_size}×"
            f"{self.image_size}, {self.num_classes} classes)"
        )


def image_batches(dataset: Any, batch_size: int) -> Any:
    """Batches ``(float images [B, C, H, W] in [0, 1], labels [B])`` of a dataset or ``(images, labels)``."""
    if isinstance(dataset, (tuple, list)) and len(dataset) == 2 and isinstance(dataset[0], torch.Tensor):
        images, labels = dataset
        for start in range(0, len(images), batch_size):
            yield (
                images[start : start + batch_size].float(),
                torch.as_tensor(labels[start : start + batch_size]),
            )
        return
    if isinstance(dataset, ImageArrayDataset):
        for start in range(0, len(dataset), batch_size):
            chunk = dataset.images[start : start + batch_size].float().div_(dataset.scale)
            yield chunk, dataset.labels[start : start + batch_size]
        return
    for start in range(0, len(dataset), batch_size):
        items = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
        yield torch.stack([x for x, _ in items]), torch.as_tensor([int(y) for _, y in items])
