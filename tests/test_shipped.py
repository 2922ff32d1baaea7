"""The pretrained checkpoints shipped in ``data/checkpoints``: present, documented, offline, useful.

Every shipped model must reconstruct held-out images clearly better than a trivial guess:
each hidden patch predicted as the mean of the visible patches of its own image.  Errors are
measured in the model's target space (plain pixels, or per-patch normalised pixels for a
``norm_pixels`` model), so a model never gets help from the statistics of a hidden patch.
"""

from __future__ import annotations

import json
import math
import socket
from pathlib import Path

import needs
import pytest
import torch

import mae_lab
from mae_lab import checkpoints
from mae_lab.data import list_datasets, load_dataset
from mae_lab.models import MaskedAutoencoder
from mae_lab.paths import checkpoints_dir, data_dir

#: checkpoints the notebooks rely on; a missing one is a failure, not a skip
REQUIRED_CHECKPOINTS = ("mae_micro_digits", "mae_tiny_fmnist", "mae_tiny_photos")
#: what each checkpoint's JSON must record (any of the spellings, in "metadata" or one level below)
REQUIRED_METADATA = {
    "command": ("command",),
    "seed": ("seed",),
    "epochs": ("epochs",),
    "data": ("dataset", "data"),
    "final loss": ("final_loss",),
    "probe metrics": ("probe", "probes", "probe_metrics"),
}
#: the model's per-hidden-patch MSE must be at least this much lower than the baseline's
MARGIN = 0.20
HELD_OUT_IMAGES = 256
MASK_RATIO = 0.75
MASK_SEED = 0
DATA_BUDGET_BYTES = 40 * 2**20
FILE_BUDGET_BYTES = 10 * 2**20

CHECKPOINTS = sorted(set(REQUIRED_CHECKPOINTS) | set(checkpoints.list_shipped()))


def _json_path(name: str) -> Path:
    return checkpoints_dir() / f"{name}.json"


def _metadata(name: str) -> dict:
    return json.loads(_json_path(name).read_text()).get("metadata") or {}


def _find(metadata: dict, keys: tuple[str, ...]):
    """The first value under one of ``keys``, at the top of ``metadata`` or one level down (or None)."""
    for key in keys:
        if metadata.get(key) not in (None, "", [], {}):
            return metadata[key]
    for value in metadata.values():
        if isinstance(value, dict):
            for key in keys:
                if value.get(key) not in (None, "", [], {}):
                    return value[key]
    return None


def _dataset_name(metadata: dict) -> str | None:
    """The name of the dataset the model was trained on, as :func:`mae_lab.load_dataset` knows it."""
    for keys in (("dataset",), ("data",)):
        found = _find(metadata, keys)
        if isinstance(found, dict):
            found = found.get("dataset") or found.get("name")
        if isinstance(found, str) and found in list_datasets():
            return found
    return None


_LOADED: dict[str, MaskedAutoencoder] = {}


def load_shipped(name: str, monkeypatch: pytest.MonkeyPatch) -> MaskedAutoencoder:
    """Checkpoint ``name`` via ``mae_lab.load_model(name, pretrained=True)``, every network connection refused."""
    assert (checkpoints_dir() / f"{name}.safetensors").is_file() and _json_path(name).is_file(), (
        f"checkpoint {name!r} is not shipped: data/checkpoints/{name}.safetensors and {name}.json are missing; "
        "train it with the command in data/README.md"
    )
    if name not in _LOADED:

        def refuse(*args, **kwargs):
            raise OSError("network access during an offline load")

        with monkeypatch.context() as patch:
            patch.setattr(socket.socket, "connect", refuse)
            patch.setenv("HF_HUB_OFFLINE", "1")
            _LOADED[name] = mae_lab.load_model(name, pretrained=True)
    return _LOADED[name]


def test_required_checkpoints_are_shipped():
    missing = [name for name in REQUIRED_CHECKPOINTS if name not in checkpoints.list_shipped()]
    assert not missing, f"missing shipped checkpoints {missing} in {checkpoints_dir()}; see data/README.md"


@pytest.mark.parametrize("name", CHECKPOINTS)
def test_loads_offline_in_eval_mode(name, monkeypatch):
    shipped = load_shipped(name, monkeypatch)
    assert isinstance(shipped, MaskedAutoencoder)
    assert not shipped.training
    assert all(torch.isfinite(p).all() for p in shipped.parameters())
    assert shipped.metadata, "the checkpoint's metadata did not reach model.metadata"


