"""Datasets with offline defaults: one call, ``load_dataset(name, split)``.

Every dataset yields ``(image, label)`` with ``image`` a float tensor ``[C, H, W]`` in ``[0, 1]``
and carries ``.num_classes``, ``.classes``, ``.channels`` and ``.image_size``.

=================  ==========================================================================
name               where the pixels come from
=================  ==========================================================================
``digits``         scikit-learn's bundled 8×8 handwritten digits (always offline)
``photos``         random crops of the photos bundled with scikit-learn and scikit-image;
                   train and val use different photos, so no crop leaks (always offline)
``fashion_mnist``  IDX files in ``$MAE_LAB_DATA``, ``data/`` or ``/usr/share/datasets/fashion-mnist``
                   (Debian's ``dataset-fashion-mnist``), else a torchvision download
``cifar10``        torchvision's local files (binary or python version), else a download
``stl10``          torchvision's local ``stl10_binary`` files, else a download
``folder``         any ImageFolder tree: ``root/<class>/<image>``
=================  ==========================================================================

Small sets are held in memory as ``uint8`` and :class:`GPUResidentLoader` keeps the whole set on the
device and augments there (random resized crop and flip), so a tiny model is not starved by a
Python data loader — the trick behind fast small-scale masked autoencoder (MAE) pretraining
(He et al., "Masked Autoencoders Are Scalable Vision Learners", 2021, used random resized crop
and flip as its only augmentations).

>>> train = load_dataset("digits", "train")
>>> image, label = train[0]
>>> image.shape, train.num_classes
(torch.Size([1, 8, 8]), 10)
"""

from __future__ import annotations

import difflib
import functools
import gzip
import math
import os
import pickle
import socket
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from .paths import data_dir

__all__ = [
    "FASHION_MNIST_CLASSES",
    "SYSTEM_DATA_DIRS",
    "GPUResidentLoader",
    "ImageArrayDataset",
    "ImageFolderDataset",
    "list_datasets",
    "load_dataset",
    "mix_seed",
    "random_resized_crop_flip",
    "read_cifar_batch",
    "read_idx",
    "sample_images",
]

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
STL10_CLASSES = (
    "airplane",
    "bird",
    "car",
    "cat",
    "deer",
    "dog",
    "horse",
    "monkey",
    "ship",
    "truck",
)

#: Folders searched for Fashion-MNIST after ``$MAE_LAB_DATA`` and ``data/`` (Debian's package path).
SYSTEM_DATA_DIRS: tuple[str, ...] = ("/usr/share/datasets/fashion-mnist",)

SPLIT_ALIASES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "val"}


# ---------------------------------------------------------------------------------------------
# seeds
# ---------------------------------------------------------------------------------------------
def mix_seed(*parts: int) -> int:
    """One well-mixed 63-bit seed from several integers (e.g. ``seed, epoch, batch``).

    Uses numpy's ``SeedSequence`` so nearby inputs give unrelated streams, on every platform.
    """
    state = np.random.SeedSequence([int(p) % (2**63) for p in parts]).generate_state(2, dtype=np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1])) % (2**63 - 1)


