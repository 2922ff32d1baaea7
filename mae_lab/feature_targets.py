"""Targets from a teacher: the student predicts a teacher's *features* of the hidden patches.

MAE predicts pixels.  A family of methods keeps MAE's recipe (hide patches, encode the visible
ones, predict something about the hidden ones) but asks for a **teacher network's features** of
the hidden patches instead, computed on the whole, unmasked image:

* data2vec (Baevski et al., 2022, "data2vec: A General Framework for Self-supervised Learning in
  Speech, Vision and Language") and iBOT (Zhou et al., 2022, "iBOT: Image BERT Pre-Training with
  Online Tokenizer"): the teacher is an exponential moving average (EMA) of the student itself;
  data2vec regresses the average of the teacher's top blocks, each normalised;
* dBOT (Liu et al., 2022, "Exploring Target Representations for Masked Autoencoders"): a *frozen*
  teacher, distilled in stages (each stage's student is the next stage's teacher); the paper finds
  that after a few stages the first teacher hardly matters -- even a randomly initialised one works;
* MaskAlign (Xue et al., 2023, "Stare at What You See: Masked Image Modeling without
  Reconstruction") and Gao et al. (2023, "Mimic before Reconstruct: Enhancing Masked Autoencoders
  with Feature Mimicking") align the student's features with a frozen teacher's (MaskAlign on the
  *visible* patches only).

The teacher's output never receives gradients (a stop-gradient): only the student learns.  A
target made of features is a choice of what to care about, as HOG was in lab 09, except that
here the choice is learned by another network.

:func:`train_student` trains the same small MAE with pixel, teacher-feature (frozen or EMA) or
token targets (BEiT; the tokenizer lives in :mod:`mae_lab.tokens`) on the same budget, so the
encoders can be compared fairly with the small probes at the end of this module.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .masking import make_mask
from .models import MaskedAutoencoder, get_preset
from .probe import knn_probe
from .schedules import one_cycle

__all__ = [
    "TARGET_KINDS",
    "StudentResult",
    "ema_decay_at",
    "ema_update",
    "encoder_features",
    "feature_loss",
    "few_label_accuracy",
    "image_tensors",
    "knn_accuracy",
    "linear_probe_accuracy",
    "make_student",
    "teacher_features",
    "train_student",
]

TARGET_KINDS = ("pixels", "teacher", "ema", "tokens")


# ---------------------------------------------------------------------------------------------
# the teacher's targets
# ---------------------------------------------------------------------------------------------
@torch.no_grad()
def teacher_features(teacher: MaskedAutoencoder, images: torch.Tensor, layers: int = 1,
                     norm: str = "layer") -> torch.Tensor:
    """The teacher's features of every patch of the *whole* image: ``[B, C, H, W] -> [B, N, D]``.

    The teacher's encoder sees every patch (no mask).  The patch tokens (class token dropped)
    after each of its last ``layers`` blocks are normalised and averaged, as data2vec does with its
    top blocks.  ``norm="layer"`` normalises each token over its ``D`` channels; ``norm="instance"``
    normalises each channel over the ``N`` patches of its image, so that no channel can be the
    same for every patch, and then each token of the average over its channels.  Both are
    parameter-free.  The result carries no gradient: the teacher is never trained by this loss.
    """
    depth = len(teacher.encoder.blocks)
    if not 1 <= int(layers) <= depth:
        raise ValueError(f"layers={layers} must be between 1 and the teacher's depth ({depth})")
    if norm not in ("layer", "instance"):
        raise ValueError(f"norm must be 'layer' or 'instance', got {norm!r}")
    x = teacher.encoder.add_cls_token(teacher.encoder.embed(teacher.normalize(images)))  # [B, 1+N, D]
    outputs = []
    for block in teacher.encoder.blocks:
        x, _ = block(x)  # [B, 1+N, D]
        outputs.append(x[:, 1:])  # [B, N, D] patch tokens only
    chosen = outputs[-int(layers):]
    if norm == "instance":  # each channel over the patches of one image: [B, D, N] for instance_norm
        chosen = [F.instance_norm(out.transpose(1, 2)).transpose(1, 2) for out in chosen]
    else:
        chosen = [F.layer_norm(out, out.shape[-1:]) for out in chosen]  # each token over its channels
    average = torch.stack(chosen).mean(dim=0)  # [B, N, D]
    return F.layer_norm(average, average.shape[-1:]) if norm == "instance" else average


def feature_loss(pred: torch.Tensor, target: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
    """Mean squared error between ``pred`` and the teacher's ``target`` on the **hidden** patches.

    ``pred``, ``target``: ``[B, N, D]``; ``hidden``: bool ``[B, N]`` (True = hidden).  The target
    is detached (stop-gradient), so even an EMA teacher that shares the student's graph is not
    pushed towards the student.
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must have the same shape")
    if hidden.shape != pred.shape[:2]:
        raise ValueError(f"hidden must be [B, N] = {list(pred.shape[:2])}, got {list(hidden.shape)}")
    per_patch = ((pred - target.detach()) ** 2).mean(dim=-1)  # [B, N]
    weights = hidden.to(per_patch.dtype)  # [B, N]
    return (per_patch * weights).sum() / weights.sum().clamp_min(1.0)


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, decay: float) -> None:
    """``teacher <- decay * teacher + (1 - decay) * student``, parameter by parameter, in place."""
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"decay must be in [0, 1], got {decay}")
    for t_param, s_param in zip(teacher.parameters(), student.parameters(), strict=True):
        t_param.lerp_(s_param.detach(), 1.0 - decay)