@pytest.mark.parametrize("name", CHECKPOINTS)
def test_json_records_how_it_was_made(name):
    assert _json_path(name).is_file(), f"{_json_path(name)} is missing"
    metadata = _metadata(name)
    absent = [what for what, keys in REQUIRED_METADATA.items() if _find(metadata, keys) is None]
    assert not absent, f"{name}.json metadata lacks {absent}; it has {sorted(metadata)}"
    assert isinstance(_find(metadata, ("command",)), str) and "pretrain" in _find(metadata, ("command",))
    final_loss = _find(metadata, ("final_loss",))
    assert isinstance(final_loss, (int, float)) and math.isfinite(final_loss) and final_loss >= 0
    assert _dataset_name(metadata) is not None, f"{name}.json does not name its dataset"


def held_out_images(model: MaskedAutoencoder, metadata: dict) -> torch.Tensor:
    """``[n, C, H, W]``: a fixed subset of the validation split of the model's own dataset."""
    name = _dataset_name(metadata)
    assert name is not None, "the checkpoint does not name its dataset"
    c = model.config
    dataset = load_dataset(name, "test", image_size=c.image_size, channels=c.channels, seed=0,
                           limit=HELD_OUT_IMAGES, download=False)  # fmt: skip
    count = min(HELD_OUT_IMAGES, len(dataset))
    return torch.stack([dataset[i][0] for i in range(count)])


def hidden_patch_errors(model: MaskedAutoencoder, images: torch.Tensor) -> tuple[float, float]:
    """(model, baseline) mean squared error per hidden patch, in the model's target space."""
    mask = model.make_mask(images.shape[0], "random", ratio=MASK_RATIO, seed=MASK_SEED)
    with torch.no_grad():
        out = model(images, mask=mask)
    target, hidden = out.target, out.mask.hidden  # [B, N, T], [B, N]
    visible = (~hidden).unsqueeze(-1).to(target.dtype)  # [B, N, 1]
    visible_mean = (target * visible).sum(dim=1, keepdim=True) / visible.sum(dim=1, keepdim=True)  # [B, 1, T]
    model_error = ((out.pred - target) ** 2).mean(dim=-1)[hidden].mean()
    baseline_error = ((visible_mean - target) ** 2).mean(dim=-1)[hidden].mean()
    return float(model_error), float(baseline_error)


def _with_its_data(name: str):
    """``name`` as a test parameter that needs its training set when that is not bundled."""
    dataset = _dataset_name(_metadata(name)) if _json_path(name).is_file() else None
    return pytest.param(name, marks=[pytest.mark.needs(dataset)] if dataset in needs.CHECKS else [])


@pytest.mark.parametrize("name", [_with_its_data(name) for name in CHECKPOINTS])
def test_reconstructs_held_out_images_better_than_visible_mean(name, monkeypatch):
    shipped = load_shipped(name, monkeypatch)
    images = held_out_images(shipped, shipped.metadata)
    assert images.shape[0] >= 64, "too few held-out images to judge"
    model_error, baseline_error = hidden_patch_errors(shipped, images)
    assert model_error <= (1 - MARGIN) * baseline_error, (
        f"per-hidden-patch MSE {model_error:.4f} is not {MARGIN:.0%} below the mean-of-visible-patches "
        f"baseline {baseline_error:.4f} ({shipped.config.preset}, target {shipped.config.target})"
    )


def test_data_folder_stays_small():
    files = [p for p in data_dir().rglob("*") if p.is_file()]
    too_big = [f"{p.relative_to(data_dir())} ({p.stat().st_size / 2**20:.1f} MB)" for p in files
               if p.stat().st_size > FILE_BUDGET_BYTES]  # fmt: skip
    assert not too_big, f"files over {FILE_BUDGET_BYTES // 2**20} MB in data/: {too_big}"
    total = sum(p.stat().st_size for p in files)
    assert total <= DATA_BUDGET_BYTES, f"data/ holds {total / 2**20:.1f} MB, over {DATA_BUDGET_BYTES // 2**20} MB"


def test_shipped_manifest_matches_the_files():
    """The manifest is optional; when it is there, every file must match it."""
    if (checkpoints_dir() / checkpoints.MANIFEST_NAME).is_file():
        assert checkpoints.verify_manifest(checkpoints_dir()) == []


