"""Exercises of lab 05 (pretraining): the learning-rate scaling rule and warm-up + cosine."""

from __future__ import annotations

import math
from collections.abc import Callable

from ..schedules import warmup_cosine
from .core import CheckResult, _call, _fail, _ok

__all__ = ["check_lr_scaling", "check_warmup_cosine"]


def check_lr_scaling(fn: Callable[[float, int], float]) -> CheckResult:
    """Exercise: ``fn(base_lr, batch_size) -> lr`` with MAE's linear scaling rule (per 256 images)."""
    name = "learning-rate scaling"
    cases = [(1.5e-4, 4096), (1.5e-4, 256), (1e-3, 64)]
    for base_lr, batch in cases:
        result, failure = _call(name, fn, base_lr, batch)
        if failure is not None:
            return failure
        expected = base_lr * batch / 256
        try:
            result = float(result)
        except (TypeError, ValueError):
            return _fail(name, f"return one number (the learning rate), got {type(result).__name__}.")
        if not math.isclose(result, expected, rel_tol=1e-6):
            if math.isclose(float(result), base_lr * batch, rel_tol=1e-6):
                return _fail(name, "you multiplied by the batch size; the rule is per 256 images: base_lr × batch / 256.")
            if math.isclose(float(result), base_lr * 256 / batch, rel_tol=1e-6):
                return _fail(name, "upside down: a larger batch gets a larger learning rate (base_lr × batch / 256).")
            return _fail(name, f"for base_lr={base_lr}, batch={batch} expected {expected:g}, got {float(result):g}.")
    return _ok(name, "correct — MAE's recipe: 1.5e-4 × 4096 / 256 = 2.4e-3 for its batch of 4096.")


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