def _generator(*parts: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded from ``mix_seed(*parts)``."""
    return torch.Generator().manual_seed(mix_seed(*parts))


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


def _limit(dataset: ImageArrayDataset, limit: int | None, seed: int) -> ImageArrayDataset:
    """A random subset of ``limit`` items (drawn with ``seed``), or the dataset itself."""
    if limit is None or limit >= len(dataset):
        return dataset
    if limit < 1:
        raise ValueError(f"limit must be a positive number of images, got {limit}")
    order = torch.randperm(len(dataset), generator=_generator(seed, 7_001))[: int(limit)]
    return dataset.subset(order.sort().values)


# ---------------------------------------------------------------------------------------------
# pixel helpers
# ---------------------------------------------------------------------------------------------
def _resize_uint8(
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


def _convert_channels(images: torch.Tensor, channels: int | None) -> torch.Tensor:
    """Gray ``[M, 1, H, W]`` → RGB by repetition, RGB → gray by luminance (ITU-R 601 weights)."""
    if channels is None or channels == images.shape[1]:
        return images
    if channels == 3 and images.shape[1] == 1:
        return images.repeat(1, 3, 1, 1)
    if channels == 1 and images.shape[1] == 3:
        weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        return (images.float() * weights).sum(1, keepdim=True).round_().to(images.dtype)
    raise ValueError(f"channels must be 1 or 3, got {channels}")


def _finish(
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
    dataset = _limit(
        ImageArrayDataset(
            images, torch.as_tensor(labels), classes=classes, name=name, split=split, scale=scale
        ),
        limit,
        seed,
    )
    pixels = dataset.images
    if image_size is not None and int(image_size) != native_size:
        pixels, scale = _resize_uint8(pixels, int(image_size), resize, dataset.scale), 255.0
    else:
        scale = dataset.scale
    pixels = _convert_channels(pixels, channels)
    return ImageArrayDataset(pixels, dataset.labels, classes=classes, name=name, split=split, scale=scale)


# ---------------------------------------------------------------------------------------------
# digits
# ---------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=8)
def _digits_split(split: str, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn digits as uint8 0..16 ``[M, 1, 8, 8]``; a stratified 80/20 split drawn with ``seed``."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = bunch.images.astype(np.uint8)[:, None]  # [1797, 1, 8, 8], values 0..16
    index = np.arange(len(images))
    train_idx, val_idx = train_test_split(index, test_size=0.2, stratify=bunch.target, random_state=seed)
    chosen = np.sort(train_idx if split == "train" else val_idx)
    return torch.from_numpy(images[chosen]), torch.from_numpy(bunch.target[chosen].astype(np.int64))


def _load_digits(split, image_size, root, download, seed, limit, channels=None, resize="interpolate"):
    images, labels = _digits_split(split, seed)
    return _finish(
        images,
        labels,
        classes=[str(d) for d in range(10)],
        name="digits",
        split=split,
        image_size=image_size,
        native_size=8,
        channels=channels,
        resize=resize,
        scale=16.0,
        limit=limit,
        seed=seed,
    )


# ---------------------------------------------------------------------------------------------
# photos
# ---------------------------------------------------------------------------------------------
#: The bundled colour photos, by name; val photos never appear in train crops.
PHOTO_NAMES = (
    "china",
    "flower",
    "astronaut",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "motorcycle",
    "chelsea",
    "coffee",
)
VAL_PHOTOS = ("chelsea", "coffee")


@functools.lru_cache(maxsize=1)
def _bundled_photos() -> dict[str, np.ndarray]:
    """Every bundled colour photo as ``uint8 [H, W, 3]``, read from the installed packages (offline)."""
    import skimage.data
    from sklearn.datasets import load_sample_images

    photos: dict[str, np.ndarray] = {}
    sample = load_sample_images()
    for filename, image in zip(sample.filenames, sample.images):
        photos[Path(filename).stem] = image
    loaders: dict[str, Callable[[], np.ndarray]] = {
        "astronaut": skimage.data.astronaut,
        "rocket": skimage.data.rocket,
        "hubble_deep_field": skimage.data.hubble_deep_field,
        "immunohistochemistry": skimage.data.immunohistochemistry,
        "retina": skimage.data.retina,
        "motorcycle": lambda: skimage.data.stereo_motorcycle()[0],
        "chelsea": skimage.data.chelsea,
        "coffee": skimage.data.coffee,
    }
    for name, loader in loaders.items():
        try:
            photos[name] = np.ascontiguousarray(loader()[..., :3])
        except (OSError, ValueError) as error:  # a trimmed install may lack a file; use what is there
            warnings.warn(f"photo {name!r} is not available ({error}); skipping it", stacklevel=2)
    return {name: photos[name] for name in PHOTO_NAMES if name in photos}


@functools.lru_cache(maxsize=16)
def _prescaled_photo(name: str, short_side: int) -> torch.Tensor:
    """Photo ``name`` as uint8 ``[3, h, w]`` resized so its shorter side is ``short_side`` pixels."""
    image = torch.from_numpy(np.array(_bundled_photos()[name])).permute(2, 0, 1)[None].float()  # [1, 3, H, W]
    height, width = image.shape[-2:]
    factor = short_side / min(height, width)
    size = (max(short_side, round(height * factor)), max(short_side, round(width * factor)))
    image = F.interpolate(image, size=size, mode="bilinear", align_corners=False, antialias=True)
    return image[0].round_().clamp_(0, 255).to(torch.uint8)


@functools.lru_cache(maxsize=16)
def _photo_crops(
    split: str, image_size: int, num_crops: int, seed: int, zoom: float, crop_scale: tuple[float, float]
) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
    """``num_crops`` crops ``uint8 [M, 3, S, S]`` and their source-photo ids (into all photo names).

    Crop ``i`` depends only on ``(seed, split, i)``: the photo, the crop side (a fraction
    ``crop_scale`` of the photo's shorter side after rescaling it to ``zoom × image_size``) and
    the position.
    """
    available = tuple(_bundled_photos())
    if split == "train":
        sources = [n for n in available if n not in VAL_PHOTOS]
    else:
        sources = [n for n in available if n in VAL_PHOTOS]
    if not sources:
        raise FileNotFoundError(
            f"no bundled photos for split {split!r}; reinstall scikit-image and scikit-learn"
        )
    short_side = max(image_size, round(image_size * zoom))
    split_code = 0 if split == "train" else 1
    crops = torch.empty((num_crops, 3, image_size, image_size), dtype=torch.uint8)
    labels = torch.empty(num_crops, dtype=torch.long)
    for i in range(num_crops):
        rng = np.random.default_rng([seed, split_code, i])
        name = sources[int(rng.integers(len(sources)))]
        photo = _prescaled_photo(name, short_side)  # [3, h, w]
        height, width = photo.shape[-2:]
        side = round(float(rng.uniform(*crop_scale)) * min(height, width))
        side = min(max(side, 2), height, width)
        top, left = int(rng.integers(height - side + 1)), int(rng.integers(width - side + 1))
        crop = photo[None, :, top : top + side, left : left + side].float()
        crop = F.interpolate(
            crop, size=(image_size, image_size), mode="bilinear", align_corners=False, antialias=True
        )
        crops[i] = crop[0].round_().clamp_(0, 255).to(torch.uint8)
        labels[i] = available.index(name)
    return crops, labels, available


def _load_photos(
    split,
    image_size,
    root,
    download,
    seed,
    limit,
    channels=None,
    num_crops=None,
    zoom=4.0,
    crop_scale=(0.25, 0.6),
    resize="interpolate",
):
    image_size = int(image_size or 32)
    if num_crops is None:
        num_crops = 2048 if split == "train" else 256
    if limit is not None:
        num_crops = min(num_crops, int(limit))
    crops, labels, names = _photo_crops(
        split, image_size, int(num_crops), seed, float(zoom), tuple(crop_scale)
    )
    return ImageArrayDataset(
        _convert_channels(crops, channels), labels, classes=names, name="photos", split=split
    )


# ---------------------------------------------------------------------------------------------
# IDX files (MNIST / Fashion-MNIST)
# ---------------------------------------------------------------------------------------------
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


_FASHION_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "val": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _default_download_root() -> Path:
    """Where downloads go: ``$MAE_LAB_DATA`` or ``~/.cache/mae_lab``."""
    env = os.environ.get("MAE_LAB_DATA")
    return Path(env) if env else Path.home() / ".cache" / "mae_lab"


def _candidate_dirs(
    root: str | os.PathLike | None, search_system: bool, subdirs: Sequence[str]
) -> list[Path]:
    """Folders to search: ``root``, ``$MAE_LAB_DATA``, repo ``data/``, the download cache, the system's."""
    bases: list[Path] = []
    if root is not None:
        bases.append(Path(root))
    if os.environ.get("MAE_LAB_DATA"):
        bases.append(Path(os.environ["MAE_LAB_DATA"]))
    bases.append(data_dir())
    bases.append(Path.home() / ".cache" / "mae_lab")
    found: list[Path] = []
    for base in bases:
        found.extend([base] + [base / sub for sub in subdirs])
    if search_system:
        found.extend(Path(p) for p in SYSTEM_DATA_DIRS)
    return found


def _find_file(folders: Sequence[Path], stem: str) -> Path | None:
    for folder in folders:
        for name in (stem, stem + ".gz"):
            if (folder / name).is_file():
                return folder / name
    return None


def _online(host: str = "pypi.org", timeout: float = 1.5) -> bool:
    """A quick check that the internet is reachable (so an offline machine fails fast, not slowly)."""
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def _fashion_files(split: str, root, download: bool | None, search_system: bool) -> tuple[Path, Path]:
    subdirs = ("fashion-mnist", "fashion_mnist", "FashionMNIST/raw")
    folders = _candidate_dirs(root, search_system, subdirs)
    image_stem, label_stem = _FASHION_FILES[split]
    images, labels = _find_file(folders, image_stem), _find_file(folders, label_stem)
    if images is not None and labels is not None:
        return images, labels
    if download or (download is None and _online()):
        import torchvision

        target = Path(root) if root is not None else _default_download_root()
        torchvision.datasets.FashionMNIST(str(target), train=split == "train", download=True)
        images = _find_file([target / "FashionMNIST" / "raw"], image_stem)
        labels = _find_file([target / "FashionMNIST" / "raw"], label_stem)
        if images is not None and labels is not None:
            return images, labels
    raise FileNotFoundError(
        f"Fashion-MNIST files ({image_stem}[.gz], {label_stem}[.gz]) were not found. Three ways to get them: "
        "(1) put the four IDX files in $MAE_LAB_DATA or the repository's data/ folder; "
        "(2) install Debian's package: `sudo apt-get install dataset-fashion-mnist` "
        f"(files land in {SYSTEM_DATA_DIRS[0]}); "
        "(3) when online, call load_dataset('fashion_mnist', download=True) to fetch them with torchvision. "
        f"Searched: {', '.join(str(f) for f in folders)}"
    )


@functools.lru_cache(maxsize=4)
def _read_idx_pair(image_path: str, label_path: str) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.from_numpy(read_idx(image_path).astype(np.uint8))[:, None]  # [M, 1, 28, 28]
    labels = torch.from_numpy(read_idx(label_path).astype(np.int64))  # [M]
    if len(images) != len(labels):
        raise ValueError(
            f"{image_path} holds {len(images)} images but {label_path} holds {len(labels)} labels"
        )
    return images, labels


def _load_fashion_mnist(
    split, image_size, root, download, seed, limit, channels=None, resize="interpolate", search_system=True
):
    image_path, label_path = _fashion_files(split, root, download, search_system)
    images, labels = _read_idx_pair(str(image_path), str(label_path))
    return _finish(
        images,
        labels,
        classes=FASHION_MNIST_CLASSES,
        name="fashion_mnist",
        split=split,
        image_size=image_size,
        native_size=int(images.shape[-1]),
        channels=channels,
        resize=resize,
        limit=limit,
        seed=seed,
    )


# ---------------------------------------------------------------------------------------------
# CIFAR-10 (binary or python version) and STL-10 (binary)
# ---------------------------------------------------------------------------------------------
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
        raise pickle.UnpicklingError(
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


def _cifar_files(split: str, root, download) -> list[Path]:
    folders = _candidate_dirs(root, False, ("cifar10", "cifar-10"))
    names_bin = [f"data_batch_{i}.bin" for i in range(1, 6)] if split == "train" else ["test_batch.bin"]
    names_py = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    for folder in folders:
        for sub, names in (("cifar-10-batches-bin", names_bin), ("cifar-10-batches-py", names_py)):
            if all((folder / sub / n).is_file() for n in names):
                return [folder / sub / n for n in names]
    if download or (download is None and _online()):
        import torchvision

        target = Path(root) if root is not None else _default_download_root()
        torchvision.datasets.CIFAR10(str(target), train=split == "train", download=True)
        return [target / "cifar-10-batches-py" / n for n in names_py]
    raise FileNotFoundError(
        "CIFAR-10 files were not found: put torchvision's cifar-10-batches-py/ (or the binary "
        "cifar-10-batches-bin/) folder in $MAE_LAB_DATA, data/ or root=..., or pass download=True online. "
        f"Searched: {', '.join(str(f) for f in folders)}"
    )


@functools.lru_cache(maxsize=4)
def _read_cifar_files(paths: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    parts = [read_cifar_batch(p) for p in paths]
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    return torch.from_numpy(images), torch.from_numpy(labels)


def _load_cifar10(split, image_size, root, download, seed, limit, channels=None, resize="interpolate"):
    paths = tuple(str(p) for p in _cifar_files(split, root, download))
    images, labels = _read_cifar_files(paths)
    return _finish(
        images,
        labels,
        classes=CIFAR10_CLASSES,
        name="cifar10",
        split=split,
        image_size=image_size,
        native_size=32,
        channels=channels,
        resize=resize,
        limit=limit,
        seed=seed,
    )


@functools.lru_cache(maxsize=4)
def _read_stl10(folder: str, part: str) -> tuple[torch.Tensor, torch.Tensor]:
    """STL-10 ``{part}_X.bin`` (uint8, column-major 96×96 images) and ``{part}_y.bin`` (labels 1..10)."""
    raw = np.fromfile(Path(folder) / f"{part}_X.bin", dtype=np.uint8)
    images = raw.reshape(-1, 3, 96, 96).transpose(0, 1, 3, 2).copy()  # stored column-major
    label_file = Path(folder) / f"{part}_y.bin"
    labels = np.fromfile(label_file, dtype=np.uint8).astype(np.int64) - 1 if label_file.is_file() else None
    if labels is None:
        labels = np.full(len(images), -1, dtype=np.int64)  # the unlabeled part
    return torch.from_numpy(images), torch.from_numpy(labels)


def _load_stl10(
    split, image_size, root, download, seed, limit, channels=None, resize="interpolate", part=None
):
    part = part or ("train" if split == "train" else "test")
    folders = _candidate_dirs(root, False, ("stl10",))
    found = next(
        (f / "stl10_binary" for f in folders if (f / "stl10_binary" / f"{part}_X.bin").is_file()), None
    )
    if found is None and (download or (download is None and _online())):
        import torchvision

        target = Path(root) if root is not None else _default_download_root()
        torchvision.datasets.STL10(str(target), split="train", download=True)
        found = target / "stl10_binary"
    if found is None:
        raise FileNotFoundError(
            "STL-10 files were not found: put torchvision's stl10_binary/ folder in $MAE_LAB_DATA, data/ or "
            f"root=..., or pass download=True when online. Searched: {', '.join(str(f) for f in folders)}"
        )
    images, labels = _read_stl10(str(found), part)
    return _finish(
        images,
        labels,
        classes=STL10_CLASSES,
        name="stl10",
        split=split,
        image_size=image_size,
        native_size=96,
        channels=channels,
        resize=resize,
        limit=limit,
        seed=seed,
    )


# ---------------------------------------------------------------------------------------------
# ImageFolder
# ---------------------------------------------------------------------------------------------
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


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
        from PIL import Image

        with Image.open(self.files[index]) as image:
            image = image.convert("RGB" if self.channels == 3 else "L")
            width, height = image.size
            factor = self.image_size / min(width, height)
            new_size = (
                max(self.image_size, round(width * factor)),
                max(self.image_size, round(height * factor)),
            )
            image = image.resize(new_size, Image.BICUBIC)
            left = (new_size[0] - self.image_size) // 2
            top = (new_size[1] - self.image_size) // 2
            image = image.crop((left, top, left + self.image_size, top + self.image_size))
            array = np.asarray(image, dtype=np.uint8)
        array = array[..., None] if array.ndim == 2 else array
        return torch.from_numpy(array.copy()).permute(2, 0, 1)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.read_uint8(index).float().div_(255.0), int(self.labels[index])

    def __repr__(self) -> str:
        return (
            f"ImageFolderDataset(split={self.split!r}, {len(self)} images {self.channels}×{self.image_size}×"
            f"{self.image_size}, {self.num_classes} classes)"
        )


def _load_folder(split, image_size, root, download, seed, limit, channels=3, val_fraction=0.2):
    if root is None:
        raise ValueError("the 'folder' dataset needs root=<folder with one sub-folder per class>")
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"folder {root} does not exist; pass root=<folder with one sub-folder per class>"
        )
    split_dir = root / split
    if split == "val" and not split_dir.is_dir():
        split_dir = root / "test" if (root / "test").is_dir() else split_dir
    own_split = split_dir.is_dir()
    base = split_dir if own_split else root
    classes = sorted(d.name for d in base.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise FileNotFoundError(f"{base} has no class sub-folders; expected {base}/<class>/<image files>")
    files, labels = [], []
    for label, cls in enumerate(classes):
        paths = sorted(p for p in (base / cls).rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
        if not own_split:  # hold out a fixed fraction of each class for val
            order = np.random.default_rng([seed, label]).permutation(len(paths))
            cut = round(len(paths) * val_fraction)
            keep = order[cut:] if split == "train" else order[:cut]
            paths = [paths[i] for i in sorted(keep)]
        files.extend(paths)
        labels.extend([label] * len(paths))
    if limit is not None and limit < len(files):
        keep = np.sort(np.random.default_rng([seed, 7_001]).permutation(len(files))[: int(limit)])
        files, labels = [files[i] for i in keep], [labels[i] for i in keep]
    return ImageFolderDataset(files, labels, classes, image_size or 224, channels=channels or 3, split=split)


# ---------------------------------------------------------------------------------------------
# the registry and the one call
# ---------------------------------------------------------------------------------------------
_LOADERS: dict[str, tuple[Callable[..., Dataset], str]] = {
    "digits": (_load_digits, "scikit-learn's 8×8 handwritten digits, 1 channel, 10 classes (offline)"),
    "photos": (_load_photos, "random crops of bundled natural photos, 3 channels, split by photo (offline)"),
    "fashion_mnist": (_load_fashion_mnist, "Fashion-MNIST 28×28, 1 channel, 10 classes (local IDX files)"),
    "cifar10": (_load_cifar10, "CIFAR-10 32×32, 3 channels, 10 classes (local files or download)"),
    "stl10": (_load_stl10, "STL-10 96×96, 3 channels, 10 classes (local files or download)"),
    "folder": (_load_folder, "any ImageFolder tree root/<class>/<image> (root=...)"),
}


def list_datasets() -> dict[str, str]:
    """Dataset names and a one-line description of each."""
    return {name: description for name, (_, description) in _LOADERS.items()}


def _normalise_split(split: str) -> str:
    try:
        return SPLIT_ALIASES[str(split).lower()]
    except KeyError:
        raise ValueError(f"split must be 'train' or 'val' (alias 'test'), got {split!r}") from None


def load_dataset(
    name: str,
    split: str = "train",
    image_size: int | None = None,
    root: str | os.PathLike | None = None,
    download: bool | None = None,
    seed: int = 0,
    limit: int | None = None,
    **kw: Any,
) -> Dataset:
    """A dataset by name; items are ``(image float [C, H, W] in [0, 1], label int)``.

    Args:
        name: one of :func:`list_datasets` (``digits``, ``photos``, ``fashion_mnist``, ``cifar10``,
            ``stl10``, ``folder``).
        split: ``"train"`` or ``"val"`` (``"test"`` is the same held-out part).
        image_size: side in pixels; ``None`` keeps the native size (32 for photos, 224 for folders).
        root: a folder to search first (the ImageFolder root for ``folder``).
        download: ``True`` downloads through torchvision when files are missing, ``False`` never does,
            ``None`` downloads only if the internet is reachable.
        seed: fixes the digits split, the photo crops and the ``limit`` subset.
        limit: keep a random subset of this many images (for quick runs).
        **kw: per-dataset options: ``channels`` (1 or 3), ``resize`` (``"interpolate"`` or ``"pad"``),
            ``num_crops`` / ``zoom`` / ``crop_scale`` (photos), ``search_system`` (fashion_mnist),
            ``val_fraction`` (folder), ``part`` (stl10: ``"unlabeled"``).

    Raises:
        KeyError: unknown ``name`` (with close suggestions).
        FileNotFoundError: the files are missing and cannot be downloaded (the message names the fixes).
    """
    key = str(name).lower().replace("-", "_")
    if key not in _LOADERS:
        close = difflib.get_close_matches(key, list(_LOADERS), n=3, cutoff=0.4)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise KeyError(f"unknown dataset {name!r}{hint} Known datasets: {', '.join(_LOADERS)}")
    if image_size is not None and int(image_size) < 1:
        raise ValueError(f"image_size must be a positive number of pixels, got {image_size}")
    loader, _ = _LOADERS[key]
    return loader(_normalise_split(split), image_size, root, download, int(seed), limit, **kw)


def sample_images(
    name: str = "photos",
    n: int = 8,
    image_size: int | None = None,
    split: str = "val",
    seed: int = 0,
    **kw: Any,
) -> torch.Tensor:
    """``n`` images ``[n, C, H, W]`` in [0, 1] drawn (with ``seed``) from ``split`` of dataset ``name``.

    ``image_size=None`` keeps each dataset's own size (digits 8, Fashion-MNIST 28, photo crops 32).
    """
    dataset = load_dataset(name, split=split, image_size=image_size, seed=0, **kw)
    if n > len(dataset):
        raise ValueError(f"asked for {n} images but {name!r} split {split!r} has only {len(dataset)}")
    order = torch.randperm(len(dataset), generator=_generator(seed, 9_001))[:n]
    if isinstance(dataset, ImageArrayDataset):
        return dataset.images[order].float().div_(dataset.scale)
    return torch.stack([dataset[int(i)][0] for i in order])


# ---------------------------------------------------------------------------------------------
# on-device augmentation and loading
# ---------------------------------------------------------------------------------------------
def random_resized_crop_flip(
    images: torch.Tensor,
    generator: torch.Generator,
    scale: tuple[float, float] = (0.35, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    flip: bool = True,
) -> torch.Tensor:
    """Random resized crop + horizontal flip of a batch ``[B, C, H, W]``, in one ``grid_sample``.

    Each sample gets its own crop: area fraction in ``scale``, aspect ratio in ``ratio`` (log-uniform),
    a uniform position, and a flip with probability 1/2. Parameters are drawn on the CPU from
    ``generator`` (so the result is the same on every device); the resampling runs where the images are.
    """
    batch = images.shape[0]
    area = torch.empty(batch).uniform_(scale[0], scale[1], generator=generator)  # [B]
    log_ratio = torch.empty(batch).uniform_(math.log(ratio[0]), math.log(ratio[1]), generator=generator)
    aspect = log_ratio.exp()
    width = (area * aspect).sqrt().clamp(max=1.0)  # fraction of the image width
    height = (area / aspect).sqrt().clamp(max=1.0)
    center_x = (torch.rand(batch, generator=generator) * 2 - 1) * (1 - width)  # in [-1, 1] coordinates
    center_y = (torch.rand(batch, generator=generator) * 2 - 1) * (1 - height)
    sign = torch.ones(batch)
    if flip:
        sign = torch.where(torch.rand(batch, generator=generator) < 0.5, -1.0, 1.0)
    theta = torch.zeros(batch, 2, 3)
    theta[:, 0, 0] = width * sign
    theta[:, 0, 2] = center_x
    theta[:, 1, 1] = height
    theta[:, 1, 2] = center_y
    theta = theta.to(device=images.device, dtype=images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)  # [B, H, W, 2]
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _as_uint8_arrays(dataset: Dataset) -> tuple[torch.Tensor, torch.Tensor, float]:
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

    >>> loader = GPUResidentLoader(load_dataset("digits"), batch_size=64, device="cpu", seed=0)
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
        from .utils import default_device

        self.device = torch.device(device) if device is not None else default_device()
        images, labels, self.scale = _as_uint8_arrays(dataset)
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
            order = torch.randperm(total, generator=_generator(self.seed, epoch, 1_001))
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
                generator = _generator(self.seed, epoch, index, self.rank, 2_002)
                images = random_resized_crop_flip(
                    images, generator, self.crop_scale, self.crop_ratio, self.flip
                )
            yield images, self.labels[chosen]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self.batches(self.epoch)

    def __repr__(self) -> str:
        return (
            f"GPUResidentLoader({self.num_images} images on {self.device}, batch_size={self.batch_size}, "
            f"{len(self)} batches/epoch, augment={self.augment})"
        )
