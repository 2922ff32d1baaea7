"""Schedules: the learning rate's warm-up + cosine, and the ratio schedules of masking knobs."""

from __future__ import annotations

import pytest

from mae_lab.masking import make_mask
from mae_lab.schedules import RatioSchedule, make_schedule, one_cycle, warmup_cosine


def test_warmup_cosine_warms_up_then_decays_to_the_minimum():
    assert warmup_cosine(0.0, peak=1.0, minimum=0.1, warmup=0.1) == 0.0
    assert warmup_cosine(0.05, peak=1.0, minimum=0.1, warmup=0.1) == pytest.approx(0.5)
    assert warmup_cosine(0.1, peak=1.0, minimum=0.1, warmup=0.1) == pytest.approx(1.0)
    assert warmup_cosine(0.55, peak=1.0, minimum=0.1, warmup=0.1) == pytest.approx(0.55)
    assert warmup_cosine(1.0, peak=1.0, minimum=0.1, warmup=0.1) == pytest.approx(0.1)
    assert warmup_cosine(1.7, peak=1.0, minimum=0.1, warmup=0.1) == pytest.approx(0.1)  # clamped
    assert warmup_cosine(0.0, peak=2.0) == pytest.approx(2.0)  # no warm-up: starts at the peak


def test_masking_still_exports_the_ratio_schedules():
    from mae_lab import masking

    assert masking.make_schedule is make_schedule and masking.RatioSchedule is RatioSchedule


def test_schedule_kinds():
    constant = make_schedule("constant", 0.75)
    assert constant(0.0) == constant(0.6) == constant(1.0) == 0.75
    linear = make_schedule("linear", 0.9, 0.75)
    assert linear(0.0) == 0.9 and linear(1.0) == 0.75 and linear(0.5) == pytest.approx(0.825)
    cosine = make_schedule("cosine", 0.9, 0.5)
    assert cosine(0.0) == pytest.approx(0.9) and cosine(1.0) == pytest.approx(0.5)
    assert cosine(0.5) == pytest.approx(0.7) and cosine(0.1) > linear_between(0.9, 0.5, 0.1)
    step = make_schedule("step", 0.9, 0.6, milestones=[0.5, 0.8, 0.9])
    assert [step(p) for p in (0.0, 0.49, 0.5, 0.85, 0.95, 1.0)] == pytest.approx([0.9, 0.9, 0.8, 0.7, 0.6, 0.6])
    even = make_schedule("step", 0.0, 0.5, steps=4)
    assert even.milestones == pytest.approx((0.2, 0.4, 0.6, 0.8))
    hpm_alpha = make_schedule("linear", 0.0, 0.5)  # HPM: easy to hard
    values = hpm_alpha.values(11)
    assert values[0] == 0.0 and values[-1] == 0.5 and values == sorted(values)
    assert isinstance(hpm_alpha, RatioSchedule) and callable(hpm_alpha)


def linear_between(start, end, progress):
    return start + (end - start) * progress


def test_schedule_steps_and_repr():
    schedule = make_schedule("linear", 0.9, 0.75)
    assert schedule.at_step(0, 11) == 0.9 and schedule.at_step(10, 11) == 0.75
    assert "linear" in repr(schedule) and "0.9" in repr(schedule) and "0.75" in repr(schedule)
    assert "constant 0.75" in repr(make_schedule("constant", 0.75))
    assert "0.5" in repr(make_schedule("step", 0.9, 0.6, milestones=[0.5]))
    assert schedule(1.0 + 1e-12) == 0.75  # float noise at the end of training is tolerated
    make_mask("random", 2, ratio=schedule(0.3))  # a schedule's value is a valid ratio


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: make_schedule("exponential", 0.9, 0.5), "constant, linear, cosine, step"),
        (lambda: make_schedule("linear", 0.9), "needs end="),
        (lambda: make_schedule("linear", 1.5, 0.5), "start"),
        (lambda: make_schedule("linear", 0.5, -0.1), "end"),
        (lambda: make_schedule("constant", 0.5, 0.6), "one value"),
        (lambda: make_schedule("linear", 0.9, 0.5, steps=3), "only apply"),
        (lambda: make_schedule("step", 0.9, 0.5), "exactly one of"),
        (lambda: make_schedule("step", 0.9, 0.5, milestones=[0.5, 0.3]), "increasing"),
        (lambda: make_schedule("step", 0.9, 0.5, milestones=[1.5]), r"\(0, 1\]"),
        (lambda: make_schedule("step", 0.9, 0.5, steps=0), "positive integer"),
        (lambda: make_schedule("linear", 0.9, 0.5)(1.5), "progress"),
        (lambda: make_schedule("linear", 0.9, 0.5)(-0.2), "progress"),
        (lambda: make_schedule("linear", 0.9, 0.5).at_step(5, 5), "step"),
    ],
)
def test_schedule_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def _one_cycle_lrs(steps: int, warmup: float, build) -> list[float]:
    import torch

    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    schedule = build(optimizer, steps, warmup)
    lrs = []
    for _ in range(steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    return lrs


def test_one_cycle_is_pytorchs_and_survives_a_one_step_warm_up():
    import torch

    torch_one_cycle = lambda opt, steps, warmup: torch.optim.lr_scheduler.OneCycleLR(  # noqa: E731
        opt, max_lr=1e-3, total_steps=steps, pct_start=warmup)
    ours = lambda opt, steps, warmup: one_cycle(opt, 1e-3, steps, warmup=warmup)  # noqa: E731
    assert _one_cycle_lrs(300, 0.1, ours) == _one_cycle_lrs(300, 0.1, torch_one_cycle)
    for steps, warmup in ((10, 0.1), (20, 0.05)):  # exactly one warm-up step: PyTorch divides by zero
        with pytest.raises(ZeroDivisionError):
            _one_cycle_lrs(steps, warmup, torch_one_cycle)
        lrs = _one_cycle_lrs(steps, warmup, ours)
        assert len(lrs) == steps and max(lrs) == pytest.approx(1e-3, rel=1e-6) and lrs[-1] < 1e-5
