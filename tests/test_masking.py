"""Mask strategies: exact counts, index tensors, determinism, textures, errors and ratio schedules."""

import math
import random

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mae_lab.masking import Mask, get_masker, list_maskers, make_mask
from mae_lab.masking.block import beit_blocks
from mae_lab.masking.noise import filtered_noise
from mae_lab.masking.random_masks import adjust_to_count, lattice_cell

ALL_NAMES = [info.name for info in list_maskers()]
EXPECTED_NAMES = ["random", "grid", "center", "frame", "block", "simmim", "noise", "attention", "hard", "tube", "frame_random"]


def scores_for(name, batch_size, num_patches, seed=123):
    """Random per-patch scores for guided strategies (empty options for the others)."""
    if not get_masker(name).needs_scores:
        return {}
    gen = torch.Generator().manual_seed(seed)
    return {"scores": torch.rand(batch_size, num_patches, generator=gen)}


def draw(name, batch_size=4, grid=None, ratio=None, seed=0, **options):
    """make_mask with a grid suited to the strategy and random scores where needed."""
    if grid is None:
        grid = (4, 14, 14) if get_masker(name).grid_dims == 3 else (14, 14)
    options = {**scores_for(name, batch_size, math.prod(grid)), **options}
    return make_mask(name, batch_size, grid=grid, ratio=ratio, seed=seed, **options)


def check_indices(mask: Mask) -> None:
    """ids_shuffle is a permutation, ids_restore its inverse, ids_keep exactly the visible patches."""
    batch_size, num_patches = mask.hidden.shape
    positions = torch.arange(num_patches).expand(batch_size, num_patches)
    assert torch.equal(torch.sort(mask.ids_shuffle, dim=1).values, positions)
    assert torch.equal(torch.gather(mask.ids_shuffle, 1, mask.ids_restore), positions)
    assert torch.equal(torch.gather(mask.ids_restore, 1, mask.ids_shuffle), positions)
    assert mask.ids_keep.shape == (batch_size, mask.num_visible)
    assert not torch.gather(mask.hidden, 1, mask.ids_keep).any()
    assert torch.gather(mask.hidden, 1, mask.ids_shuffle[:, mask.num_visible:]).all()
    for row in range(batch_size):
        visible = torch.nonzero(~mask.hidden[row]).squeeze(1)
        assert torch.equal(torch.sort(mask.ids_keep[row]).values, visible)


# ---------------------------------------------------------------------- registry
def test_every_strategy_is_registered_with_paper_and_idea():
    assert ALL_NAMES == EXPECTED_NAMES
    for info in list_maskers():
        assert info.paper and info.idea and "\n" not in info.idea and len(info.idea) <= 120
        assert 0.0 <= info.default_ratio < 1.0
        assert info.fn.__module__.startswith("mae_lab.masking.")
    assert get_masker("block").options == {"min_block_patches": 16, "min_aspect": 0.3, "max_aspect": None}
    assert get_masker("noise").options["color"] == "green"
    assert get_masker("attention").needs_scores and get_masker("hard").needs_scores
    assert get_masker("tube").grid_dims == 3


def test_default_ratios_match_the_papers():
    assert draw("random").num_hidden == 147  # 75 %
    assert draw("block").num_hidden == 78  # BEiT's ~40 % (75 of 196 at 0.383)
    assert draw("simmim").num_hidden == 118  # 60 %
    assert draw("tube", grid=(8, 14, 14)).num_hidden == round(8 * 196 * 0.9)


# ---------------------------------------------------------------------- exact counts and indices (property)
@st.composite
def mask_requests(draw_):
    name = draw_(st.sampled_from(ALL_NAMES))
    if get_masker(name).grid_dims == 3:
        grid = (draw_(st.integers(1, 5)), draw_(st.integers(1, 7)), draw_(st.integers(1, 7)))
    else:
        grid = (draw_(st.integers(1, 16)), draw_(st.integers(1, 16)))
    ratio = draw_(st.floats(0.0, 0.97, allow_nan=False))
    batch_size = draw_(st.integers(1, 5))
    seed = draw_(st.integers(0, 2**31 - 1))
    return name, grid, ratio, batch_size, seed


