"""Schedules: values that change over training — the learning rate, the mask ratio, HPM's alpha.

The learning rate follows :func:`warmup_cosine` (a linear warm-up, then half a cosine down), as in
MAE and most vision transformers. Masking knobs follow a :class:`RatioSchedule`.

A schedule is a small callable: give it the training progress ``p`` in ``[0, 1]`` (0 = first
step, 1 = last step) and it returns the value to use now::

    >>> schedule = make_schedule("linear", start=0.9, end=0.75)
    >>> schedule(0.0), schedule(0.5), schedule(1.0)
    (0.9, 0.825, 0.75)

Why: studies of masked language modeling found that a masking rate that *decreases*
during training works better than a fixed one (Yang et al., 2022, "Learning Better
Masking for Better Language Model Pre-training"; Wettig et al., 2023, "Should You Mask 15%
in Masked Language Modeling?").  The same object drives HPM's ``alpha``, which grows from
0 to 0.5 (easy to hard): ``make_schedule("linear", 0.0, 0.5)``.

Kinds:

* ``constant`` -- always ``start``;
* ``linear`` -- a straight line from ``start`` to ``end``;
* ``cosine`` -- from ``start`` to ``end`` along half a cosine wave (slow, fast, slow);
* ``step`` -- piecewise constant: starts at ``start`` and jumps, at each milestone, by an
  equal share of the way to ``end`` (reaching ``end`` at the last milestone).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

__all__ = ["SCHEDULE_KINDS", "RatioSchedule", "make_schedule", "one_cycle", "warmup_cosine"]

SCHEDULE_KINDS = ("constant", "linear", "cosine", "step")
_PROGRESS_TOLERANCE = 1e-9  # float noise such as step / total_steps slightly above 1


def warmup_cosine(progress: float, peak: float, minimum: float = 0.0, warmup: float = 0.0) -> float:
    """The learning rate at ``progress`` in [0, 1]: linear from 0 to ``peak`` over the first ``warmup``
    fraction of training, then half a cosine from ``peak`` down to ``minimum`` at the end."""
    progress = min(max(float(progress), 0.0), 1.0)
    if warmup > 0 and progress < warmup:
        return peak * progress / warmup
    decay = (progress - warmup) / max(1.0 - warmup, 1e-12)
    return minimum + (peak - minimum) * 0.5 * (1.0 + math.cos(math.pi * decay))


def one_cycle(optimizer, peak: float, steps: int, warmup: float = 0.1):
    """PyTorch's one-cycle learning rate (``torch.optim.lr_scheduler.OneCycleLR``) for ``steps`` steps.

    The small models of the later labs train with it: a cosine warm-up over the first ``warmup``
    fraction to ``peak``, then a cosine down to almost 0 (and AdamW's first beta cycled against it).
    OneCycleLR divides by ``warmup * steps - 1``, so a warm-up of exactly one step (``steps=10`` with
    ``warmup=0.1``) would raise ZeroDivisionError; such a run warms up over two steps instead.
    """
    import torch

    if warmup * steps == 1:
        warmup = 2 / steps
    return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=peak, total_steps=steps, pct_start=warmup)


@dataclass(frozen=True)
class RatioSchedule:
    """A value as a function of training progress; build one with :func:`make_schedule`.

    Attributes:
        kind: ``"constant"``, ``"linear"``, ``"cosine"`` or ``"step"``.
        start: value at progress 0.
        end: value at progress 1.
        milestones: progress points of the jumps (``step`` only, else empty).
    """

    kind: str
    start: float
    end: float
    milestones: tuple[float, ...] = ()

    def __call__(self, progress: float) -> float:
        """The value at ``progress`` in ``[0, 1]``."""
        progress = _check_progress(progress)
        if self.kind == "constant":
            return self.start
        if self.kind == "linear":
            weight = progress
        elif self.kind == "cosine":
            weight = (1.0 - math.cos(math.pi * progress)) / 2.0
        else:  # step
            passed = sum(1 for m in self.milestones if progress >= m)
            weight = passed / len(self.milestones)
        return self.start + (self.end - self.start) * weight

    def at_step(self, step: int, total_steps: int) -> float:
        """The value at optimisation step ``step`` of ``total_steps`` (step 0 .. total_steps - 1)."""
        if int(total_steps) < 1:
            raise ValueError(f"total_steps must be at least 1, got {total_steps}")
        if not 0 <= int(step) < int(total_steps):
            raise ValueError(f"step must be in [0, {int(total_steps) - 1}], got {step}")
        return self(int(step) / max(int(total_steps) - 1, 1))

    def values(self, num_points: int = 101) -> list[float]:
        """The schedule sampled at ``num_points`` evenly spaced progress values (for plots)."""
        if int(num_points) < 2:
            raise ValueError(f"num_points must be at least 2, got {num_points}")
        return [self(i / (int(num_points) - 1)) for i in range(int(num_points))]

    def __repr__(self) -> str:
        if self.kind == "constant":
            return f"RatioSchedule(constant {self.start:g})"
        if self.kind == "step":
            jumps = ", ".join(f"{m:g}" for m in self.milestones)
            return f"RatioSchedule(step {self.start:g} -> {self.end:g}, jumps at progress {jumps})"
        return f"RatioSchedule({self.kind} {self.start:g} -> {self.end:g} over training)"


def _check_progress(progress: float) -> float:
    try:
        progress = float(progress)
    except (TypeError, ValueError):
        raise ValueError(f"progress must be a number in [0, 1], got {progress!r}") from None
    if not (-_PROGRESS_TOLERANCE <= progress <= 1.0 + _PROGRESS_TOLERANCE):
        raise ValueError(
            f"progress must be in [0, 1] (0 = start of training, 1 = end), got {progress}; "
            "pass step / total_steps, or use .at_step(step, total_steps)"
        )
    return min(max(progress, 0.0), 1.0)


def _check_value(name: str, value: float) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1] (a ratio or a fraction), got {value}")
    return value


def make_schedule(
    kind: str = "constant",
    start: float = 0.75,
    end: float | None = None,
    *,
    milestones: list[float] | tuple[float, ...] | None = None,
    steps: int | None = None,
) -> RatioSchedule:
    """Build a :class:`RatioSchedule`.

    Args:
        kind: ``"constant"``, ``"linear"``, ``"cosine"`` or ``"step"``.
        start: value at the start of training, in ``[0, 1]``.
        end: value at the end (required for every kind but ``constant``).
        milestones: ``step`` only: increasing progress points in ``(0, 1]`` where the value jumps.
        steps: ``step`` only, instead of ``milestones``: that many evenly spaced jumps
            (``steps=3`` jumps at progress 0.25, 0.5 and 0.75).

    Returns:
        The schedule; call it with the training progress.

    Note that a masking *ratio* must also stay below 1 for :func:`~mae_lab.masking.make_mask`;
    the schedule itself accepts ``[0, 1]`` so that it can drive fractions such as HPM's ``alpha``.
    """
    if kind not in SCHEDULE_KINDS:
        raise ValueError(f"unknown schedule kind {kind!r}; choose one of {', '.join(SCHEDULE_KINDS)}")
    start = _check_value("start", start)
    if kind == "constant":
        if end is not None and float(end) != start:
            raise ValueError(f"a constant schedule has one value; got start={start} and end={end}")
        if milestones is not None or steps is not None:
            raise ValueError("milestones= and steps= only apply to kind='step'")
        return RatioSchedule("constant", start, start)
    if end is None:
        raise ValueError(f"a {kind} schedule needs end= (the value at the end of training)")
    end = _check_value("end", end)
    if kind != "step":
        if milestones is not None or steps is not None:
            raise ValueError(f"milestones= and steps= only apply to kind='step', not {kind!r}")
        return RatioSchedule(kind, start, end)
    return RatioSchedule("step", start, end, _step_milestones(milestones, steps))


def _step_milestones(milestones, steps) -> tuple[float, ...]:
    if (milestones is None) == (steps is None):
        raise ValueError("a step schedule needs exactly one of milestones=[...] or steps=<int>")
    if steps is not None:
        if int(steps) != steps or int(steps) < 1:
            raise ValueError(f"steps must be a positive integer, got {steps!r}")
        return tuple((i + 1) / (int(steps) + 1) for i in range(int(steps)))
    points = tuple(float(m) for m in milestones)
    if not points:
        raise ValueError("milestones must list at least one progress point in (0, 1]")
    if any(not 0.0 < m <= 1.0 for m in points):
        raise ValueError(f"milestones must be progress points in (0, 1], got {list(points)}")
    if any(b <= a for a, b in itertools.pairwise(points)):
        raise ValueError(f"milestones must be strictly increasing, got {list(points)}")
    return points
