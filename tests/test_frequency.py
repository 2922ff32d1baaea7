"""Masked frequency modeling: the low- and high-pass corruption of whole images, its masks, its loss."""

from __future__ import annotations

import math

import pytest
import torch

import mae_lab
from mae_lab.frequency import (
    FrequencyMask,
    apply_frequency_mask,
    default_radius,
    draw_frequency_mask,
    frequency_corrupt,
    frequency_distance,
    frequency_filter,
    frequency_loss,
)


def rand_images(*shape, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("filter", ["low_pass", "high_pass"])
@pytest.mark.parametrize("shape", [(2, 3, 16, 16), (1, 1, 12, 20), (3, 9, 11), (10, 14)])
def test_the_corrupted_spectrum_is_zero_exactly_where_removed(filter, shape):
    images = rand_images(*shape)
    corrupted, removed = frequency_corrupt(images, filter, radius=3)
    assert corrupted.shape == images.shape and corrupted.dtype == images.dtype and not corrupted.is_complex()
    assert removed.shape == shape[-2:] and removed.dtype == torch.bool
    spectrum = torch.fft.fft2(corrupted)
    assert spectrum[..., removed].abs().max() < 1e-4
    original = torch.fft.fft2(images)
    assert torch.allclose(spectrum[..., ~removed], original[..., ~removed], atol=1e-4)  # the rest is untouched


def test_low_pass_keeps_dc_and_the_frequencies_inside_the_radius_high_pass_the_others():
    _, low = frequency_corrupt(torch.zeros(16, 16), "low_pass", radius=2)
    _, high = frequency_corrupt(torch.zeros(16, 16), "high_pass", radius=2)
    assert torch.equal(low, ~high)
    assert not low[0, 0] and high[0, 0]  # DC: kept by low-pass, removed by high-pass
    assert int((~low).sum()) == 9  # (u, v) in {-1, 0, 1}^2: distance below 2; (2, 0) is at 2, so removed
    assert low[0, 2] and low[2, 0] and not low[1, 1] and not low[-1, -1]
    # in torch.fft.fft2's order: the last row and column are the frequency -1, next to DC
    assert torch.allclose(frequency_distance(4, 4)[:, 0], torch.tensor([0.0, 1.0, 2.0, 1.0]))


def test_the_two_filters_split_an_image_into_two_parts_that_add_up():
    images = rand_images(2, 3, 16, 24)
    low, _ = frequency_corrupt(images, "low_pass", radius=4)
    high, _ = frequency_corrupt(images, "high_pass", radius=4)
    assert torch.allclose(low + high, images, atol=1e-5)
    # low-pass keeps the mean colour of each channel; high-pass removes it
    assert torch.allclose(low.mean(dim=(-2, -1)), images.mean(dim=(-2, -1)), atol=1e-5)
    assert high.mean(dim=(-2, -1)).abs().max() < 1e-5


def test_the_kept_area_grows_like_a_disc():
    for radius in (4, 8, 12):
        _, removed = frequency_corrupt(torch.zeros(64, 64), "low_pass", radius=radius)
        kept = int((~removed).sum())
        assert abs(kept - math.pi * radius**2) < 4 * radius  # a disc of that radius, up to its jagged rim


def test_the_whole_image_is_filtered_not_each_patch():
    images = rand_images(1, 1, 16, 16)
    whole, _ = frequency_corrupt(images, "low_pass", radius=2)
    patches = images.unfold(2, 8, 8).unfold(3, 8, 8)  # [1, 1, 2, 2, 8, 8]
    per_patch, _ = frequency_corrupt(patches, "low_pass", radius=2)
    per_patch = per_patch.permute(0, 1, 2, 4, 3, 5).reshape(1, 1, 16, 16)
    assert not torch.allclose(whole, per_patch, atol=1e-3)


def test_default_radius_is_mfms_16_of_224_scaled_with_a_floor_of_2():
    assert default_radius(224) == pytest.approx(16.0)
    assert default_radius(448, 448) == pytest.approx(32.0)
    assert default_radius(28) == 2.0 and default_radius(8) == 2.0
    images = rand_images(1, 3, 224, 224)
    assert torch.equal(frequency_corrupt(images)[1], frequency_filter(224, 224, 16.0, "low_pass"))


def test_bad_filters_and_radii_say_what_to_do():
    with pytest.raises(ValueError, match="low_pass"):
        frequency_corrupt(torch.zeros(8, 8), "lowpass", radius=2)
    with pytest.raises(ValueError, match="positive"):
        frequency_filter(8, 8, 0.0)
    with pytest.raises(ValueError, match=r"\[\.\.\., H, W\]"):
        frequency_corrupt(torch.zeros(8), "low_pass")


def test_one_filter_per_image_drawn_like_mfm():
    mask = draw_frequency_mask(400, 16, 16, radius=3, seed=1)
    assert isinstance(mask, FrequencyMask) and mask.removed.shape == (400, 16, 16)
    lows = sum(f == "low_pass" for f in mask.filters)
    assert 160 < lows < 240  # about half of each, as in MFM
    for removed, name in zip(mask.removed, mask.filters):
        assert torch.equal(removed, frequency_filter(16, 16, 3, name))
    again = draw_frequency_mask(400, 16, 16, radius=3, seed=1)
    assert again.filters == mask.filters
    assert draw_frequency_mask(400, 16, 16, radius=3, seed=2).filters != mask.filters
    state = torch.random.get_rng_state()
    only_high = draw_frequency_mask(3, 16, 16, radius=3, filter="high_pass")
    assert torch.equal(state, torch.random.get_rng_state())  # the global random state is left alone
    assert only_high.filters == ("high_pass",) * 3 and "3 high-pass" in repr(only_high)
    assert torch.allclose(only_high.removed_fraction, torch.full((3,), 25 / 256))  # 25 frequencies closer than 3
    with pytest.raises(ValueError, match="high_pass"):
        draw_frequency_mask(2, 8, 8, filter="highpass")


def test_a_batch_gets_each_images_own_filter():
    images = rand_images(2, 3, 16, 16)
    mask = FrequencyMask(torch.stack([frequency_filter(16, 16, 3, "low_pass"), frequency_filter(16, 16, 3, "high_pass")]),
                         ("low_pass", "high_pass"), 3.0)
    both = apply_frequency_mask(images, mask.removed)
    assert torch.allclose(both[0], frequency_corrupt(images[0], "low_pass", 3)[0], atol=1e-6)
    assert torch.allclose(both[1], frequency_corrupt(images[1], "high_pass", 3)[0], atol=1e-6)


def test_frequency_loss_is_the_mean_spectral_distance_on_the_removed_frequencies():
    pred, target = rand_images(2, 3, 12, 16, seed=1), rand_images(2, 3, 12, 16, seed=2)
    removed = frequency_filter(12, 16, 3, "low_pass")
    by_hand = (torch.fft.fft2(pred, norm="ortho") - torch.fft.fft2(target, norm="ortho")).abs()[..., removed].mean()
    assert torch.allclose(frequency_loss(pred, target, removed), by_hand, atol=1e-6)
    assert float(frequency_loss(target, target, removed)) < 1e-5
    everything = (torch.fft.fft2(pred, norm="ortho") - torch.fft.fft2(target, norm="ortho")).abs().mean()
    assert torch.allclose(frequency_loss(pred, target), everything, atol=1e-6)
    # a change in the kept frequencies does not count; one in the removed frequencies does
    kept_change = frequency_corrupt(rand_images(2, 3, 12, 16, seed=3), "low_pass", 3)[0]  # only kept frequencies
    assert torch.allclose(frequency_loss(pred + kept_change, target, removed), frequency_loss(pred, target, removed),
                          atol=1e-5)
    per_image = torch.stack([removed, ~removed])  # [B, H, W]
    assert torch.isfinite(frequency_loss(pred, target, per_image))
    with pytest.raises(ValueError, match="same shape"):
        frequency_loss(pred, target[:1], removed)


def test_frequency_loss_has_gradients_even_at_a_perfect_guess():
    pred = rand_images(1, 1, 8, 8).requires_grad_()
    frequency_loss(pred, pred.detach(), frequency_filter(8, 8, 2, "low_pass")).backward()
    assert torch.isfinite(pred.grad).all()


def test_frequency_corrupt_is_a_top_level_name():
    assert mae_lab.frequency_corrupt is frequency_corrupt
    assert "frequency_corrupt" in mae_lab.__all__
