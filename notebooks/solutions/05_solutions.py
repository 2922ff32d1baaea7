"""Reference solutions for notebook 05 (pretrain your own MAE)."""

import math


def scaled_lr(base_lr: float, batch_size: int) -> float:
    """MAE's linear scaling rule: the peak learning rate grows with the batch, per 256 images."""
    return base_lr * batch_size / 256


def warmup_cosine(progress: float, peak: float, minimum: float, warmup_fraction: float) -> float:
    """Linear warm-up from 0 to ``peak``, then half a cosine from ``peak`` down to ``minimum``.

    ``progress`` in [0, 1] is the fraction of the run done.
    """
    if progress < warmup_fraction:
        return peak * progress / warmup_fraction
    decay = (progress - warmup_fraction) / (1 - warmup_fraction)  # fraction of the decay done, in [0, 1]
    return minimum + (peak - minimum) * 0.5 * (1 + math.cos(math.pi * decay))
