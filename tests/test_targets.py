"""Reconstruction targets: pixels, per-patch normalised pixels, HOG and each patch's Fourier amplitude."""

import math

import pytest
import torch

from mae_lab.patches import patchify
from mae_lab.targets import (
    HOG_BINS,
    compute_target,
    fft_amplitude_targets,
    fft_targets,
    get_target,
    hog_cell_size,
    hog_targets,
    list_targets,
    normalized_pixel_targets,
    target_dim,
)


def rand_images(batch=2, channels=3, size=16, seed=0):
    return torch.rand(batch, channels, size, size, generator=torch.Generator().manual_seed(seed))


def test_registry_lists_every_target_and_suggests_names():
    assert [t.name for t in list_targets()] == ["pixels", "norm_pixels", "hog", "fft_amplitude"]
    assert get_target("pixels").is_pixels and get_target("norm_pixels").is_pixels
    assert not get_target("hog").is_pixels and not get_target("fft_amplitude").is_pixels
    with pytest.raises(KeyError, match="'norm_pixels'"):
        get_target("norm_pixel")
    with pytest.raises(KeyError, match="Known targets"):
        compute_target("wavelets", rand_images(), 4)


@pytest.mark.parametrize("name", ["pixels", "norm_pixels", "hog", "fft_amplitude"])
def test_shapes_match_declared_dims(name):
    for patch, channels in [(2, 1), (4, 3), (8, 3), (16, 3)]:
        images = rand_images(channels=channels, size=patch * 4)
        out = compute_target(name, images, patch)
        assert out.shape == (2, 16, target_dim(name, patch, channels))
        assert torch.isfinite(out).all()


def test_pixels_are_the_patches():
    images = rand_images()
    assert torch.equal(compute_target("pixels", images, 4), patchify(images, 4))


def test_norm_pixels_are_zero_mean_unit_variance_per_patch():
    images = rand_images(channels=3, size=16) * 0.3 + 0.2
    out = normalized_pixel_targets(images, 4)  # [B, N, 48]
    assert torch.allclose(out.mean(dim=-1), torch.zeros(2, 16), atol=1e-5)
    # unit (unbiased) variance, up to the 1e-6 added for stability
    assert torch.allclose(out.var(dim=-1), torch.ones(2, 16), atol=1e-3)
    # a flat patch does not blow up: (x - mean) / sqrt(0 + eps) = 0
    flat = normalized_pixel_targets(torch.full((1, 1, 4, 4), 0.7), 4)
    assert flat.abs().max() < 1e-3


def test_hog_dims_follow_maskfeat():
    assert hog_cell_size(16) == 8 and hog_cell_size(4) == 2 and hog_cell_size(2) == 2 and hog_cell_size(3) == 3
    assert target_dim("hog", 16, 3) == 2 * 2 * 3 * HOG_BINS == 108  # MaskFeat: 2x2 cells x RGB x 9 bins


def _bins(hist_vector):
    return hist_vector.reshape(-1, HOG_BINS)  # [cells * C, bins]


def test_hog_vertical_edge_lands_in_bin_0_and_horizontal_edge_in_middle_bin():
    vertical = torch.zeros(1, 1, 8, 8)
    vertical[..., 4:] = 1.0  # left dark, right bright: gradient along x, angle 0
    horizontal = vertical.transpose(-1, -2).contiguous()  # gradient along y, angle pi/2
    diagonal = torch.tensor([[float(r + c >= 8) for c in range(8)] for r in range(8)]).view(1, 1, 8, 8)

    hog_v = hog_targets(vertical, 8)[0, 0]  # one patch, 2x2 cells of 4 px
    hog_h = hog_targets(horizontal, 8)[0, 0]
    hog_d = hog_targets(diagonal, 8)[0, 0]
    for hist in _bins(hog_v):
        assert hist.argmax() == 0 and hist[1:].abs().max() < 1e-6
    for hist in _bins(hog_h):
        assert hist.argmax() == 4  # pi/2 -> floor(4.5) = bin 4
    # angle pi/4 -> floor(2.25) = bin 2 for the cells on the diagonal
    strongest = _bins(hog_d).sum(dim=0)
    assert strongest.argmax() == 2


