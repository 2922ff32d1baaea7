"""The checks of mae_lab/exercises/targets.py (lab 09): MFM's corruption and loss, HOG bins, the brightness prediction.

Each check passes the right answer (and mae_lab's own function) and names each typical mistake.
"""

from __future__ import annotations

import math

import pytest
import torch

from mae_lab.exercises import (
    PREDICTIONS,
    check_frequency_corrupt,
    check_frequency_loss,
    check_hog_bins,
    check_prediction,
)
from mae_lab.frequency import frequency_corrupt, frequency_loss
from mae_lab.targets import HOG_BINS, compute_target


# ---------------------------------------------------------------------------------------------
# MFM's low- and high-pass corruption of the whole image
# ---------------------------------------------------------------------------------------------
def _distance(height, width):
    u = torch.fft.fftfreq(height) * height
    v = torch.fft.fftfreq(width) * width
    return torch.sqrt(u[:, None] ** 2 + v[None, :] ** 2)


def corrupt_right(images, filter, radius):
    inside = _distance(*images.shape[-2:]) < radius  # what a low-pass filter keeps
    removed = ~inside if filter == "low_pass" else inside
    return torch.fft.ifft2(torch.fft.fft2(images).masked_fill(removed, 0)).real


def corrupt_centred(images, filter, radius, shift_back=torch.fft.ifftshift, shift=True):
    """The picture-style recipe: shift DC to the centre, apply a centred circle, shift back."""
    height, width = images.shape[-2:]
    rows = torch.arange(height)[:, None] - height // 2
    cols = torch.arange(width)[None, :] - width // 2
    inside = rows**2 + cols**2 < radius**2
    removed = ~inside if filter == "low_pass" else inside
    spectrum = torch.fft.fft2(images)
    if shift:
        spectrum = torch.fft.fftshift(spectrum, dim=(-2, -1))
    spectrum = spectrum.masked_fill(removed, 0)
    if shift_back is not None:
        spectrum = shift_back(spectrum, dim=(-2, -1))
    return torch.fft.ifft2(spectrum).real


def test_frequency_corrupt_right_answers_pass_including_the_package_function():
    assert check_frequency_corrupt(corrupt_right).passed
    assert check_frequency_corrupt(corrupt_centred).passed  # the centred recipe, shifted and shifted back
    result = check_frequency_corrupt(lambda images, f, r: frequency_corrupt(images, f, r)[0])
    assert result.passed and "whole image" in result.message


def _per_patch(images, filter, radius):
    b, c, h, w = images.shape
    if h % 8 or w % 8:
        return corrupt_right(images, filter, radius)
    patches = images.unfold(2, 8, 8).unfold(3, 8, 8)  # [B, C, h/8, w/8, 8, 8]
    return corrupt_right(patches, filter, radius).permute(0, 1, 2, 4, 3, 5).reshape(b, c, h, w)


def _inclusive(images, filter, radius):
    inside = _distance(*images.shape[-2:]) <= radius
    removed = ~inside if filter == "low_pass" else inside
    return torch.fft.ifft2(torch.fft.fft2(images).masked_fill(removed, 0)).real


def _cycles_per_pixel(images, filter, radius):
    h, w = images.shape[-2:]
    inside = torch.sqrt(torch.fft.fftfreq(h)[:, None] ** 2 + torch.fft.fftfreq(w)[None, :] ** 2) < radius
    removed = ~inside if filter == "low_pass" else inside
    return torch.fft.ifft2(torch.fft.fft2(images).masked_fill(removed, 0)).real


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (lambda x, f, r: corrupt_right(x, "high_pass" if f == "low_pass" else "low_pass", r), "wrong band"),
        (_per_patch, "each patch on its own"),
        (lambda x, f, r: corrupt_centred(x, f, r, shift=False, shift_back=None), "your filter is centred"),
        (lambda x, f, r: corrupt_centred(x, f, r, shift_back=None), "never shifted it back"),
        (lambda x, f, r: corrupt_centred(x, f, r, shift_back=torch.fft.fftshift), "use torch.fft.ifftshift"),
        (_inclusive, "exactly distance radius"),
        (_cycles_per_pixel, "cycles per pixel"),
        (lambda x, f, r: corrupt_right(x, f, r).clamp(0, 1), "do not clamp"),
        (lambda x, f, r: torch.fft.ifft2(torch.fft.fft2(x, norm="ortho").masked_fill(
            (_distance(*x.shape[-2:]) >= r) if f == "low_pass" else (_distance(*x.shape[-2:]) < r), 0)).real,
         "same norm"),
        (lambda x, f, r: torch.fft.ifft2(torch.fft.fft2(x)), "complex"),
        (lambda x, f, r: x, "came back unchanged"),
        (lambda x, f, r: (corrupt_right(x, f, r), None), "not a tuple"),
        (lambda x, f, r: corrupt_right(x, f, r)[:, 0], "input's shape"),
        (lambda x, f, r: corrupt_right(x, f, r) + 0.1, "not the filtered image"),
    ],
)
def test_frequency_corrupt_typical_mistakes_get_their_message(answer, words):
    result = check_frequency_corrupt(answer)
    assert not result.passed
    assert words in result.message, result.message


