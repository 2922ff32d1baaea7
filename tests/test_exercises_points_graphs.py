"""The exercises of lab 15: the reference solutions pass, unfinished stubs fail politely, and each
typical mistake gets its own message."""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from solutions_loader import load_solutions

from mae_lab.exercises.points_graphs import (
    check_chamfer,
    check_farthest_point_sampling,
    check_remask,
    check_sce_loss,
)

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "15_points_and_graphs.ipynb"
SOL = load_solutions("15")
CHECKS = {
    "my_farthest_point_sample": check_farthest_point_sampling,
    "my_chamfer": check_chamfer,
    "my_sce_loss": check_sce_loss,
    "my_remask": check_remask,
}


def test_solutions_pass():
    for name, check in CHECKS.items():
        result = check(getattr(SOL, name))
        assert result.passed, str(result)
        assert "correct" in result.message


def test_unfinished_stubs_fail_politely():
    def stub(*args):
        raise NotImplementedError

    for check in CHECKS.values():
        result = check(stub)
        assert not result.passed and "not implemented yet" in result.message


def test_notebook_has_the_stubs_named_like_the_solutions():
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    code = "\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "code")
    for name in CHECKS:
        assert f"def {name}(" in code
    assert code.count("raise NotImplementedError") == len(CHECKS)
    assert all(not cell.get("outputs") for cell in cells if cell["cell_type"] == "code")


# --------------------------------------------------------------------------- farthest-point sampling
def _fps_variant(points, num, distance_to):
    chosen = [0]
    for _ in range(num - 1):
        chosen.append(int(distance_to(points, chosen).argmax()))
    return torch.tensor(chosen)


def test_fps_mistakes():
    def farthest_from_last(points, num):
        return _fps_variant(points, num, lambda p, c: ((p - p[c[-1]]) ** 2).sum(-1))

    def random_points(points, num):
        return torch.randperm(len(points), generator=torch.Generator().manual_seed(0))[:num]

    def first_points(points, num):
        return torch.arange(num)

    def by_sum(points, num):
        return _fps_variant(points, num, lambda p, c: sum(((p - p[i]) ** 2).sum(-1) for i in c))

    def coordinates(points, num):
        return points[SOL.my_farthest_point_sample(points, num)]

    def random_start(points, num):
        idx = SOL.my_farthest_point_sample(torch.roll(points, -5, 0), num)
        return (idx + 5) % len(points)

    cases = {
        farthest_from_last: "farthest from the *last* chosen point only",
        random_points: "looks like random",
        first_points: "looks like random (or first-N)",
        by_sum: "NEAREST chosen point (a minimum, not a sum)",
        coordinates: "returned the points' coordinates",
        random_start: "start from point 0",
    }
    for fn, message in cases.items():
        result = check_farthest_point_sampling(fn)
        assert not result.passed and message in result.message, (fn.__name__, result.message)


# --------------------------------------------------------------------------- Chamfer distance
def _sq(a, b):
    return ((a.unsqueeze(2) - b.unsqueeze(1)) ** 2).sum(-1)


def test_chamfer_mistakes():
    cases = {
        lambda a, b: _sq(a, b).min(2).values.mean(): "only one direction (from a to b)",
        lambda a, b: _sq(a, b).min(1).values.mean(): "only one direction (from b to a)",
        lambda a, b: _sq(a, b).sqrt().min(2).values.mean() + _sq(a, b).sqrt().min(1).values.mean(): "not squared",
        lambda a, b: (_sq(a, b).sqrt().min(2).values.mean() + _sq(a, b).sqrt().min(1).values.mean()) / 2: "cdl1",
        lambda a, b: SOL.my_chamfer(a, b) / 2: "averaged the two directions",
        lambda a, b: (_sq(a, b).min(2).values.sum(1) + _sq(a, b).min(1).values.sum(1)).mean(): "summed over the points",
        lambda a, b: _sq(a, b).min(2).values.mean(1) + _sq(a, b).min(1).values.mean(1): "one value per cloud",
        lambda a, b: _sq(a, b).max(2).values.mean() + _sq(a, b).max(1).values.mean(): "farthest point",
        lambda a, b: 2 * _sq(a, b).mean(): "all pairs of points",
    }
    for fn, message in cases.items():
        result = check_chamfer(fn)
        assert not result.passed and message in result.message, result.message


def test_chamfer_asymmetric_fallback():
    result = check_chamfer(lambda a, b: _sq(a, b).min(2).values.mean() + 0.5 * _sq(a, b).min(1).values.mean())
    assert not result.passed and "chamfer(a, b) != chamfer(b, a)" in result.message


# --------------------------------------------------------------------------- scaled cosine error
def test_sce_mistakes():
    def cos(p, t):
        return F.cosine_similarity(p, t, dim=-1)

    cases = {
        lambda p, t, g: (1 - cos(p, t)).mean(): "no exponent",
        lambda p, t, g: (1 - cos(p, t).pow(g)).mean(): "not on the cosine",
        lambda p, t, g: (1 - (p * t).sum(-1)).pow(g).mean(): "not normalised",
        lambda p, t, g: (1 - cos(p, t)).pow(g).sum(): "summed over the nodes",
        lambda p, t, g: (1 - cos(p, t)).mean().pow(g): "averaged before the exponent",
        lambda p, t, g: F.mse_loss(p, t): "mean squared error",
        lambda p, t, g: (1 - F.cosine_similarity(p, t, dim=0)).pow(g).mean(): "wrong dimension",
        lambda p, t, g: (1 - cos(p, t)).pow(g): "one number",
    }
    for fn, message in cases.items():
        result = check_sce_loss(fn)
        assert not result.passed and message in result.message, result.message


# --------------------------------------------------------------------------- re-mask
def test_remask_mistakes():
    cases = {
        lambda c, h: c.masked_fill(~h[:, None], 0.0): "zeroed the VISIBLE nodes",
        lambda c, h: c[~h]: "dropped the hidden rows",
        lambda c, h: c.detach().masked_fill(h[:, None], 0.0): "cut from the computation graph",
        lambda c, h: torch.where(h[:, None], torch.ones_like(c), c): "one shared vector",
        lambda c, h: torch.where(h[:, None], 0.5 * c, c): "hidden rows are not zero",
        lambda c, h: torch.zeros_like(c): "visible rows changed",
    }
    for fn, message in cases.items():
        result = check_remask(fn)
        assert not result.passed and message in result.message, result.message


def test_remask_in_place_is_accepted():
    def in_place(codes, hidden):
        codes[hidden] = 0.0  # what GraphMAE's own code does
        return codes

    assert check_remask(in_place).passed