def ema_decay_at(step: int, steps: int, start: float = 0.99, end: float = 0.999) -> float:
    """data2vec's schedule: the EMA decay rises linearly from ``start`` to ``end`` over training."""
    progress = step / max(steps - 1, 1)
    return float(start + (end - start) * min(max(progress, 0.0), 1.0))


# ---------------------------------------------------------------------------------------------
# the student and its training loop
# ---------------------------------------------------------------------------------------------
def make_student(out_dim: int | None = None, preset: str = "mae_micro", seed: int = 0, **overrides: Any):
    """A fresh MAE from ``preset`` whose decoder predicts ``out_dim`` numbers per patch.

    ``out_dim=None`` keeps the pixel head.  Otherwise the decoder's last layer is swapped for a
    new ``Linear(decoder width, out_dim)``: ``model.decode(...)`` then returns ``[B, N, out_dim]``
    (call ``encode`` and ``decode`` yourself; ``model(images)`` would compare it with pixels).
    """
    model = MaskedAutoencoder(get_preset(preset, **overrides), seed=seed)
    if out_dim is not None:
        if int(out_dim) < 1:
            raise ValueError(f"out_dim must be a positive number of outputs per patch, got {out_dim}")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + 1)
            head = nn.Linear(model.decoder.pred.in_features, int(out_dim))
            nn.init.xavier_uniform_(head.weight)
            nn.init.zeros_(head.bias)
        model.decoder.pred = head
        model.target_dim = int(out_dim)
    return model


@dataclass
class StudentResult:
    """A trained student, what it learned from, and its loss at every step."""

    model: MaskedAutoencoder
    target: str
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    teacher: nn.Module | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        last = self.history[-1]["loss"] if self.history else float("nan")
        return f"StudentResult(target={self.target!r}, steps={len(self.history)}, last loss={last:.4f}, {self.seconds:.1f} s)"


def _check_target(target: str, teacher: Any, tokenizer: Any) -> None:
    if target not in TARGET_KINDS:
        raise ValueError(f"target must be one of {TARGET_KINDS}, got {target!r}")
    if target == "teacher" and teacher is None:
        raise ValueError("target='teacher' needs teacher= a MaskedAutoencoder, e.g. "
                         "mae_lab.load_model('mae_micro_digits', pretrained=True)")
    if target == "tokens" and tokenizer is None:
        raise ValueError("target='tokens' needs tokenizer= a mae_lab.tokens.PatchTokenizer (PatchTokenizer.fit(images))")


