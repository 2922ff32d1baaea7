"""The reference solutions of notebooks 05-08 pass their own checks, and match the notebooks' stubs."""

from __future__ import annotations

import json

import pytest
from solutions_loader import NOTEBOOKS, load_solutions

from mae_lab import exercises as ex


def test_05_lr_scaling_and_schedule():
    sol = load_solutions("05")
    assert ex.check_lr_scaling(sol.scaled_lr)
    assert ex.check_warmup_cosine(sol.warmup_cosine)


def test_05_schedule_matches_the_one_pretrain_uses():
    from mae_lab.schedules import warmup_cosine as learning_rate

    sol = load_solutions("05")
    for progress in (0.0, 0.05, 0.1, 0.3, 0.7, 1.0):
        assert sol.warmup_cosine(progress, 1e-3, 1e-5, 0.1) == pytest.approx(learning_rate(progress, 1e-3, 1e-5, 0.1))


def test_06_knn_vote_and_prediction():
    sol = load_solutions("06")
    assert ex.check_knn_vote(sol.knn_vote)
    assert ex.check_prediction("mae_linear_vs_finetune", sol.HIGHER)


def test_06_knn_vote_agrees_with_the_probe():
    import torch

    from mae_lab.probe import knn_probe

    sol = load_solutions("06")
    gen = torch.Generator().manual_seed(0)
    train, test = torch.randn(60, 8, generator=gen), torch.randn(30, 8, generator=gen)
    train_y, test_y = torch.arange(60) % 3, torch.arange(30) % 3
    predicted = sol.knn_vote(train, train_y, test, 20, 0.07, 3)
    assert float((predicted == test_y).float().mean()) == pytest.approx(knn_probe(train, train_y, test, test_y))


def test_07_rollout_distance_and_prediction():
    sol = load_solutions("07")
    assert ex.check_rollout(sol.rollout)
    assert ex.check_attention_distance(sol.attention_distance)
    assert ex.check_prediction("attention_distance_depth", sol.WITH_DEPTH)


def test_08_predictions():
    sol = load_solutions("08")
    assert ex.check_prediction("best_ratio_images", sol.BEST_RATIO)
    assert ex.check_prediction("block_at_high_ratio", sol.SUFFERS_MOST)


@pytest.mark.parametrize("number", ["05", "06", "07", "08"])
def test_solutions_match_the_notebook_stubs(number):
    """Every function a notebook asks for exists in its solutions module, and every check it calls exists."""
    sol = load_solutions(number)
    notebook = next(NOTEBOOKS.glob(f"{number}_*.ipynb"))
    sources = ["".join(cell["source"]) for cell in json.loads(notebook.read_text())["cells"] if cell["cell_type"] == "code"]
    stubs = [line[4:].split("(")[0] for source in sources for line in source.splitlines() if line.startswith("def ")
             and "raise NotImplementedError" in source]
    for name in stubs:
        assert callable(getattr(sol, name, None)), f"{number}_solutions.py lacks {name}()"
    for source in sources:
        for line in source.splitlines():
            if line.startswith("from mae_lab.exercises import "):
                for name in line.split(" import ")[1].split(","):
                    assert hasattr(ex, name.strip()), f"{notebook.name} imports a missing check {name.strip()}"
            if "check_prediction(\"" in line:
                question = line.split("check_prediction(\"")[1].split("\"")[0]
                assert question in ex.PREDICTIONS, f"{notebook.name} asks an unknown question {question!r}"