def test_manifest_round_trip_and_problems(tmp_path):
    (tmp_path / "a.safetensors").write_bytes(b"weights")
    (tmp_path / "a.json").write_text("{}")
    manifest = checkpoints.write_manifest(tmp_path)
    assert manifest.name == checkpoints.MANIFEST_NAME
    assert len(manifest.read_text().splitlines()) == 2
    assert checkpoints.verify_manifest(tmp_path) == []

    (tmp_path / "a.json").write_text('{"changed": true}')
    (tmp_path / "b.json").write_text("{}")
    (tmp_path / "a.safetensors").unlink()
    problems = "\n".join(checkpoints.verify_manifest(tmp_path))
    assert "a.json: checksum differs" in problems
    assert "a.safetensors: listed in MANIFEST.sha256 but missing" in problems
    assert "b.json: not listed" in problems

    (tmp_path / checkpoints.MANIFEST_NAME).unlink()
    with pytest.raises(FileNotFoundError, match="write_manifest"):
        checkpoints.verify_manifest(tmp_path)


# ---------------------------------------------------------------------------------------------
# the margins the course relies on: pretraining beats the simpler alternatives on held-out data
# (a subset fast enough for CI; the numbers on the full splits are in data/README.md)
# ---------------------------------------------------------------------------------------------
FMNIST_TRAIN, FMNIST_TEST = 20_000, 5_000  # probe subsets: train images (seed 0), test images (seed 0)
PHOTO_RATIOS = (0.25, 0.5, 0.75, 0.9)
#: measured on these subsets: kNN 86.6 % vs pixels 82.0 % (random init 68.7 %), linear 87.7 % vs 83.6 % (75.2 %)
KNN_MARGIN_OVER_PIXELS = LINEAR_MARGIN_OVER_PIXELS = 0.02
#: measured on 64 held-out crops: the model's error is 19 % (at 90 % hidden) to 58 % (at 25 %) below the constant guess
PHOTO_MARGIN = 0.10


@pytest.mark.needs("fashion_mnist")
def test_fmnist_encoder_beats_raw_pixels_and_random_init(monkeypatch):
    from mae_lab.probe import extract_features, knn_probe, linear_probe, raw_pixel_features

    model = load_shipped("mae_tiny_fmnist", monkeypatch)
    train = load_dataset("fashion_mnist", "train", limit=FMNIST_TRAIN, seed=0, download=False)
    test = load_dataset("fashion_mnist", "test", limit=FMNIST_TEST, seed=0, download=False)
    untrained = MaskedAutoencoder(model.config, seed=0)
    spaces = {"pretrained": (extract_features(model, train), extract_features(model, test)),
              "random init": (extract_features(untrained, train), extract_features(untrained, test)),
              "raw pixels": (raw_pixel_features(train), raw_pixel_features(test))}
    knn = {name: knn_probe(*tr, *te) for name, (tr, te) in spaces.items()}
    linear = {name: linear_probe(*tr, *te, epochs=30, seed=0) for name, (tr, te) in spaces.items()}
    assert knn["pretrained"] >= knn["raw pixels"] + KNN_MARGIN_OVER_PIXELS, knn
    assert knn["pretrained"] >= knn["random init"] + 0.10, knn
    assert linear["pretrained"] >= linear["raw pixels"] + LINEAR_MARGIN_OVER_PIXELS, linear
    assert linear["pretrained"] >= linear["random init"] + 0.08, linear


def test_photo_model_beats_the_mean_of_visible_pixels_at_every_ratio(monkeypatch):
    from mae_lab.inpainting import hidden_patch_error, mean_of_visible

    model = load_shipped("mae_tiny_photos", monkeypatch)
    images = mae_lab.sample_images("photos", n=64, image_size=model.config.image_size, seed=0)  # held-out photos
    p = model.patch_size
    for ratio in PHOTO_RATIOS:
        mask = model.make_mask(len(images), "random", ratio=ratio, seed=MASK_SEED)
        with torch.no_grad():
            guess = model.reconstruct(images, mask=mask).pasted
        ours = hidden_patch_error(guess, images, mask, p)
        constant = hidden_patch_error(mean_of_visible(images, mask, p), images, mask, p)
        assert ours <= (1 - PHOTO_MARGIN) * constant, f"at {ratio:.0%} hidden: model {ours:.4f}, mean of visible {constant:.4f}"
