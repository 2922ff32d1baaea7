"""Exercises of lab 05 (pretraining): one training step, and the warm-up + cosine learning rate.

* :func:`check_train_step` — the body of :func:`mae_lab.train.pretrain`'s loop: set the learning rate,
  forward with the given mask, zero the gradients, backward, AdamW step. The check runs three steps of
  your function and of the reference on two copies of a small MAE and compares every weight.
* :func:`check_warmup_cosine` — MAE's schedule (MAE Table 8: 40 warm-up epochs, then cosine decay).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from ..masking import make_mask
from ..models import MaskedAutoencoder, get_preset
from ..schedules import warmup_cosine
from ..train import param_groups
from .core import CheckResult, _call, _fail, _ok

__all__ = ["check_train_step", "check_warmup_cosine"]


# ---------------------------------------------------------------------- one training step
def reference_train_step(model, optimizer, images, mask, lr) -> float:
    """One step of :func:`mae_lab.train.pretrain`: lr, forward, zero_grad, backward, AdamW step."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    loss = model(images, mask=mask).loss  # loss on the hidden patches
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.item()


def _no_zero_grad(model, optimizer, images, mask, lr):
    for group in optimizer.param_groups:
        group["lr"] = lr
    loss = model(images, mask=mask).loss
    loss.backward()
    optimizer.step()
    return loss.item()


def _zero_before_step(model, optimizer, images, mask, lr):
    for group in optimizer.param_groups:
        group["lr"] = lr
    loss = model(images, mask=mask).loss
    loss.backward()
    optimizer.zero_grad()
    optimizer.step()
    return loss.item()


def _step_before_backward(model, optimizer, images, mask, lr):
    for group in optimizer.param_groups:
        group["lr"] = lr
    optimizer.step()
    optimizer.zero_grad()
    loss = model(images, mask=mask).loss
    loss.backward()
    return loss.item()


def _lr_untouched(model, optimizer, images, mask, lr):
    loss = model(images, mask=mask).loss
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def _lr_first_group_only(model, optimizer, images, mask, lr):
    optimizer.param_groups[0]["lr"] = lr
    loss = model(images, mask=mask).loss
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def _lr_rescaled(model, optimizer, images, mask, lr):
    return reference_train_step(model, optimizer, images, mask, lr * len(images) / 256)


_STEP_MISTAKES = [
    (_no_zero_grad, "the gradients piled up from step to step: call optimizer.zero_grad() before loss.backward() "
     "in every step (backward *adds* to .grad)"),
    (_zero_before_step, "your step did not change the weights: zero_grad() between backward() and step() throws "
     "the gradients away — zero them *before* backward"),
    (_step_before_backward, "you stepped before computing the gradients: forward, then backward, then "
     "optimizer.step()"),
    (_lr_untouched, "the learning rate never changed: set group[\"lr\"] = lr for every group in "
     "optimizer.param_groups before the step"),
    (_lr_first_group_only, "only the first parameter group got the new learning rate: pretrain's optimizer has "
     "two groups (weights with decay, biases/norms/tokens without) — set it in every group"),
    (_lr_rescaled, "you scaled the learning rate again: `lr` is already the value for this step (the schedule "
     "and the batch scaling are done), use it as it is"),
]