@settings(max_examples=300, deadline=None)
@given(mask_requests())
def test_exact_count_and_indices_for_every_strategy(request):
    name, grid, ratio, batch_size, seed = request
    num_patches = math.prod(grid)
    assume(num_patches - round(num_patches * ratio) >= 1)
    mask = draw(name, batch_size=batch_size, grid=grid, ratio=ratio, seed=seed)
    expected = round(num_patches * ratio)
    assert mask.hidden.dtype == torch.bool and mask.hidden.shape == (batch_size, num_patches)
    assert (mask.hidden.sum(dim=1) == expected).all()
    assert mask.num_hidden == expected and mask.num_visible == num_patches - expected
    assert mask.grid == grid and mask.masker == name
    check_indices(mask)


@settings(max_examples=25, deadline=None)
@given(
    name=st.sampled_from(["random", "grid", "block", "simmim", "noise"]),
    ratio=st.sampled_from([0.0, 0.1, 0.25, 0.4, 0.5, 0.6, 0.75, 0.9, 0.95]),
    side=st.sampled_from([(7, 7), (14, 14), (8, 16), (16, 8)]),
)
def test_exact_count_on_common_grids(name, ratio, side):
    mask = draw(name, batch_size=16, grid=side, ratio=ratio, seed=7)
    assert (mask.hidden.sum(dim=1) == round(side[0] * side[1] * ratio)).all()


@pytest.mark.parametrize("color", ["red", "blue", "green", "purple", "white"])
def test_noise_exact_for_every_color(color):
    mask = make_mask("noise", 8, (14, 14), ratio=0.75, seed=1, color=color)
    assert (mask.hidden.sum(dim=1) == 147).all()
    check_indices(mask)


def test_random_reproduces_official_argsort_order():
    gen = torch.Generator().manual_seed(5)
    noise = torch.rand(3, 196, generator=gen)
    mask = make_mask("random", 3, (14, 14), ratio=0.75, seed=5)
    assert torch.equal(mask.ids_shuffle, torch.argsort(noise, dim=1))
    assert torch.equal(mask.ids_keep, torch.argsort(noise, dim=1)[:, :49])


def test_from_hidden_orders_visible_then_hidden_in_patch_order():
    gen = torch.Generator().manual_seed(0)
    hidden = adjust_to_count(torch.zeros(6, 30, dtype=torch.bool), 11, gen)
    mask = Mask.from_hidden(hidden, grid=(5, 6))
    expected_shuffle = torch.sort(hidden.to(torch.int8), dim=1, stable=True).indices
    assert torch.equal(mask.ids_shuffle, expected_shuffle)
    assert torch.equal(mask.ids_restore, torch.argsort(expected_shuffle, dim=1))
    check_indices(mask)


def test_adjust_to_count_tops_up_and_trims_at_random():
    gen = torch.Generator().manual_seed(0)
    hidden = torch.zeros(200, 10, dtype=torch.bool)
    hidden[:, :3] = True
    topped = adjust_to_count(hidden, 5, gen)
    assert (topped.sum(1) == 5).all() and topped[:, :3].all()  # kept the hidden ones, added two
    assert topped[:, 3:].float().mean(0).min() > 0.1  # the extra ones are spread over all candidates
    trimmed = adjust_to_count(hidden, 1, gen)
    assert (trimmed.sum(1) == 1).all() and not trimmed[:, 3:].any()
    assert trimmed[:, :3].float().mean(0).min() > 0.2


# ---------------------------------------------------------------------- determinism
RANDOM_CASES = [
    ("random", {}),
    ("grid", {"ratio": 0.6}),  # 0.6 needs a random trim of the lattice
    ("block", {}),
    ("simmim", {}),
    ("noise", {"color": "red"}),
    ("noise", {"color": "green"}),
    ("noise", {"color": "blue"}),
    ("noise", {"color": "purple"}),
    ("attention", {"mode": "hint"}),
    ("hard", {"alpha": 0.5}),
    ("tube", {}),
]


@pytest.mark.parametrize(("name", "options"), RANDOM_CASES)
def test_same_seed_same_mask_different_seed_different_mask(name, options):
    first = draw(name, seed=3, **options)
    again = draw(name, seed=3, **options)
    other = draw(name, seed=4, **options)
    assert torch.equal(first.hidden, again.hidden) and torch.equal(first.ids_shuffle, again.ids_shuffle)
    assert not torch.equal(first.hidden, other.hidden)
    # and the samples inside one batch differ from each other
    assert not torch.equal(first.hidden[0], first.hidden[1])


