"""Weights from the reference implementations, mapped onto mae_lab's modules.

The official MAE code, timm and Hugging Face ``transformers`` name the same tensors differently.
:func:`convert_state_dict` renames them to ours, :func:`infer_config` reads a model's shape off its
weights, :func:`load_reference_weights` loads an official ``.pth``, a timm file or a Hugging Face
folder, and :func:`load_official` finds (or, online, downloads) the released MAE weights.

Names of weights in the reference implementations
-------------------------------------------------
Our modules keep the official MAE / timm names inside two parts, ``encoder.`` and
``decoder.``.  :func:`convert_state_dict` maps the three reference layouts onto ours:

=====================================================  ==========================================
official MAE (``models_mae.py``) and timm ViT          mae_lab
=====================================================  ==========================================
``patch_embed.proj.{weight,bias}``                     ``encoder.patch_embed.proj.*``
``cls_token``, ``pos_embed``                           ``encoder.cls_token``, ``encoder.pos_embed``
``blocks.{i}.*`` (norm1, attn.qkv, attn.proj, ...)     ``encoder.blocks.{i}.*`` (same names inside)
``norm.*``                                             ``encoder.norm.*``
``decoder_embed.*``, ``mask_token``                    ``decoder.embed.*``, ``decoder.mask_token``
``decoder_pos_embed``                                  ``decoder.pos_embed``
``decoder_blocks.{i}.*``                               ``decoder.blocks.{i}.*``
``decoder_norm.*``, ``decoder_pred.*``                 ``decoder.norm.*``, ``decoder.pred.*``
timm ``head.*``, ``fc_norm.*`` (classifier)            dropped
=====================================================  ==========================================

Hugging Face ``transformers`` (``ViTMAEForPreTraining``; ``ViTMAEModel`` lacks the ``vit.`` prefix):

* ``vit.embeddings.patch_embeddings.projection.*`` -> ``encoder.patch_embed.proj.*``
* ``vit.embeddings.cls_token`` -> ``encoder.cls_token``;
  ``vit.embeddings.position_embeddings`` -> ``encoder.pos_embed``
* ``vit.encoder.layer.{i}.`` or ``vit.layers.{i}.`` -> ``encoder.blocks.{i}.``, and
  ``decoder.decoder_layers.{i}.`` or ``decoder.decoder_encoder.layer.{i}.`` -> ``decoder.blocks.{i}.``,
  where inside a block:

  - ``layernorm_before`` / ``layernorm_after`` -> ``norm1`` / ``norm2``
  - ``attention.attention.{query,key,value}`` or ``attention.{q,k,v}_proj`` -> ``attn.qkv``
    (the three are concatenated along the output axis: q, then k, then v)
  - ``attention.output.dense`` or ``attention.o_proj`` -> ``attn.proj``
  - ``intermediate.dense`` or ``mlp.fc1`` -> ``mlp.fc1``; ``output.dense`` or ``mlp.fc2`` -> ``mlp.fc2``
* ``vit.layernorm.*`` -> ``encoder.norm.*``
* ``decoder.decoder_embed.*`` -> ``decoder.embed.*``; ``decoder.mask_token`` -> ``decoder.mask_token``;
  ``decoder.decoder_pos_embed`` -> ``decoder.pos_embed``; ``decoder.decoder_norm.*`` ->
  ``decoder.norm.*``; ``decoder.decoder_pred.*`` -> ``decoder.pred.*``

Both layouts of ``transformers`` (the one in files on the hub and the one in memory since
version 5) are understood; a leading ``module.`` (from ``DistributedDataParallel``) is removed.
Pickled files (``.pth``/``.bin``) are only read with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import pickle
import re
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from .models import PRESETS, MAEConfig, MaskedAutoencoder
from .models.config import IMAGENET_MEAN, IMAGENET_STD
from .paths import checkpoints_dir
from .targets import target_dim
from .utils import is_reachable

__all__ = [
    "HF_REPOS",
    "OFFICIAL_URL",
    "SOURCES",
    "WeightsUnavailableError",
    "config_from_transformers",
    "convert_state_dict",
    "detect_source",
    "infer_config",
    "load_exact",
    "load_official",
    "load_reference_weights",
    "load_weights",
    "model_from_state_dict",
    "read_torch_state_dict",
]

SOURCES = ("mae_lab", "official", "timm", "transformers")
HF_REPOS = {"mae_base": "facebook/vit-mae-base", "mae_large": "facebook/vit-mae-large",
            "mae_huge": "facebook/vit-mae-huge"}
OFFICIAL_URL = "https://dl.fbaipublicfiles.com/mae/visualize/mae_visualize_vit_{size}.pth"


class WeightsUnavailableError(FileNotFoundError):
    """Official weights are neither on disk nor reachable online."""


def describe_config(config: MAEConfig) -> str:
    return (f"image_size={config.image_size}, patch_size={config.patch_size}, channels={config.channels}, "
            f"embed_dim={config.embed_dim}, depth={config.depth}, decoder_embed_dim={config.decoder_embed_dim}, "
            f"decoder_depth={config.decoder_depth}, target={config.target!r}, design={config.design!r}")


def load_exact(model: MaskedAutoencoder, tensors: dict[str, torch.Tensor], where: str,
                only_prefix: str | None = None) -> None:
    """Copy ``tensors`` into ``model``; any missing, extra or mis-shaped tensor raises ``ValueError``.

    With ``only_prefix`` (e.g. ``"encoder."``) only the model's tensors under that prefix
    must be present.
    """
    expected = model.state_dict()
    wanted = {k: v for k, v in expected.items() if only_prefix is None or k.startswith(only_prefix)}
    missing = sorted(set(wanted) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    mismatched = [
        f"{k}: {list(tensors[k].shape)} in the file, {list(wanted[k].shape)} in the model"
        for k in wanted if k in tensors and tuple(tensors[k].shape) != tuple(wanted[k].shape)
    ]
    if missing or unexpected or mismatched:
        problems = []
        if mismatched:
            problems.append("shape mismatch for " + "; ".join(mismatched[:5]) + (" ..." if len(mismatched) > 5 else ""))
        if missing:
            problems.append(f"{len(missing)} tensor(s) missing, e.g. {missing[:4]}")
        if unexpected:
            problems.append(f"{len(unexpected)} unexpected tensor(s), e.g. {unexpected[:4]}")
        raise ValueError(
            f"the weights in {where} do not fit the model configuration ({describe_config(model.config)}): "
            + " | ".join(problems)
            + ". The checkpoint was made for another configuration: load it with its own config "
            "(mae_lab.load_model reads it from the checkpoint or infers it from the weights) instead of building the model yourself."
        )
    with torch.no_grad():
        for name, tensor in wanted.items():
            tensor.copy_(tensors[name].to(dtype=tensor.dtype))


# ====================================================================== converting reference weights
_HF_BLOCK_SUFFIXES = [
    ("attention.attention.query.", "attn.q."),
    ("attention.attention.key.", "attn.k."),
    ("attention.attention.value.", "attn.v."),
    ("attention.output.dense.", "attn.proj."),
    ("attention.q_proj.", "attn.q."),
    ("attention.k_proj.", "attn.k."),
    ("attention.v_proj.", "attn.v."),
    ("attention.o_proj.", "attn.proj."),
    ("intermediate.dense.", "mlp.fc1."),
    ("output.dense.", "mlp.fc2."),
    ("mlp.fc1.", "mlp.fc1."),
    ("mlp.fc2.", "mlp.fc2."),
    ("layernorm_before.", "norm1."),
    ("layernorm_after.", "norm2."),
]
_HF_ENCODER_BLOCK = re.compile(r"^(?:encoder\.layer|encoder\.layers|layers)\.(\d+)\.(.*)$")
_HF_DECODER_BLOCK = re.compile(r"^decoder\.(?:decoder_layers|decoder_encoder\.layer|decoder_encoder\.layers)\.(\d+)\.(.*)$")
_HF_RENAMES = {
    "embeddings.cls_token": "encoder.cls_token",
    "embeddings.position_embeddings": "encoder.pos_embed",
    "embeddings.patch_embeddings.projection.weight": "encoder.patch_embed.proj.weight",
    "embeddings.patch_embeddings.projection.bias": "encoder.patch_embed.proj.bias",
    "layernorm.weight": "encoder.norm.weight",
    "layernorm.bias": "encoder.norm.bias",
    "decoder.mask_token": "decoder.mask_token",
    "decoder.decoder_pos_embed": "decoder.pos_embed",
    "decoder.decoder_embed.weight": "decoder.embed.weight",
    "decoder.decoder_embed.bias": "decoder.embed.bias",
    "decoder.decoder_norm.weight": "decoder.norm.weight",
    "decoder.decoder_norm.bias": "decoder.norm.bias",
    "decoder.decoder_pred.weight": "decoder.pred.weight",
    "decoder.decoder_pred.bias": "decoder.pred.bias",
}
_OFFICIAL_DECODER_PREFIXES = [
    ("decoder_embed.", "decoder.embed."),
    ("decoder_pos_embed", "decoder.pos_embed"),
    ("decoder_blocks.", "decoder.blocks."),
    ("decoder_norm.", "decoder.norm."),
    ("decoder_pred.", "decoder.pred."),
    ("mask_token", "decoder.mask_token"),
]


def detect_source(state_dict: dict[str, Any]) -> str:
    """Guess the layout of a state dict: ``"mae_lab"``, ``"transformers"``, ``"official"`` or ``"timm"``."""
    keys = [_strip_module(k) for k in state_dict]
    if any(k.startswith("encoder.patch_embed.") for k in keys):
        return "mae_lab"
    if any("embeddings.patch_embeddings" in k or "layernorm_before" in k for k in keys):
        return "transformers"
    if "patch_embed.proj.weight" in keys:
        if any(k.startswith("decoder_") or k == "mask_token" for k in keys):
            return "official"
        return "timm" if any(k.startswith("head.") for k in keys) else "official"
    raise ValueError(
        "could not recognise this state dict (first keys: "
        f"{keys[:5]}); expected the official MAE, timm ViT, Hugging Face ViTMAE or mae_lab layout"
    )


def _strip_module(key: str) -> str:
    return key.removeprefix("module.")


def convert_state_dict(state_dict: dict[str, torch.Tensor], source: str = "official") -> dict[str, torch.Tensor]:
    """Rename a reference state dict to our keys (see the tables at the top of this module).

    Args:
        state_dict: tensors keyed as in the official MAE code, timm, Hugging Face
            ``transformers`` (``ViTMAEForPreTraining`` or ``ViTMAEModel``) or mae_lab.
        source: ``"official"``, ``"timm"``, ``"transformers"`` (alias ``"huggingface"``),
            ``"mae_lab"`` or ``"auto"`` (:func:`detect_source`).

    Returns:
        A new dict keyed like ``MaskedAutoencoder.state_dict()``.  timm's classifier
        (``head.*``, ``fc_norm.*``) is dropped; Hugging Face's separate query/key/value
        projections are concatenated into our fused ``qkv``.
    """
    source = {"huggingface": "transformers", "hf": "transformers", "ours": "mae_lab"}.get(source, source)
    if source == "auto":
        source = detect_source(state_dict)
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES} or 'auto', got {source!r}")
    state_dict = {_strip_module(k): v for k, v in state_dict.items()}
    if source == "mae_lab":
        return dict(state_dict)
    if source in ("official", "timm"):
        return _convert_official(state_dict)
    return _convert_transformers(state_dict)


def _convert_official(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for key, tensor in state_dict.items():
        if key.startswith(("head.", "fc_norm.", "head_drop.")):
            continue  # timm / fine-tuned classifier, not part of the autoencoder
        for old, new in _OFFICIAL_DECODER_PREFIXES:
            if key.startswith(old):
                out[new + key[len(old):]] = tensor
                break
        else:
            out["encoder." + key] = tensor
    return out


def _convert_transformers(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for key, tensor in state_dict.items():
        key = key.removeprefix("vit.")
        if key in _HF_RENAMES:
            out[_HF_RENAMES[key]] = tensor
            continue
        match = _HF_DECODER_BLOCK.match(key) or _HF_ENCODER_BLOCK.match(key)
        part = "decoder" if key.startswith("decoder.") else "encoder"
        if match is None:
            raise ValueError(f"unexpected Hugging Face ViTMAE weight {key!r}; this layout is not supported")
        index, suffix = match.groups()
        out[f"{part}.blocks.{index}.{_rename_hf_suffix(suffix, key)}"] = tensor
    return _fuse_qkv(out)


def _rename_hf_suffix(suffix: str, key: str) -> str:
    for old, new in _HF_BLOCK_SUFFIXES:
        if suffix.startswith(old):
            return new + suffix[len(old):]
    raise ValueError(f"unexpected Hugging Face ViTMAE weight {key!r}; this layout is not supported")


def _fuse_qkv(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Concatenate ``attn.q/k/v.{weight,bias}`` into ``attn.qkv.{weight,bias}`` (q first, then k, then v)."""
    out = {}
    for key, tensor in state_dict.items():
        if ".attn.q." in key:
            fused = key.replace(".attn.q.", ".attn.qkv.")
            parts = [state_dict[key.replace(".attn.q.", f".attn.{p}.")] for p in "qkv"]
            out[fused] = torch.cat(parts, dim=0)  # [3D, D] or [3D]
        elif ".attn.k." in key or ".attn.v." in key:
            continue
        else:
            out[key] = tensor
    return out


