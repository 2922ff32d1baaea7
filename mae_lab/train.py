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

Everything random is drawn from generators seeded by ``(config.seed, step, ..., stream)``: the data
order, the augmentations, the masks and the weight initialisation. That is why a run interrupted and
resumed (``pretrain(config, resume=True)``) ends with *bit-identical* weights to a run that was
never stopped, on the same machine.

Callbacks are any objects with some of ``on_train_start(state)``, ``on_step_end(state)``,
``on_epoch_end(state)``, ``on_train_end(state)``; ``state`` is a :class:`TrainState`. A callback
may set ``state.stop = True`` to end the run cleanly (a checkpoint is written).

The loop is :func:`pretrain`; the plumbing it calls (DDP, the run folder and its lock, the loss
window) lives in :mod:`mae_lab.train_support`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .checkpoints import RUN_MODEL_FILE, load_model
from .data import GPUResidentLoader, load_dataset, sample_images
from .models import MaskedAutoencoder, get_preset
from .schedules import make_schedule, warmup_cosine
from .train_support import (
    CONFIG_FILE,
    LOG_FILE,
    STATE_FILE,
    CheckpointWriteError,
    Distributed,
    LossNotFiniteError,
    LossWindow,
    RunFolder,
    RunLockedError,
    call_hook,
    check_resume_matches,
    pick_device,
    wrap_model,
)
from .utils import Stream, atomic_write, deprecated_alias, generator, suggest

__all__ = [
    "CONFIG_FILE",
    "LOG_FILE",
    "MODEL_FILE",
    "STATE_FILE",
    "CheckpointWriteError",
    "LossNotFiniteError",
    "PretrainConfig",
    "PretrainResult",
    "RunLockedError",
    "TrainState",
    "build_model",
    "learning_rate",
    "load_run",
    "param_groups",
    "pretrain",
    "run_config",
]

MODEL_FILE = RUN_MODEL_FILE  # the model alone: checkpoint.safetensors + checkpoint.json
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}  # what a time budget counts


