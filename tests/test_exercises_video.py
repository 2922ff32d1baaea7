"""The video lab's checks: the reference solutions pass, unfinished stubs fail politely, and each
typical mistake gets its own message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from solutions_loader import load_solutions

from mae_lab.exercises.video import check_leak_rate, check_tube_mask, check_tubelet_patchify

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "12_video_tubes.ipynb"
SOL = load_solutions("12")
CHECKS = [(check_tubelet_patchify, SOL.my_tubelet_patchify), (check_tube_mask, SOL.my_tube_mask),
          (check_leak_rate, SOL.my_leak_rate)]


@pytest.mark.parametrize("check, solution", CHECKS)
def test_the_solutions_pass(check, solution):
    result = check(solution)
    assert result.passed, str(result)


@pytest.mark.parametrize("check, _", CHECKS)
def test_unfinished_stubs_fail_politely(check, _):
    def stub(*args):
        raise NotImplementedError

    result = check(stub)
    assert not result.passed and "not implemented yet" in result.message
    assert "forget `return`" in check(lambda *args: None).message
    assert "raised ZeroDivisionError" in check(lambda *args: 1 / 0).message


def test_notebook_has_an_unfinished_stub_for_every_solution():
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    code = "\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "code")
    names = [name for name in dir(SOL) if name.startswith("my_")]
    assert len(names) == 3
    for name in names:
        assert f"def {name}(" in code
    assert code.count("raise NotImplementedError") == len(names)
    assert "solutions" not in code.replace("notebooks/solutions", "")


# --------------------------------------------------------------------------- tubelet patchify
def _tubelets(order):
    def fn(clips, t, p):
        b, c, frames, height, width = clips.shape
        x = clips.reshape(b, c, frames // t, t, height // p, p, width // p, p)
        return x.permute(*order).reshape(b, (frames // t) * (height // p) * (width // p), -1)

    return fn


@pytest.mark.parametrize("order, words", [
    ((0, 4, 6, 2, 3, 5, 7, 1), "space-first"),
    ((0, 2, 4, 6, 1, 3, 5, 7), "channel comes first"),
    ((0, 2, 4, 6, 5, 7, 3, 1), "time comes last"),
    ((0, 2, 4, 6, 3, 7, 5, 1), "rows and columns are swapped"),
])
def test_patchify_mistakes_are_named(order, words):
    result = check_tubelet_patchify(_tubelets(order))
    assert not result.passed and words in result.message


def test_patchify_one_token_per_frame_and_wrong_shapes():
    def per_frame(clips, t, p):  # ignores the tubelet: t = 1
        return SOL.my_tubelet_patchify(clips, 1, p)

    assert "one token per frame" in check_tubelet_patchify(per_frame).message
    flat = check_tubelet_patchify(lambda clips, t, p: SOL.my_tubelet_patchify(clips, t, p).reshape(2, -1))
    assert "wrong final reshape" in flat.message
    shuffled = check_tubelet_patchify(lambda clips, t, p: SOL.my_tubelet_patchify(clips, t, p).flip(-1))
    assert "right pixels in the wrong order" in shuffled.message


# --------------------------------------------------------------------------- tube mask
def test_tube_mask_that_changes_over_time():
    def per_frame(batch_size, grid, ratio, generator):  # frame-wise random: the leaky mask
        frames, height, width = grid
        k = round(height * width * ratio)
        ranks = torch.rand(batch_size, frames, height * width, generator=generator).argsort(-1).argsort(-1)
        return (ranks < k).reshape(batch_size, frames, height, width)

    result = check_tube_mask(per_frame)
    assert not result.passed and "changes over time" in result.message


def test_tube_mask_shapes_counts_and_randomness():
    spatial_only = check_tube_mask(lambda b, grid, r, g: SOL.my_tube_mask(b, grid, r, g)[:, 0])
    assert "repeat it over the" in spatial_only.message
    flat = check_tube_mask(lambda b, grid, r, g: SOL.my_tube_mask(b, grid, r, g).reshape(b, -1))
    assert "flat" in flat.message
    inverted = check_tube_mask(lambda b, grid, r, g: ~SOL.my_tube_mask(b, grid, r, g))
    assert "True must mark the hidden" in inverted.message
    floor = check_tube_mask(lambda b, grid, r, g: SOL.my_tube_mask(b, grid, int(grid[1] * grid[2] * r) / 30, g))
    assert "exactly round" in floor.message and "int() rounds down" in floor.message
    off = check_tube_mask(lambda b, grid, r, g: SOL.my_tube_mask(b, grid, r + 0.1, g))
    assert "exactly round" in off.message and "int()" not in off.message
    same = check_tube_mask(lambda b, grid, r, g: SOL.my_tube_mask(1, grid, r, g).expand(b, -1, -1, -1))
    assert "every sample got the same" in same.message
    global_rng = check_tube_mask(lambda b, grid, r, g: SOL.my_tube_mask(b, grid, r, torch.Generator().manual_seed(
        int(torch.randint(0, 10**6, (1,))))))
    assert "global random state" in global_rng.message
    fixed = check_tube_mask(lambda b, grid, r, g: SOL.my_tube_mask(b, grid, r, torch.Generator().manual_seed(7)))
    assert "another generator seed gave the same mask" in fixed.message


# --------------------------------------------------------------------------- leak rate
def _leak_variant(kind):
    def fn(hidden):
        visible = ~hidden
        if kind == "roll":
            seen = torch.roll(visible, 1, dims=1) | torch.roll(visible, -1, dims=1)
        elif kind in ("next", "previous"):
            seen = torch.zeros_like(hidden)
            if kind == "next":
                seen[:, :-1] = visible[:, 1:]
            else:
                seen[:, 1:] = visible[:, :-1]
        elif kind == "anywhere":
            seen = visible.any(dim=1, keepdim=True).expand_as(hidden)
        if kind == "all":
            return SOL.my_leak_rate(hidden) * float(hidden.sum()) / hidden.numel()
        if kind == "inverted":
            return SOL.my_leak_rate(~hidden)
        return float((hidden & seen).sum()) / float(hidden.sum())

    return fn


@pytest.mark.parametrize("kind, words", [
    ("roll", "wraps around"), ("next", "previous slot shows it"), ("previous", "next slot shows it"),
    ("anywhere", "every slot"), ("all", "*hidden* ones"), ("inverted", "True marks the hidden"),
])
def test_leak_mistakes_are_named(kind, words):
    result = check_leak_rate(_leak_variant(kind))
    assert not result.passed and words in result.message, str(result)


def test_leak_rate_must_be_one_number():
    result = check_leak_rate(lambda hidden: hidden.float().mean(dim=(1, 2, 3)))
    assert not result.passed and "one number" in result.message