def _run_steps(step: Callable, steps: int = 3) -> tuple[list[Any], dict[str, torch.Tensor]]:
    """``step`` three times on a fresh small MAE and AdamW: (returned values, final weights)."""
    model = MaskedAutoencoder(get_preset("mae_micro"), seed=0)
    model.train()
    optimizer = torch.optim.AdamW(param_groups(model, 0.05), lr=1e-3, betas=(0.9, 0.95))
    images = torch.rand(8, 1, 8, 8, generator=torch.Generator().manual_seed(21))
    returned = []
    for index, lr in enumerate([2e-3, 5e-3, 3e-3][:steps]):
        mask = make_mask("random", 8, grid=model.grid, ratio=0.75, seed=30 + index)
        returned.append(step(model, optimizer, images, mask, lr))
    return returned, {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return all(torch.allclose(a[k], b[k], rtol=1e-4, atol=1e-6) for k in a)


def check_train_step(fn: Callable[..., Any]) -> CheckResult:
    """Exercise: ``fn(model, optimizer, images, mask, lr) -> loss`` (a number): one pretraining step.

    Set the learning rate of every parameter group to ``lr``, compute the loss with ``model(images,
    mask=mask).loss``, zero the gradients, backpropagate and let AdamW step; return the loss.
    """
    name = "training step"
    model = MaskedAutoencoder(get_preset("mae_micro"), seed=0)
    optimizer = torch.optim.AdamW(param_groups(model, 0.05), lr=1e-3, betas=(0.9, 0.95))
    images = torch.rand(8, 1, 8, 8, generator=torch.Generator().manual_seed(21))
    mask = make_mask("random", 8, grid=model.grid, ratio=0.75, seed=30)
    _, failure = _call(name, fn, model, optimizer, images, mask, 2e-3)  # a first try: stubs and crashes
    if failure is not None:
        return failure
    try:
        returned, weights = _run_steps(fn)
    except Exception as error:  # the student's code
        return _fail(name, f"your function raised {type(error).__name__} in a later step: {error}")
    expected_losses, expected = _run_steps(reference_train_step)
    try:
        losses = [float(torch.as_tensor(v).detach()) for v in returned]
    except (TypeError, ValueError):
        return _fail(name, f"return the loss as a number (loss.item()), got {type(returned[0]).__name__}.")
    if not math.isclose(losses[0], expected_losses[0], rel_tol=1e-5):
        return _fail(name, f"the first loss is {losses[0]:.4f}, the reference {expected_losses[0]:.4f}: compute it "
                     "as model(images, mask=mask).loss, with the mask you are given (a new random mask changes it).")
    if _same_weights(weights, expected):
        if not all(math.isclose(a, b, rel_tol=1e-5) for a, b in zip(losses, expected_losses)):
            return _fail(name, "the weights are right but the returned losses are not: return this step's loss.")
        return _ok(name, "correct — three steps give exactly the weights of mae_lab's own loop (lr in every group, "
                   "forward with the mask, zero_grad, backward, step).")
    for variant, message in _STEP_MISTAKES:
        if _same_weights(weights, _run_steps(variant)[1]):
            return _fail(name, message + ".")
    start = MaskedAutoencoder(get_preset("mae_micro"), seed=0).state_dict()
    if _same_weights(weights, start):
        return _fail(name, "the weights did not change: call loss.backward() and then optimizer.step().")
    return _fail(name, "after three steps the weights differ from the reference: set the lr in every group, "
                 "forward with the given mask, zero_grad, backward, step — in that order.")


# ---------------------------------------------------------------------- warm-up + cosine
def _warmup_then(progress: float, peak: float, minimum: float, warmup: float, decay_shape) -> float:
    """A typical wrong schedule: the right warm-up followed by another ``decay_shape`` down to ``minimum``."""
    if warmup > 0 and progress < warmup:
        return peak * progress / warmup
    decay = (progress - warmup) / (1.0 - warmup)
    return minimum + (peak - minimum) * decay_shape(decay)


def check_warmup_cosine(fn: Callable[[float, float, float, float], float]) -> CheckResult:
    """Exercise: ``fn(progress, peak, minimum, warmup_fraction) -> lr``, MAE's warm-up + cosine schedule.

    ``progress`` in [0, 1] is the fraction of training done. The lr climbs linearly from 0 to
    ``peak`` during the first ``warmup_fraction`` of the run, then follows half a cosine from
    ``peak`` down to ``minimum`` over the rest.
    """
    name = "warm-up + cosine schedule"
    settings = [(1e-3, 1e-5, 0.1), (2e-3, 0.0, 0.25)]
    cases = [(p / 20, peak, low, warm) for peak, low, warm in settings for p in range(21)]
    answers = []
    for progress, peak, low, warm in cases:
        result, failure = _call(name, fn, progress, peak, low, warm)
        if failure is not None:
            return failure
        try:
            answers.append(float(result))
        except (TypeError, ValueError):
            return _fail(name, f"return one number (the learning rate), got {type(result).__name__}.")

    def same(rule) -> bool:
        return all(math.isclose(a, rule(*case), rel_tol=1e-6, abs_tol=1e-12) for a, case in zip(answers, cases))

    def cosine(p, peak, low, warm):
        return low + (peak - low) * 0.5 * (1 + math.cos(math.pi * p))

    if same(warmup_cosine):
        return _ok(name, "correct — a linear warm-up to the peak, then half a cosine down to the minimum.")
    wrong = [
        (cosine, ("there is no warm-up: during the first warmup_fraction of the run the lr must climb "
                  "linearly from 0 to peak (peak · progress / warmup_fraction)")),
        (lambda p, peak, low, warm: peak * p / warm if p < warm else cosine(p, peak, low, warm),
         ("after the warm-up the lr should start its cosine at peak; measure the decay's progress from the end "
          "of the warm-up: (progress − warmup_fraction) / (1 − warmup_fraction)")),
        (lambda p, peak, low, warm: warmup_cosine(p, peak, 0.0, warm),
         "the cosine should end at minimum, not at 0: minimum + (peak − minimum) · (1 + cos(π·t)) / 2"),
        (lambda p, peak, low, warm: _warmup_then(p, peak, low, warm, lambda d: 1.0 - d),
         "that decay is a straight line; MAE decays along half a cosine, (1 + cos(π·t)) / 2"),
        (lambda p, peak, low, warm: _warmup_then(p, peak, low, warm, lambda d: 0.5 * (1 - math.cos(math.pi * d))),
         "the cosine runs backwards: after the warm-up the lr must fall from peak to minimum, not rise"),
        (lambda p, peak, low, warm: low + (peak - low) * p / warm if p < warm else warmup_cosine(p, peak, low, warm),
         "the warm-up should start from 0 (as in MAE), not from minimum: peak · progress / warmup_fraction"),
    ]
    for rule, message in wrong:
        if same(rule):
            return _fail(name, message + ".")
    checkpoints = [(0.0, "at progress 0", lambda peak, low, warm: 0.0),
                   (None, "at the end of the warm-up", lambda peak, low, warm: peak),
                   (1.0, "at progress 1", lambda peak, low, warm: low)]
    for answer, (progress, peak, low, warm) in zip(answers, cases):
        for at, words, expected in checkpoints:
            if (progress == at or (at is None and progress == warm)) and not math.isclose(
                    answer, expected(peak, low, warm), rel_tol=1e-6, abs_tol=1e-12):
                return _fail(name, f"with peak={peak:g}, minimum={low:g}, warmup_fraction={warm:g} the lr {words} "
                             f"should be {expected(peak, low, warm):g}, got {answer:g}.")
    return _fail(name, "the ends are right but the curve between them is not: linear up to peak, then "
                 "minimum + (peak − minimum) · (1 + cos(π·t)) / 2 with t the fraction of the decay done.")