@pytest.mark.parametrize(("name", "options"), RANDOM_CASES)
def test_generator_equals_seed(name, options):
    by_seed = draw(name, seed=11, **options)
    gen = torch.Generator().manual_seed(11)
    grid = by_seed.grid
    extra = scores_for(name, 4, math.prod(grid))
    by_generator = make_mask(name, 4, grid=grid, generator=gen, **extra, **options)
    assert torch.equal(by_seed.hidden, by_generator.hidden)
    # a shared generator moves on: the next draw differs
    next_draw = make_mask(name, 4, grid=grid, generator=gen, **extra, **options)
    assert not torch.equal(by_seed.hidden, next_draw.hidden)


@pytest.mark.parametrize("name", ALL_NAMES)
def test_no_global_rng_is_used(name):
    torch.manual_seed(1)
    first = draw(name, seed=0)
    torch.manual_seed(2)
    second = draw(name, seed=0)
    assert torch.equal(first.hidden, second.hidden)

    torch_state = torch.get_rng_state()
    numpy_state = np.random.get_state()
    python_state = random.getstate()
    draw(name, seed=None)  # an unseeded draw must not touch the global generators either
    draw(name, seed=5)
    assert torch.equal(torch_state, torch.get_rng_state())
    assert all(np.array_equal(a, b) for a, b in zip(numpy_state, np.random.get_state()))
    assert python_state == random.getstate()


def test_unseeded_draws_differ():
    assert not torch.equal(make_mask("random", 4).hidden, make_mask("random", 4).hidden)


def test_seed_and_generator_together_is_an_error():
    with pytest.raises(ValueError, match="either seed= or generator="):
        make_mask("random", 2, seed=0, generator=torch.Generator())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_same_mask_on_cpu_and_cuda():
    cpu = make_mask("block", 8, seed=0)
    moved = cpu.to("cuda")
    assert moved.hidden.device.type == "cuda"
    assert torch.equal(moved.hidden.cpu(), make_mask("block", 8, seed=0).hidden)
    assert torch.equal(moved.ids_restore.cpu(), cpu.ids_restore)
    with pytest.raises(ValueError, match="CPU"):
        make_mask("random", 2, generator=torch.Generator(device="cuda"))


def test_mask_to_and_indexing_keep_everything():
    mask = draw("block", batch_size=4)
    assert torch.equal(mask.to("cpu").hidden, mask.hidden)
    one = mask[1]
    assert one.batch_size == 1 and torch.equal(one.hidden[0], mask.hidden[1]) and one.grid == mask.grid
    assert "block" in repr(mask) and "78/196" in repr(mask)


# ---------------------------------------------------------------------- grid / center / frame
def test_grid_at_three_quarters_is_maes_two_by_two_lattice():
    mask = make_mask("grid", 3, (14, 14), ratio=0.75, seed=0)
    rows, cols = torch.meshgrid(torch.arange(14), torch.arange(14), indexing="ij")
    lattice = ((rows % 2 == 0) & (cols % 2 == 0)).reshape(-1)
    assert torch.equal(mask.hidden, ~lattice.expand(3, -1))


@pytest.mark.parametrize(("ratio", "cell"), [(0.0, (1, 1)), (0.5, (1, 2)), (0.75, (2, 2)), (0.9, (3, 4))])
def test_lattice_cell_rule(ratio, cell):
    num_visible = 196 - round(196 * ratio)
    assert lattice_cell(14, 14, num_visible) == cell


@pytest.mark.parametrize("ratio", [0.3, 0.6, 0.8, 0.9, 0.95])
def test_grid_keeps_only_lattice_points(ratio):
    mask = make_mask("grid", 8, (14, 14), ratio=ratio, seed=0)
    rows_step, cols_step = lattice_cell(14, 14, mask.num_visible)
    rows, cols = torch.meshgrid(torch.arange(14), torch.arange(14), indexing="ij")
    lattice = ((rows % rows_step == 0) & (cols % cols_step == 0)).reshape(-1)
    assert not (mask.visible & ~lattice).any()


def test_center_hides_the_middle_and_frame_the_border():
    center = make_mask("center", 2, (14, 14), ratio=4 / 196).as_grid()[0]
    assert center[6:8, 6:8].all() and center.sum() == 4
    square = make_mask("center", 1, (14, 14), ratio=36 / 196).as_grid()[0]
    assert square[4:10, 4:10].all()  # a 6 x 6 central square
    frame = make_mask("frame", 2, (14, 14), ratio=52 / 196).as_grid()[0]  # exactly the outer ring
    ring = torch.ones(14, 14, dtype=torch.bool)
    ring[1:-1, 1:-1] = False
    assert torch.equal(frame, ring)
    half = make_mask("frame", 1, (14, 14), ratio=0.5).as_grid()[0]
    assert half[0, 0] and half[-1, -1] and not half[7, 7]


