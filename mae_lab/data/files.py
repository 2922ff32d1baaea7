"""Readers of the file formats the datasets come in: IDX (MNIST / Fashion-MNIST), CIFAR-10 batches, STL-10.

Nothing here unpickles arbitrary objects: CIFAR-10's python batches go through an unpickler that
accepts numpy arrays and plain containers only.
"""

from __future__ import annotations

import functools
import gzip
import os
import pickle
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

__all__ = ["read_cifar_batch", "read_cifar_files", "read_idx", "read_idx_pair", "read_stl10"]

_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}



def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzipped (``.gz``) or raw, into a numpy array.

    The header is two zero bytes, a type code (0x08 = uint8, ...), the number of dimensions, then
    one big-endian int32 per dimension; the data follow in C order.
    """
    path = Path(path)
    with path.open("rb") as handle:
        gzipped = handle.read(2) == b"\x1f\x8b"
    opener = gzip.open if gzipped else open
    with opener(path, "rb") as handle:
        data = handle.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(
            f"{path} is not an IDX file (bad magic number {data[:4]!r}); expected MNIST-style data"
        )
    ndim = data[3]
    shape = tuple(int(v) for v in np.frombuffer(data, dtype=">i4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    count = int(np.prod(shape)) if shape else 1
    offset = 4 + 4 * ndim
    if len(data) - offset < count * dtype.itemsize:
        raise ValueError(f"{path} is truncated: header says {shape} but the file is too short")
    array = np.frombuffer(data, dtype=dtype, count=count, offset=offset).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


@functools.lru_cache(maxsize=4)
def read_idx_pair(image_path: str, label_path: str) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.from_numpy(read_idx(image_path).astype(np.uint8))[:, None]  # [M, 1, 28, 28]
    labels = torch.from_numpy(read_idx(label_path).astype(np.int64))  # [M]
    if len(images) != len(labels):
        raise ValueError(
            f"{image_path} holds {len(images)} images but {label_path} holds {len(labels)} labels"
        )
    return images, labels


class RefusedPickleError(pickle.UnpicklingError, ValueError):
    """A pickled file asked for something other than numpy arrays and plain containers (a ``ValueError`` too)."""


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays, nothing else: no code can run from the file."""

    ALLOWED: ClassVar[frozenset[tuple[str, str]]] = frozenset(
        {
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"),
            ("_codecs", "encode"),
        }
    )

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise RefusedPickleError(
            f"refusing to load {module}.{name} from a CIFAR batch: only numpy arrays and plain containers "
            "are allowed; use the binary version (cifar-10-batches-bin) if the file is not the official one"
        )


def read_cifar_batch(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 batch file as ``(uint8 [M, 3, 32, 32], int64 [M])``.

    Reads the binary version (``data_batch_1.bin``: records of 1 label byte + 3072 pixel bytes)
    directly, and the python version (``data_batch_1``, a pickle) with an unpickler that accepts
    only numpy arrays and plain containers, so a tampered file cannot run code.
    """
    path = Path(path)
    if path.suffix == ".bin":
        raw = np.fromfile(path, dtype=np.uint8)
        if raw.size % 3073:
            raise ValueError(
                f"{path} is not a CIFAR-10 binary batch: its size is not a multiple of 3073 bytes"
            )
        records = raw.reshape(-1, 3073)
        return records[:, 1:].reshape(-1, 3, 32, 32).copy(), records[:, 0].astype(np.int64)
    with path.open("rb") as handle:
        batch = _NumpyOnlyUnpickler(handle, encoding="latin1").load()
    if not isinstance(batch, dict):
        kind = type(batch).__name__
        raise ValueError(f"{path} is not a CIFAR-10 python batch (it holds a {kind}, not a dict)")  # noqa: TRY004
    batch = {(k.decode() if isinstance(k, bytes) else k): v for k, v in batch.items()}
    data = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
    labels = np.asarray(batch.get("labels", batch.get("fine_labels")), dtype=np.int64)
    return data, labels


@functools.lru_cache(maxsize=4)
def read_cifar_files(paths: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    parts = [read_cifar_batch(p) for p in paths]
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    return torch.from_numpy(images), torch.from_numpy(labels)


@functools.lru_cache(maxsize=4)
def read_stl10(folder: str, part: str) -> tuple[torch.Tensor, torch.Tensor]:
    """STL-10 ``{part}_X.bin`` (uint8, column-major 96×96 images) and ``{part}_y.bin`` (labels 1..10)."""
    raw = np.fromfile(Path(folder) / f"{part}_X.bin", dtype=np.uint8)
    images = raw.reshape(-1, 3, 96, 96).transpose(0, 1, 3, 2).copy()  # stored column-major
    label_file = Path(folder) / f"{part}_y.bin"
    labels = np.fromfile(label_file, dtype=np.uint8).astype(np.int64) - 1 if label_file.is_file() else None
    if labels is None:
        labels = np.full(len(images), -1, dtype=np.int64)  # the unlabeled part
    return torch.from_numpy(images), torch.from_numpy(labels)