def train_student(
    images: torch.Tensor,
    target: str = "pixels",
    teacher: MaskedAutoencoder | None = None,
    tokenizer: Any = None,
    steps: int = 1000,
    batch_size: int = 128,
    lr: float = 1e-3,
    ratio: float = 0.75,
    layers: int = 1,
    norm: str = "layer",
    ema_decay: tuple[float, float] = (0.99, 0.999),
    preset: str = "mae_micro",
    seed: int = 0,
    **overrides: Any,
) -> StudentResult:
    """Train one MAE student on ``images [M, C, H, W]`` with one kind of target.

    Args:
        target: ``"pixels"`` (MAE), ``"teacher"`` (a frozen ``teacher``'s features: dBOT,
            MaskAlign-style distillation), ``"ema"`` (the features of an EMA copy of the student:
            data2vec) or ``"tokens"`` (the codes of ``tokenizer``, with cross-entropy: BEiT).
        teacher: the frozen teacher for ``target="teacher"`` (any MaskedAutoencoder on the same
            images); it is put in eval mode with ``requires_grad`` off, and never changes.
        tokenizer: for ``target="tokens"``: an object with ``encode(images) -> codes [B, N]`` and
            ``num_codes`` (a :class:`mae_lab.tokens.PatchTokenizer`).
        steps, batch_size, lr: the budget; compare targets with the same numbers.
        ratio: fraction of patches hidden (random masks from :func:`mae_lab.make_mask`).
        layers, norm: how many of the teacher's last blocks are averaged into the target, and
            how each is normalised (see :func:`teacher_features`).
        ema_decay: ``(start, end)`` of the EMA decay, annealed linearly (``target="ema"`` only).
        preset, seed, **overrides: the student's architecture and initialisation.
    """
    _check_target(target, teacher, tokenizer)
    if images.ndim != 4:
        raise ValueError(f"images must be [M, C, H, W], got shape {tuple(images.shape)}")
    if int(steps) < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    if target == "pixels":
        model = make_student(None, preset, seed, **overrides)
    elif target == "tokens":
        model = make_student(tokenizer.num_codes, preset, seed, **overrides)
    else:
        if target == "ema":  # the teacher starts as a copy of the (untrained) student
            teacher = make_student(None, preset, seed, **overrides)
        width = teacher.encoder.embed_dim
        model = make_student(width, preset, seed, **overrides)
        if target == "ema":
            teacher.encoder.load_state_dict(model.encoder.state_dict())
        teacher = teacher.eval().requires_grad_(False)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05, betas=(0.9, 0.95))
    schedule = one_cycle(optimizer, lr, steps, warmup=0.05)
    data_gen = torch.Generator().manual_seed(seed)  # which images
    mask_gen = torch.Generator().manual_seed(seed + 1)  # which patches
    history = []
    start = time.perf_counter()
    # a frozen teacher's features and the tokenizer's codes never change: compute them once, not every step
    if target == "teacher":
        parts = [teacher_features(teacher, x, layers, norm) for x in images.split(512)]
        fixed_targets = torch.cat(parts)  # [M, N, D]
    elif target == "tokens":
        fixed_targets = torch.cat([tokenizer.encode(chunk) for chunk in images.split(512)])  # [M, N] long
    model.train()
    for step in range(steps):
        index = torch.randint(0, len(images), (batch_size,), generator=data_gen)  # [B]
        batch = images[index]  # [B, C, H, W]
        mask = make_mask("random", batch_size, grid=model.grid, ratio=ratio, generator=mask_gen)
        hidden = mask.hidden  # [B, N] True = hidden
        pred = model.decode(model.encode(batch, mask), mask)  # [B, N, out]
        if target == "pixels":
            loss = model.loss(model.target(batch), pred, mask)  # MAE: MSE on hidden pixels
        elif target == "tokens":
            codes = fixed_targets[index]  # [B, N] long
            loss = F.cross_entropy(pred[hidden], codes[hidden])  # BEiT: which code is hidden there?
        else:
            if target == "teacher":
                features = fixed_targets[index]  # [B, N, D]
            else:  # the EMA teacher moves every step
                features = teacher_features(teacher, batch, layers, norm)
            loss = feature_loss(pred, features, hidden)  # [B, N, D] targets, only the hidden ones count
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        row = {"step": step, "loss": loss.item()}
        if target == "ema":  # the teacher follows the student's encoder, slowly
            row["decay"] = ema_decay_at(step, steps, *ema_decay)
            ema_update(teacher.encoder, model.encoder, row["decay"])
        history.append(row)
    model.eval()
    return StudentResult(model, target, history, time.perf_counter() - start, teacher if target != "pixels" else None)


