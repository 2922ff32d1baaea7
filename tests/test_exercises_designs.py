"""The checks of mae_lab/exercises/designs.py (lab 10): SimMIM's encoder input, a cosine schedule, a prediction."""

from __future__ import annotations

import math

import pytest
import torch

from mae_lab.exercises import check_cosine_schedule, check_prediction, check_simmim_tokens
from mae_lab.masking import make_schedule
from mae_lab.models import MaskedAutoencoder, get_preset


# ---------------------------------------------------------------------------------------------
# SimMIM: the mask token replaces hidden patches before the encoder
# ---------------------------------------------------------------------------------------------
def simmim_right(tokens, hidden, mask_token, pos_embed):
    return torch.where(hidden.unsqueeze(-1), mask_token, tokens) + pos_embed


def test_simmim_tokens_right_answer_passes_and_is_what_the_model_does():
    assert check_simmim_tokens(simmim_right).passed
    model = MaskedAutoencoder(get_preset("mae_micro", design="simmim"))
    images = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    mask = model.make_mask(2, ratio=0.5, seed=0)
    with torch.no_grad():
        expected = model._simmim_tokens(images, mask)  # [B, N, D], the encoder's input before the class token
        tokens = model.encoder.patch_embed(images)
        mine = simmim_right(tokens, mask.hidden, model.mask_token, model.encoder.pos_embed[:, 1:])
    assert torch.allclose(mine, expected)


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (lambda t, h, m, p: t[~h].reshape(t.shape[0], -1, t.shape[-1]) + p[:, :4], "as MAE's encoder does"),
        (lambda t, h, m, p: torch.where(h.unsqueeze(-1), m, t + p), "no position"),
        (lambda t, h, m, p: torch.where(~h.unsqueeze(-1), m, t) + p, "visible tokens"),
        (lambda t, h, m, p: t + h.unsqueeze(-1) * m + p, "added the mask token"),
        (lambda t, h, m, p: torch.where(h.unsqueeze(-1), m, t), "position embeddings"),
        (lambda t, h, m, p: torch.where(h.unsqueeze(-1), torch.zeros_like(t), t) + p, "zeroed"),
        (lambda t, h, m, p: simmim_right(t, h, m, p)[:, :, :4], "expected shape"),
        (lambda t, h, m, p: simmim_right(t, h, m, p) * 2, "not SimMIM's input"),
    ],
)
def test_simmim_tokens_typical_mistakes_get_their_message(answer, words):
    result = check_simmim_tokens(answer)
    assert not result.passed
    assert words in result.message, result.message


def test_simmim_tokens_stub_is_reported_not_raised():
    def stub(tokens, hidden, mask_token, pos_embed):
        raise NotImplementedError

    assert "not implemented yet" in check_simmim_tokens(stub).message


# ---------------------------------------------------------------------------------------------
# a cosine ratio schedule
# ---------------------------------------------------------------------------------------------
def cosine_right(progress, start, end):
    return start + (end - start) * (1 - math.cos(math.pi * progress)) / 2


def test_cosine_schedule_right_answer_passes_and_matches_the_package():
    assert check_cosine_schedule(cosine_right).passed
    schedule = make_schedule("cosine", 0.4, 0.15)
    assert check_cosine_schedule(lambda p, s, e: make_schedule("cosine", s, e)(p)).passed
    for progress in (0.0, 0.3, 0.5, 0.9, 1.0):
        assert math.isclose(cosine_right(progress, 0.4, 0.15), schedule(progress), abs_tol=1e-12)


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (lambda p, s, e: s + (e - s) * p, "straight line"),
        (lambda p, s, e: s + (e - s) * (1 + math.cos(math.pi * p)) / 2, "backwards"),
        (lambda p, s, e: s + (e - s) * (1 - math.cos(math.pi * p)), "overshoots"),
        (lambda p, s, e: s + (e - s) * (1 - math.cos(2 * math.pi * p)) / 2, "half a period"),
        (lambda p, s, e: s + (e - s) * p**2, "shape is not half a cosine"),
        (lambda p, s, e: 0.3, "expected 0.4 at progress 0"),
        (lambda p, s, e: "0.3 please", "one number"),
    ],
)
def test_cosine_schedule_typical_mistakes_get_their_message(answer, words):
    result = check_cosine_schedule(answer)
    assert not result.passed
    assert words in result.message


def test_guided_mask_prediction():
    assert check_prediction("guided_mask_harder", "high").passed
    assert check_prediction("guided_mask_harder", " High").passed
    wrong = check_prediction("guided_mask_harder", "low")
    assert not wrong.passed and wrong.message.startswith("Not quite")
    assert "answer with one of" in check_prediction("guided_mask_harder", "hint").message
