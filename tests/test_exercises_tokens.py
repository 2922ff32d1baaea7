"""Lab 13's exercise checks: the reference solutions pass, unfinished stubs fail politely, and each
typical mistake gets its own message."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from solutions_loader import load_solutions

from mae_lab.exercises import tokens as ex

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "13_teachers_and_tokens.ipynb"
CHECKS = {
    "my_feature_loss": ex.check_feature_loss,
    "my_nearest_code": ex.check_nearest_code,
    "my_reveal_schedule": ex.check_reveal_schedule,
    "my_unmask_step": ex.check_unmask_step,
}


@pytest.fixture(scope="module")
def sol():
    return load_solutions("13")


@pytest.mark.parametrize("name", list(CHECKS))
def test_reference_solutions_pass(sol, name):
    result = CHECKS[name](getattr(sol, name))
    assert result.passed, str(result)


@pytest.mark.parametrize("name", list(CHECKS))
def test_unfinished_stub_fails_politely(name):
    def stub(*args):
        raise NotImplementedError

    result = CHECKS[name](stub)
    assert not result.passed and "not implemented yet" in result.message
    assert "forget `return`" in CHECKS[name](lambda *args: None).message
    assert "raised ZeroDivisionError" in CHECKS[name](lambda *args: 1 / 0).message


def test_notebook_has_a_stub_for_every_solution(sol):
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    code = "\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "code")
    for name in CHECKS:
        assert f"def {name}(" in code, f"the notebook has no stub for {name}"
    assert code.count("raise NotImplementedError") == len(CHECKS)
    assert "solutions" not in code.replace("notebooks/solutions", ""), "solutions must not be imported inline"


# ----------------------------------------------------------------------------- feature loss
def _message(check, fn):
    result = check(fn)
    assert not result.passed
    return result.message


def test_feature_loss_mistakes():
    def all_patches(pred, target, hidden):
        return ((pred - target.detach()) ** 2).mean()

    def visible(pred, target, hidden):
        return ((pred - target.detach()) ** 2).mean(-1)[~hidden].mean()

    def summed_features(pred, target, hidden):
        return ((pred - target.detach()) ** 2).sum(-1)[hidden].mean()

    def no_stop_gradient(pred, target, hidden):
        return ((pred - target) ** 2).mean(-1)[hidden].mean()

    def detached_pred(pred, target, hidden):
        return ((pred.detach() - target.detach()) ** 2).mean(-1)[hidden].mean()

    assert "every patch" in _message(ex.check_feature_loss, all_patches)
    assert "visible patches" in _message(ex.check_feature_loss, visible)
    assert "summed the squared errors" in _message(ex.check_feature_loss, summed_features)
    assert "detach it" in _message(ex.check_feature_loss, no_stop_gradient)
    assert "no gradient" in _message(ex.check_feature_loss, detached_pred)


# ----------------------------------------------------------------------------- nearest code
def test_nearest_code_mistakes():
    def farthest(vectors, codebook):
        return torch.cdist(vectors, codebook).argmax(dim=1)

    def wrong_axis(vectors, codebook):
        return torch.cdist(vectors, codebook).argmin(dim=0)

    def dot_product(vectors, codebook):
        return (vectors @ codebook.T).argmax(dim=1)

    def distances(vectors, codebook):
        return torch.cdist(vectors, codebook).min(dim=1).values

    assert "farthest" in _message(ex.check_nearest_code, farthest)
    assert "dim 0" in _message(ex.check_nearest_code, wrong_axis)
    assert "dot product" in _message(ex.check_nearest_code, dot_product)
    assert "indices" in _message(ex.check_nearest_code, distances)


# ----------------------------------------------------------------------------- reveal schedule
def test_reveal_schedule_mistakes(sol):
    def revealed(n, steps):
        return [n - h for h in sol.my_reveal_schedule(n, steps)]

    def linear(n, steps):
        return [math.floor(n * (1 - (t + 1) / steps)) for t in range(steps)]

    def no_clamp(n, steps):
        return [math.floor(n * math.cos(math.pi / 2 * (t + 1) / steps)) for t in range(steps - 1)] + [0]

    def shifted(n, steps):
        counts, hidden = [], n
        for t in range(steps):
            hidden = min(math.floor(n * math.cos(math.pi / 2 * t / steps)), hidden - 1)
            counts.append(max(hidden, 0))
        counts[-1] = 0
        return counts

    def leaves_one(n, steps):
        return sol.my_reveal_schedule(n, steps)[:-1] + [1]

    assert "revealed" in _message(ex.check_reveal_schedule, revealed)
    assert "straight line" in _message(ex.check_reveal_schedule, linear)
    assert "at least one" in _message(ex.check_reveal_schedule, no_clamp)
    assert "off by one" in _message(ex.check_reveal_schedule, shifted)
    assert "every token must be revealed" in _message(ex.check_reveal_schedule, leaves_one)
    assert "one count per step" in _message(ex.check_reveal_schedule, lambda n, steps: [0])


# ----------------------------------------------------------------------------- unmasking step
def test_unmask_step_mistakes(sol):
    def rehides(probs, codes, hidden, k):
        confidence, guess = probs.max(dim=-1)
        guess = torch.where(hidden, guess, codes)
        least = confidence.argsort(dim=1)[:, :k]  # forgot to protect the revealed tokens
        still = torch.zeros_like(hidden).scatter_(1, least, True)
        return torch.where(still, codes, guess), still

    def most_confident_hidden(probs, codes, hidden, k):
        confidence, guess = probs.max(dim=-1)
        guess = torch.where(hidden, guess, codes)
        confidence = torch.where(hidden, confidence, -torch.inf)
        most = confidence.argsort(dim=1, descending=True)[:, :k]
        still = torch.zeros_like(hidden).scatter_(1, most, True)
        return torch.where(still, codes, guess), still

    def overwrites_revealed(probs, codes, hidden, k):
        new_codes, still = sol.my_unmask_step(probs, codes, hidden, k)
        return torch.where(still, new_codes, probs.argmax(-1)), still

    def wrong_count(probs, codes, hidden, k):
        return sol.my_unmask_step(probs, codes, hidden, int(hidden.sum(1)[0]) - k)

    def sampled_not_argmax(probs, codes, hidden, k):
        new_codes, still = sol.my_unmask_step(probs, codes, hidden, k)
        newly = hidden & ~still
        return torch.where(newly, probs.argmin(-1), new_codes), still

    assert "hidden again" in _message(ex.check_unmask_step, rehides)
    assert "*most* confident" in _message(ex.check_unmask_step, most_confident_hidden)
    assert "already revealed changed" in _message(ex.check_unmask_step, overwrites_revealed)
    assert "should be *revealed*" in _message(ex.check_unmask_step, wrong_count)
    assert "most probable code" in _message(ex.check_unmask_step, sampled_not_argmax)
    assert "two tensors" in _message(ex.check_unmask_step, lambda *a: torch.zeros(3))
