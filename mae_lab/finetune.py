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
from .utils import as_device, module_device

__all__ = ["FinetuneClassifier", "count_classes", "finetune", "fit_linear_head", "layer_decay_groups"]


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


def fit_linear_head(features: torch.Tensor, labels: torch.Tensor, num_classes: int, weight_decay: float = 1e-3,
                    iterations: int = 200) -> nn.Linear:
    """Logistic regression ``Linear(D, classes)`` on frozen features ``[M, D]``, fitted with L-BFGS.

    The start of "LP-FT" (Kumar et al., 2022, "Fine-Tuning can Distort Pretrained Features and
    Underperform Out-of-Distribution"): a head that already separates the classes keeps the first
    fine-tuning steps from scrambling the pretrained features with large random-head gradients.
    """
    features, labels = features.float(), labels.long()
    head = nn.Linear(features.shape[1], num_classes).to(features.device)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    optimizer = torch.optim.LBFGS(head.parameters(), lr=1.0, max_iter=iterations, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(head(features), labels) + weight_decay * head.weight.pow(2).sum() / 2
        loss.backward()
        return loss

    optimizer.step(closure)
    return head


def finetune(
    model: nn.Module,
    train_set: Dataset,
    test_set: Dataset,
    epochs: int = 10,
    steps: int | None = None,
    batch_size: int = 128,
    base_lr: float = 1e-3,
    lr: float | None = None,
    layer_decay: float | None = 0.75,
    weight_decay: float = 0.05,
    warmup_epochs: float = 1.0,
    label_smoothing: float = 0.1,
    pool: str = "mean",
    head_init: str = "zeros",
    augment: bool = True,
    crop_scale: tuple[float, float] = (0.35, 1.0),
    flip: bool = True,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool = False,
    return_classifier: bool = False,
) -> float | tuple[float, FinetuneClassifier]:
    """Fine-tune a copy of the encoder with a linear head; returns the test accuracy (in [0, 1]).

    The recipe follows MAE's fine-tuning at small scale: AdamW, ``lr = base_lr × batch / 256``, warm-up
    then cosine decay, layer-wise lr decay (``layer_decay=None`` turns it off), label smoothing, random
    resized crop and flip on the device. ``model`` itself is not changed.

    Args:
        epochs / steps: how long; ``steps`` (optimisation steps) wins when given — with few labels an
            epoch is a single step, so a step budget is the natural unit.
        batch_size: at most the number of training images.
        head_init: ``"zeros"`` (MAE's near-zero head) or ``"linear_probe"`` (a logistic regression fitted
            on the frozen features first, then everything is fine-tuned: LP-FT).
        return_classifier: return ``(accuracy, classifier)``.
    """
    if head_init not in ("zeros", "linear_probe"):
        raise ValueError(f"head_init must be 'zeros' or 'linear_probe', got {head_init!r}")
    device = as_device(device) if device is not None else module_device(model)
    num_classes = int(getattr(train_set, "num_classes", 0) or count_classes(torch.as_tensor(train_set.labels)))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        classifier = FinetuneClassifier(model, num_classes, pool=pool).to(device)
    batch_size = min(int(batch_size), len(train_set))
    loader = GPUResidentLoader(train_set, batch_size, device=device, augment=augment, seed=seed,
                               crop_scale=crop_scale, flip=flip)
    classifier.backbone.encoder.patch_embed.check_images(loader.images[:1].float())  # sizes only
    if head_init == "linear_probe":  # LP-FT: start from a head fitted on the frozen features
        with torch.no_grad():
            classifier.eval()
            images = loader.images.float() / loader.scale
            features = torch.cat([classifier.backbone.features(chunk, pool=pool) for chunk in images.split(512)])
        classifier.head.load_state_dict(fit_linear_head(features, loader.labels, num_classes).state_dict())
    peak = lr if lr is not None else base_lr * batch_size / 256
    optimizer = torch.optim.AdamW(layer_decay_groups(classifier, weight_decay, layer_decay), lr=peak,
                                  betas=(0.9, 0.999))
    total = int(steps) if steps is not None else epochs * len(loader)
    warmup = min(warmup_epochs * len(loader) / max(total, 1), 1.0)
    use_amp = device.type == "cuda"
    bar = tqdm(total=total, desc="fine-tune", unit="step", **({} if progress else {"disable": True}))
    step, epoch = 0, 0
    classifier.train()
    while step < total:
        for images, labels in loader.batches(epoch):
            step += 1
            current = warmup_cosine(step / total, peak, 1e-6, warmup)
            for group in optimizer.param_groups:
                group["lr"] = current * group["lr_scale"]
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                logits = classifier(images)  # [B, classes]
            loss = F.cross_entropy(logits.float(), labels, label_smoothing=label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            bar.update(1)
            if step >= total:
                break
        epoch += 1
    bar.close()
    accuracy = _accuracy(classifier, test_set, 256, device)
    return (accuracy, classifier) if return_classifier else accuracy
