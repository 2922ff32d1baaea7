"""exercises.masking: the visible count, MAE's argsort masking and BEiT's block masking with an exact count."""

import math

import pytest
import torch

from mae_lab.exercises.masking import (
    block_statistics,
    check_block_mask,
    check_num_visible,
    check_random_masking,
)
from mae_lab.masking import make_mask
from mae_lab.masking.block import block_mask


# ---------------------------------------------------------------------------------------------- visible count
def test_num_visible_right_and_wrong():
    assert check_num_visible(49)
    assert check_num_visible(50)  # counting the class token
    assert "hidden" in check_num_visible(147).message
    assert "whole number" in check_num_visible("lots").message
    assert "not it" in check_num_visible(40).message


def test_result_renders_in_a_notebook():
    result = check_num_visible(49)
    assert "✓" in str(result) and "<div" in result._repr_html_()


# ---------------------------------------------------------------------------------------------- argsort masking
def _masking(noise, ratio):
    keep = noise.shape[1] - round(noise.shape[1] * ratio)
    shuffle = torch.argsort(noise, dim=1)
    return shuffle[:, :keep], torch.argsort(shuffle, dim=1)


def test_random_masking_right_and_typical_mistakes():
    assert check_random_masking(_masking)

    def largest(noise, ratio):
        keep = noise.shape[1] - round(noise.shape[1] * ratio)
        shuffle = torch.argsort(noise, dim=1, descending=True)
        return shuffle[:, :keep], torch.argsort(shuffle, dim=1)

    assert "largest" in check_random_masking(largest).message

    def restore_is_shuffle(noise, ratio):
        keep, _ = _masking(noise, ratio)
        return keep, torch.argsort(noise, dim=1)

    assert "ids_restore equals ids_shuffle" in check_random_masking(restore_is_shuffle).message

    def hidden_count(noise, ratio):
        shuffle = torch.argsort(noise, dim=1)
        return shuffle[:, : round(noise.shape[1] * ratio)], torch.argsort(shuffle, dim=1)

    assert "hidden count" in check_random_masking(hidden_count).message
    assert "two tensors" in check_random_masking(lambda noise, ratio: noise).message


# ---------------------------------------------------------------------------------------------- block masking
def beit(grid, num_hidden, generator, min_block_patches=16, min_aspect=0.3):
    """The library's masker, one image at a time: a right answer."""
    return block_mask(1, grid, num_hidden, generator, min_block_patches=min_block_patches,
                      min_aspect=min_aspect).reshape(grid)


def scattered(grid, num_hidden, generator, min_block_patches=16, min_aspect=0.3):
    hidden = torch.zeros(grid[0] * grid[1], dtype=torch.bool)
    hidden[torch.randperm(grid[0] * grid[1], generator=generator)[:num_hidden]] = True
    return hidden.reshape(grid)


def no_top_up(grid, num_hidden, generator, min_block_patches=16, min_aspect=0.3):
    """Only whole rectangles, BEiT's loop as published: it can stop short of the count."""
    hidden = beit(grid, num_hidden, generator, min_block_patches, min_aspect).clone()
    rows, cols = torch.nonzero(hidden, as_tuple=True)
    if len(rows) and num_hidden > 20:
        hidden[rows[0], cols[0]] = False  # one short, as BEiT's 10 failed tries leave it
    return hidden


def overshoot(grid, num_hidden, generator, min_block_patches=16, min_aspect=0.3):
    hidden = beit(grid, num_hidden, generator, min_block_patches, min_aspect).clone()
    if num_hidden < grid[0] * grid[1]:
        hidden.reshape(-1)[torch.nonzero(~hidden.reshape(-1))[0]] = True  # the last rectangle not checked
    return hidden


def global_random(grid, num_hidden, generator, min_block_patches=16, min_aspect=0.3):
    seed = int(torch.randint(0, 2**31, (1,)))  # the global generator: a new mask every call
    return beit(grid, num_hidden, torch.Generator().manual_seed(seed), min_block_patches, min_aspect)


def fixed(grid, num_hidden, generator, min_block_patches=16, min_aspect=0.3):
    return beit(grid, num_hidden, torch.Generator().manual_seed(0), min_block_patches, min_aspect)


def test_block_mask_accepts_the_library_masker_and_a_0_1_integer_mask():
    result = check_block_mask(beit)
    assert result and "exactly num_hidden" in result.message
    assert check_block_mask(lambda *args: beit(*args).int())


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (scattered, "look scattered"),
        (no_top_up, "top up at random"),
        (overshoot, "more than asked"),
        (global_random, "generators seeded alike"),
        (fixed, "every seed gave the same mask"),
        (lambda grid, k, g, *rest: beit(grid, k, g, *rest).T, "swapped"),
        (lambda grid, k, g, *rest: beit(grid, k, g, *rest).reshape(-1), "reshape it"),
        (lambda grid, k, g, *rest: beit(grid, k, g, *rest).float() * 2, "not all 0 or 1"),
        (lambda grid, k, g, *rest: "blocks", "torch tensor"),
    ],
)
def test_block_mask_typical_mistakes_get_their_message(answer, words):
    result = check_block_mask(answer)
    assert not result
    assert words in result.message


def test_block_mask_unfinished_stub_is_reported_not_raised():
    def stub(grid, num_hidden, generator, min_block_patches=16, min_aspect=0.3):
        raise NotImplementedError

    assert "not implemented" in check_block_mask(stub).message
    assert "returned nothing" in check_block_mask(lambda *args: None).message


def test_block_statistics_tell_blocks_from_scattered_patches():
    blocks = torch.stack([beit((14, 14), 78, torch.Generator().manual_seed(s)) for s in range(20)])
    random = make_mask("random", 20, grid=(14, 14), ratio=78 / 196, seed=0).hidden.reshape(20, 14, 14)
    block_share, block_large = block_statistics(blocks)
    random_share, random_large = block_statistics(random)
    assert block_share > 0.75 and math.isclose(random_share, 78 / 196, abs_tol=0.05)
    assert block_large > 0.9 and random_large < 0.6
