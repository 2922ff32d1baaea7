"""Our checkpoint format, the models mae_lab ships, and the one way to get a model by name.

Our format
----------
:func:`save_checkpoint` writes two files side by side:

* ``<name>.safetensors`` — the tensors of ``model.state_dict()`` (optionally in float16 to keep shipped
  files small; positions stay float32 and everything is float32 again after loading);
* ``<name>.json`` — ``{"format", "version", "config", "preset", "metadata", "dtype",
  "safetensors_bytes", ...}``; the model is rebuilt from the config alone.

Both are written atomically (:func:`mae_lab.utils.atomic_write`), so an interrupted save never leaves a
half-written checkpoint under the final name. Loading never unpickles anything: safetensors holds only
tensors, and the config is checked against the tensors' shapes *before* any weight is allocated.

One resolver
------------
:func:`load_model` turns any name or path into a model, in this order:

1. a preset (``"mae_tiny"``): a fresh model (``pretrained=True``: the official weights, for
   ``mae_base`` / ``mae_large`` / ``mae_huge``);
2. a shipped name (``"mae_tiny_photos"``, a ``<name>.safetensors`` in ``data/checkpoints``);
3. a path: a run folder of :func:`mae_lab.train.pretrain`, a mae_lab checkpoint (``x``,
   ``x.safetensors`` or ``x.json``), a Hugging Face folder, or an official / timm ``.pth``.

A bare name is a preset or a shipped name first; write ``./x`` for a local file called ``x``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from .convert import describe_config, load_exact, load_official, load_reference_weights
from .models import OFFICIAL_PRESETS, PRESETS, MAEConfig, MaskedAutoencoder, get_preset
from .paths import checkpoints_dir
from .utils import as_device, atomic_write, deprecated_alias, suggest

__all__ = [
    "CHECKPOINT_FORMAT",
    "MANIFEST_NAME",
    "RUN_MODEL_FILE",
    "list_shipped",
    "load_checkpoint",
    "load_model",
    "load_pretrained",
    "save_checkpoint",
    "verify_manifest",
    "write_manifest",
]

CHECKPOINT_FORMAT = "mae_lab.checkpoint"
FORMAT_VERSION = 1
RUN_MODEL_FILE = "checkpoint"  # a run folder holds checkpoint.safetensors + checkpoint.json
MANIFEST_NAME = "MANIFEST.sha256"
MAX_JSON_BYTES = 16 * 2**20  # a checkpoint description is a few kB; refuse anything absurd


# ====================================================================== our format
def checkpoint_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """``(x.safetensors, x.json)`` for ``x``, ``x.safetensors`` or ``x.json``."""
    path = Path(path)
    if path.suffix in (".safetensors", ".json"):
        path = path.with_suffix("")
    return path.parent / (path.name + ".safetensors"), path.parent / (path.name + ".json")


def _json_safe(value: Any) -> Any:
    """Make metadata JSON-friendly: tensors and numpy values become numbers/lists, paths strings."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, torch.Tensor):
        return value.item() if value.numel() == 1 else value.tolist()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _json_safe(dataclasses.asdict(value))
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and hasattr(value, "dtype"):  # numpy scalar
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def save_checkpoint(model: MaskedAutoencoder, path: str | os.PathLike, metadata: dict | None = None,
                    dtype: torch.dtype | None = None) -> Path:
    """Save ``model`` as ``path.safetensors`` + ``path.json``; returns the ``.safetensors`` path.

    Args:
        model: a :class:`~mae_lab.models.MaskedAutoencoder`.
        path: file name without suffix (a ``.safetensors`` / ``.json`` suffix is stripped).
        metadata: anything JSON-friendly (training config, history, metrics, ...).
        dtype: ``torch.float16`` (or ``bfloat16``) stores weights at half size; position
            embeddings stay float32.  Default: the model's own dtype.
    """
    if not isinstance(model, MaskedAutoencoder):
        raise TypeError(f"save_checkpoint expects a MaskedAutoencoder, got {type(model).__name__}")
    st_path, json_path = checkpoint_paths(path)
    tensors = {}
    for name, tensor in model.state_dict().items():
        tensor = tensor.detach().to("cpu")
        if dtype is not None and tensor.is_floating_point() and not name.endswith("pos_embed"):
            tensor = tensor.to(dtype)
        tensors[name] = tensor.contiguous()
    atomic_write(st_path, lambda tmp: save_file(tensors, str(tmp), metadata={"format": "pt"}))
    info = {
        "format": CHECKPOINT_FORMAT,
        "version": FORMAT_VERSION,
        "config": model.config.to_dict(),
        "preset": model.config.preset,
        "metadata": _json_safe(metadata or {}),
        "dtype": str(dtype or next(model.parameters()).dtype).replace("torch.", ""),
        "num_params": model.num_params(),
        "safetensors_file": st_path.name,
        "safetensors_bytes": st_path.stat().st_size,
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    atomic_write(json_path, json.dumps(info, indent=2) + "\n")
    return st_path


def _read_checkpoint_json(json_path: Path, st_path: Path) -> dict:
    if not json_path.exists():
        raise FileNotFoundError(
            f"{json_path} is missing: a mae_lab checkpoint is {st_path.name} plus {json_path.name} (its config); "
            "copy both files together (save_checkpoint writes both)"
        )
    if json_path.stat().st_size > MAX_JSON_BYTES:
        raise ValueError(f"{json_path} is {json_path.stat().st_size:,} bytes, far too large for a checkpoint "
                         "description; it is not a mae_lab checkpoint (or it was tampered with)")
    try:
        info = json.loads(json_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{json_path} is not valid JSON ({err}); the file is damaged, save the model again") from None
    if not isinstance(info, dict) or not isinstance(info.get("config"), dict):
        raise ValueError(f"{json_path} has no 'config' entry; it is not a mae_lab checkpoint description")
    return info


def _tensor_shapes(st_path: Path) -> dict[str, tuple[int, ...]]:
    """The name and shape of every tensor in a safetensors file, read from its header only."""
    try:
        with safe_open(str(st_path), framework="pt") as handle:
            return {name: tuple(handle.get_slice(name).get_shape()) for name in handle.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError(f"could not read {st_path} ({err}); the file is truncated, tampered with or not a "
                         "safetensors file: copy or save it again") from None


def _check_shapes(config: MAEConfig, shapes: dict[str, tuple[int, ...]], where: Path) -> None:
    """Compare the file's tensor shapes with those ``config`` implies, without allocating the model."""
    with torch.device("meta"):
        expected = {name: tuple(t.shape) for name, t in MaskedAutoencoder(config).state_dict().items()}
    wrong = sorted(name for name in expected if shapes.get(name) != expected[name])
    extra = sorted(set(shapes) - set(expected))
    if wrong or extra:
        detail = "; ".join(f"{n}: {list(shapes[n]) if n in shapes else 'missing'} in the file, "
                           f"{list(expected[n])} in the config" for n in wrong[:4])
        raise ValueError(
            f"the weights in {where} do not fit the config in its .json ({describe_config(config)}): "
            f"{detail or ''}{' | unexpected tensors ' + str(extra[:4]) if extra else ''}. "
            "The two files come from different models: copy the matching pair together"
        )


def load_checkpoint(path: str | os.PathLike, device: str | torch.device | None = None) -> MaskedAutoencoder:
    """Rebuild a model from ``path.safetensors`` + ``path.json`` (written by :func:`save_checkpoint`).

    The JSON alone decides the architecture; its sizes are checked (absurd ones are refused) and the
    tensors' shapes compared with it before anything is allocated. The result is float32, in eval mode,
    with ``model.metadata`` set to the saved metadata.

    Raises:
        FileNotFoundError: either file is missing.
        ValueError: the file is truncated or damaged, or its tensors do not fit the config.
    """
    st_path, json_path = checkpoint_paths(path)
    if not st_path.exists():
        raise FileNotFoundError(f"checkpoint weights {st_path} not found (expected next to {json_path.name})")
    info = _read_checkpoint_json(json_path, st_path)
    expected_bytes, actual_bytes = info.get("safetensors_bytes"), st_path.stat().st_size
    if expected_bytes is not None and expected_bytes != actual_bytes:
        raise ValueError(
            f"{st_path} has {actual_bytes} bytes but {json_path.name} says {expected_bytes}: the file is "
            "truncated or was replaced; copy or save it again"
        )
    try:
        config = MAEConfig.from_dict(info["config"])
    except (TypeError, ValueError, KeyError) as err:
        raise ValueError(f"the config in {json_path} is not usable: {err}") from None
    _check_shapes(config, _tensor_shapes(st_path), st_path)
    try:
        tensors = load_file(str(st_path))
    except (SafetensorError, OSError) as err:
        raise ValueError(f"could not read {st_path} ({err}); the file is truncated or not a safetensors file") from None
    model = MaskedAutoencoder(config)
    load_exact(model, tensors, where=str(st_path))
    model.metadata = dict(info.get("metadata") or {})
    model.metadata.setdefault("checkpoint", str(st_path))
    model.eval()
    return model.to(as_device(device)) if device is not None else model


# ====================================================================== shipped models
def list_shipped() -> list[str]:
    """Names of the checkpoints shipped in ``data/checkpoints`` (``<name>.safetensors`` + ``<name>.json``)."""
    folder = checkpoints_dir()
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.safetensors") if p.with_suffix(".json").exists())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _manifest_files(folder: Path) -> list[Path]:
    """The files a manifest covers: every plain, non-hidden file in ``folder`` but the manifest."""
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.name != MANIFEST_NAME)


def write_manifest(folder: str | os.PathLike | None = None) -> Path:
    """Write ``folder/MANIFEST.sha256``: one ``<sha256>  <file name>`` line per file (``sha256sum`` format).

    ``folder`` defaults to the shipped checkpoints (``data/checkpoints``).  Check the files later
    with :func:`verify_manifest` or ``sha256sum -c MANIFEST.sha256`` inside the folder.
    """
    folder = Path(folder) if folder is not None else checkpoints_dir()
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder; pass the folder that holds the checkpoints")
    lines = [f"{_sha256(path)}  {path.name}" for path in _manifest_files(folder)]
    return atomic_write(folder / MANIFEST_NAME, "\n".join(lines) + "\n")


def verify_manifest(folder: str | os.PathLike | None = None) -> list[str]:
    """Compare ``folder/MANIFEST.sha256`` with the files; returns the problems (empty when all match).

    A problem is a listed file that is missing or whose checksum differs, or a file in the
    folder that the manifest does not list.  Raises ``FileNotFoundError`` without a manifest.
    """
    folder = Path(folder) if folder is not None else checkpoints_dir()
    manifest = folder / MANIFEST_NAME
    if not manifest.is_file():
        raise FileNotFoundError(f"{manifest} not found; write it with mae_lab.checkpoints.write_manifest({str(folder)!r})")
    listed: dict[str, str] = {}
    for number, line in enumerate(manifest.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        checksum, _, name = line.partition("  ")
        if len(checksum) != 64 or not name:
            raise ValueError(f"{manifest} line {number} is not '<sha256>  <file name>': {line!r}")
        listed[name.lstrip("*")] = checksum.lower()
    problems = []
    for name, checksum in listed.items():
        path = folder / name
        if not path.is_file():
            problems.append(f"{name}: listed in {MANIFEST_NAME} but missing")
        elif _sha256(path) != checksum:
            problems.append(f"{name}: checksum differs from {MANIFEST_NAME} (file changed; rewrite the manifest)")
    problems += [f"{path.name}: not listed in {MANIFEST_NAME}" for path in _manifest_files(folder)
                 if path.name not in listed]  # fmt: skip
    return problems


# ====================================================================== names and paths -> a model
def _is_bare_name(key: str) -> bool:
    return "/" not in key and os.sep not in key and not key.startswith(".")


def load_model(name_or_path: str | os.PathLike, pretrained: bool = False, *, config: MAEConfig | None = None,
               encoder_only: bool = False, device: str | torch.device | None = None,
               **overrides: Any) -> MaskedAutoencoder:
    """A model from a preset, a shipped name, a run folder or a file — the one resolver (see the module).

    Args:
        name_or_path: ``"mae_tiny"`` (preset), ``"mae_tiny_photos"`` (shipped), ``"runs/fm"`` (a run
            folder), ``"x.safetensors"`` (our checkpoint), ``"mae_visualize_vit_large.pth"``, ...
        pretrained: for a preset, load its official weights (``mae_base``/``large``/``huge``) instead of
            initialising it; ignored for saved models, which are always pretrained.
        config: for reference weights, use this config instead of inferring one.
        encoder_only: for reference files without a decoder (timm ViTs, ``mae_pretrain_vit_*.pth``).
        device: move the model there.
        **overrides: :class:`~mae_lab.models.MAEConfig` fields for a fresh preset
            (``load_model("mae_tiny", image_size=28, channels=1)``).

    Raises:
        KeyError: the name is none of the above (with the closest names).
    """
    for flag, value in (("pretrained", pretrained), ("encoder_only", encoder_only)):
        if not isinstance(value, bool):
            raise ValueError(f"{flag} must be True or False, got {value!r}")
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise KeyError(f"a model is named by a preset, a shipped name or a path (a str), got {name_or_path!r}; "
                       f"presets: {', '.join(PRESETS)}; shipped: {', '.join(list_shipped()) or 'none'}")
    target = as_device(device) if device is not None else None  # a bad device fails before anything loads
    model = _resolve(str(name_or_path), pretrained, config, encoder_only, overrides)
    return model.to(target) if target is not None else model


def _resolve(key: str, pretrained: bool, config, encoder_only: bool, overrides: dict) -> MaskedAutoencoder:
    if not key.strip():
        raise KeyError(f"a model name or path is needed, got {key!r}; presets: {', '.join(PRESETS)}; shipped: "
                       f"{', '.join(list_shipped()) or 'none'}")
    if key in PRESETS:
        if not pretrained:
            return MaskedAutoencoder(get_preset(key, **overrides))
        if overrides:
            raise ValueError(f"pretrained {key!r} weights fix the architecture; drop the overrides {sorted(overrides)}")
        if key not in OFFICIAL_PRESETS:
            raise ValueError(f"preset {key!r} has no official weights (pretrained=True); train one "
                             f"(mae_lab.train.pretrain) or load a shipped model: {', '.join(list_shipped()) or 'none'}")
        return load_official(key, encoder_only=encoder_only)
    if overrides:
        raise ValueError(f"overrides {sorted(overrides)} only apply to presets; {key!r} is a saved model")
    shipped = checkpoints_dir() / key
    if _is_bare_name(key) and checkpoint_paths(shipped)[0].exists():
        return load_checkpoint(shipped)
    path = Path(key)
    if path.is_dir() and checkpoint_paths(path / RUN_MODEL_FILE)[1].exists():
        return load_checkpoint(path / RUN_MODEL_FILE)  # a run folder
    if path.is_dir() or path.suffix in (".pth", ".pt", ".bin", ".ckpt"):
        if path.exists():
            return load_reference_weights(path, config=config, encoder_only=encoder_only)
    elif checkpoint_paths(path)[0].exists():
        model = load_checkpoint(path)
        if config is not None and config.to_dict() != model.config.to_dict():
            raise ValueError(f"{path} was saved with config ({describe_config(model.config)}), not the one passed")
        return model
    known = list(PRESETS) + list_shipped()
    raise KeyError(
        f"unknown model {key!r}: not a preset, a shipped model, a run folder or an existing file."
        f"{suggest(key, known)} Presets: {', '.join(PRESETS)}; shipped: {', '.join(list_shipped()) or 'none'}."
    )


def load_pretrained(name_or_path: str | os.PathLike, config: MAEConfig | None = None,
                    encoder_only: bool = False) -> MaskedAutoencoder:
    """Deprecated: ``load_model(name_or_path, pretrained=True, ...)`` does the same."""
    deprecated_alias("load_pretrained", "load_model(..., pretrained=True)")
    return load_model(name_or_path, pretrained=True, config=config, encoder_only=encoder_only)
