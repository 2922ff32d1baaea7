"""Where the pixels come from: one loader per dataset, a registry, and the one call ``load_dataset``.

=================  ==========================================================================
name               where the pixels come from
=================  ==========================================================================
``digits``         scikit-learn's bundled 8×8 handwritten digits (always offline)
``photos``         random crops of the photos bundled with scikit-learn and scikit-image;
                   train and test use different photos, so no crop leaks (always offline)
``fashion_mnist``  IDX files in ``$MAE_LAB_DATA``, ``data/`` or ``/usr/share/datasets/fashion-mnist``
                   (Debian's ``dataset-fashion-mnist``), or ``download=True``
``cifar10``        torchvision's local files (binary or python version), or ``download=True``
``stl10``          torchvision's local ``stl10_binary`` files, or ``download=True``
``folder``         any ImageFolder tree: ``root/<class>/<image>``
=================  ==========================================================================
"""

from __future__ import annotations

import functools
import inspect
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from ..utils import Stream, check_memory, generator, suggest, whole_number
from . import download as fetching
from .dataset import IMAGE_EXTENSIONS, ImageArrayDataset, ImageFolderDataset, convert_channels, finish
from .download import (
    SYSTEM_DATA_DIRS,
    DownloadError,
    candidate_dirs,
    download_file,
    download_root,
    find_file,
)
from .files import read_cifar_files, read_idx_pair, read_stl10

