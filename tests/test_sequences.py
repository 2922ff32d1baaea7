"""The 1-D masked language model: corpus, tokenizer, masks from the shared registry, learning."""

from __future__ import annotations

import pytest
import torch

from mae_lab.masking import make_schedule
from mae_lab.sequences import (
    CharTokenizer,
    evaluate_masked_lm,
    fill_in,
    load_text_corpus,
    train_masked_lm,
)


def test_corpus_is_bundled_english_text():
    text = load_text_corpus()
    assert len(text) > 30_000
    assert "dataset" in text.lower()


def test_tokenizer_round_trip_and_errors():
    tok = CharTokenizer()
    ids = tok.encode("Masked modeling, 75%!")
    assert tok.decode(ids) == "Masked modeling, 75%!"
    assert tok.mask_id == tok.vocab_size - 1
    with pytest.raises(ValueError, match="alphabet"):
        tok.encode("é")


def test_training_learns_and_is_reproducible():
    kwargs = dict(steps=30, batch_size=16, seq_len=32, dim=32, depth=1, seed=0)
    state = torch.random.get_rng_state()
    first = train_masked_lm(ratio=0.4, **kwargs)
    assert torch.equal(state, torch.random.get_rng_state()), "training must not move the global RNG"
    again = train_masked_lm(ratio=0.4, **kwargs)
    assert [h["loss"] for h in first.history] == [h["loss"] for h in again.history]
    losses = [h["loss"] for h in first.history]
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5, "loss should fall"
    metrics = evaluate_masked_lm(first, ratio=0.15, batches=2, batch_size=8)
    chance = 1 / first.tokenizer.vocab_size
    assert metrics["accuracy"] > chance  # frequent characters (spaces, e) are learnt in a few steps


def test_ratio_schedule_is_followed():
    schedule = make_schedule("linear", 0.4, 0.15)
    result = train_masked_lm(ratio=schedule, steps=5, batch_size=4, seq_len=20, dim=32, depth=1)
    ratios = [h["ratio"] for h in result.history]
    assert ratios[0] == pytest.approx(0.4) and ratios[-1] == pytest.approx(0.15)


def test_fill_in_keeps_visible_characters():
    result = train_masked_lm(steps=2, batch_size=4, seq_len=16, dim=32, depth=1)
    text = "masked modeling!"
    hidden = torch.zeros(len(text), dtype=torch.bool)
    hidden[3:6] = True
    out = fill_in(result, text, hidden)
    assert len(out) == len(text)
    assert out[:3] == text[:3] and out[6:] == text[6:]
    with pytest.raises(ValueError, match="entries"):
        fill_in(result, text, hidden[:-1])
