"""Datasets with offline defaults: one call, ``load_dataset(name, split)``.

Every dataset yields ``(image, label)`` with ``image`` a float tensor ``[C, H, W]`` in ``[0, 1]`` and
carries ``.num_classes``, ``.classes``, ``.channels`` and ``.image_size``. Splits are ``"train"`` and
``"test"``. The package has one idea per file:

* :mod:`.sources` — the loaders (digits, photos, fashion_mnist, cifar10, stl10, folder) and ``load_dataset``;
* :mod:`.dataset` — the in-memory and folder dataset classes, resizing and channel conversion;
* :mod:`.files` — the file formats (IDX, CIFAR-10 batches, STL-10);
* :mod:`.download` — finding files on this machine and fetching them, checked, when asked to;
* :mod:`.augment` — random resized crop and flip on the device;
* :mod:`.loader` — :class:`GPUResidentLoader`, the whole set on the device, batches made there.

>>> train = load_dataset("digits", "train")
>>> image, label = train[0]
>>> image.shape, train.num_classes
(torch.Size([1, 8, 8]), 10)
"""

from .augment import random_resized_crop_flip
from .dataset import ImageArrayDataset, ImageFolderDataset, image_batches, read_image_file
from .download import SYSTEM_DATA_DIRS, DownloadError
from .files import read_cifar_batch, read_idx
from .loader import GPUResidentLoader
from .sources import (
    CIFAR10_CLASSES,
    FASHION_MNIST_CLASSES,
    STL10_CLASSES,
    dataset_available,
    download_fashion_mnist,
    list_datasets,
    load_dataset,
    sample_images,
)

__all__ = [
    "CIFAR10_CLASSES",
    "FASHION_MNIST_CLASSES",
    "STL10_CLASSES",
    "SYSTEM_DATA_DIRS",
    "DownloadError",
    "GPUResidentLoader",
    "ImageArrayDataset",
    "ImageFolderDataset",
    "dataset_available",
    "download_fashion_mnist",
    "image_batches",
    "list_datasets",
    "load_dataset",
    "random_resized_crop_flip",
    "read_cifar_batch",
    "read_idx",
    "read_image_file",
    "sample_images",
]