__all__ = [
    "CIFAR10_CLASSES",
    "FASHION_MNIST_CLASSES",
    "STL10_CLASSES",
    "dataset_available",
    "download_fashion_mnist",
    "list_datasets",
    "load_dataset",
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

#: the largest image side load_dataset makes (a 4096 x 4096 colour image is 48 MiB)
MAX_IMAGE_SIZE = 4096
#: the arguments every loader takes before its own options
_LOADER_ARGUMENTS = ("split", "image_size", "root", "download", "seed", "limit")

SPLIT_ALIASES = {"train": "train", "test": "test", "val": "test", "valid": "test", "validation": "test"}



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
    return finish(
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
#: The bundled colour photos, by name; test photos never appear in train crops.
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
TEST_PHOTOS = ("chelsea", "coffee")


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
        sources = [n for n in available if n not in TEST_PHOTOS]
    else:
        sources = [n for n in available if n in TEST_PHOTOS]
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
    num_crops = whole_number(num_crops, "num_crops", minimum=1, fix="the number of photo crops to make")
    if limit is not None:
        num_crops = min(num_crops, int(limit))
    if not (isinstance(zoom, (int, float)) and not isinstance(zoom, bool) and 1 <= zoom <= 64):
        raise ValueError(f"zoom must be a number from 1 to 64 (the photo's shorter side in image sizes), got {zoom!r}")
    try:
        low, high = (float(v) for v in crop_scale)
    except (TypeError, ValueError):
        low = high = float("nan")
    if not 0 < low <= high <= 1:
        raise ValueError(f"crop_scale must be (low, high) with 0 < low <= high <= 1, got {crop_scale!r}")
    check_memory(num_crops * 3 * image_size**2, f"{num_crops} photo crops of {image_size}x{image_size}",
                 "pass a smaller limit=, num_crops= or image_size=")
    crops, labels, names = _photo_crops(
        split, image_size, int(num_crops), seed, float(zoom), tuple(crop_scale)
    )
    return ImageArrayDataset(
        convert_channels(crops, channels), labels, classes=names, name="photos", split=split
    )


# ---------------------------------------------------------------------------------------------
# Fashion-MNIST
# ---------------------------------------------------------------------------------------------
_FASHION_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
FASHION_MNIST_FIXES = (
    "Three ways to get them: (1) put the four IDX files in $MAE_LAB_DATA or the repository's data/ folder; "
    "(2) install Debian's package: `sudo apt-get install dataset-fashion-mnist` (files land in "
    f"{SYSTEM_DATA_DIRS[0]}); (3) when online, run `mae-lab download fashion_mnist` (or `make data`)."
)


def _fashion_files(split: str, root, download: bool | None, search_system: bool) -> tuple[Path, Path]:
    folders = candidate_dirs(root, search_system, ("fashion-mnist", "fashion_mnist", "FashionMNIST/raw"))
    image_stem, label_stem = _FASHION_FILES[split]
    images, labels = find_file(folders, image_stem), find_file(folders, label_stem)
    if images is not None and labels is not None:
        return images, labels
    if download:
        folder = download_fashion_mnist(root)
        return folder / f"{image_stem}.gz", folder / f"{label_stem}.gz"
    raise FileNotFoundError(
        f"Fashion-MNIST files ({image_stem}[.gz], {label_stem}[.gz]) were not found. {FASHION_MNIST_FIXES} "
        f"Searched: {', '.join(str(f) for f in folders)}"
    )


def download_fashion_mnist(root: str | os.PathLike | None = None, progress: bool = True,
                           timeout: float = 30.0) -> Path:
    """Fetch the four Fashion-MNIST files into ``<root or $MAE_LAB_DATA or data/>/fashion-mnist``.

    Each file comes from :data:`~mae_lab.data.download.FASHION_MNIST_MIRROR` and is checked against the
    MD5 its authors publish (:data:`~mae_lab.data.download.FASHION_MNIST_FILES`); raises
    :class:`~mae_lab.data.download.DownloadError` (with the other ways to get the files) on any failure.
    ``timeout``: seconds without data before a file is given up.
    """
    folder = download_root(root) / "fashion-mnist"
    for name, md5 in fetching.FASHION_MNIST_FILES.items():
        download_file(fetching.FASHION_MNIST_MIRROR + name, folder / name, md5, how_else=FASHION_MNIST_FIXES,
                      progress=progress, timeout=timeout)
    return folder


def _load_fashion_mnist(
    split, image_size, root, download, seed, limit, channels=None, resize="interpolate", search_system=True
):
    image_path, label_path = _fashion_files(split, root, download, search_system)
    images, labels = read_idx_pair(str(image_path), str(label_path))
    return finish(
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


def _torchvision_download(dataset: str, target: Path, **kwargs: Any) -> None:
    """Let torchvision fetch ``dataset`` into ``target``; any failure becomes a :class:`DownloadError`."""
    try:
        import torchvision

        getattr(torchvision.datasets, dataset)(str(target), download=True, **kwargs)
    except Exception as error:  # noqa: BLE001 - network, HTTP, checksum or disk: one friendly message
        raise DownloadError(f"torchvision could not download {dataset} into {target} ({type(error).__name__}: "
                            f"{error}). Put the files there by hand, or try again online.") from None


def _cifar_files(split: str, root, download) -> list[Path]:
    folders = candidate_dirs(root, False, ("cifar10", "cifar-10"))
    names_bin = [f"data_batch_{i}.bin" for i in range(1, 6)] if split == "train" else ["test_batch.bin"]
    names_py = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    for folder in folders:
        for sub, names in (("cifar-10-batches-bin", names_bin), ("cifar-10-batches-py", names_py)):
            if all((folder / sub / n).is_file() for n in names):
                return [folder / sub / n for n in names]
    if download:
        target = download_root(root)
        _torchvision_download("CIFAR10", target, train=split == "train")
        return [target / "cifar-10-batches-py" / n for n in names_py]
    raise FileNotFoundError(
        "CIFAR-10 files were not found: put torchvision's cifar-10-batches-py/ (or the binary "
        "cifar-10-batches-bin/) folder in $MAE_LAB_DATA, data/ or root=..., or pass download=True online. "
        f"Searched: {', '.join(str(f) for f in folders)}"
    )


def _load_cifar10(split, image_size, root, download, seed, limit, channels=None, resize="interpolate"):
    paths = tuple(str(p) for p in _cifar_files(split, root, download))
    images, labels = read_cifar_files(paths)
    return finish(
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


def _load_stl10(
    split, image_size, root, download, seed, limit, channels=None, resize="interpolate", part=None
):
    part = part or ("train" if split == "train" else "test")
    folders = candidate_dirs(root, False, ("stl10",))
    found = next(
        (f / "stl10_binary" for f in folders if (f / "stl10_binary" / f"{part}_X.bin").is_file()), None
    )
    if found is None and download:
        target = download_root(root)
        _torchvision_download("STL10", target, split="train")
        found = target / "stl10_binary"
    if found is None:
        raise FileNotFoundError(
            "STL-10 files were not found: put torchvision's stl10_binary/ folder in $MAE_LAB_DATA, data/ or "
            f"root=..., or pass download=True when online. Searched: {', '.join(str(f) for f in folders)}"
        )
    images, labels = read_stl10(str(found), part)
    return finish(
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


def _load_folder(split, image_size, root, download, seed, limit, channels=3, test_fraction=0.2):
    if root is None:
        raise ValueError("the 'folder' dataset needs root=<folder with one sub-folder per class>")
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"folder {root} does not exist; pass root=<folder with one sub-folder per class>"
        )
    split_dir = root / split
    if split == "test" and not split_dir.is_dir():
        split_dir = root / "val" if (root / "val").is_dir() else split_dir
    own_split = split_dir.is_dir()
    base = split_dir if own_split else root
    classes = sorted(d.name for d in base.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise FileNotFoundError(f"{base} has no class sub-folders; expected {base}/<class>/<image files>")
    files, labels = [], []
    for label, cls in enumerate(classes):
        paths = sorted(p for p in (base / cls).rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
        if not own_split:  # hold out a fixed fraction of each class for testing
            order = np.random.default_rng([seed, label]).permutation(len(paths))
            cut = round(len(paths) * test_fraction)
            keep = order[cut:] if split == "train" else order[:cut]
            paths = [paths[i] for i in sorted(keep)]
        files.extend(paths)
        labels.extend([label] * len(paths))
    if limit is not None and limit < len(files):
        keep = np.sort(np.random.default_rng([seed, Stream.SUBSET]).permutation(len(files))[: int(limit)])
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


def dataset_available(name: str, root: str | os.PathLike | None = None) -> bool:
    """Whether ``load_dataset(name, root=root)`` finds both splits on this machine without downloading.

    Only looks for files (nothing is read): ``digits`` and ``photos`` always ship; ``fashion_mnist``,
    ``cifar10`` and ``stl10`` are searched where :func:`load_dataset` searches; ``folder`` needs ``root``.
    """
    key = str(name).lower().replace("-", "_")
    if key not in _LOADERS:
        raise KeyError(f"unknown dataset {name!r}.{suggest(key, _LOADERS)} Known datasets: {', '.join(_LOADERS)}")
    if key in ("digits", "photos"):
        return True
    if key == "folder":
        return root is not None and Path(root).is_dir()
    try:
        for split in ("train", "test"):
            if key == "fashion_mnist":
                _fashion_files(split, root, download=False, search_system=True)
            elif key == "cifar10":
                _cifar_files(split, root, download=False)
        if key == "stl10":
            folders = candidate_dirs(root, False, ("stl10",))
            return any((f / "stl10_binary" / "train_X.bin").is_file() for f in folders)
    except FileNotFoundError:
        return False
    return True


def _normalise_split(split: str) -> str:
    try:
        return SPLIT_ALIASES[split.lower()]
    except (KeyError, AttributeError):
        raise ValueError(f"split must be 'train' or 'test' (alias 'val'), got {split!r}") from None


def load_dataset(
    name: str,
    split: str = "train",
    image_size: int | None = None,
    root: str | os.PathLike | None = None,
    download: bool = False,
    seed: int = 0,
    limit: int | None = None,
    **kw: Any,
) -> Dataset:
    """A dataset by name; items are ``(image float [C, H, W] in [0, 1], label int)``.

    Args:
        name: one of :func:`list_datasets` (``digits``, ``photos``, ``fashion_mnist``, ``cifar10``,
            ``stl10``, ``folder``).
        split: ``"train"`` or ``"test"`` (``"val"`` is the same held-out part).
        image_size: side in pixels; ``None`` keeps the native size (32 for photos, 224 for folders).
        root: a folder to search first (the ImageFolder root for ``folder``).
        download: ``True`` fetches missing files (Fashion-MNIST from its authors' mirror, checked against
            their checksums; CIFAR-10 and STL-10 through torchvision); by default nothing is downloaded
            and a missing file raises ``FileNotFoundError`` naming the ways to get it.
        seed: fixes the digits split, the photo crops and the ``limit`` subset.
        limit: keep a random subset of this many images (for quick runs).
        **kw: per-dataset options: ``channels`` (1 or 3), ``resize`` (``"interpolate"`` or ``"pad"``),
            ``num_crops`` / ``zoom`` / ``crop_scale`` (photos), ``search_system`` (fashion_mnist),
            ``test_fraction`` (folder), ``part`` (stl10: ``"unlabeled"``).

    Raises:
        KeyError: unknown ``name`` (with close suggestions).
        FileNotFoundError: the files are missing and cannot be downloaded (the message names the fixes).
    """
    key = str(name).lower().replace("-", "_") if isinstance(name, str) else name
    if not isinstance(key, str) or key not in _LOADERS:
        close = suggest(key, _LOADERS) if isinstance(key, str) else " A dataset is named by a string."
        raise KeyError(f"unknown dataset {name!r}.{close} Known datasets: {', '.join(_LOADERS)}")
    loader, _ = _LOADERS[key]
    if image_size is not None:
        image_size = whole_number(image_size, "image_size", minimum=1, maximum=MAX_IMAGE_SIZE,
                                  fix="pixels per side, e.g. 32, or None for the dataset's own size")
    if limit is not None:
        limit = whole_number(limit, "limit", minimum=1, fix="the number of images to keep, or None for all")
    seed = whole_number(seed, "seed", minimum=0, maximum=2**32 - 1, fix="a seed is an int from 0 to 2**32 - 1")
    if root is not None and not isinstance(root, (str, os.PathLike)):
        raise ValueError(f"root must be a folder (a str or Path), got {root!r}")
    options = [p for p in inspect.signature(loader).parameters if p not in _LOADER_ARGUMENTS]
    unknown = sorted(set(kw) - set(options))
    if unknown:
        hints = "".join(suggest(k, options, n=1) for k in unknown)
        raise TypeError(f"load_dataset({key!r}) has no option(s) {unknown}.{hints} Its options: "
                        f"{', '.join(options) or 'none'}")
    channels = kw.get("channels")
    if not (channels is None or (isinstance(channels, int) and not isinstance(channels, bool) and channels in (1, 3))):
        raise ValueError(f"channels must be 1, 3 or None (the dataset's own), got {channels!r}")
    if "resize" in kw and kw["resize"] not in ("interpolate", "pad"):
        raise ValueError(f"resize must be 'interpolate' or 'pad', got {kw['resize']!r}")
    return loader(_normalise_split(split), image_size, root, download, seed, limit, **kw)


def sample_images(
    name: str = "photos",
    n: int = 8,
    image_size: int | None = None,
    split: str = "test",
    seed: int = 0,
    **kw: Any,
) -> torch.Tensor:
    """``n`` images ``[n, C, H, W]`` in [0, 1] drawn (with ``seed``) from ``split`` of dataset ``name``.

    ``image_size=None`` keeps each dataset's own size (digits 8, Fashion-MNIST 28, photo crops 32).
    """
    dataset = load_dataset(name, split=split, image_size=image_size, seed=0, **kw)
    if n > len(dataset):
        raise ValueError(f"asked for {n} images but {name!r} split {split!r} has only {len(dataset)}")
    order = torch.randperm(len(dataset), generator=generator(seed, Stream.SAMPLE))[:n]
    if isinstance(dataset, ImageArrayDataset):
        return dataset.images[order].float().div_(dataset.scale)
    return torch.stack([dataset[int(i)][0] for i in order])