# ---------------------------------------------------------------------------------------------
# small probes (kNN and logistic regression on frozen features)
# ---------------------------------------------------------------------------------------------
def image_tensors(dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """All of a dataset's ``(image, label)`` items as ``(images [M, C, H, W], labels [M])``."""
    items = [dataset[i] for i in range(len(dataset))]
    if not items:
        raise ValueError("the dataset is empty")
    return torch.stack([torch.as_tensor(x) for x, _ in items]), torch.tensor([int(y) for _, y in items])


@torch.no_grad()
def encoder_features(model: MaskedAutoencoder | None, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Mean-pooled patch features of the unmasked encoder, ``[M, D]``; ``model=None``: raw pixels ``[M, C*H*W]``."""
    if model is None:
        return images.flatten(1).float()
    model.eval()
    return torch.cat([model.features(images[i:i + batch_size], pool="mean") for i in range(0, len(images), batch_size)])


def knn_accuracy(train_x, train_y, test_x, test_y, k: int = 20, temperature: float = 0.07) -> float:
    """Weighted kNN on cosine similarity (DINO's probe: ``k=20``, ``T=0.07``); ``k=1`` is plain nearest neighbour.

    The vote is :func:`mae_lab.probe.knn_probe`'s, the one kNN of the package.
    """
    return knn_probe(train_x, train_y, test_x, test_y, k=k, temperature=temperature)


def linear_probe_accuracy(train_x, train_y, test_x, test_y, weight_decay: float = 1e-3, epochs: int = 200) -> float:
    """Logistic regression on standardised frozen features (full-batch L-BFGS), test accuracy.

    Standardising with the training features' mean and spread plays the role of MAE's
    BatchNorm-without-affine before its linear probe.
    """
    mean, std = train_x.mean(0), train_x.std(0).clamp_min(1e-6)
    a, b = (train_x - mean) / std, (test_x - mean) / std  # [M, D] each
    num_classes = int(max(train_y.max(), test_y.max())) + 1
    with torch.random.fork_rng(devices=[]), torch.enable_grad():
        torch.manual_seed(0)
        head = nn.Linear(a.shape[1], num_classes)
        optimizer = torch.optim.LBFGS(head.parameters(), lr=1.0, max_iter=epochs, history_size=20,
                                      line_search_fn="strong_wolfe")

        def closure():
            optimizer.zero_grad()
            loss = F.cross_entropy(head(a), train_y) + weight_decay * head.weight.pow(2).sum()
            loss.backward()
            return loss

        optimizer.step(closure)
    with torch.no_grad():
        return float((head(b).argmax(dim=1) == test_y).float().mean())


def few_label_accuracy(train_x, train_y, test_x, test_y, labels_per_class: int, method: str = "linear",
                       draws: int = 5, seed: int = 0) -> float:
    """Mean test accuracy over ``draws`` random training subsets with ``labels_per_class`` images per class."""
    if method not in ("knn", "linear"):
        raise ValueError(f"method must be 'knn' or 'linear', got {method!r}")
    gen = torch.Generator().manual_seed(seed)
    scores = []
    for _ in range(draws):
        chosen = []
        for label in train_y.unique():
            members = torch.nonzero(train_y == label).flatten()  # [M_c]
            if len(members) < labels_per_class:
                raise ValueError(f"class {int(label)} has only {len(members)} training images, "
                                 f"fewer than labels_per_class={labels_per_class}")
            chosen.append(members[torch.randperm(len(members), generator=gen)[:labels_per_class]])
        idx = torch.cat(chosen)
        if method == "knn":
            scores.append(knn_accuracy(train_x[idx], train_y[idx], test_x, test_y, k=min(20, len(idx))))
        else:
            scores.append(linear_probe_accuracy(train_x[idx], train_y[idx], test_x, test_y))
    return float(sum(scores) / len(scores))