@pytest.mark.parametrize("name", ["center", "frame"])
def test_deterministic_strategies_ignore_the_seed(name):
    a = make_mask(name, 3, (9, 11), ratio=0.3, seed=0)
    b = make_mask(name, 3, (9, 11), ratio=0.3, seed=99)
    assert torch.equal(a.hidden, b.hidden) and torch.equal(a.hidden[0], a.hidden[2])


# ---------------------------------------------------------------------- block and simmim
def reference_beit(height, width, target, rng, min_patches=16, min_aspect=0.3):
    """BEiT's generator written the plain way, one try at a time; returns how many patches it hid."""
    hidden = np.zeros((height, width), dtype=bool)
    log_low, log_high = math.log(min_aspect), math.log(1 / min_aspect)
    count = 0
    while count < target:
        allowed = target - count
        added = 0
        for _ in range(10):
            area = rng.uniform(min_patches, allowed)
            aspect = math.exp(rng.uniform(log_low, log_high))
            h = round(math.sqrt(area * aspect))
            w = round(math.sqrt(area / aspect))
            if h < height and w < width:
                top, left = rng.randint(0, height - h), rng.randint(0, width - w)
                window = hidden[top:top + h, left:left + w]
                new = h * w - int(window.sum())
                if 0 < new <= allowed:
                    window[...] = True
                    added = new
                    break
        if added == 0:
            break
        count += added
    return count


@pytest.mark.parametrize(("grid", "target"), [((14, 14), 75), ((8, 8), 20), ((7, 10), 40)])
def test_block_matches_beit_statistics(grid, target):
    samples = 1500
    rng = random.Random(0)
    reference = np.array([reference_beit(*grid, target, rng) for _ in range(samples)])
    ours = beit_blocks(samples, grid, target, torch.Generator().manual_seed(0)).flatten(1).sum(1).numpy()
    assert ours.max() <= target  # BEiT never overshoots
    assert abs(ours.mean() - reference.mean()) < 0.4
    assert abs((ours < target).mean() - (reference < target).mean()) < 0.06


def mean_hidden_neighbours(mask: Mask) -> float:
    """Average number of hidden 4-neighbours of a hidden patch."""
    grid = mask.as_grid().float()
    padded = torch.nn.functional.pad(grid, (1, 1, 1, 1))
    neighbours = padded[:, :-2, 1:-1] + padded[:, 2:, 1:-1] + padded[:, 1:-1, :-2] + padded[:, 1:-1, 2:]
    return float((neighbours * grid).sum() / grid.sum())


def test_block_is_clumpier_than_random():
    block = make_mask("block", 64, (14, 14), ratio=0.4, seed=0)
    rand = make_mask("random", 64, (14, 14), ratio=0.4, seed=0)
    assert mean_hidden_neighbours(block) > mean_hidden_neighbours(rand) + 1.0


def test_simmim_hides_whole_cells_except_one():
    mask = make_mask("simmim", 32, (14, 14), ratio=0.6, seed=0)  # 118 = 29 cells and a half
    per_cell = mask.as_grid().reshape(32, 7, 2, 7, 2).sum(dim=(2, 4))  # [B, 7, 7]
    partial = ((per_cell > 0) & (per_cell < 4)).sum(dim=(1, 2))
    assert (partial <= 1).all() and (partial == 1).all()
    whole = make_mask("simmim", 32, (14, 14), ratio=80 / 196, seed=0)  # exactly 20 cells
    per_cell = whole.as_grid().reshape(32, 7, 2, 7, 2).sum(dim=(2, 4))
    assert ((per_cell == 0) | (per_cell == 4)).all()
    coarse = make_mask("simmim", 4, (12, 12), ratio=0.5, seed=0, cell_size=3)
    per_cell = coarse.as_grid().reshape(4, 4, 3, 4, 3).sum(dim=(2, 4))
    assert ((per_cell == 0) | (per_cell == 9)).all()  # 72 = 8 cells of 9