def test_hog_cells_are_l2_normalised_and_flat_images_are_zero():
    images = rand_images(channels=3, size=16)
    hog = hog_targets(images, 8)  # [2, 4, 2*2*3*9]
    norms = hog.reshape(2, 4, 4, 3, HOG_BINS).norm(dim=-1)
    assert torch.allclose(norms, torch.ones_like(norms), atol=1e-5)
    flat = hog_targets(torch.full((1, 3, 16, 16), 0.3), 8)
    assert torch.all(flat == 0)


def test_hog_is_blind_to_brightness_and_contrast():
    images = rand_images(channels=1, size=16)
    assert torch.allclose(hog_targets(images, 4), hog_targets(0.5 * images + 0.2, 4), atol=1e-5)


def test_fft_of_a_constant_patch_is_only_dc():
    value = 0.6
    out = fft_amplitude_targets(torch.full((1, 2, 8, 8), value), 4)  # [1, 4, 4*4*2]
    spectrum = out.reshape(1, 4, 4, 4, 2)  # [B, N, fr, fc, C]
    dc = spectrum[:, :, 0, 0, :]
    assert torch.allclose(dc, torch.full_like(dc, math.log1p(value * 4)), atol=1e-5)  # ortho: mean * p
    rest = spectrum.clone()
    rest[:, :, 0, 0, :] = 0
    assert rest.abs().max() < 1e-6


def test_fft_of_a_stripe_pattern_peaks_at_its_frequency():
    cols = torch.arange(4).float()
    stripes = (0.5 + 0.5 * torch.cos(2 * math.pi * cols / 2)).expand(4, 4).reshape(1, 1, 4, 4)  # period 2
    spectrum = fft_amplitude_targets(stripes, 4).reshape(4, 4)  # (freq row, freq col)
    ac = spectrum.clone()
    ac[0, 0] = 0
    assert ac.argmax().item() == 2  # row 0, column frequency 2 (Nyquist for period 2)


def test_fft_amplitude_ignores_where_things_sit_inside_a_patch():
    # the amplitude drops the phase: a patch and its circular shift get the same target
    patch = torch.rand(1, 1, 4, 4, generator=torch.Generator().manual_seed(3))
    shifted = torch.roll(patch, shifts=(1, 2), dims=(2, 3))
    assert torch.allclose(fft_amplitude_targets(patch, 4), fft_amplitude_targets(shifted, 4), atol=1e-5)
    assert not torch.allclose(compute_target("pixels", patch, 4), compute_target("pixels", shifted, 4))


def test_the_old_fft_name_still_works_and_warns():
    images = rand_images(channels=1, size=8)
    with pytest.warns(DeprecationWarning, match="fft_amplitude"):
        info = get_target("fft")
    assert info.name == "fft_amplitude"
    with pytest.warns(DeprecationWarning, match="fft_amplitude"):
        old = compute_target("fft", images, 4)
    assert torch.equal(old, fft_amplitude_targets(images, 4))
    with pytest.warns(DeprecationWarning, match="fft_amplitude_targets"):
        assert torch.equal(fft_targets(images, 4), old)


def test_hog_keeps_colour_edges_that_have_no_brightness_edge():
    # red on the left, green on the right: the same brightness everywhere, yet HOG (per channel) sees an edge
    image = torch.zeros(1, 3, 8, 8)
    image[:, 0, :, :4] = 1.0
    image[:, 1, :, 4:] = 1.0
    grey = image.mean(dim=1, keepdim=True)
    assert torch.all(hog_targets(grey, 8) == 0)  # no edge in brightness
    per_channel = hog_targets(image, 8).reshape(4, 3, HOG_BINS)  # [cells, channels, bins]
    assert per_channel[:, :2].sum() > 0 and per_channel[:, 2].abs().max() == 0  # red and green edges, blue flat
