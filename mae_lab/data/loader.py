"""A loader for small datasets that keeps every image on the device and augments there.

A tiny model is starved by a Python data loader: on a GPU it waits for batches, on a CPU the
workers compete with it for cores. :class:`GPUResidentLoader` holds the whole set as ``uint8`` where
the model runs and makes each batch with one index, one division and one ``grid_sample``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch.utils.data import Dataset

from ..utils import Stream, default_device, generator
from .augment import random_resized_crop_flip
from .dataset import ImageArrayDataset, ImageFolderDataset

__all__ = ["GPUResidentLoader", "as_uint8_arrays"]


def as_uint8_arrays(dataset: Dataset) -> tuple[torch.Tensor, torch.Tensor, float]:
    """``(uint8 [M, C, H, W], labels [M], scale)`` for any dataset (array-backed ones without copying)."""
    if isinstance(dataset, ImageArrayDataset):
        return dataset.images, dataset.labels, dataset.scale
    if isinstance(dataset, ImageFolderDataset):
        images = torch.stack([dataset.read_uint8(i) for i in range(len(dataset))])
        return images, dataset.labels, 255.0
    images, labels = zip(*(dataset[i] for i in range(len(dataset))))
    pixels = (torch.stack(images).clamp(0, 1) * 255).round().to(torch.uint8)
    return pixels, torch.as_tensor(labels, dtype=torch.long), 255.0


class GPUResidentLoader:
    """The whole dataset as ``uint8`` on ``device``; batches are cropped and flipped there.

    Deterministic: the order of epoch ``e`` and the augmentation of batch ``b`` depend only on
    ``(seed, e, b, rank)``, so a run resumed in the middle of an epoch sees the same batches.
    Under data parallelism, pass ``rank`` and ``world_size``: each rank takes every
    ``world_size``-th index of the shared permutation (padded to a multiple, as
    ``DistributedSampler`` does).

    >>> loader = GPUResidentLoader(mae_lab.load_dataset("digits"), batch_size=64, device="cpu", seed=0)
    >>> images, labels = next(iter(loader))      # images: float [64, 1, 8, 8] in [0, 1]
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int,
        device: torch.device | str | None = None,
        augment: bool = True,
        seed: int = 0,
        *,
        shuffle: bool = True,
        drop_last: bool = True,
        crop_scale: tuple[float, float] = (0.35, 1.0),
        crop_ratio: tuple[float, float] = (3 / 4, 4 / 3),
        flip: bool = True,
        rank: int = 0,
        world_size: int = 1,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.device = torch.device(device) if device is not None else default_device()
        images, labels, self.scale = as_uint8_arrays(dataset)
        self.images = images.to(self.device)  # [M, C, H, W] uint8
        self.labels = labels.to(self.device)  # [M]
        self.batch_size = int(batch_size)
        self.augment, self.shuffle, self.drop_last, self.flip = augment, shuffle, drop_last, flip
        self.crop_scale, self.crop_ratio = tuple(crop_scale), tuple(crop_ratio)
        self.seed, self.rank, self.world_size = int(seed), int(rank), int(world_size)
        self.epoch = 0
        if self.drop_last and len(self.shard_indices(0)) < self.batch_size:
            raise ValueError(
                f"the dataset has {len(self.images)} images, less than a batch of {batch_size} per process; "
                "lower batch_size or use more data"
            )

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose order ``iter(loader)`` follows."""
        self.epoch = int(epoch)

    def shard_indices(self, epoch: int) -> torch.Tensor:
        """The dataset indices this rank visits in ``epoch``, in order."""
        total = len(self.images)
        if self.shuffle:
            order = torch.randperm(total, generator=generator(self.seed, epoch, Stream.DATA_ORDER))
        else:
            order = torch.arange(total)
        if self.world_size > 1:
            padded = math.ceil(total / self.world_size) * self.world_size
            order = torch.cat([order, order[: padded - total]])
            order = order[self.rank :: self.world_size]
        return order

    def __len__(self) -> int:
        per_rank = math.ceil(len(self.images) / self.world_size)
        return per_rank // self.batch_size if self.drop_last else math.ceil(per_rank / self.batch_size)

    @property
    def num_images(self) -> int:
        return len(self.images)

    def batches(self, epoch: int, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Batches ``start, start + 1, ...`` of ``epoch``: ``(float [B, C, H, W] in [0, 1], labels [B])``."""
        order = self.shard_indices(epoch).to(self.device)
        for index in range(start, len(self)):
            chosen = order[index * self.batch_size : (index + 1) * self.batch_size]
            images = self.images[chosen].float().div_(self.scale)  # [B, C, H, W]
            if self.augment:
                draws = generator(self.seed, epoch, index, self.rank, Stream.AUGMENT)
                images = random_resized_crop_flip(images, draws, self.crop_scale, self.crop_ratio, self.flip)
            yield images, self.labels[chosen]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self.batches(self.epoch)

    def __repr__(self) -> str:
        return (
            f"GPUResidentLoader({self.num_images} images on {self.device}, batch_size={self.batch_size}, "
            f"{len(self)} batches/epoch, augment={self.augment})"
        )