# ---------------------------------------------------------------------- noise colours
def band_energies(fields: torch.Tensor) -> tuple[float, float, float]:
    """Mean power in the low / middle / high radial-frequency bands, relative to the overall mean.

    Frequencies are in cycles per patch (0 .. 0.71); bands: (0, 0.15), [0.15, 0.3), [0.3, ...).
    """
    fields = fields.float() - fields.float().mean(dim=(1, 2), keepdim=True)
    power = torch.fft.fft2(fields).abs().pow(2).mean(dim=0)  # [h, w]
    freq_rows = torch.fft.fftfreq(fields.shape[1]).view(-1, 1)
    freq_cols = torch.fft.fftfreq(fields.shape[2]).view(1, -1)
    radius = (freq_rows**2 + freq_cols**2).sqrt()
    overall = power[radius > 0].mean()
    bands = [(radius > 0) & (radius < 0.15), (radius >= 0.15) & (radius < 0.3), radius >= 0.3]
    return tuple(float(power[band].mean() / overall) for band in bands)


@pytest.mark.parametrize("source", ["field", "mask"])
def test_noise_colors_have_the_spectrum_their_name_claims(source):
    def sample(color):
        if source == "field":
            return filtered_noise(1000, (14, 14), color, torch.Generator().manual_seed(0))
        return make_mask("noise", 1000, (14, 14), ratio=0.5, seed=0, color=color).as_grid()

    low, mid, high = band_energies(sample("red"))
    assert low > 2 * mid > 2 * high  # low-pass
    low, mid, high = band_energies(sample("blue"))
    assert high > 1.3 * mid > 1.3 * low  # high-pass
    low, mid, high = band_energies(sample("green"))
    assert mid > 1.3 * low and mid > 1.3 * high  # band-pass
    low, mid, high = band_energies(sample("purple"))
    assert mid < 0.8 * low and mid < 0.8 * high  # band-stop
    low, mid, high = band_energies(sample("white"))
    assert max(low, mid, high) < 1.1 and min(low, mid, high) > 0.9  # flat


def test_noise_hides_the_highest_values():
    gen = torch.Generator().manual_seed(2)
    field = filtered_noise(4, (14, 14), "green", gen).reshape(4, -1)
    mask = make_mask("noise", 4, (14, 14), ratio=0.75, seed=2)
    lowest_hidden = torch.where(mask.hidden, field, torch.inf).min(dim=1).values
    highest_visible = torch.where(mask.hidden, -torch.inf, field).max(dim=1).values
    assert (lowest_hidden > highest_visible).all()


# ---------------------------------------------------------------------- guided
def test_attention_high_low_hint():
    scores = torch.rand(5, 196, generator=torch.Generator().manual_seed(0))
    order = torch.argsort(scores, dim=1, descending=True)
    top = torch.zeros(5, 196, dtype=torch.bool).scatter_(1, order[:, :98], True)
    high = make_mask("attention", 5, ratio=0.5, scores=scores, mode="high")
    assert torch.equal(high.hidden, top)
    low = make_mask("attention", 5, ratio=0.5, scores=scores, mode="low")
    assert torch.equal(low.hidden, ~top)
    hint = make_mask("attention", 5, ratio=0.5, scores=scores, mode="hint", hint_ratio=0.1, seed=0)
    candidates = torch.zeros(5, 196, dtype=torch.bool).scatter_(1, order[:, :98 + 10], True)
    assert not (hint.hidden & ~candidates).any()  # only highly attended patches are hidden
    assert ((candidates & ~hint.hidden).sum(1) == 10).all()  # ten of them revealed as hints


def test_attention_ties_break_by_index_and_one_row_broadcasts():
    mask = make_mask("attention", 3, (4, 4), ratio=0.25, scores=torch.zeros(16))
    assert torch.equal(mask.hidden, torch.arange(16).expand(3, 16) < 4)


def test_hard_alpha_controls_the_hardest_share():
    scores = torch.rand(6, 196, generator=torch.Generator().manual_seed(1))
    order = torch.argsort(scores, dim=1, descending=True)
    all_hard = make_mask("hard", 6, ratio=0.75, scores=scores, alpha=1.0, seed=0)
    assert torch.equal(all_hard.hidden, torch.zeros(6, 196, dtype=torch.bool).scatter_(1, order[:, :147], True))
    half = make_mask("hard", 6, ratio=0.75, scores=scores, alpha=0.5, seed=0)
    hardest = torch.gather(half.hidden, 1, order[:, :74])  # round(0.5 * 147) = 74
    assert hardest.all()
    # alpha = 0 ignores the scores: hidden patches are no harder than average
    scores_big = torch.rand(200, 196, generator=torch.Generator().manual_seed(2))
    none = make_mask("hard", 200, ratio=0.5, scores=scores_big, alpha=0.0, seed=0)
    assert abs(float(scores_big[none.hidden].mean()) - 0.5) < 0.01


