"""The self-checking exercises of notebook 05 (the training recipe): right answers pass, typical mistakes
get the message written for them."""

import math

import pytest

from mae_lab.exercises import check_lr_scaling, check_warmup_cosine
from mae_lab.schedules import warmup_cosine as learning_rate


def warmup_cosine_right(progress, peak, minimum, warmup_fraction):
    if progress < warmup_fraction:
        return peak * progress / warmup_fraction
    decay = (progress - warmup_fraction) / (1 - warmup_fraction)
    return minimum + (peak - minimum) * 0.5 * (1 + math.cos(math.pi * decay))


def test_warmup_cosine_right_answers_pass_including_the_package_schedule():
    assert check_warmup_cosine(warmup_cosine_right).passed
    # the schedule pretrain() uses is the one the exercise asks for
    assert check_warmup_cosine(lambda p, peak, low, warm: learning_rate(p, peak, low, warm)).passed


def cosine(p, peak, low):
    return low + (peak - low) * 0.5 * (1 + math.cos(math.pi * p))


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (lambda p, peak, low, warm: cosine(p, peak, low), "no warm-up"),
        (lambda p, peak, low, warm: peak * p / warm if p < warm else cosine(p, peak, low),
         "(progress − warmup_fraction) / (1 − warmup_fraction)"),
        (lambda p, peak, low, warm: warmup_cosine_right(p, peak, 0.0, warm), "end at minimum"),
        (lambda p, peak, low, warm: peak * p / warm if p < warm else low + (peak - low) * (1 - (p - warm) / (1 - warm)),
         "straight line"),
        (lambda p, peak, low, warm: peak + low - warmup_cosine_right(p, peak, low, warm) if p >= warm
         else warmup_cosine_right(p, peak, low, warm), "backwards"),
        (lambda p, peak, low, warm: low + (peak - low) * p / warm if p < warm
         else warmup_cosine_right(p, peak, low, warm), "start from 0"),
        (lambda p, peak, low, warm: peak * (p / warm) ** 2 if p < warm else warmup_cosine_right(p, peak, low, warm),
         "curve between them"),
        (lambda p, peak, low, warm: 2 * warmup_cosine_right(p, peak, low, warm), "at the end of the warm-up"),
        (lambda p, peak, low, warm: [peak], "one number"),
    ],
)
def test_warmup_cosine_typical_mistakes_get_their_message(answer, words):
    result = check_warmup_cosine(answer)
    assert not result.passed
    assert words in result.message


def test_warmup_cosine_unfinished_stub_is_reported_not_raised():
    def stub(progress, peak, minimum, warmup_fraction):
        raise NotImplementedError

    result = check_warmup_cosine(stub)
    assert not result.passed and "not implemented" in result.message


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (lambda base, batch: base * batch, "per 256 images"),
        (lambda base, batch: base * 256 / batch, "upside down"),
        (lambda base, batch: base, "expected"),
        (lambda base, batch: "fast", "one number"),
    ],
)
def test_lr_scaling_mistakes(answer, words):
    result = check_lr_scaling(answer)
    assert not result.passed and words in result.message
    assert check_lr_scaling(lambda base, batch: base * batch / 256).passed
