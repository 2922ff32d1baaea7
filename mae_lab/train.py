"""The pretraining engine: one config, one call, from a laptop CPU to ``torchrun`` on many GPUs.

The recipe is the masked autoencoder's (He et al., "Masked Autoencoders Are Scalable Vision
Learners", 2021): AdamW with betas (0.9, 0.95) and weight decay 0.05 (none on biases and norms),
a learning rate of ``base_lr × batch / 256``, a linear warm-up followed by a cosine decay, random
resized crop + flip as the only augmentation, and bf16 autocast on CUDA.

>>> from mae_lab.train import PretrainConfig, pretrain
>>> config = PretrainConfig(dataset="digits", model="mae_micro", epochs=2, batch_size=64)
>>> result = pretrain(config)                      # doctest: +SKIP
>>> result.history[-1]["loss"] < result.history[0]["loss"]   # doctest: +SKIP
True

Everything random is drawn from generators seeded by ``(config.seed, step, ...)``: the data order,
the augmentations, the masks and the weight initialisation. That is why a run interrupted and
resumed (``pretrain(config, resume=True)``) ends with *bit-identical* weights to a run that was
never stopped, on the same machine.

Callbacks are any objects with some of ``on_train_start(state)``, ``on_step_end(state)``,
``on_epoch_end(state)``, ``on_train_end(state)``; ``state`` is a :class:`TrainState`. A callback
may set ``state.stop = True`` to end the run cleanly (a checkpoint is written).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .datasets import GPUResidentLoader, _generator, load_dataset, sample_images
from .utils import default_device

__all__ = [
    "MODEL_FILE",
    "STATE_FILE",
    "LossNotFiniteError",
    "PretrainConfig",
    "PretrainResult",
    "TrainState",
    "build_model",
    "learning_rate",
    "load_run",
    "param_groups",
    "pretrain",
]

STATE_FILE = "train_state.pt"  # everything needed to resume (model, optimizer, step, history)
MODEL_FILE = "checkpoint"  # the model alone: checkpoint.safetensors + checkpoint.json (mae_lab.hub)
CONFIG_FILE = "config.json"
LOG_FILE = "log.jsonl"


# ---------------------------------------------------------------------------------------------
# configuration
# ---------------------------------------------------------------------------------------------
@dataclass
class PretrainConfig:
    """Everything one pretraining run needs; ``to_dict``/``from_dict``/``save``/``load`` round-trip JSON.

    Data:
        dataset, dataset_options: ``load_dataset(dataset, **dataset_options)`` (e.g. ``{"channels": 3}``).
        image_size: pixels per side; ``None`` uses ``model_overrides["img_size"]`` or the dataset's own.
        limit: train on a random subset of this many images (quick runs and tests).
        augment, crop_scale, flip: random resized crop (area fraction in ``crop_scale``) and flip.
    Model:
        model: a preset name (``"mae_micro"``, ``"mae_tiny"``, ...); its ``img_size`` and ``in_chans``
            follow the data. model_overrides: other :class:`~mae_lab.models.MAEConfig` fields.
        target: what to reconstruct (``"pixels"``, ``"norm_pixels"``, ``"hog"``, ...); ``None``: the preset's.
    Masking:
        masker, masker_options: a strategy from :func:`mae_lab.list_maskers` and its options.
        mask_ratio: fraction of patches hidden. ratio_schedule: keyword arguments of
            :func:`mae_lab.masking.make_schedule` (e.g. ``{"kind": "linear", "start": 0.9, "end": 0.6}``)
            to change the ratio over training; ``None`` keeps ``mask_ratio``.
    Optimisation:
        epochs, batch_size (per process), base_lr (``lr = base_lr × global batch / 256``), lr (overrides
        the scaling), weight_decay, betas, warmup_epochs, min_lr, clip_grad (max gradient norm or None).
        max_seconds: stop after this many seconds of training; the schedules then follow the clock.
    Running:
        seed, device (``"auto"``, ``"cpu"``, ``"cuda"``), amp (bf16 autocast on CUDA), compile
        (``torch.compile``), out_dir (None: write nothing), checkpoint_every (epochs), num_preview (fixed
        val images for reconstruction snapshots), log_every (steps between progress-bar updates), progress.
    """

    dataset: str = "fashion_mnist"
    dataset_options: dict = field(default_factory=dict)
    image_size: int | None = None
    limit: int | None = None
    augment: bool = True
    crop_scale: tuple[float, float] = (0.35, 1.0)
    flip: bool = True
    model: str = "mae_tiny"
    model_overrides: dict = field(default_factory=dict)
    target: str | None = None
    masker: str = "random"
    masker_options: dict = field(default_factory=dict)
    mask_ratio: float = 0.75
    ratio_schedule: dict | None = None
    epochs: int = 10
    batch_size: int = 256
    base_lr: float = 1.5e-4
    lr: float | None = None
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.95)
    warmup_epochs: float = 1.0
    min_lr: float = 0.0
    clip_grad: float | None = None
    max_seconds: float | None = None
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    compile: bool = False
    out_dir: str | None = None
    checkpoint_every: int = 1
    num_preview: int = 8
    log_every: int = 20
    progress: bool = True

    def __post_init__(self) -> None:
        self.crop_scale = tuple(float(v) for v in self.crop_scale)
        self.betas = tuple(float(v) for v in self.betas)
        if self.out_dir is not None:
            self.out_dir = str(self.out_dir)
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first setting that cannot work."""
        checks = [
            (self.epochs >= 1, f"epochs must be at least 1, got {self.epochs}"),
            (self.batch_size >= 1, f"batch_size must be at least 1, got {self.batch_size}"),
            (0.0 <= self.mask_ratio < 1.0, f"mask_ratio must be in [0, 1), got {self.mask_ratio}"),
            (self.base_lr > 0 or (self.lr or 0) > 0, f"base_lr must be positive, got {self.base_lr}"),
            (self.warmup_epochs >= 0, f"warmup_epochs must be >= 0, got {self.warmup_epochs}"),
            (
                self.checkpoint_every >= 1,
                f"checkpoint_every must be at least 1 epoch, got {self.checkpoint_every}",
            ),
            (self.log_every >= 1, f"log_every must be at least 1 step, got {self.log_every}"),
            (
                len(self.crop_scale) == 2 and 0 < self.crop_scale[0] <= self.crop_scale[1] <= 1,
                f"crop_scale must be (low, high) with 0 < low <= high <= 1, got {self.crop_scale}",
            ),
            (
                self.max_seconds is None or self.max_seconds > 0,
                f"max_seconds must be positive, got {self.max_seconds}",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (tuples become lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PretrainConfig:
        """The inverse of :meth:`to_dict`; unknown keys raise ``ValueError`` with suggestions."""
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            hints = [h for key in unknown for h in difflib.get_close_matches(key, names, n=1)]
            extra = f" (did you mean {', '.join(hints)}?)" if hints else ""
            raise ValueError(f"PretrainConfig has no field(s) {unknown}{extra}; fields: {', '.join(names)}")
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> PretrainConfig:
        return cls.from_dict(json.loads(text))

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        _atomic_write_text(path, self.to_json())
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> PretrainConfig:
        """Read a config JSON file, or the ``config.json`` of a run folder."""
        path = Path(path)
        if path.is_dir():
            path = path / CONFIG_FILE
        if not path.is_file():
            raise FileNotFoundError(
                f"no pretraining config at {path}; pass a run folder written by pretrain()"
            )
        return cls.from_json(path.read_text())

    def replace(self, **changes: Any) -> PretrainConfig:
        return dataclasses.replace(self, **changes)


# ---------------------------------------------------------------------------------------------
# state handed to callbacks, and the result
# ---------------------------------------------------------------------------------------------
@dataclass
class TrainState:
    """What callbacks see. ``history`` holds one dict per step: step, epoch, loss, lr, mask_ratio."""

    config: PretrainConfig
    model: nn.Module
    optimizer: torch.optim.Optimizer
    total_steps: int
    steps_per_epoch: int
    step: int = 0
    epoch: int = 0
    loss: float | None = None
    lr: float = 0.0
    mask_ratio: float = 0.75
    images_per_sec: float = 0.0
    elapsed: float = 0.0
    history: list = field(default_factory=list)
    epoch_log: list = field(default_factory=list)
    preview_images: torch.Tensor | None = None
    out_dir: Path | None = None
    rank: int = 0
    world_size: int = 1
    stop: bool = False

    @property
    def progress(self) -> float:
        """Fraction of the run done, in [0, 1] (by steps, or by the clock under ``max_seconds``)."""
        by_steps = self.step / max(self.total_steps, 1)
        if self.config.max_seconds:
            return min(1.0, max(by_steps, self.elapsed / self.config.max_seconds))
        return by_steps


@dataclass
class PretrainResult:
    """What :func:`pretrain` returns: the trained ``model`` (eval mode) and what happened."""

    model: nn.Module
    history: list
    out_dir: Path | None
    config: PretrainConfig
    epoch_log: list = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    checkpoint: Path | None = None

    @property
    def final_loss(self) -> float | None:
        """Mean loss of the last (up to) 20 steps; None before the first step."""
        if not self.history:
            return None
        last = [row["loss"] for row in self.history[-20:]]
        return sum(last) / len(last)

    def __repr__(self) -> str:
        loss = self.final_loss
        loss_text = f"{loss:.4f}" if loss is not None else "n/a"
        status = " (interrupted)" if self.interrupted else ""
        return (
            f"PretrainResult({self.config.model} on {self.config.dataset}: {self.steps} steps in "
            f"{self.seconds:.1f}s, final loss {loss_text}{status}, out_dir={self.out_dir})"
        )


class LossNotFiniteError(RuntimeError):
    """The loss became NaN or infinite; the message names the step and what to change."""


# ---------------------------------------------------------------------------------------------
# building blocks
# ---------------------------------------------------------------------------------------------
def learning_rate(progress: float, peak: float, minimum: float, warmup_fraction: float) -> float:
    """Linear warm-up to ``peak`` over ``warmup_fraction`` of the run, then a cosine decay to ``minimum``."""
    progress = min(max(progress, 0.0), 1.0)
    if warmup_fraction > 0 and progress < warmup_fraction:
        return peak * progress / warmup_fraction
    decay = (progress - warmup_fraction) / max(1.0 - warmup_fraction, 1e-12)
    return minimum + (peak - minimum) * 0.5 * (1.0 + math.cos(math.pi * decay))


def _resolve_image_size(config: PretrainConfig) -> int | None:
    override = config.model_overrides.get("img_size")
    if config.image_size is not None and override is not None and int(override) != int(config.image_size):
        raise ValueError(
            f"image_size={config.image_size} but model_overrides sets img_size={override}; give only one"
        )
    return config.image_size if config.image_size is not None else override


def build_model(config: PretrainConfig, image_size: int, channels: int):
    """The :class:`~mae_lab.models.MaskedAutoencoder` for ``config`` and data of this size and channels.

    The weights are initialised from ``config.seed``.
    """
    from .models import MaskedAutoencoder, get_preset

    overrides = dict(config.model_overrides)
    overrides.update(img_size=int(image_size), in_chans=int(channels))
    if config.target is not None:
        overrides["target"] = config.target
    preset = get_preset(config.model)
    if image_size % preset.patch_size and "patch_size" not in overrides:
        low = image_size // preset.patch_size * preset.patch_size
        raise ValueError(
            f"image_size {image_size} is not a multiple of {config.model}'s patch size {preset.patch_size}; "
            f"use image_size={low or preset.patch_size} or {low + preset.patch_size}, or override patch_size"
        )
    return MaskedAutoencoder(get_preset(config.model, **overrides), seed=config.seed)


def param_groups(model: nn.Module, weight_decay: float = 0.05) -> list[dict]:
    """Weight decay on matrices only: biases, norms and tokens are not decayed (as in MAE)."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        skip = param.ndim <= 1 or name.endswith(("cls_token", "mask_token", "pos_embed"))
        (no_decay if skip else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _make_ratio_schedule(config: PretrainConfig) -> Callable[[float], float]:
    """``progress -> mask ratio``: constant ``mask_ratio`` or :func:`mae_lab.masking.make_schedule`."""
    if config.ratio_schedule is None:
        return lambda progress: config.mask_ratio
    from .masking import make_schedule

    spec = dict(config.ratio_schedule)
    schedule = make_schedule(**spec)
    return lambda progress: float(schedule(progress))


def _call(callbacks: Sequence[Any], hook: str, state: TrainState) -> None:
    for callback in callbacks:
        method = getattr(callback, hook, None)
        if method is not None:
            method(state)


def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _atomic_torch_save(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# distributed set-up (torchrun)
# ---------------------------------------------------------------------------------------------
@dataclass
class _Distributed:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_group: bool = False

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _setup_distributed(device_name: str) -> _Distributed:
    """Join the process group that ``torchrun`` describes in ``RANK``/``WORLD_SIZE`` (gloo/CPU, nccl/CUDA)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return _Distributed()
    import torch.distributed as dist

    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    owns = False
    if not dist.is_initialized():
        backend = "nccl" if device_name.startswith("cuda") else "gloo"
        dist.init_process_group(backend=backend)
        owns = True
    return _Distributed(rank=rank, world_size=world_size, local_rank=local_rank, owns_group=owns)


def _pick_device(config: PretrainConfig, dist_info: _Distributed) -> torch.device:
    name = config.device
    if name == "auto":
        name = default_device().type
    device = torch.device(name)
    if device.type == "cuda" and device.index is None and dist_info.enabled:
        device = torch.device("cuda", dist_info.local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device


# ---------------------------------------------------------------------------------------------
# checkpoints
# ---------------------------------------------------------------------------------------------
def _save_checkpoint(state: TrainState, model: nn.Module, steps_per_epoch: int) -> Path | None:
    """Write ``train_state.pt`` (to resume) then the model via :func:`mae_lab.hub.save_checkpoint`."""
    if state.out_dir is None or state.rank != 0:
        return None
    from .hub import save_checkpoint

    payload = {
        "format": 1,
        "step": state.step,
        "steps_per_epoch": steps_per_epoch,
        "elapsed": state.elapsed,
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": state.optimizer.state_dict(),
        "config": state.config.to_dict(),
        "model_config": model.config.to_dict(),
        "history": state.history,
        "epoch_log": state.epoch_log,
    }
    _atomic_torch_save(payload, state.out_dir / STATE_FILE)
    metadata = {
        "step": state.step,
        "epoch": state.step / max(steps_per_epoch, 1),
        "loss": state.loss,
        "pretrain_config": state.config.to_dict(),
        "epoch_log": state.epoch_log,
    }
    return save_checkpoint(model, state.out_dir / MODEL_FILE, metadata=metadata)


def _load_state(out_dir: Path) -> dict:
    path = out_dir / STATE_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"resume=True but {path} does not exist; start without resume, or point out_dir at a run "
            "folder written by pretrain()"
        )
    return torch.load(path, map_location="cpu", weights_only=True)


def _check_resume_matches(
    saved: dict, config: PretrainConfig, model: nn.Module, steps_per_epoch: int
) -> None:
    """Refuse to resume into a different model or a different data stream."""
    now = model.config.to_dict()
    before = saved["model_config"]
    changed = sorted(k for k in set(now) | set(before) if now.get(k) != before.get(k))
    if changed:
        details = ", ".join(f"{k}: {before.get(k)!r} -> {now.get(k)!r}" for k in changed)
        raise ValueError(
            f"cannot resume: the checkpoint's model differs from this config's ({details}); use the same "
            "settings or a new out_dir"
        )
    old = saved["config"]
    for key in ("dataset", "batch_size", "seed", "limit", "image_size"):
        if old.get(key) != getattr(config, key):
            raise ValueError(
                f"cannot resume: {key} was {old.get(key)!r} and is now {getattr(config, key)!r}; resuming "
                "needs the same data stream, so keep it or start a new out_dir"
            )
    if saved["steps_per_epoch"] != steps_per_epoch:
        raise ValueError(
            f"cannot resume: an epoch had {saved['steps_per_epoch']} steps and now has {steps_per_epoch}; "
            "keep the dataset options, limit and batch size of the original run"
        )


def _restore(state: TrainState, saved: dict) -> None:
    """Put a saved run back into ``state`` (model, optimizer, step, clock, history) after checking it fits."""
    _check_resume_matches(saved, state.config, state.model, state.steps_per_epoch)
    state.model.load_state_dict(saved["model"])
    state.optimizer.load_state_dict(saved["optimizer"])
    state.step, state.elapsed = int(saved["step"]), float(saved["elapsed"])
    state.history, state.epoch_log = list(saved["history"]), list(saved["epoch_log"])
    state.loss = state.history[-1]["loss"] if state.history else None


def _prepare_out_dir(config: PretrainConfig, out_dir: Path, resume: bool) -> None:
    """Create the run folder and write ``config.json``; a fresh run starts a fresh ``log.jsonl``."""
    if not resume and (out_dir / STATE_FILE).exists():
        warnings.warn(
            f"{out_dir} already holds a run; it will be overwritten (pass resume=True to continue it)",
            stacklevel=4,
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    config.save(out_dir / CONFIG_FILE)
    if not resume and (out_dir / LOG_FILE).exists():
        (out_dir / LOG_FILE).unlink()


def load_run(path: str | os.PathLike):
    """The model saved in a run folder written by :func:`pretrain` (or a checkpoint path without suffix)."""
    from .hub import load_checkpoint

    path = Path(path)
    if path.is_dir():
        path = path / MODEL_FILE
    if not path.with_suffix(".safetensors").is_file() and not path.is_file():
        raise FileNotFoundError(
            f"no checkpoint at {path}(.safetensors); pass a run folder written by pretrain() (it holds "
            f"{MODEL_FILE}.safetensors)"
        )
    return load_checkpoint(path)


# ---------------------------------------------------------------------------------------------
# the loop
# ---------------------------------------------------------------------------------------------
def _preview_images(config: PretrainConfig, image_size: int, channels: int) -> torch.Tensor | None:
    """``num_preview`` fixed validation images (train images when the dataset has no val split)."""
    if config.num_preview <= 0:
        return None
    options = {**config.dataset_options, "channels": channels}
    for split in ("val", "train"):
        try:
            return sample_images(
                config.dataset,
                n=config.num_preview,
                image_size=image_size,
                split=split,
                seed=config.seed,
                **options,
            )
        except (ValueError, FileNotFoundError):
            continue
    return None


def _check_finite(losses: list[torch.Tensor], first_step: int, state: TrainState) -> list[float]:
    """Move the pending losses to the host; raise :class:`LossNotFiniteError` at the first bad one."""
    values = torch.stack(losses).float().cpu().tolist()
    for offset, value in enumerate(values):
        if not math.isfinite(value):
            step = first_step + offset + 1  # steps count from 1, as in the history
            config = state.config
            if config.lr is not None:
                hint = f"lr={config.lr / 10:.2g}"
            else:
                hint = f"base_lr={config.base_lr / 10:.2g}"
            raise LossNotFiniteError(
                f"the loss became {value} at step {step} (epoch {(step - 1) // state.steps_per_epoch}, "
                f"lr {state.lr:.3g}); lower the learning rate (e.g. {hint}), or set clip_grad=1.0, "
                "and start again"
            )
    return values


def pretrain(config: PretrainConfig, callbacks: Iterable[Any] = (), resume: bool = False) -> PretrainResult:
    """Pretrain a masked autoencoder as ``config`` says; returns a :class:`PretrainResult`.

    Writes to ``config.out_dir`` (when set): ``config.json``, ``log.jsonl`` (one line per epoch),
    ``train_state.pt`` (to resume) and ``checkpoint.safetensors`` / ``checkpoint.json`` (the model),
    every ``checkpoint_every`` epochs and at the end. Ctrl-C (``KeyboardInterrupt``) writes a
    checkpoint and returns with ``interrupted=True``; ``resume=True`` continues from it.

    Under ``torchrun --nproc_per_node=N`` each process trains on its shard of every batch order with
    ``DistributedDataParallel``; only rank 0 writes files. ``batch_size`` is per process.

    Raises:
        LossNotFiniteError: the loss became NaN or infinite (the message names the step).
        FileNotFoundError: ``resume=True`` but ``out_dir`` holds no checkpoint.
        ValueError: bad settings, or resuming with a different model or data stream.
    """
    callbacks = list(callbacks)
    dist_info = _setup_distributed(config.device if config.device != "auto" else default_device().type)
    try:
        result = _pretrain(config, callbacks, resume, dist_info)
        if dist_info.world_size > 1:
            import torch.distributed as dist

            dist.barrier()  # every rank is done (rank 0 has written the checkpoint) before the group goes
        return result
    finally:
        if dist_info.owns_group:
            import torch.distributed as dist

            dist.destroy_process_group()


def _pretrain(
    config: PretrainConfig, callbacks: list, resume: bool, dist_info: _Distributed
) -> PretrainResult:
    device = _pick_device(config, dist_info)
    out_dir = Path(config.out_dir) if config.out_dir else None
    if resume and out_dir is None:
        raise ValueError("resume=True needs config.out_dir, the run folder to continue")
    state, loader = _setup_run(config, dist_info, device, out_dir)
    if resume:
        _restore(state, _load_state(out_dir))
    if out_dir is not None and dist_info.is_main:
        _prepare_out_dir(config, out_dir, resume)
    model = state.model
    forward = _wrap_model(model, config, dist_info, device)
    peak_lr = (
        config.lr if config.lr is not None else config.base_lr * config.batch_size * state.world_size / 256
    )

    interrupted, checkpoint = False, None
    progress_bar = _progress_bar(config, state, dist_info)
    model.train()
    _call(callbacks, "on_train_start", state)
    try:
        _run_epochs(
            state, forward, loader, _make_ratio_schedule(config), peak_lr, callbacks, progress_bar, device
        )
    except KeyboardInterrupt:
        interrupted = True
    finally:
        progress_bar.close()
    if out_dir is not None:
        checkpoint = _save_checkpoint(state, model, state.steps_per_epoch)
    if interrupted and dist_info.is_main:
        _say_interrupted(state, out_dir)
    model.eval()
    _call(callbacks, "on_train_end", state)
    return PretrainResult(
        model=model,
        history=state.history,
        out_dir=out_dir,
        config=config,
        epoch_log=state.epoch_log,
        steps=state.step,
        seconds=state.elapsed,
        interrupted=interrupted,
        checkpoint=checkpoint,
    )


def _setup_run(
    config: PretrainConfig, dist_info: _Distributed, device: torch.device, out_dir: Path | None
) -> tuple[TrainState, GPUResidentLoader]:
    """Data on the device, the model, its optimizer and a fresh :class:`TrainState`."""
    dataset = load_dataset(
        config.dataset,
        split="train",
        image_size=_resolve_image_size(config),
        seed=config.seed,
        limit=config.limit,
        **config.dataset_options,
    )
    image_size = int(dataset.image_size if isinstance(dataset.image_size, int) else dataset.image_size[0])
    loader = GPUResidentLoader(
        dataset,
        config.batch_size,
        device=device,
        augment=config.augment,
        seed=config.seed,
        crop_scale=config.crop_scale,
        flip=config.flip,
        rank=dist_info.rank,
        world_size=dist_info.world_size,
    )
    model = build_model(config, image_size, dataset.channels).to(device)
    optimizer = torch.optim.AdamW(param_groups(model, config.weight_decay), betas=config.betas)
    state = TrainState(
        config=config,
        model=model,
        optimizer=optimizer,
        total_steps=len(loader) * config.epochs,
        steps_per_epoch=len(loader),
        mask_ratio=config.mask_ratio,
        out_dir=out_dir,
        rank=dist_info.rank,
        world_size=dist_info.world_size,
    )
    preview = _preview_images(config, image_size, dataset.channels)
    state.preview_images = preview.to(device) if preview is not None else None
    return state, loader


def _say_interrupted(state: TrainState, out_dir: Path | None) -> None:
    if out_dir is None:
        print(f"Interrupted at step {state.step} of {state.total_steps} (no out_dir, nothing saved).")
    else:
        print(
            f"Interrupted at step {state.step} of {state.total_steps}; saved a checkpoint to {out_dir} — "
            "pretrain(config, resume=True) continues from it."
        )


def _wrap_model(model: nn.Module, config: PretrainConfig, dist_info: _Distributed, device: torch.device):
    """What the loop calls: the model, in DistributedDataParallel under torchrun, compiled if asked."""
    forward = model
    if dist_info.enabled:
        from torch.nn.parallel import DistributedDataParallel

        forward = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if config.compile:
        forward = torch.compile(forward)
    return forward


def _progress_bar(config: PretrainConfig, state: TrainState, dist_info: _Distributed):
    from tqdm.auto import tqdm

    quiet = {} if config.progress and dist_info.is_main else {"disable": True}  # else $TQDM_DISABLE decides
    return tqdm(
        total=state.total_steps,
        initial=state.step,
        unit="step",
        dynamic_ncols=True,
        desc=f"pretrain {config.model} on {config.dataset}",
        **quiet,
    )


class _LossWindow:
    """Losses of the last few steps, kept on the device and read back together (one host sync per window)."""

    def __init__(self, first_step: int):
        self.first_step = first_step
        self.losses: list[torch.Tensor] = []  # 0-d tensors, still on the device
        self.settings: list[tuple[float, float]] = []  # (lr, mask ratio) of each step
        self.clock = time.perf_counter()

    def __len__(self) -> int:
        return len(self.losses)

    def add(self, loss: torch.Tensor, lr: float, mask_ratio: float) -> None:
        self.losses.append(loss)
        self.settings.append((lr, mask_ratio))

    def flush(self, state: TrainState, epoch: int, batch_size: int) -> list[float]:
        """Read the losses back, stop on NaN/inf, append them to ``state.history``; start a new window."""
        if not self.losses:
            return []
        values = _check_finite(self.losses, self.first_step, state)
        seconds = max(time.perf_counter() - self.clock, 1e-9)
        state.images_per_sec = len(values) * batch_size * state.world_size / seconds
        for offset, (value, (lr, ratio)) in enumerate(zip(values, self.settings)):
            state.history.append(
                {
                    "step": self.first_step + offset + 1,
                    "epoch": epoch,
                    "loss": value,
                    "lr": lr,
                    "mask_ratio": ratio,
                }
            )
        state.loss = values[-1]
        self.__init__(state.step)
        return values


def _run_epochs(state, forward, loader, ratio_at, peak_lr, callbacks, progress_bar, device):
    """The training loop proper; returns when done, stopped, out of time, or on an exception."""
    config = state.config
    warmup_fraction = min(config.warmup_epochs / config.epochs, 1.0)
    sync_every = 1 if any(hasattr(c, "on_step_end") for c in callbacks) else config.log_every
    must_agree = state.world_size > 1 and (config.max_seconds is not None or bool(callbacks))
    start_epoch, start_batch = divmod(state.step, state.steps_per_epoch)
    clock_start = time.perf_counter() - state.elapsed
    for epoch in range(start_epoch, config.epochs):
        state.epoch = epoch
        epoch_losses: list[float] = []
        epoch_clock = time.perf_counter()
        window = _LossWindow(state.step)
        first_batch = start_batch if epoch == start_epoch else 0
        try:
            for batch_index, (images, _) in enumerate(loader.batches(epoch, first_batch), start=first_batch):
                state.lr = learning_rate(
                    _progress_for(state, state.step + 1), peak_lr, config.min_lr, warmup_fraction
                )
                state.mask_ratio = ratio_at(_progress_for(state, state.step, ratio=True))
                for group in state.optimizer.param_groups:
                    group["lr"] = state.lr
                window.add(_train_step(state, forward, images, device), state.lr, state.mask_ratio)
                state.step += 1
                state.elapsed = time.perf_counter() - clock_start
                last_of_epoch = batch_index == state.steps_per_epoch - 1
                if len(window) >= sync_every or last_of_epoch or state.stop or _out_of_time(state):
                    values = window.flush(state, epoch, images.shape[0])
                    epoch_losses.extend(values)
                    progress_bar.update(len(values))
                    progress_bar.set_postfix(loss=f"{state.loss:.4f}", img_s=f"{state.images_per_sec:.0f}")
                    _call(callbacks, "on_step_end", state)
                if must_agree:
                    _agree_with_rank_zero(state, device)
                if state.stop or _out_of_time(state):
                    break
        except KeyboardInterrupt:
            window.flush(state, epoch, config.batch_size)  # keep the losses of the steps that did happen
            raise
        _end_epoch(state, epoch, epoch_losses, time.perf_counter() - epoch_clock, callbacks)
        if state.stop or _out_of_time(state):
            return


def _agree_with_rank_zero(state: TrainState, device: torch.device) -> None:
    """Under DDP, adopt rank 0's clock and stop flag, so that every rank uses the same learning rate
    (the schedule follows the clock under ``max_seconds``) and all ranks stop after the same step."""
    import torch.distributed as dist

    shared = torch.tensor([state.elapsed, float(state.stop)], dtype=torch.float64, device=device)
    dist.broadcast(shared, src=0)
    state.elapsed, state.stop = float(shared[0]), bool(shared[1] > 0)


def _progress_for(state: TrainState, step: int, ratio: bool = False) -> float:
    """Run fraction at ``step``: ``step / total`` for the lr, ``step / (total - 1)`` for ratio schedules."""
    by_steps = step / max(state.total_steps - (1 if ratio else 0), 1)
    if state.config.max_seconds:
        return min(1.0, max(by_steps, state.elapsed / state.config.max_seconds))
    return by_steps


def _out_of_time(state: TrainState) -> bool:
    return bool(state.config.max_seconds) and state.elapsed >= state.config.max_seconds


def _train_step(state: TrainState, forward, images: torch.Tensor, device: torch.device) -> torch.Tensor:
    """One optimisation step on a batch ``[B, C, H, W]``; returns the loss as a 0-d tensor (no host sync).

    The mask comes from a generator seeded by ``(seed, step, rank)``, so a resumed run draws the same masks.
    """
    config, model = state.config, state.model
    use_amp = bool(config.amp) and device.type == "cuda"  # bf16 autocast: no loss scaling needed
    generator = _generator(config.seed, state.step, state.rank, 3_003)
    mask = model.make_mask(
        images.shape[0], config.masker, ratio=state.mask_ratio, generator=generator, **config.masker_options
    ).to(device)
    with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_amp):
        out = forward(images, mask=mask)
    state.optimizer.zero_grad(set_to_none=True)
    out.loss.backward()
    if config.clip_grad is not None:
        nn.utils.clip_grad_norm_(model.parameters(), config.clip_grad)
    state.optimizer.step()
    return out.loss.detach()


def _end_epoch(state: TrainState, epoch: int, losses: list[float], seconds: float, callbacks) -> None:
    """Log the epoch (``log.jsonl``), checkpoint every ``checkpoint_every`` epochs, call ``on_epoch_end``."""
    config = state.config
    finished = state.step % state.steps_per_epoch == 0 and state.step > 0
    if losses:
        done_in_epoch = state.step - epoch * state.steps_per_epoch  # steps of this epoch done so far
        record = {
            "epoch": epoch + done_in_epoch / state.steps_per_epoch,  # epoch + 1 once the epoch is complete
            "step": state.step,
            "loss": sum(losses) / len(losses),
            "lr": state.lr,
            "mask_ratio": state.mask_ratio,
            "images_per_sec": len(losses) * config.batch_size * state.world_size / max(seconds, 1e-9),
            "seconds": seconds,
            "elapsed": state.elapsed,
        }
        state.epoch_log.append(record)
        if state.out_dir is not None and state.rank == 0:
            with (state.out_dir / LOG_FILE).open("a") as handle:
                handle.write(json.dumps(record) + "\n")
    last = state.step >= state.total_steps
    if finished and not last and (epoch + 1) % config.checkpoint_every == 0:
        _save_checkpoint(state, state.model, state.steps_per_epoch)
    if finished:
        _call(callbacks, "on_epoch_end", state)
