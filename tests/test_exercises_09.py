"""The self-checking exercises of notebook 09 (targets and schedules): right answers pass, typical mistakes
get the message written for them."""

import math

import pytest
import torch

from mae_lab.exercises import (
    PREDICTIONS,
    check_cosine_schedule,
    check_fft_target,
    check_hog_bins,
    check_prediction,
)


def hog_bins_right(dx, dy, num_bins):
    angle = torch.remainder(torch.atan2(dy, dx), math.pi)  # unsigned orientation in [0, pi)
    return (angle / math.pi * num_bins).floor().long().clamp(0, num_bins - 1)


def test_hog_bins_right_answer_passes_and_matches_the_package_target():
    assert check_hog_bins(hog_bins_right).passed
    assert check_hog_bins(lambda dx, dy, b: hog_bins_right(dx, dy, b).float()).passed  # whole floats are fine
    # a vertical edge (gradient along x) votes in bin 0 of the package's HOG target, a horizontal one in bin 4
    from mae_lab.targets import HOG_BINS, compute_target

    assert int(hog_bins_right(torch.tensor([1.0]), torch.tensor([0.0]), HOG_BINS)) == 0
    assert int(hog_bins_right(torch.tensor([0.0]), torch.tensor([1.0]), HOG_BINS)) == HOG_BINS // 2
    vertical_edge = torch.zeros(1, 1, 8, 8)
    vertical_edge[..., 4:] = 1.0
    hog = compute_target("hog", vertical_edge, 8).reshape(-1, HOG_BINS).sum(0)  # 4 cells, summed
    assert int(hog.argmax()) == 0


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (lambda dx, dy, b: (torch.atan2(dy, dx) / math.pi * b).floor().long(), "negative"),
        (lambda dx, dy, b: (torch.remainder(torch.atan2(dy, dx), 2 * math.pi) / (2 * math.pi) * b).floor().long(),
         "unsigned"),
        (lambda dx, dy, b: hog_bins_right(dy, dx, b), "transpose"),
        (lambda dx, dy, b: (torch.remainder(torch.atan2(dy, dx), math.pi) / math.pi * b).round().long(), "floor"),
        (lambda dx, dy, b: hog_bins_right(dx, dy, b) + 1, "numbered 0"),
        (lambda dx, dy, b: hog_bins_right(dx, dy, b) + 0.5, "whole numbers"),
        (lambda dx, dy, b: hog_bins_right(dx, dy, b)[:10], "one bin per gradient"),
        (lambda dx, dy, b: (torch.atan2(dy, dx).abs() / math.pi * b).floor().long().clamp(0, b - 1),
         "in the wrong bin"),
    ],
)
def test_hog_bins_typical_mistakes_get_their_message(answer, words):
    result = check_hog_bins(answer)
    assert not result.passed
    assert words in result.message


def fft_right(patches):
    return torch.log1p(torch.fft.fft2(patches, dim=(-2, -1), norm="ortho").abs())


def test_fft_target_right_answer_passes():
    result = check_fft_target(fft_right)
    assert result.passed, result.message
    assert "correct" in result.message


def test_fft_target_matches_the_package_target():
    # the exercise asks for exactly what mae_lab.targets computes (per channel, for one channel)
    from mae_lab.patches import patchify
    from mae_lab.targets import compute_target

    images = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    patches = patchify(images, 4).reshape(2, 4, 4, 4)  # [B, N, p, p]
    expected = compute_target("fft", images, 4).reshape(2, 4, 4, 4)
    assert torch.allclose(fft_right(patches), expected, atol=1e-6)


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (lambda x: torch.fft.fft2(x, dim=(-2, -1), norm="ortho").abs(), "log1p"),
        (lambda x: torch.log1p(torch.fft.fft2(x, dim=(-2, -1)).abs()), "ortho"),
        (lambda x: torch.log1p(torch.fft.fft2(x, dim=(-2, -1), norm="ortho").real.abs()), "real part"),
        (lambda x: torch.log1p(torch.fft.fft2(x, dim=(-2, -1), norm="ortho").abs() ** 2), "power"),
        (lambda x: torch.log1p(torch.fft.fft(x, dim=-1, norm="ortho").abs()), "1-D"),
        (lambda x: torch.log1p(torch.fft.fft2(x, dim=(1, 2), norm="ortho").abs()), "across patches"),
        (lambda x: torch.fft.fftshift(fft_right(x), dim=(-2, -1)), "fftshift"),
        (lambda x: torch.fft.fft2(x, dim=(-2, -1), norm="ortho"), "complex"),
        (lambda x: fft_right(x)[..., 0], "expected shape"),
        (lambda x: fft_right(x) + 1.0, "not the target"),
    ],
)
def test_fft_target_typical_mistakes_get_their_message(answer, words):
    result = check_fft_target(answer)
    assert not result.passed
    assert words in result.message


def test_fft_target_stub_and_crash_never_raise():
    def stub(patches):
        raise NotImplementedError

    assert "not implemented yet" in check_fft_target(stub).message
    assert "raised ZeroDivisionError" in check_fft_target(lambda x: 1 / 0).message
    assert "returned nothing" in check_fft_target(lambda x: None).message


def cosine_right(progress, start, end):
    return start + (end - start) * (1 - math.cos(math.pi * progress)) / 2


def test_cosine_schedule_right_answer_passes_and_matches_the_package():
    from mae_lab.masking import make_schedule

    assert check_cosine_schedule(cosine_right).passed
    schedule = make_schedule("cosine", 0.4, 0.15)
    for progress in (0.0, 0.3, 0.5, 0.9, 1.0):
        assert math.isclose(cosine_right(progress, 0.4, 0.15), schedule(progress), abs_tol=1e-12)


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (lambda p, s, e: s + (e - s) * p, "straight line"),
        (lambda p, s, e: s + (e - s) * (1 + math.cos(math.pi * p)) / 2, "backwards"),
        (lambda p, s, e: s + (e - s) * (1 - math.cos(math.pi * p)), "overshoots"),
        (lambda p, s, e: s + (e - s) * (1 - math.cos(2 * math.pi * p)) / 2, "half a period"),
        (lambda p, s, e: s + (e - s) * p**2, "shape is not half a cosine"),
        (lambda p, s, e: 0.3, "expected 0.4 at progress 0"),
        (lambda p, s, e: "0.3 please", "one number"),
    ],
)
def test_cosine_schedule_typical_mistakes_get_their_message(answer, words):
    result = check_cosine_schedule(answer)
    assert not result.passed
    assert words in result.message


def test_brightness_prediction_and_its_claim():
    assert check_prediction("brightness_shift_target", "hog").passed
    assert check_prediction("brightness_shift_target", " HOG ").passed
    for wrong in ("pixels", "fft"):
        result = check_prediction("brightness_shift_target", wrong)
        assert not result.passed and result.message.startswith("Not quite")
    assert "answer with one of" in check_prediction("brightness_shift_target", "colour").message
    # the claim behind the answer: a brightness shift leaves HOG and norm_pixels unchanged, not the others
    from mae_lab.targets import compute_target

    image = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(1)) * 0.5
    for name, unchanged in [("hog", True), ("norm_pixels", True), ("pixels", False), ("fft", False)]:
        before, after = compute_target(name, image, 8), compute_target(name, image + 0.2, 8)
        assert torch.allclose(before, after, atol=1e-4) == unchanged, name
    assert set(PREDICTIONS["brightness_shift_target"][1]) == {"hog", "pixels", "fft"}
