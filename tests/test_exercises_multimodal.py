"""The checks of lab 16 (several modalities): the reference solutions pass, unfinished stubs fail politely,
and each typical mistake gets its own message."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from solutions_loader import load_solutions

from mae_lab.exercises.multimodal import check_joint_sequence, check_modality_losses, check_split_budget

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


SOL = load_solutions("16")
CHECKS = [check_split_budget, check_joint_sequence, check_modality_losses]


def test_the_reference_solutions_pass():
    for result in (
        check_split_budget(SOL.my_split_budget),
        check_joint_sequence(SOL.my_joint_sequence),
        check_modality_losses(SOL.my_modality_losses),
    ):
        assert result.passed, str(result)


@pytest.mark.parametrize("check", CHECKS)
def test_an_unfinished_stub_fails_politely(check):
    def stub(*args):
        raise NotImplementedError

    result = check(stub)
    assert not result.passed and "not implemented yet" in result.message


@pytest.mark.parametrize("check", CHECKS)
def test_a_function_that_returns_nothing_or_raises_is_reported(check):
    assert "returned nothing" in check(lambda *args: None).message
    assert "raised ZeroDivisionError" in check(lambda *args: 1 / 0).message


# ---------------------------------------------------------------------- 1. budget split
def test_split_plain_rounding_is_caught():
    def rounded(shares, budget, sizes):
        return [round(float(s) * budget) for s in shares]

    result = check_split_budget(rounded)
    assert (
        not result.passed
        and "sum to 8, not the budget 7" in result.message
        and "rounds up twice" in result.message
    )


def test_split_rounding_down_is_caught():
    def floored(shares, budget, sizes):
        return [math.floor(float(s) * budget) for s in shares]

    result = check_split_budget(floored)
    assert not result.passed and "rounding every share down loses tokens" in result.message


def test_split_without_a_cap_is_caught():
    def uncapped(shares, budget, sizes):
        ideal = [float(s) * budget for s in shares]
        counts = [math.floor(v) for v in ideal]
        order = sorted(range(len(ideal)), key=lambda m: counts[m] - ideal[m])
        for m in order[: budget - sum(counts)]:
            counts[m] += 1
        return counts

    result = check_split_budget(uncapped)
    assert not result.passed and "modality 0 gets 36 tokens but has only 16" in result.message


def test_split_that_caps_but_loses_the_spare_tokens_is_caught():
    def capped_only(shares, budget, sizes):
        counts = SOL.my_split_budget(shares, budget, [10**6] * len(sizes)).tolist()
        return [min(c, s) for c, s in zip(counts, sizes)]

    result = check_split_budget(capped_only)
    assert not result.passed and "cannot take are lost" in result.message


def test_split_far_from_the_shares_is_caught():
    def lopsided(shares, budget, sizes):  # the right total, but all to the last modalities with room
        counts = [0] * len(sizes)
        for m in reversed(range(len(sizes))):
            counts[m] = min(sizes[m], budget - sum(counts))
        return counts

    result = check_split_budget(lopsided)
    assert not result.passed and "rounded down or up" in result.message


def test_split_wrong_length_and_fractions_are_caught():
    assert "one count per modality" in check_split_budget(lambda s, b, z: [b]).message
    assert "whole numbers" in check_split_budget(lambda s, b, z: torch.as_tensor(s) * b).message


# ---------------------------------------------------------------------- 2. joint sequence
def test_joint_sequence_mistakes_get_their_messages():
    cases = {
        "feature dimension": lambda t, p, e: torch.cat([x + p + e[m] for m, x in enumerate(t)], dim=-1),
        "torch.stack adds a new dimension": lambda t, p, e: torch.stack(
            [x + p + e[m] for m, x in enumerate(t)]
        ),
        "no modality embedding": lambda t, p, e: torch.cat([x + p for x in t], dim=1),
        "no position": lambda t, p, e: torch.cat([x + e[m] for m, x in enumerate(t)], dim=1),
        "embedding of modality 0": lambda t, p, e: torch.cat([x + p + e[0] for x in t], dim=1),
        "wrong order": lambda t, p, e: torch.cat([x + p + e[len(t) - 1 - m] for m, x in enumerate(t)], dim=1),
        "whole modality table": lambda t, p, e: torch.cat([x + p + e.sum(0) for x in t], dim=1),
        "interleaved": lambda t, p, e: torch.stack([x + p + e[m] for m, x in enumerate(t)], dim=2).flatten(
            1, 2
        ),
        "the shape is right but not the values": lambda t, p, e: torch.cat(
            [x * 2 + p + e[m] for m, x in enumerate(t)], 1
        ),
    }
    for words, fn in cases.items():
        result = check_joint_sequence(fn)
        assert not result.passed and words in result.message, (words, result.message)


# ---------------------------------------------------------------------- 3. loss per modality
def _losses(rule):
    def fn(preds, targets, hidden):
        return {k: rule((preds[k] - targets[k]) ** 2, hidden[k].float()) for k in preds}

    return fn


def test_modality_loss_mistakes_get_their_messages():
    cases = {
        "every patch": _losses(lambda sq, h: sq.mean()),
        "scored the visible patches": _losses(lambda sq, h: (sq.mean(-1) * (1 - h)).sum() / (1 - h).sum()),
        "nan (0 / 0)": _losses(lambda sq, h: (sq.mean(-1) * h).sum() / h.sum()),
        "divide by how many": _losses(lambda sq, h: (sq.mean(-1) * h).sum()),
        "take their mean first": _losses(lambda sq, h: (sq.sum(-1) * h).sum() / h.sum().clamp(min=1)),
    }
    for words, fn in cases.items():
        result = check_modality_losses(fn)
        assert not result.passed and words in result.message, (words, result.message)


def test_modality_loss_pooled_over_modalities_is_caught():
    def pooled(preds, targets, hidden):
        total = sum(((preds[k] - targets[k]) ** 2).mean(-1)[hidden[k]].sum() for k in preds)
        count = sum(hidden[k].sum() for k in preds)
        return {k: total / count for k in preds}

    result = check_modality_losses(pooled)
    assert not result.passed and "all modalities together" in result.message


def test_modality_loss_shape_and_type_mistakes():
    assert "a dict" in check_modality_losses(lambda p, t, h: torch.tensor(0.0)).message
    assert "every modality" in check_modality_losses(lambda p, t, h: {"rgb": torch.tensor(0.0)}).message
    one_per_patch = check_modality_losses(lambda p, t, h: {k: ((p[k] - t[k]) ** 2).mean(-1) for k in p})
    assert "one number" in one_per_patch.message


def test_modality_loss_accepts_multimae_per_sample_averaging():
    def per_sample(preds, targets, hidden):
        out = {}
        for k in preds:
            per_patch, h = ((preds[k] - targets[k]) ** 2).mean(-1), hidden[k].float()
            valid = h.sum(1) > 0
            out[k] = (
                ((per_patch * h).sum(1)[valid] / h.sum(1)[valid]).mean() if valid.any() else torch.tensor(0.0)
            )
        return out

    result = check_modality_losses(per_sample)
    assert result.passed and "MultiMAE's code" in result.message


def test_the_module_itself_passes_its_checks():
    """The package's own mechanisms are what the checks expect."""
    from mae_lab import multimodal as mm

    assert check_split_budget(lambda shares, budget, sizes: mm.split_budget(shares, budget, sizes)[0]).passed
    assert check_joint_sequence(mm.joint_sequence).passed
    assert check_modality_losses(mm.modality_losses).passed


def test_the_notebook_has_an_unfinished_stub_for_every_solution():
    cells = json.loads((NOTEBOOKS / "16_several_modalities.ipynb").read_text())["cells"]
    code = "\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "code")
    functions = [name for name in dir(SOL) if name.startswith("my_") and callable(getattr(SOL, name))]
    assert sorted(functions) == ["my_joint_sequence", "my_modality_losses", "my_split_budget"]
    for name in functions:
        assert f"def {name}(" in code, f"notebook 16 has no stub for {name}"
    assert code.count("raise NotImplementedError") == len(functions)
    assert "solutions" not in code.replace("notebooks/solutions", ""), "solutions must not be imported inline"
    assert all(not cell.get("outputs") for cell in cells if cell["cell_type"] == "code"), "commit it stripped"
