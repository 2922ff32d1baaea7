"""Fine-tuning: the whole encoder plus a linear head, trained on labels — MAE's main evaluation.

He et al., "Masked Autoencoders Are Scalable Vision Learners" (2021), judge a pretrained encoder
mostly by fine-tuning it: AdamW, a warm-up then cosine learning rate, *layer-wise learning-rate
decay* (blocks near the input change less than those near the head), label smoothing and
augmentation. :func:`finetune` follows that recipe at small scale.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from .data import GPUResidentLoader, image_batches
from .schedules import warmup_cosine
from .utils import module_device

__all__ = ["FinetuneClassifier", "count_classes", "finetune", "layer_decay_groups"]


def count_classes(*labels: torch.Tensor) -> int:
    """The number of classes: one more than the largest label seen."""
    return int(max(int(y.max()) for y in labels if len(y)) + 1)


class FinetuneClassifier(nn.Module):
    """A copy of the MAE's encoder plus a linear head: ``images [B, C, H, W] -> logits [B, classes]``."""

    def __init__(self, model: nn.Module, num_classes: int, pool: str = "mean"):
        super().__init__()
        self.backbone = copy.deepcopy(model)
        for name, param in self.backbone.named_parameters():
            param.requires_grad_(not name.startswith("decoder") and name != "mask_token")
        dim = self.backbone.config.embed_dim
        self.head = nn.Linear(dim, num_classes)
        nn.init.trunc_normal_(self.head.weight, std=2e-5)  # MAE's head initialisation
        nn.init.zeros_(self.head.bias)
        self.pool = pool

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone.features(images, pool=self.pool))  # [B, classes]


def _layer_id(name: str, depth: int) -> int:
    """0 for the patch embedding and tokens, ``i + 1`` for encoder block ``i``, ``depth + 1`` for the rest."""
    if any(part in name for part in ("patch_embed", "cls_token", "pos_embed")):
        return 0
    match = re.search(r"encoder\.blocks\.(\d+)\.", name)
    return int(match.group(1)) + 1 if match else depth + 1


def layer_decay_groups(
    classifier: FinetuneClassifier, weight_decay: float, layer_decay: float | None
) -> list[dict[str, Any]]:
    """Optimizer groups with MAE's layer-wise lr decay: layer ``l`` gets ``layer_decay ** (depth + 1 - l)``"""
    depth = classifier.backbone.config.depth
    groups: dict[tuple[int, bool], dict[str, Any]] = {}
    for name, param in classifier.named_parameters():
        if not param.requires_grad:
            continue
        layer = _layer_id(name, depth)
        no_decay = param.ndim <= 1 or name.endswith(("cls_token", "pos_embed"))
        scale = 1.0 if layer_decay is None else layer_decay ** (depth + 1 - layer)
        group = groups.setdefault(
            (layer, no_decay),
            {"params": [], "lr_scale": scale, "weight_decay": 0.0 if no_decay else weight_decay},
        )
        group["params"].append(param)
    return list(groups.values())


@torch.no_grad()
def _accuracy(classifier: nn.Module, dataset: Any, batch_size: int, device: torch.device) -> float:
    classifier.eval()
    correct = total = 0
    for images, labels in image_batches(dataset, batch_size):
        logits = classifier(images.to(device))
        correct += int((logits.argmax(1).cpu() == labels.long()).sum())
        total += len(labels)
    return correct / max(total, 1)


def finetune(
    model: nn.Module,
    train_set: Dataset,
    test_set: Dataset,
    epochs: int = 10,
    batch_size: int = 128,
    base_lr: float = 1e-3,
    lr: float | None = None,
    layer_decay: float | None = 0.75,
    weight_decay: float = 0.05,
    warmup_epochs: float = 1.0,
    label_smoothing: float = 0.1,
    pool: str = "mean",
    augment: bool = True,
    flip: bool = True,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool = False,
    return_classifier: bool = False,
) -> float | tuple[float, FinetuneClassifier]:
    """Fine-tune a copy of the encoder with a linear head; returns the val accuracy (in [0, 1]).

    The recipe follows MAE's fine-tuning at small scale: AdamW, ``lr = base_lr × batch / 256``, warm-up
    then cosine decay, layer-wise lr decay (``layer_decay=None`` turns it off), label smoothing, random
    resized crop and flip on the device. ``model`` itself is not changed. With
    ``return_classifier=True`` returns ``(accuracy, classifier)``.
    """
    device = torch.device(device) if device is not None else module_device(model)
    num_classes = int(getattr(train_set, "num_classes", 0) or count_classes(torch.as_tensor(train_set.labels)))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        classifier = FinetuneClassifier(model, num_classes, pool=pool).to(device)
    loader = GPUResidentLoader(
        train_set,
        batch_size,
        device=device,
        augment=augment,
        seed=seed,
        flip=flip,
        drop_last=len(train_set) >= batch_size,
    )
    classifier.backbone.encoder.patch_embed.check_images(loader.images[:1])
    peak = lr if lr is not None else base_lr * batch_size / 256
    groups = layer_decay_groups(classifier, weight_decay, layer_decay)
    optimizer = torch.optim.AdamW(groups, lr=peak, betas=(0.9, 0.999))
    total = epochs * len(loader)
    use_amp = device.type == "cuda"
    step = 0
    bar = tqdm(total=total, desc="fine-tune", unit="step", **({} if progress else {"disable": True}))
    for epoch in range(epochs):
        classifier.train()
        for images, labels in loader.batches(epoch):
            step += 1
            current = warmup_cosine(step / total, peak, 1e-6, min(warmup_epochs / max(epochs, 1), 1.0))
            for group in optimizer.param_groups:
                group["lr"] = current * group["lr_scale"]
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                logits = classifier(images)
            loss = F.cross_entropy(logits.float(), labels, label_smoothing=label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            bar.update(1)
    bar.close()
    accuracy = _accuracy(classifier, test_set, 256, device)
    return (accuracy, classifier) if return_classifier else accuracy