def test_frequency_corrupt_stub_and_crash_never_raise():
    def stub(images, filter, radius):
        raise NotImplementedError

    assert "not implemented yet" in check_frequency_corrupt(stub).message
    assert "raised ZeroDivisionError" in check_frequency_corrupt(lambda x, f, r: 1 / 0).message


# ---------------------------------------------------------------------------------------------
# MFM's frequency loss
# ---------------------------------------------------------------------------------------------
def loss_right(pred, target, removed):
    distance = (torch.fft.fft2(pred, norm="ortho") - torch.fft.fft2(target, norm="ortho")).abs()  # [B, C, H, W]
    return distance[..., removed].mean()


def test_frequency_loss_right_answers_pass_including_the_package_function():
    assert check_frequency_loss(loss_right).passed
    assert check_frequency_loss(frequency_loss).passed


def _on(values, removed):
    return values[..., removed].mean()


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (lambda p, t, m: (torch.fft.fft2(p, norm="ortho") - torch.fft.fft2(t, norm="ortho")).abs().mean(),
         "every frequency"),
        (lambda p, t, m: loss_right(p, t, ~m), "kept"),
        (lambda p, t, m: _on((torch.fft.fft2(p, norm="ortho") - torch.fft.fft2(t, norm="ortho")).abs() ** 2, m),
         "squared distance"),
        (lambda p, t, m: _on((torch.fft.fft2(p, norm="ortho").abs() - torch.fft.fft2(t, norm="ortho").abs()).abs(),
                             m), "amplitudes only"),
        (lambda p, t, m: _on((torch.fft.fft2(p, norm="ortho") - torch.fft.fft2(t, norm="ortho")).real.abs(), m),
         "real part"),
        (lambda p, t, m: _on((torch.fft.fft2(p) - torch.fft.fft2(t)).abs(), m), "norm=\"ortho\""),
        (lambda p, t, m: ((p - t) ** 2).mean(), "pixel loss"),
        (lambda p, t, m: (torch.fft.fft2(p, norm="ortho") - torch.fft.fft2(t, norm="ortho")).abs()[..., m].sum(),
         "summed"),
        (lambda p, t, m: (torch.fft.fft2(p, norm="ortho") - torch.fft.fft2(t, norm="ortho"))[..., m].mean(),
         "complex"),
        (lambda p, t, m: (torch.fft.fft2(p, norm="ortho") - torch.fft.fft2(t, norm="ortho")).abs(), "one number"),
        (lambda p, t, m: loss_right(p, t, m) + 1.0, "expected"),
    ],
)
def test_frequency_loss_typical_mistakes_get_their_message(answer, words):
    result = check_frequency_loss(answer)
    assert not result.passed
    assert words in result.message, result.message


def test_frequency_loss_stub_is_reported_not_raised():
    def stub(pred, target, removed):
        raise NotImplementedError

    assert "not implemented yet" in check_frequency_loss(stub).message


# ---------------------------------------------------------------------------------------------
# HOG orientation bins
# ---------------------------------------------------------------------------------------------
def hog_bins_right(dx, dy, num_bins):
    angle = torch.remainder(torch.atan2(dy, dx), math.pi)  # unsigned orientation in [0, pi)
    return (angle / math.pi * num_bins).floor().long().clamp(0, num_bins - 1)


def test_hog_bins_right_answer_passes_and_matches_the_package_target():
    assert check_hog_bins(hog_bins_right).passed
    assert check_hog_bins(lambda dx, dy, b: hog_bins_right(dx, dy, b).float()).passed  # whole floats are fine
    # a vertical edge (gradient along x) votes in bin 0 of the package's HOG target, a horizontal one in bin 4
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


# ---------------------------------------------------------------------------------------------
# the prediction of lab 09, and the claim behind it
# ---------------------------------------------------------------------------------------------
def test_brightness_prediction_and_its_claim():
    assert check_prediction("brightness_shift_target", "hog").passed
    assert check_prediction("brightness_shift_target", " HOG ").passed
    for wrong in ("pixels", "fft_amplitude"):
        result = check_prediction("brightness_shift_target", wrong)
        assert not result.passed and result.message.startswith("Not quite")
    assert "answer with one of" in check_prediction("brightness_shift_target", "colour").message
    # a brightness shift leaves HOG and norm_pixels unchanged, not the others
    image = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(1)) * 0.5
    for name, unchanged in [("hog", True), ("norm_pixels", True), ("pixels", False), ("fft_amplitude", False)]:
        before, after = compute_target(name, image, 8), compute_target(name, image + 0.2, 8)
        assert torch.allclose(before, after, atol=1e-4) == unchanged, name
    assert set(PREDICTIONS["brightness_shift_target"][1]) == {"hog", "pixels", "fft_amplitude"}
