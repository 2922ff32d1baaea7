"""Reference solutions for notebook 05 (pretrain your own MAE)."""

import math


def my_train_step(model, optimizer, images, mask, lr):
    """One step of ``pretrain``'s loop: the lr in every group, forward, zero_grad, backward, AdamW; the loss."""
    for group in optimizer.param_groups:  # two groups: with and without weight decay
        group["lr"] = lr
    loss = model(images, mask=mask).loss  # mean squared error on the hidden patches
    optimizer.zero_grad()  # backward adds to .grad: clear what the last step left
    loss.backward()
    optimizer.step()
    return loss.item()


def my_warmup_cosine(progress: float, peak: float, minimum: float, warmup_fraction: float) -> float:
    """Linear warm-up from 0 to ``peak``, then half a cosine from ``peak`` down to ``minimum``.

    ``progress`` in [0, 1] is the fraction of the run done.
    """
    if progress < warmup_fraction:
        return peak * progress / warmup_fraction
    decay = (progress - warmup_fraction) / (1 - warmup_fraction)  # fraction of the decay done, in [0, 1]
    return minimum + (peak - minimum) * 0.5 * (1 + math.cos(math.pi * decay))