# ---------------------------------------------------------------------------------------------
# configuration
# ---------------------------------------------------------------------------------------------
# ---------------------------------------------------------------------------------------------
@dataclass
class PretrainConfig:
    """Everything one pretraining run needs; ``to_dict``/``from_dict``/``save``/``load`` round-trip JSON.

    Data:
        dataset, dataset_options: ``load_dataset(dataset, **dataset_options)`` (e.g. ``{"channels": 3}``).
        image_size: pixels per side; ``None`` keeps the dataset's own.
        limit: train on a random subset of this many images (quick runs and tests).
        augment, crop_scale, flip: random resized crop (area fraction in ``crop_scale``) and flip.
    Model:
        model: a preset name (``"mae_micro"``, ``"mae_tiny"``, ...); its ``image_size`` and ``channels``
            follow the data. model_overrides: other :class:`~mae_lab.models.MAEConfig` fields.
        target: what to reconstruct (``"pixels"``, ``"norm_pixels"``, ``"hog"``, ...); ``None``: the preset's.
        ``model_overrides={"design": "simmim"}`` or ``{"design": "mfm"}`` trains SimMIM or masked frequency
        modeling with the same loop.
    Masking:
        masker, masker_options: a strategy from :func:`mae_lab.list_maskers` and its options. For an MFM
            model the masker names the filter (``"random"``: low- or high-pass per image, ``"low_pass"``,
            ``"high_pass"``; option ``radius``) and the mask ratio does not apply.
        mask_ratio: fraction of patches hidden. ratio_schedule: keyword arguments of
            :func:`mae_lab.masking.make_schedule` (e.g. ``{"kind": "linear", "start": 0.9, "end": 0.6}``)
            to change the ratio over training; ``None`` keeps ``mask_ratio``.
        ratio_range: ``(low, high)``: every step draws its ratio uniformly from this range instead (a
            variable masking ratio, as MAGE does — Li et al., 2023), so one model reconstructs well at
            any ratio, not just the one it was trained at; ``None`` keeps ``mask_ratio``.
    Optimisation:
        epochs, batch_size (per process), base_lr (``lr = base_lr × global batch / 256``), lr (overrides
        the scaling), weight_decay, betas, warmup_epochs, min_lr, clip_grad (max gradient norm or None).
        max_seconds: stop after this many seconds of training; the schedules then follow the clock.
        clock: what ``max_seconds`` counts: ``"wall"`` (seconds on the wall clock) or ``"cpu"`` (CPU
            seconds of this process, all threads together: a budget that other programs on the machine
            cannot eat into, for comparing recipes by quality per CPU-minute).
    Running:
        seed, device (``"auto"``, ``"cpu"``, ``"cuda"``), amp (bf16 autocast on CUDA), cpu_bf16 (bf16
        autocast on the CPU too: on one AMD EPYC core it made ``mae_tiny``, width 192, 55 % faster and the
        96-wide Fashion-MNIST body 26 % slower — measure with ``benchmarks/train_throughput.py --levers``),
        compile (``torch.compile``; on that CPU within 2 % either way), out_dir (None: write nothing), checkpoint_every (epochs), num_preview (fixed
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
    ratio_range: tuple[float, float] | None = None
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
    clock: str = "wall"
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    cpu_bf16: bool = False
    compile: bool = False
    out_dir: str | None = None
    checkpoint_every: int = 1
    num_preview: int = 8
    log_every: int = 20
    progress: bool = True

    def __post_init__(self) -> None:
        self._check_types()
        self.crop_scale = tuple(float(v) for v in self.crop_scale)
        if self.ratio_range is not None:
            self.ratio_range = tuple(float(v) for v in self.ratio_range)
        self._take_image_size_from_overrides()
        self.betas = tuple(float(v) for v in self.betas)
        if self.out_dir is not None:
            self.out_dir = str(self.out_dir)
        self.validate()

    def _take_image_size_from_overrides(self) -> None:
        """The image size belongs to the data (``image_size``); older configs set it in ``model_overrides``."""
        self.model_overrides = dict(self.model_overrides)
        for key in ("image_size", "img_size"):
            if key in self.model_overrides:
                value = int(self.model_overrides.pop(key))
                deprecated_alias(f"model_overrides[{key!r}]", "PretrainConfig(image_size=...)", stacklevel=5)
                if self.image_size is not None and int(self.image_size) != value:
                    raise ValueError(f"image_size={self.image_size} but model_overrides sets {key}={value}; give "
                                     "only image_size")
                self.image_size = value
        for key in ("channels", "in_chans"):
            if key in self.model_overrides:
                raise ValueError(f"model_overrides sets {key}, but the channels follow the data; pass "
                                 "dataset_options={'channels': ...} instead")

    def _check_types(self) -> None:
        """Raise ``ValueError`` naming the first field whose value is not of its declared kind (from the
        annotations: ``int``, ``float``, ``bool``, ``str``, ``dict``, a pair of floats, each maybe ``None``)."""
        kinds = {"int": "a whole number", "float": "a finite number", "bool": "True or False", "str": "a string",
                 "dict": "a dict", "tuple[float, float]": "a pair of numbers"}

        def number(v: Any) -> bool:
            return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

        checks = {"int": lambda v: number(v) and float(v).is_integer(), "float": number,
                  "bool": lambda v: isinstance(v, bool), "str": lambda v: isinstance(v, str),
                  "dict": lambda v: isinstance(v, dict),
                  "tuple[float, float]": lambda v: isinstance(v, (tuple, list)) and len(v) == 2 and all(map(number, v))}
        for item in dataclasses.fields(self):
            value, kind = getattr(self, item.name), str(item.type).replace(" | None", "")
            if kind not in checks or (value is None and "None" in str(item.type)):
                continue
            if item.name == "out_dir" and isinstance(value, os.PathLike):
                continue
            if not checks[kind](value):
                maybe = " or None" if "None" in str(item.type) else ""
                raise ValueError(f"PretrainConfig.{item.name} must be {kinds[kind]}{maybe}, got {value!r}")
            if kind == "int":
                setattr(self, item.name, int(value))

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
                self.ratio_range is None or (len(self.ratio_range) == 2 and 0 <= self.ratio_range[0]
                                             <= self.ratio_range[1] < 1),
                f"ratio_range must be (low, high) with 0 <= low <= high < 1, got {self.ratio_range}",
            ),
            (self.ratio_range is None or self.ratio_schedule is None,
             "give ratio_range or ratio_schedule, not both"),
            (self.clock in CLOCKS, f"clock must be one of {', '.join(CLOCKS)}, got {self.clock!r}"),
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
            hints = "".join(suggest(key, names, n=1) for key in unknown)
            raise ValueError(f"PretrainConfig has no field(s) {unknown}.{hints} Fields: {', '.join(names)}")
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> PretrainConfig:
        return cls.from_dict(json.loads(text))

    def save(self, path: str | os.PathLike) -> Path:
        return atomic_write(path, self.to_json())

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
        return self.progress_at(self.step)

    def progress_at(self, step: int, last: int | None = None) -> float:
        """``step / last`` (``last`` defaults to the total steps), or the clock's share of ``max_seconds``
        when that is further along: under a time budget the schedules follow the clock."""
        by_steps = step / max(self.total_steps if last is None else last, 1)
        if self.config.max_seconds:
            return min(1.0, max(by_steps, self.elapsed / self.config.max_seconds))
        return min(by_steps, 1.0)

    @property
    def out_of_time(self) -> bool:
        return bool(self.config.max_seconds) and self.elapsed >= self.config.max_seconds


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





# ---------------------------------------------------------------------------------------------
# building blocks
# ---------------------------------------------------------------------------------------------
def build_model(config: PretrainConfig, image_size: int, channels: int) -> MaskedAutoencoder:
    """The :class:`~mae_lab.models.MaskedAutoencoder` for ``config`` and data of this size and channels.

    The weights are initialised from ``config.seed``.
    """
    overrides = {**config.model_overrides, "image_size": int(image_size), "channels": int(channels)}
    if config.target is not None:
        overrides["target"] = config.target
    patch = int(overrides.get("patch_size", get_preset(config.model).patch_size))
    if image_size % patch:
        low = image_size // patch * patch
        raise ValueError(
            f"image_size {image_size} is not a multiple of {config.model}'s patch size {patch}; "
            f"use image_size={low or patch} or {low + patch}, or override patch_size"
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


def learning_rate(progress: float, peak: float, minimum: float, warmup_fraction: float) -> float:
    """Deprecated: :func:`mae_lab.schedules.warmup_cosine` (same arguments)."""
    deprecated_alias("mae_lab.train.learning_rate", "mae_lab.schedules.warmup_cosine")
    return warmup_cosine(progress, peak, minimum, warmup_fraction)


def _mask_ratio(config: PretrainConfig) -> Callable[[float, torch.Generator], float]:
    """``(progress, the step's mask generator) -> mask ratio``: the constant ``mask_ratio``, a
    :func:`mae_lab.schedules.make_schedule` of progress, or a draw from ``ratio_range`` for every step."""
    if config.ratio_range is not None:
        low, high = config.ratio_range
        return lambda progress, draws: low + (high - low) * float(torch.rand(1, generator=draws))
    if config.ratio_schedule is not None:
        schedule = make_schedule(**config.ratio_schedule)
        return lambda progress, draws: float(schedule(progress))
    return lambda progress, draws: config.mask_ratio


def _preview_images(config: PretrainConfig, image_size: int, channels: int) -> torch.Tensor | None:
    """``num_preview`` fixed test images (train images when the dataset has no test split)."""
    if config.num_preview <= 0:
        return None
    options = {**config.dataset_options, "channels": channels}
    for split in ("test", "train"):
        try:
            return sample_images(config.dataset, n=config.num_preview, image_size=image_size, split=split,
                                 seed=config.seed, **options)
        except (ValueError, FileNotFoundError):
            continue
    return None


def _lr_hint(config: PretrainConfig) -> str:
    return f"lr={config.lr / 10:.2g}" if config.lr is not None else f"base_lr={config.base_lr / 10:.2g}"


def run_config(model: MaskedAutoencoder) -> PretrainConfig | None:
    """The config ``model`` was pretrained with (its checkpoint records it), or ``None``."""
    saved = (getattr(model, "metadata", None) or {}).get("pretrain_config")
    return PretrainConfig.from_dict(saved) if saved else None


def load_run(path: str | os.PathLike) -> MaskedAutoencoder:
    """The model saved in a run folder written by :func:`pretrain` (see :func:`mae_lab.load_model`)."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is not a run folder; pass the out_dir of a pretrain() run")
    return load_model(path)


