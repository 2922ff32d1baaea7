"""Datasets: offline defaults, file readers on tiny files written here, loaders and bad inputs."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from mae_lab.data import (
    GPUResidentLoader,
    ImageArrayDataset,
    list_datasets,
    load_dataset,
    random_resized_crop_flip,
    read_cifar_batch,
    read_idx,
    sample_images,
)


# ---------------------------------------------------------------------------------------------
# tiny files
# ---------------------------------------------------------------------------------------------
def write_idx(path: Path, array: np.ndarray, gz: bool) -> Path:
    """An IDX file (the MNIST format) holding a uint8 array."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(">" + "i" * array.ndim, *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def write_fashion_files(
    folder: Path, count: int = 12, gz: bool = True, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
    labels = (np.arange(count) % 10).astype(np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix in ("train", "t10k"):
        write_idx(folder / f"{prefix}-images-idx3-ubyte", images, gz)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels, gz)
    return images, labels


@pytest.fixture
def isolated_data(tmp_path, monkeypatch):
    """No dataset anywhere: empty $MAE_LAB_DATA, data/ and home, and no system folder."""
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("MAE_LAB_DATA", str(empty))
    monkeypatch.setenv("MAE_LAB_SHIPPED_DATA", str(empty))
    monkeypatch.setenv("HOME", str(empty))
    return empty


# ---------------------------------------------------------------------------------------------
# digits and photos (always offline)
# ---------------------------------------------------------------------------------------------
def test_digits_items_are_unit_range_images_with_labels():
    train = load_dataset("digits", "train")
    image, label = train[0]
    assert image.shape == (1, 8, 8) and image.dtype == torch.float32
    assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0
    assert isinstance(label, int) and 0 <= label < 10
    assert train.num_classes == 10 and train.channels == 1 and train.image_size == 8
    images, _ = train.tensors()
    assert float(images.max()) == 1.0  # the digits' 16 maps to exactly 1


def test_digits_split_is_disjoint_stratified_and_fixed_by_seed():
    train, val = load_dataset("digits", "train"), load_dataset("digits", "test")
    assert len(train) + len(val) == 1797
    train_rows = {tuple(x.flatten().tolist()) for x in train.images}
    overlap = sum(tuple(x.flatten().tolist()) in train_rows for x in val.images)
    assert overlap < 5  # the digits set itself holds a few duplicate images
    counts = torch.bincount(val.labels, minlength=10)
    assert int(counts.min()) >= 34 and int(counts.max()) <= 38  # stratified: about 36 per class
    again = load_dataset("digits", "test", seed=0)
    other = load_dataset("digits", "test", seed=1)
    assert torch.equal(again.images, val.images)
    assert not torch.equal(other.images, val.images)
    assert load_dataset("digits", "test").images.shape == val.images.shape


def test_digits_resize_and_channels():
    data = load_dataset("digits", image_size=16, channels=3, limit=10)
    assert len(data) == 10
    assert data[0][0].shape == (3, 16, 16) and data.channels == 3 and data.image_size == 16


def test_photos_split_by_source_photo_and_crops_are_deterministic():
    train = load_dataset("photos", "train", image_size=16, num_crops=64)
    val = load_dataset("photos", "test", image_size=16, num_crops=32)
    assert train[0][0].shape == (3, 16, 16)
    assert set(train.labels.tolist()).isdisjoint(val.labels.tolist())  # no photo in both splits
    assert train.num_classes == len(train.classes) >= 8
    longer = load_dataset("photos", "train", image_size=16, num_crops=80)
    assert torch.equal(longer.images[:64], train.images)  # crop i depends only on (seed, split, i)
    reseeded = load_dataset("photos", "train", image_size=16, num_crops=64, seed=1)
    assert not torch.equal(reseeded.images, train.images)
    assert float(train.images.float().std()) > 10  # real photo content, not blank crops


def test_sample_images_shape_and_determinism():
    images = sample_images("photos", n=4, image_size=32, seed=0)
    assert images.shape == (4, 3, 32, 32)
    assert torch.equal(images, sample_images("photos", n=4, image_size=32, seed=0))
    assert not torch.equal(images, sample_images("photos", n=4, image_size=32, seed=1))
    digits = sample_images("digits", n=3, image_size=None)
    assert digits.shape == (3, 1, 8, 8)


def test_limit_is_a_seeded_subset():
    full = load_dataset("digits")
    small = load_dataset("digits", limit=100)
    assert len(small) == 100
    rows = {tuple(x.flatten().tolist()) for x in full.images}
    assert all(tuple(x.flatten().tolist()) in rows for x in small.images)
    with pytest.raises(ValueError, match="limit"):
        load_dataset("digits", limit=0)


# ---------------------------------------------------------------------------------------------
# bad inputs
# ---------------------------------------------------------------------------------------------
def test_unknown_dataset_name_suggests_close_names():
    with pytest.raises(KeyError, match="fashion_mnist"):
        load_dataset("fashion_mnst")
    with pytest.raises(KeyError, match="Known datasets"):
        load_dataset("imagenet-22k")
    assert set(list_datasets()) == {"digits", "photos", "fashion_mnist", "cifar10", "stl10", "folder"}