# ====================================================================== configs from weights
_HEADS_BY_WIDTH = {64: 4, 128: 4, 192: 3, 256: 8, 384: 6, 512: 16, 768: 12, 1024: 16, 1280: 16}


def _guess_heads(width: int) -> int:
    heads = _HEADS_BY_WIDTH.get(width, max(1, width // 64))
    return heads if width % heads == 0 else 1


def _count_blocks(state_dict: dict[str, torch.Tensor], prefix: str) -> int:
    pattern = re.compile(rf"^{re.escape(prefix)}blocks\.(\d+)\.")
    indices = [int(m.group(1)) for k in state_dict if (m := pattern.match(k))]
    return max(indices) + 1 if indices else 0


def infer_config(state_dict: dict[str, torch.Tensor], **overrides: Any) -> MAEConfig:
    """Read an :class:`MAEConfig` off the shapes of a state dict in our layout.

    Widths, depths, patch size, channels, image size (from the position table), MLP ratio,
    ``qkv_bias`` and the design are exact; the number of heads cannot be seen in the
    shapes and is taken from the official models (12 for width 768, 16 for 1024 and 1280,
    otherwise width / 64) — pass ``num_heads=`` / ``decoder_num_heads=`` to override, as
    well as anything else (``target="norm_pixels"``, ``pixel_mean=None``, ...).
    """
    try:
        proj = state_dict["encoder.patch_embed.proj.weight"]  # [D, C, p, p]
        pos = state_dict["encoder.pos_embed"]  # [1, 1+N, D]
    except KeyError as err:
        raise ValueError(f"cannot infer a config: the weights have no {err.args[0]!r}") from None
    embed_dim, channels, patch_size = int(proj.shape[0]), int(proj.shape[1]), int(proj.shape[2])
    num_patches = int(pos.shape[1]) - 1
    side = math.isqrt(num_patches)
    if side * side != num_patches:
        raise ValueError(f"the position table holds {num_patches} patches, not a square grid")
    fields: dict[str, Any] = {
        "image_size": side * patch_size,
        "patch_size": patch_size,
        "channels": channels,
        "embed_dim": embed_dim,
        "depth": _count_blocks(state_dict, "encoder."),
        "num_heads": _guess_heads(embed_dim),
        "mlp_ratio": int(state_dict["encoder.blocks.0.mlp.fc1.weight"].shape[0]) / embed_dim,
        "qkv_bias": "encoder.blocks.0.attn.qkv.bias" in state_dict,
    }
    pred = state_dict.get("decoder.pred.weight")  # [target_dim, D_dec]
    if "decoder.embed.weight" in state_dict:
        decoder_dim = int(state_dict["decoder.embed.weight"].shape[0])
        fields.update(decoder_embed_dim=decoder_dim, decoder_depth=_count_blocks(state_dict, "decoder."),
                      decoder_num_heads=_guess_heads(decoder_dim))
    elif pred is not None:
        fields["design"] = "simmim"
    if pred is not None:
        fields["target"] = _target_from_dim(int(pred.shape[0]), patch_size, channels)
    fields.update(overrides)
    fields.setdefault("preset", _matching_preset(fields))
    return MAEConfig(**fields)


def _target_from_dim(dim: int, patch_size: int, channels: int) -> str:
    for name in ("pixels", "hog"):
        if target_dim(name, patch_size, channels) == dim:
            return name
    raise ValueError(f"prediction head of size {dim} fits no known target for {patch_size}-px, {channels}-channel patches")


def _matching_preset(fields: dict[str, Any]) -> str | None:
    keys = ("image_size", "patch_size", "channels", "embed_dim", "depth")
    for name, preset in PRESETS.items():
        if all(getattr(preset, k) == fields.get(k) for k in keys):
            return name
    return None


def config_from_transformers(hf_config: dict[str, Any], preprocessor: dict[str, Any] | None = None,
                             **overrides: Any) -> MAEConfig:
    """An :class:`MAEConfig` from a Hugging Face ``ViTMAEConfig`` (as a dict, e.g. ``config.json``).

    ``norm_pix_loss`` becomes ``target="norm_pixels"``; ``layer_norm_eps`` becomes
    ``norm_eps`` (Hugging Face's default is 1e-12, the official code's 1e-6); the image
    processor's ``image_mean``/``image_std`` (when given) become ``pixel_mean``/``pixel_std``.
    """
    cfg = dict(hf_config)
    if cfg.get("model_type", "vit_mae") != "vit_mae":
        raise ValueError(f"expected a ViTMAE config (model_type 'vit_mae'), got model_type {cfg.get('model_type')!r}")
    if cfg.get("hidden_act", "gelu") != "gelu":
        raise ValueError(f"only hidden_act='gelu' is supported, got {cfg.get('hidden_act')!r}")
    hidden, decoder_hidden = int(cfg["hidden_size"]), int(cfg["decoder_hidden_size"])
    mlp_ratio = cfg["intermediate_size"] / hidden
    decoder_ratio = cfg["decoder_intermediate_size"] / decoder_hidden
    if not math.isclose(mlp_ratio, decoder_ratio):
        raise ValueError(f"encoder MLP ratio {mlp_ratio} differs from decoder MLP ratio {decoder_ratio}; "
                         "mae_lab models share one mlp_ratio")
    image_size = cfg["image_size"]
    image_size = image_size[0] if isinstance(image_size, (list, tuple)) else image_size
    fields: dict[str, Any] = {
        "image_size": int(image_size),
        "patch_size": int(cfg["patch_size"]),
        "channels": int(cfg["num_channels"]),
        "embed_dim": hidden,
        "depth": int(cfg["num_hidden_layers"]),
        "num_heads": int(cfg["num_attention_heads"]),
        "decoder_embed_dim": decoder_hidden,
        "decoder_depth": int(cfg["decoder_num_hidden_layers"]),
        "decoder_num_heads": int(cfg["decoder_num_attention_heads"]),
        "mlp_ratio": float(mlp_ratio),
        "target": "norm_pixels" if cfg.get("norm_pix_loss") else "pixels",
        "qkv_bias": bool(cfg.get("qkv_bias", True)),
        "norm_eps": float(cfg.get("layer_norm_eps", 1e-12)),
    }
    if preprocessor and preprocessor.get("do_normalize", True) and preprocessor.get("image_mean"):
        fields.update(pixel_mean=tuple(preprocessor["image_mean"]), pixel_std=tuple(preprocessor["image_std"]))
    fields.update(overrides)
    fields.setdefault("preset", _matching_preset(fields))
    return MAEConfig(**fields)


# ====================================================================== loading weights into models
def _missing_decoder_message(where: str) -> str:
    return (
        f"{where} holds the encoder only, without decoder weights (like the official "
        "mae_pretrain_vit_*.pth files and timm ViTs). Pass encoder_only=True to use it for features, "
        "attention and probing (the decoder then stays randomly initialised), or load a checkpoint with a "
        "decoder (e.g. the official mae_visualize_vit_*.pth or facebook/vit-mae-*) for reconstructions."
    )


def load_weights(model: MaskedAutoencoder, state_dict: dict[str, torch.Tensor], source: str = "auto",
                 encoder_only: bool = False, where: str = "the state dict") -> MaskedAutoencoder:
    """Copy reference or mae_lab weights into ``model`` (converted with :func:`convert_state_dict`).

    Every tensor must fit; with ``encoder_only=True`` only the encoder's tensors are needed
    (and used).  Raises ``ValueError`` naming the mismatching tensors otherwise.
    """
    converted = convert_state_dict(state_dict, source)
    has_decoder = any(k.startswith("decoder.") for k in converted)
    if encoder_only:
        converted = {k: v for k, v in converted.items() if k.startswith("encoder.")}
        load_exact(model, converted, where, only_prefix="encoder.")
    else:
        if not has_decoder:
            raise ValueError(_missing_decoder_message(where))
        load_exact(model, converted, where)
    model.metadata["decoder_loaded"] = has_decoder and not encoder_only
    return model


def model_from_state_dict(state_dict: dict[str, torch.Tensor], source: str = "auto", config: MAEConfig | None = None,
                          encoder_only: bool = False, where: str = "the state dict",
                          **overrides: Any) -> MaskedAutoencoder:
    """Build a model whose config is read off the weights (:func:`infer_config`) and load them.

    Official and timm RGB weights were trained on ImageNet-normalised images, so their model
    normalises ``[0, 1]`` inputs with the ImageNet mean/std unless ``pixel_mean=None`` is passed.
    """
    source = detect_source(state_dict) if source == "auto" else source
    converted = convert_state_dict(state_dict, source)
    if not encoder_only and not any(k.startswith("decoder.") for k in converted):
        raise ValueError(_missing_decoder_message(where))
    if config is None:
        proj = converted.get("encoder.patch_embed.proj.weight")
        if source in ("official", "timm") and proj is not None and proj.shape[1] == 3:
            overrides.setdefault("pixel_mean", IMAGENET_MEAN)
            overrides.setdefault("pixel_std", IMAGENET_STD)
        config = infer_config(converted, **overrides)
    elif overrides:
        config = config.replace(**overrides)
    model = MaskedAutoencoder(config)
    load_weights(model, converted, source="mae_lab", encoder_only=encoder_only, where=where)
    model.metadata["source"] = source
    model.eval()
    return model


def read_torch_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Tensors of a pickled checkpoint, read safely with ``weights_only=True``.

    Unwraps the usual containers (``{"model": ...}`` of the official MAE, ``{"state_dict": ...}``).
    """
    path = Path(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as err:
        raise ValueError(f"could not read {path} with torch.load(weights_only=True): {err}") from None
    for key in ("model", "state_dict", "model_state", "model_state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{path} does not hold a state dict of tensors")
    return obj


def _load_transformers_dir(folder: Path, config: MAEConfig | None, encoder_only: bool) -> MaskedAutoencoder:
    hf_config = json.loads((folder / "config.json").read_text())
    preprocessor_path = folder / "preprocessor_config.json"
    preprocessor = json.loads(preprocessor_path.read_text()) if preprocessor_path.exists() else None
    config = config or config_from_transformers(hf_config, preprocessor)
    state_dict = _read_transformers_weights(folder)
    model = model_from_state_dict(state_dict, "transformers", config, encoder_only, where=str(folder))
    model.metadata["source_path"] = str(folder)
    return model


def _read_transformers_weights(folder: Path) -> dict[str, torch.Tensor]:
    if (folder / "model.safetensors").exists():
        return load_file(str(folder / "model.safetensors"))
    index = folder / "model.safetensors.index.json"
    if index.exists():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        state_dict = {}
        for shard in shards:
            state_dict.update(load_file(str(folder / shard)))
        return state_dict
    if (folder / "pytorch_model.bin").exists():
        return read_torch_state_dict(folder / "pytorch_model.bin")
    raise FileNotFoundError(f"{folder} has a config.json but no model.safetensors or pytorch_model.bin")


# ====================================================================== official weights online / on disk
def _official_local_candidates(name: str) -> list[Path]:
    size = name.split("_", 1)[1]
    folder = checkpoints_dir()
    return [folder / f"vit-mae-{size}", folder / f"mae_visualize_vit_{size}.pth", folder / f"mae_pretrain_vit_{size}.pth"]


def _offline_message(name: str, reason: str) -> str:
    size = name.split("_", 1)[1]
    repo = HF_REPOS[name]
    folder = checkpoints_dir()
    return (
        f"could not get the official {name} weights ({reason}). On a machine with internet, download either\n"
        f"  * https://huggingface.co/{repo} (config.json, preprocessor_config.json, model.safetensors) "
        f"into the folder {folder / f'vit-mae-{size}'}/, or\n"
        f"  * {OFFICIAL_URL.format(size=size)} into {folder}/\n"
        f"and call mae_lab.load_model({name!r}, pretrained=True) again (or pass the file/folder path)."
    )


def _offline_requested() -> bool:
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes", "on")
               for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _download_official(name: str) -> Path:
    """Folder with the Hugging Face files of an official model (from the local cache or the hub)."""
    repo = HF_REPOS[name]
    try:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import EntryNotFoundError
    except ImportError:
        raise WeightsUnavailableError(_offline_message(name, "huggingface_hub is not installed")) from None
    missing = (OSError, EntryNotFoundError)

    def fetch(local_only: bool) -> Path:
        folder = Path(hf_hub_download(repo, "config.json", local_files_only=local_only)).parent
        with contextlib.suppress(*missing):  # optional: the image statistics
            hf_hub_download(repo, "preprocessor_config.json", local_files_only=local_only)
        for weights in ("model.safetensors", "pytorch_model.bin"):
            with contextlib.suppress(*missing):
                hf_hub_download(repo, weights, local_files_only=local_only)
                return folder
        raise FileNotFoundError(f"{repo} has neither model.safetensors nor pytorch_model.bin")

    with contextlib.suppress(*missing):  # already in the local Hugging Face cache?
        return fetch(local_only=True)
    if _offline_requested():
        raise WeightsUnavailableError(_offline_message(name, "HF_HUB_OFFLINE is set and they are not cached"))
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    if not is_reachable(endpoint):
        raise WeightsUnavailableError(_offline_message(name, f"{endpoint} is not reachable: no network?"))
    try:
        return fetch(local_only=False)
    except Exception as err:  # noqa: BLE001 - any network or hub failure gets the same instructions
        raise WeightsUnavailableError(_offline_message(name, f"download failed: {err}")) from None


def load_official(name: str, encoder_only: bool = False) -> MaskedAutoencoder:
    """The released MAE weights of ``"mae_base"``, ``"mae_large"`` or ``"mae_huge"``.

    Looked for in ``data/checkpoints/`` first (``vit-mae-<size>/``, ``mae_visualize_vit_<size>.pth`` or
    ``mae_pretrain_vit_<size>.pth``, the last one an encoder without decoder), then in the Hugging Face
    cache, then downloaded from ``facebook/vit-mae-<size>``. Offline this fails at once with a
    :class:`WeightsUnavailableError` that says what to download and where to put it.
    """
    if name not in HF_REPOS:
        raise KeyError(f"{name!r} has no official weights; choose one of {', '.join(HF_REPOS)}")
    for candidate in _official_local_candidates(name):
        if candidate.exists():
            encoder_file = candidate.name.startswith("mae_pretrain")
            model = load_reference_weights(candidate, encoder_only=encoder_only or encoder_file)
            model.config.preset = name
            return model
    model = _load_transformers_dir(_download_official(name), None, encoder_only)
    model.config.preset = name
    return model


def load_reference_weights(path: str | os.PathLike, config: MAEConfig | None = None,
                           encoder_only: bool = False) -> MaskedAutoencoder:
    """A model from a reference file or folder, its config read off the weights (or ``config``).

    ``path`` is an official MAE ``.pth`` (``{"model": state_dict}``), a timm ViT state dict, a Hugging
    Face ``ViTMAE`` ``.bin`` (all read with ``torch.load(weights_only=True)``), or a folder saved by
    ``transformers`` (``config.json`` + weights). ``encoder_only=True`` loads files without a decoder.
    """
    path = Path(path)
    if path.is_dir():
        if (path / "config.json").exists():
            return _load_transformers_dir(path, config, encoder_only)
        raise FileNotFoundError(f"folder {path} has no config.json; expected a Hugging Face ViTMAE folder")
    if path.suffix not in (".pth", ".pt", ".bin", ".ckpt"):
        raise ValueError(f"{path} is not a reference weight file (.pth, .pt, .bin, .ckpt) or folder")
    model = model_from_state_dict(read_torch_state_dict(path), "auto", config, encoder_only, where=str(path))
    model.metadata["source_path"] = str(path)
    return model
