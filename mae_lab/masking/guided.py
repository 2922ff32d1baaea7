"""Guided masking: let a per-patch signal decide what to hide.

Both strategies take ``scores=``, a float ``[B, N]`` tensor with one number per patch
(``make_mask`` checks its shape and moves it to the CPU).

* ``attention`` -- AttMask (Kakogeorgiou et al., 2022, "What to Hide from Your Students:
  Attention-Guided Masked Image Modeling").  The score is how much a teacher network's
  class token attends to each patch (last layer, mean over heads).  Hiding the most
  attended patches (``mode="high"``) removes the object, a harder and more useful task
  than random masking; hiding the least attended (``"low"``) removes background, an easy
  task.  ``"hint"`` hides the most attended patches but gives a few of them back (10 %).
  ``high`` and ``hint`` are tied in AttMask's own results (the official repository's table of
  pretrained ViT-S/16 models: kNN 72.5 % for ``high``, 72.8 % for ``hint`` after 100 ImageNet
  epochs; 49.7 % and 49.5 % on 20 % of ImageNet), and its 300-epoch model uses ``high``.
  AttMask guides a *distillation* student (iBOT, which matches a teacher's outputs on the
  hidden tokens) and hides about 30 % of the tokens (``pred_ratio 0.3``, varied by 0.2, in
  half of the images), hence the default ratio here; MAE-style pixel models hide 75 %.

* ``hard`` -- hard patches mining, HPM (Wang et al., 2023, "Hard Patches Mining for Masked
  Image Modeling").  The score is a *predicted* reconstruction loss (from a small extra
  head that learns to guess which patches the model will get wrong).  A fraction ``alpha``
  of the hidden patches are the hardest ones, the rest are random; HPM grows ``alpha``
  from 0 to 0.5 during training (easy to hard) -- use a
  :func:`~mae_lab.masking.schedules.make_schedule` for it.

Exact counts: ties in the scores are broken by patch index (lower first), and the random
parts draw from the generator.
"""

from __future__ import annotations

from .base import select_top
from .random_masks import adjust_to_count
from .registry import register

__all__ = ["ATTENTION_MODES", "attention_mask", "hard_mask"]

ATTENTION_MODES = ("high", "low", "hint")


def _check_fraction(name: str, value: float) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a fraction in [0, 1], got {value}")
    return value


@register(
    "attention",
    paper="AttMask (Kakogeorgiou et al., 2022)",
    idea="Hide about 30 % of the patches: those a teacher attends to most (high), least (low), or most with hints.",
    default_ratio=0.3,
    needs_scores=True,
)
def attention_mask(batch_size, grid, num_hidden, generator, *, scores, mode="high", hint_ratio=0.1):
    """Hide patches by attention score.

    Options:
        mode: ``"high"`` hides the ``num_hidden`` highest scores; ``"low"`` the lowest;
            ``"hint"`` takes the ``num_hidden + m`` highest scores, with
            ``m = round(hint_ratio * num_hidden)``, and reveals ``m`` of them chosen at
            random -- those are the hints (``m`` is capped so enough patches exist).
        hint_ratio: share of the hidden budget given back as hints in ``"hint"`` mode
            (AttMask reveals about 10 %).
    """
    if mode not in ATTENTION_MODES:
        raise ValueError(f"unknown attention mode {mode!r}; choose one of {', '.join(ATTENTION_MODES)}")
    hint_ratio = _check_fraction("hint_ratio", hint_ratio)
    num_patches = scores.shape[1]
    if mode == "high":
        return select_top(scores, num_hidden)
    if mode == "low":
        return select_top(-scores, num_hidden)
    num_hints = min(round(hint_ratio * num_hidden), num_patches - num_hidden)
    most_attended = select_top(scores, num_hidden + num_hints)  # [B, N]
    return adjust_to_count(most_attended, num_hidden, generator)  # reveal num_hints at random


@register(
    "hard",
    paper="HPM (Wang et al., 2023)",
    idea="Hide the patches predicted hardest to reconstruct (share alpha), the rest at random.",
    default_ratio=0.75,
    needs_scores=True,
)
def hard_mask(batch_size, grid, num_hidden, generator, *, scores, alpha=0.5):
    """Hide ``round(alpha * num_hidden)`` patches with the highest predicted difficulty, the rest at random.

    Options:
        alpha: fraction of the hidden patches chosen by difficulty (0 = random masking,
            1 = only the hardest patches).  HPM raises it from 0 to 0.5 during training.
    """
    alpha = _check_fraction("alpha", alpha)
    num_hard = round(alpha * num_hidden)
    hardest = select_top(scores, num_hard)  # [B, N]
    return adjust_to_count(hardest, num_hidden, generator)  # top up with random other patches