def test_bad_split_and_image_size():
    with pytest.raises(ValueError, match="split"):
        load_dataset("digits", "holdout")
    with pytest.raises(ValueError, match="image_size"):
        load_dataset("digits", image_size=0)


def test_missing_fashion_mnist_names_the_three_ways(isolated_data):
    with pytest.raises(FileNotFoundError) as info:
        load_dataset("fashion_mnist", download=False, search_system=False)
    message = str(info.value)
    assert "MAE_LAB_DATA" in message and "data/" in message  # 1. local files
    assert "dataset-fashion-mnist" in message  # 2. the Debian package
    assert "mae-lab download fashion_mnist" in message  # 3. a download when online
    assert str(isolated_data) in message  # says where it looked


# ---------------------------------------------------------------------------------------------
# IDX files
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_round_trips_gzipped_and_raw(tmp_path, gz):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = write_idx(tmp_path / "x-idx3-ubyte", array, gz)
    assert np.array_equal(read_idx(path), array)


def test_read_idx_rejects_bad_files(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x01\x02\x03\x04garbage")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(bad)
    short = tmp_path / "short"
    short.write_bytes(bytes([0, 0, 0x08, 1]) + struct.pack(">i", 100) + b"\x00" * 10)
    with pytest.raises(ValueError, match="truncated"):
        read_idx(short)


@pytest.mark.parametrize("gz", [True, False])
def test_fashion_mnist_from_files_in_mae_lab_data(isolated_data, gz):
    images, labels = write_fashion_files(isolated_data, count=12, gz=gz, seed=int(gz))
    train = load_dataset("fashion_mnist", download=False, search_system=False)
    assert len(train) == 12 and train.channels == 1 and train.image_size == 28
    assert torch.equal(train.images[:, 0], torch.from_numpy(images))
    assert train.labels.tolist() == labels.tolist()
    assert train.classes[0] == "T-shirt/top"
    padded = load_dataset(
        "fashion_mnist", "test", image_size=32, resize="pad", download=False, search_system=False
    )
    assert padded[0][0].shape == (1, 32, 32)
    assert torch.equal(padded.images[:, 0, 2:30, 2:30], torch.from_numpy(images))  # centred on a black canvas
    resized = load_dataset("fashion_mnist", "test", image_size=32, download=False, search_system=False)
    assert resized.images.shape == (12, 1, 32, 32)


@pytest.mark.needs("fashion_mnist")
def test_fashion_mnist_the_real_files():
    test = load_dataset("fashion_mnist", "test", download=False)
    assert len(test) == 10_000 and test.num_classes == 10
    assert torch.bincount(test.labels).tolist() == [1000] * 10
    small = load_dataset("fashion_mnist", "train", image_size=32, channels=3, limit=50, download=False)
    assert small[0][0].shape == (3, 32, 32)


# ---------------------------------------------------------------------------------------------
# CIFAR-10 and STL-10
# ---------------------------------------------------------------------------------------------
def cifar_arrays(count: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(count, 3072), dtype=np.uint8), (np.arange(count) % 10).astype(np.int64)


def test_cifar_binary_batch(tmp_path):
    data, labels = cifar_arrays(5)
    records = np.concatenate([labels[:, None].astype(np.uint8), data], axis=1)
    path = tmp_path / "data_batch_1.bin"
    records.tofile(path)
    images, read_labels = read_cifar_batch(path)
    assert images.shape == (5, 3, 32, 32)
    assert np.array_equal(images.reshape(5, -1), data) and np.array_equal(read_labels, labels)


def test_cifar_python_batch_and_load_dataset(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for index, name in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
        data, labels = cifar_arrays(4, seed=index)
        with open(folder / name, "wb") as handle:
            pickle.dump(
                {b"data": data, b"labels": labels.tolist(), b"batch_label": b"tiny"}, handle, protocol=2
            )
    images, labels = read_cifar_batch(folder / "test_batch")
    assert images.shape == (4, 3, 32, 32) and labels.tolist() == [0, 1, 2, 3]
    train = load_dataset("cifar10", "train", root=tmp_path, download=False)
    assert len(train) == 20 and train.channels == 3 and train.image_size == 32 and train.num_classes == 10
    first, _ = cifar_arrays(4, seed=0)
    assert torch.equal(train.images[0].flatten(), torch.from_numpy(first[0]))


class _Sneaky:
    def __reduce__(self):
        return (print, ("this should never run",))


def test_cifar_reader_refuses_pickled_code(tmp_path):
    path = tmp_path / "data_batch_1"
    with open(path, "wb") as handle:
        pickle.dump({b"data": _Sneaky(), b"labels": [0]}, handle, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        read_cifar_batch(path)


def test_missing_cifar_and_stl_raise_file_not_found(isolated_data):
    with pytest.raises(FileNotFoundError, match="download=True"):
        load_dataset("cifar10", download=False)
    with pytest.raises(FileNotFoundError, match="stl10_binary"):
        load_dataset("stl10", download=False)


def test_stl10_binary_files(tmp_path):
    folder = tmp_path / "stl10_binary"
    folder.mkdir()
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(3, 3, 96, 96), dtype=np.uint8)  # [M, C, H, W]
    images.transpose(0, 1, 3, 2).tofile(folder / "test_X.bin")  # STL-10 stores columns first
    np.array([1, 5, 10], dtype=np.uint8).tofile(folder / "test_y.bin")
    test = load_dataset("stl10", "test", root=tmp_path, download=False)
    assert torch.equal(test.images, torch.from_numpy(images))
    assert test.labels.tolist() == [0, 4, 9] and test.classes[1] == "bird"


# ---------------------------------------------------------------------------------------------
# ImageFolder
# ---------------------------------------------------------------------------------------------
def test_folder_dataset(tmp_path):
    from PIL import Image

    for cls, color in (("cats", (200, 30, 30)), ("dogs", (30, 30, 200))):
        (tmp_path / cls).mkdir()
        for i in range(5):
            Image.new("RGB", (40 + i, 30), color).save(tmp_path / cls / f"{i}.png")
    train = load_dataset("folder", "train", root=tmp_path, image_size=16)
    val = load_dataset("folder", "test", root=tmp_path, image_size=16)
    assert len(train) == 8 and len(val) == 2 and train.classes == ["cats", "dogs"]
    assert set(map(str, train.files)).isdisjoint(map(str, val.files))
    image, label = train[0]
    assert image.shape == (3, 16, 16) and label == 0
    assert abs(float(image[0].mean()) - 200 / 255) < 0.02
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_dataset("folder", root=tmp_path / "nope")
    loader = GPUResidentLoader(train, batch_size=4, device="cpu", augment=False, shuffle=False)
    images, labels = next(iter(loader))
    assert images.shape == (4, 3, 16, 16) and labels.tolist() == [0, 0, 0, 0]


# ---------------------------------------------------------------------------------------------
# the device-resident loader
# ---------------------------------------------------------------------------------------------
def small_set(count: int = 40) -> ImageArrayDataset:
    images = torch.arange(count, dtype=torch.uint8).view(count, 1, 1, 1).expand(count, 1, 8, 8).clone()
    return ImageArrayDataset(images, torch.arange(count) % 4, classes=list("abcd"), name="toy")


def test_loader_without_augmentation_returns_the_images():
    data = small_set()
    loader = GPUResidentLoader(data, batch_size=8, device="cpu", augment=False, seed=0)
    assert len(loader) == 5
    seen = []
    for images, labels in loader:
        assert images.shape == (8, 1, 8, 8) and images.dtype == torch.float32
        ids = (images[:, 0, 0, 0] * 255).round().long()
        assert torch.equal(labels, ids % 4)
        seen.extend(ids.tolist())
    assert sorted(seen) == list(range(40))  # one epoch visits every image once


def test_loader_is_deterministic_and_resumable_mid_epoch():
    loader = GPUResidentLoader(small_set(), batch_size=8, device="cpu", augment=True, seed=3)
    full = list(loader.batches(epoch=2))
    again = list(loader.batches(epoch=2))
    resumed = list(loader.batches(epoch=2, start=3))
    assert all(torch.equal(a[0], b[0]) for a, b in zip(full, again))
    assert all(torch.equal(a[0], b[0]) for a, b in zip(full[3:], resumed))
    other_epoch = next(iter(loader.batches(epoch=3)))
    assert not torch.equal(other_epoch[0], full[0][0])
    assert 0.0 <= float(full[0][0].min()) and float(full[0][0].max()) <= 1.0


def test_loader_shards_disjointly_across_ranks():
    data = small_set(42)
    shards = [
        GPUResidentLoader(data, batch_size=3, device="cpu", augment=False, seed=0, rank=r, world_size=2)
        for r in range(2)
    ]
    ids = [torch.cat([(x[:, 0, 0, 0] * 255).round().long() for x, _ in s]) for s in shards]
    assert len(ids[0]) == len(ids[1]) == 21
    assert set(ids[0].tolist()).isdisjoint(ids[1].tolist())
    assert set(ids[0].tolist()) | set(ids[1].tolist()) == set(range(42))


def test_loader_rejects_batches_larger_than_the_data():
    with pytest.raises(ValueError, match="batch_size"):
        GPUResidentLoader(small_set(10), batch_size=16, device="cpu")


def test_random_resized_crop_identity_and_flip():
    images = torch.rand(4, 3, 8, 8)
    same = random_resized_crop_flip(
        images, torch.Generator().manual_seed(0), scale=(1, 1), ratio=(1, 1), flip=False
    )
    assert torch.allclose(same, images, atol=1e-5)
    flipped = images.flip(-1)
    outputs = random_resized_crop_flip(images, torch.Generator().manual_seed(1), scale=(1, 1), ratio=(1, 1))
    for out, original, mirrored in zip(outputs, images, flipped):
        assert torch.allclose(out, original, atol=1e-5) or torch.allclose(out, mirrored, atol=1e-5)
    cropped = random_resized_crop_flip(images, torch.Generator().manual_seed(0), scale=(0.2, 0.5))
    assert cropped.shape == images.shape and not torch.allclose(cropped, images)