# ---------------------------------------------------------------------- tube
def test_tube_repeats_one_spatial_mask():
    mask = make_mask("tube", 6, (4, 7, 7), ratio=0.9, seed=0)  # 176.4 -> 176 = 44 tubes of 4
    frames = mask.as_grid()  # [B, T, h, w]
    assert (frames == frames[:, :1]).all()


def test_tube_partial_tube_rule():
    mask = make_mask("tube", 6, (8, 14, 14), ratio=0.9, seed=0)  # 1411 = 176 tubes + 3 steps
    per_position = mask.hidden.reshape(6, 8, 196).sum(dim=1)  # [B, h*w]
    assert ((per_position == 8).sum(1) == 176).all()
    assert ((per_position == 3).sum(1) == 1).all()
    assert ((per_position == 0).sum(1) == 196 - 177).all()


def test_tube_strict_names_the_ratios_that_work():
    with pytest.raises(ValueError, match=r"0\.8980.*0\.9031"):
        make_mask("tube", 2, (8, 14, 14), ratio=0.9, strict=True)
    ok = make_mask("tube", 2, (8, 14, 14), ratio=176 / 196, strict=True, seed=0)
    assert ok.num_hidden == 1408


# ---------------------------------------------------------------------- bad input
@pytest.mark.parametrize("ratio", [-0.1, 1.0, 1.5, float("nan"), "lots"])
def test_ratio_outside_range(ratio):
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        make_mask("random", 2, (14, 14), ratio=ratio)


def test_ratio_leaving_no_visible_patch():
    with pytest.raises(ValueError, match="none visible") as error:
        make_mask("random", 2, (2, 2), ratio=0.9)
    assert "0.7500" in str(error.value)  # the largest ratio that works


def test_grid_mismatch():
    with pytest.raises(ValueError, match=r"grid \(3, 5\) holds 15 patches but the mask has 16"):
        Mask.from_hidden(torch.zeros(2, 16, dtype=torch.bool), grid=(3, 5))
    with pytest.raises(ValueError, match=r"\(T, h, w\)"):
        make_mask("tube", 2, (14, 14))
    with pytest.raises(ValueError, match=r"\(h, w\)"):
        make_mask("block", 2, (2, 14, 14))


def test_unequal_counts_are_rejected():
    hidden = torch.zeros(2, 4, dtype=torch.bool)
    hidden[0, 0] = True
    with pytest.raises(ValueError, match="same number"):
        Mask.from_hidden(hidden)


@pytest.mark.parametrize(("typo", "suggestion"), [("blok", "block"), ("randon", "random"), ("nosie", "noise")])
def test_unknown_name_suggests_close_names(typo, suggestion):
    with pytest.raises(KeyError, match=f"'{suggestion}'"):
        make_mask(typo, 2)


def test_scores_of_the_wrong_shape_or_missing():
    with pytest.raises(ValueError, match=r"\[2, 196\].*\[2, 195\]"):
        make_mask("attention", 2, (14, 14), scores=torch.rand(2, 195))
    with pytest.raises(ValueError, match="scores="):
        make_mask("hard", 2, (14, 14))
    with pytest.raises(ValueError, match="NaN"):
        make_mask("hard", 1, (2, 2), ratio=0.25, scores=torch.tensor([[0.0, float("nan"), 1.0, 2.0]]))


def test_bad_options():
    with pytest.raises(TypeError, match="colour"):
        make_mask("block", 2, colour="red")
    with pytest.raises(ValueError, match="'green'"):
        make_mask("noise", 2, color="gren")
    with pytest.raises(ValueError, match="high, low, hint"):
        make_mask("attention", 2, scores=torch.rand(2, 196), mode="middle")
    with pytest.raises(ValueError, match="alpha"):
        make_mask("hard", 2, scores=torch.rand(2, 196), alpha=1.5)
    with pytest.raises(ValueError, match="min_block_patches"):
        make_mask("block", 2, min_block_patches=0)
    with pytest.raises(ValueError, match="cell_size"):
        make_mask("simmim", 2, cell_size=0)
    with pytest.raises(ValueError, match="batch_size"):
        make_mask("random", 0)