# ---------------------------------------------------------------------------------------------
# the loop
# ---------------------------------------------------------------------------------------------
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
        RunLockedError: another process is writing ``out_dir``.
        CheckpointWriteError: a checkpoint could not be written (e.g. a full disk); the previous one is intact.
        FileNotFoundError: ``resume=True`` but ``out_dir`` holds no checkpoint.
        ValueError: bad settings, or resuming with a different model or data stream.
    """
    if resume and config.out_dir is None:
        raise ValueError("resume=True needs config.out_dir, the run folder to continue")
    callbacks = list(callbacks)
    ddp = Distributed.join(config.device)
    folder = RunFolder(config.out_dir, writer=ddp.is_main) if config.out_dir else None
    try:
        if folder is None:
            result = _train(config, callbacks, resume, ddp, None)
        else:
            with folder:  # one writer per run folder: a second one is refused here
                result = _train(config, callbacks, resume, ddp, folder)
        ddp.barrier()  # every rank is done (rank 0 has written the checkpoint) before the group goes
        return result
    finally:
        ddp.leave()


def _train(config: PretrainConfig, callbacks: list, resume: bool, ddp: Distributed,
           folder: RunFolder | None) -> PretrainResult:
    device = pick_device(config.device, ddp)
    # data: the whole set on the device, cropped and flipped there, each rank its own shard
    dataset = load_dataset(config.dataset, split="train", image_size=config.image_size, seed=config.seed,
                           limit=config.limit, **config.dataset_options)
    loader = GPUResidentLoader(dataset, config.batch_size, device=device, augment=config.augment,
                               seed=config.seed, crop_scale=config.crop_scale, flip=config.flip,
                               rank=ddp.rank, world_size=ddp.world_size)
    image_size = loader.images.shape[-1]
    # model and optimizer
    model = build_model(config, image_size, dataset.channels).to(device)
    optimizer = torch.optim.AdamW(param_groups(model, config.weight_decay), betas=config.betas)
    state = TrainState(config=config, model=model, optimizer=optimizer, total_steps=len(loader) * config.epochs,
                       steps_per_epoch=len(loader), mask_ratio=config.mask_ratio, rank=ddp.rank,
                       world_size=ddp.world_size, out_dir=folder.path if folder else None)
    preview = _preview_images(config, image_size, dataset.channels)
    state.preview_images = preview.to(device) if preview is not None else None
    # resume: weights, optimizer, step, clock and history, after checking that they fit
    if resume:
        saved = folder.load_state()
        check_resume_matches(saved, config.to_dict(), model.config.to_dict(), state.steps_per_epoch)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        state.step, state.elapsed = int(saved["step"]), float(saved["elapsed"])
        state.history, state.epoch_log = list(saved["history"]), list(saved["epoch_log"])
        state.loss = state.history[-1]["loss"] if state.history else None
    if folder is not None:
        folder.start(config.to_dict(), resume, state.epoch_log)
    # DDP wraps the model (one gradient all-reduce per step); torch.compile if asked
    forward = wrap_model(model, ddp, device, compile=config.compile)
    peak_lr = config.lr if config.lr is not None else config.base_lr * config.batch_size * ddp.world_size / 256
    warmup = min(config.warmup_epochs / config.epochs, 1.0)
    ratio_at = _mask_ratio(config)
    use_amp = (config.amp and device.type == "cuda") or (config.cpu_bf16 and device.type == "cpu")  # bf16: no loss scaling
    sync_every = 1 if any(hasattr(c, "on_step_end") for c in callbacks) else config.log_every
    must_agree = ddp.enabled and (config.max_seconds is not None or bool(callbacks))
    bar = _progress_bar(config, state, ddp)
    clock = CLOCKS[config.clock]
    clock_start = clock() - state.elapsed
    interrupted = False
    model.train()
    call_hook(callbacks, "on_train_start", state)
    try:
        while state.step < state.total_steps and not (state.stop or state.out_of_time):
            epoch, first_batch = divmod(state.step, state.steps_per_epoch)
            state.epoch, window, epoch_losses, epoch_clock = epoch, LossWindow(state.step), [], time.perf_counter()
            try:
                for images, _ in loader.batches(epoch, first_batch):
                    # schedules: the lr and the mask ratio follow the run's progress (steps, or the clock)
                    state.lr = warmup_cosine(state.progress_at(state.step + 1), peak_lr, config.min_lr, warmup)
                    for group in optimizer.param_groups:
                        group["lr"] = state.lr
                    # one step: a seeded mask, forward (bf16 on a GPU), loss on hidden patches, backward, AdamW
                    draws = generator(config.seed, state.step, ddp.rank, Stream.MASK)
                    state.mask_ratio = ratio_at(state.progress_at(state.step, state.total_steps - 1), draws)
                    mask = model.make_mask(len(images), config.masker, ratio=state.mask_ratio, generator=draws,
                                           **config.masker_options).to(device)
                    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                        loss = forward(images, mask=mask).loss
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    if config.clip_grad is not None:
                        nn.utils.clip_grad_norm_(model.parameters(), config.clip_grad)
                    optimizer.step()
                    state.step += 1
                    state.elapsed = clock() - clock_start
                    window.add(loss.detach(), state.lr, state.mask_ratio)
                    # log: read the losses back every few steps (one host sync), stop on NaN
                    end_of_epoch = state.step % state.steps_per_epoch == 0
                    if len(window) >= sync_every or end_of_epoch or state.stop or state.out_of_time:
                        values = window.flush(state, epoch, len(images) * ddp.world_size, _lr_hint(config))
                        epoch_losses += values
                        bar.update(len(values))
                        bar.set_postfix(loss=f"{state.loss:.4f}", img_s=f"{state.images_per_sec:.0f}")
                        call_hook(callbacks, "on_step_end", state)
                    # DDP: every rank takes rank 0's clock and stop flag, so all stop after the same step
                    if must_agree:
                        ddp.share_clock_and_stop(state, device)
                    # time budget, or a callback asked to stop
                    if state.stop or state.out_of_time:
                        break
            except KeyboardInterrupt:
                window.flush(state, epoch, config.batch_size * ddp.world_size, _lr_hint(config))
                raise
            _end_epoch(state, epoch, epoch_losses, time.perf_counter() - epoch_clock, folder, callbacks)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
    # checkpoint: train_state.pt to resume, checkpoint.safetensors + .json for the model
    checkpoint = folder.save(state) if folder is not None else None
    if interrupted and ddp.is_main:
        where = "no out_dir, nothing saved" if folder is None else (
            f"saved a checkpoint to {folder.path} — pretrain(config, resume=True) continues from it")
        print(f"Interrupted at step {state.step} of {state.total_steps}; {where}.")
    model.eval()
    call_hook(callbacks, "on_train_end", state)
    return PretrainResult(model=model, history=state.history, out_dir=state.out_dir, config=config,
                          epoch_log=state.epoch_log, steps=state.step, seconds=state.elapsed,
                          interrupted=interrupted, checkpoint=checkpoint)


def _end_epoch(state: TrainState, epoch: int, losses: list[float], seconds: float, folder: RunFolder | None,
               callbacks: list) -> None:
    """Log the epoch (``log.jsonl``), checkpoint every ``checkpoint_every`` epochs, call ``on_epoch_end``."""
    config = state.config
    finished = state.step > 0 and state.step % state.steps_per_epoch == 0
    if losses:
        record = {
            "epoch": epoch + (state.step - epoch * state.steps_per_epoch) / state.steps_per_epoch,
            "step": state.step,
            "loss": sum(losses) / len(losses),
            "lr": state.lr,
            "mask_ratio": state.mask_ratio,
            "images_per_sec": len(losses) * config.batch_size * state.world_size / max(seconds, 1e-9),
            "seconds": seconds,
            "elapsed": state.elapsed,
        }
        state.epoch_log.append(record)
        if folder is not None:
            folder.append_log(record)
    if finished and state.step < state.total_steps and (epoch + 1) % config.checkpoint_every == 0 and folder:
        folder.save(state)
    if finished:
        call_hook(callbacks, "on_epoch_end", state)


def _progress_bar(config: PretrainConfig, state: TrainState, ddp: Distributed):
    from tqdm.auto import tqdm

    quiet = {} if config.progress and ddp.is_main else {"disable": True}  # else $TQDM_DISABLE decides
    return tqdm(total=state.total_steps, initial=state.step, unit="step", dynamic_ncols=True,
                desc=f"pretrain {config.model} on {config.dataset}", **quiet)
