"""Lab 14's exercises: the reference solutions pass, an unfinished stub fails politely, and each typical
mistake gets its own message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from solutions_loader import load_solutions

from mae_lab.exercises.learned_masks import check_hpm_mask, check_ranking_loss, check_sampling_loss

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "14_learning_what_to_hide.ipynb"
SOL = load_solutions("14")


def stub(*args):
    raise NotImplementedError


def test_solutions_pass():
    for result in (check_hpm_mask(SOL.my_hpm_mask), check_ranking_loss(SOL.my_ranking_loss),
                   check_sampling_loss(SOL.my_sampling_loss)):
        assert result.passed, str(result)


@pytest.mark.parametrize("check", [check_hpm_mask, check_ranking_loss, check_sampling_loss])
def test_unfinished_stub_fails_politely(check):
    result = check(stub)
    assert not result.passed and "not implemented yet" in result.message
    assert not check(lambda *args: None).passed


def test_notebook_stubs_have_the_solution_names():
    code = "\n".join("".join(c["source"]) for c in json.loads(NOTEBOOK.read_text())["cells"]
                     if c["cell_type"] == "code")
    for name in ("my_hpm_mask", "my_ranking_loss", "my_sampling_loss"):
        assert f"def {name}(" in code and hasattr(SOL, name)


# ------------------------------------------------------------------ HPM mask mistakes
def _mask_from(order_fn, alpha_fn=lambda alpha: alpha, rest="uniform"):
    """Build a student-like HPM mask with one thing changed."""

    def fn(scores, num_hidden, alpha, generator):
        batch, n = scores.shape
        num_hard = round(alpha_fn(alpha) * num_hidden)
        hidden = torch.zeros(batch, n, dtype=torch.bool)
        hidden.scatter_(1, order_fn(scores)[:, :num_hard], True)
        if num_hard == num_hidden:
            return hidden
        if rest == "overlap":  # random patches drawn among ALL patches
            extra = torch.rand(batch, n, generator=generator).argsort(1)[:, : num_hidden - num_hard]
        elif rest == "no-generator":
            extra = torch.rand(batch, n).masked_fill(hidden, -1).argsort(1, descending=True)[:, : num_hidden - num_hard]
        elif rest == "fixed":  # the lowest-index free patches
            extra = (~hidden).float().argsort(dim=1, descending=True, stable=True)[:, : num_hidden - num_hard]
        elif rest == "weighted":  # next patches drawn in proportion to the scores
            weights = (scores - scores.min() + 0.01).masked_fill(hidden, 0) ** 3
            extra = torch.multinomial(weights, num_hidden - num_hard, generator=generator)
        else:
            extra = torch.rand(batch, n, generator=generator).masked_fill(hidden, -1).argsort(
                1, descending=True)[:, : num_hidden - num_hard]
        return hidden.scatter_(1, extra, True)

    return fn


def descending(scores):
    return scores.argsort(1, descending=True)


@pytest.mark.parametrize(
    "fn, words",
    [
        (_mask_from(lambda s: s.argsort(1)), "LOWEST predicted loss"),
        (_mask_from(descending, alpha_fn=lambda a: 1.0), "ignores alpha: all 12"),
        (_mask_from(descending, alpha_fn=lambda a: 0.5), "ignores alpha, or uses a fixed number"),
        (_mask_from(descending, rest="overlap"), "overlaps the hard part"),
        (_mask_from(descending, rest="no-generator"), "draw the random part with the generator"),
        (_mask_from(descending, rest="fixed"), "every seed gives the same mask"),
        (_mask_from(descending, rest="weighted"), "not uniform"),
        (lambda s, k, a, g: torch.ones_like(s, dtype=torch.bool), "expected 12 each"),
        (lambda s, k, a, g: torch.zeros(4, 4, dtype=torch.bool), "shape [4, 16]"),
    ],
)
def test_hpm_mask_mistakes_are_named(fn, words):
    result = check_hpm_mask(fn)
    assert not result.passed and words in result.message, result.message


def test_hpm_mask_accepts_zero_one_integers():
    assert check_hpm_mask(lambda *args: SOL.my_hpm_mask(*args).long()).passed


# ------------------------------------------------------------------ ranking-loss mistakes
def _ranking(predicted, actual, sign=1, strict=True, reduce="mean", flatten=False):
    if flatten:
        predicted, actual = predicted.reshape(1, -1), actual.reshape(1, -1)
    gap = sign * (predicted.unsqueeze(1) - predicted.unsqueeze(2))
    harder = actual.unsqueeze(1) > actual.unsqueeze(2) if strict else actual.unsqueeze(1) >= actual.unsqueeze(2)
    values = F.softplus(-gap[harder])
    return values.mean() if reduce == "mean" else values.sum()


@pytest.mark.parametrize(
    "fn, words",
    [
        (lambda p, a: _ranking(p, a, sign=-1), "sign is flipped"),
        (lambda p, a: _ranking(p, a, strict=False), "ties out"),
        (lambda p, a: _ranking(p, a, reduce="sum"), "take the mean"),
        (lambda p, a: _ranking(p, a, flatten=True), "different images"),
        (lambda p, a: torch.tensor(float(_ranking(p, a).detach())), "no gradient"),
        (lambda p, a: ((p - a) ** 2).mean(), "expected"),
        (lambda p, a: F.softplus(-(p.unsqueeze(1) - p.unsqueeze(2))), "one number"),
    ],
)
def test_ranking_loss_mistakes_are_named(fn, words):
    result = check_ranking_loss(fn)
    assert not result.passed and words in result.message, result.message


def test_ranking_loss_in_the_official_symmetric_form_passes():
    """HPM's code sums both directions (positive and negative labels) and divides by the valid pairs."""

    def official(p, a):
        positive = a.unsqueeze(1) > a.unsqueeze(2)
        negative = a.unsqueeze(1) < a.unsqueeze(2)
        gap = p.unsqueeze(1) - p.unsqueeze(2)
        loss = -positive.int() * torch.log(torch.sigmoid(gap) + 1e-6) - negative.int() * torch.log(1 - torch.sigmoid(gap) + 1e-6)
        return loss.sum() / (positive | negative).sum()

    assert check_ranking_loss(official).passed


# ------------------------------------------------------------------ sampling-loss mistakes
def _sampling(probs, hidden, loss, sign=1, use_log=True, keep=None, detach=True, divide="hidden"):
    weights = (hidden if keep is None else keep(hidden)).float()
    reward = loss.detach() if detach else loss
    terms = (probs.log() if use_log else probs) * reward * weights
    denominator = weights.sum(1) if divide == "hidden" else (probs.shape[1] if divide == "all" else 1)
    return (-sign * terms.sum(1) / denominator).mean()


@pytest.mark.parametrize(
    "fn, words",
    [
        (lambda p, h, l: _sampling(p, h, l, sign=-1), "sign is flipped"),
        (lambda p, h, l: _sampling(p, h, l, keep=lambda m: ~m), "visible patches"),
        (lambda p, h, l: _sampling(p, h, l, use_log=False), "log p"),
        (lambda p, h, l: _sampling(p, h, l, divide="all"), "averaged over all 8"),
        (lambda p, h, l: _sampling(p, h, l, divide="none"), "summed"),
        (lambda p, h, l: _sampling(p, h, l, detach=False), "detach"),
        (lambda p, h, l: torch.tensor(float(_sampling(p, h, l).detach())), "no gradient"),
    ],
)
def test_sampling_loss_mistakes_are_named(fn, words):
    result = check_sampling_loss(fn)
    assert not result.passed and words in result.message, result.message
