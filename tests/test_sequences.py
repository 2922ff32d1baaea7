"""The 1-D masked language model: corpus and its held-out blocks, tokenizer, BERT's corruption, learning, the
downstream task."""

from __future__ import annotations

import pytest
import torch

from mae_lab.masking import make_schedule
from mae_lab.sequences import (
    CharTokenizer,
    bag_of_characters,
    classify_sources,
    corrupt_tokens,
    evaluate_masked_lm,
    fill_in,
    load_text_corpus,
    load_text_documents,
    source_task,
    split_documents,
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


def test_documents_and_their_held_out_blocks():
    documents = load_text_documents()
    assert len(documents) == 14 and "iris" in documents and "twenty_newsgroups" in documents
    assert load_text_corpus() == "\n".join(documents.values())
    train, held_out = split_documents()
    for name, text in documents.items():
        blocks = [text[i:i + 256] for i in range(0, len(text), 256)]
        assert held_out[name] == "\n".join(blocks[2::5])  # blocks 2, 7, 12, ...: spread over the document
        assert len(train[name]) + len(held_out[name]) >= len(text)
    share = sum(map(len, held_out.values())) / sum(map(len, documents.values()))
    assert 0.15 < share < 0.25


def test_bert_corruption_has_exact_counts_and_leaves_the_rest_alone():
    tok = CharTokenizer()
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(0, tok.num_characters, (16, 64), generator=gen)
    chosen = torch.rand(16, 64, generator=gen) < 0.3
    corrupted = corrupt_tokens(ids, chosen, tok.mask_id, tok.num_characters, torch.Generator().manual_seed(1))
    assert torch.equal(corrupted[~chosen], ids[~chosen])
    k = chosen.sum(dim=1)
    assert torch.equal(((corrupted == tok.mask_id) & chosen).sum(dim=1), torch.round(0.8 * k).long())
    others = chosen & (corrupted != tok.mask_id)
    assert torch.equal(others.sum(dim=1), k - torch.round(0.8 * k).long())
    assert int(corrupted[others].max()) < tok.num_characters  # random tokens are real characters
    changed = (corrupted != ids) & others
    assert bool((changed.sum(dim=1) <= torch.round(0.1 * k).long()).all()) and int(changed.sum()) > 0
    again = corrupt_tokens(ids, chosen, tok.mask_id, tok.num_characters, torch.Generator().manual_seed(1))
    assert torch.equal(again, corrupted)
    plain = corrupt_tokens(ids, chosen, tok.mask_id, tok.num_characters, rates=(1.0, 0.0, 0.0))
    assert torch.equal(plain, ids.masked_fill(chosen, tok.mask_id))
    with pytest.raises(ValueError, match="sum"):
        corrupt_tokens(ids, chosen, tok.mask_id, tok.num_characters, rates=(0.8, 0.1, 0.2))


def test_bert_training_predicts_at_every_chosen_position_but_corrupts_fewer():
    kwargs = dict(steps=6, batch_size=16, seq_len=32, dim=32, depth=1, seed=0)
    bert = train_masked_lm(ratio=0.4, corruption="bert", **kwargs)
    plain = train_masked_lm(ratio=0.4, **kwargs)
    assert bert.corruption == "bert" and plain.corruption == "mask"
    bert_rate = sum(h["corruption"] for h in bert.history) / len(bert.history)
    plain_rate = sum(h["corruption"] for h in plain.history) / len(plain.history)
    assert plain_rate == pytest.approx(0.4, abs=0.01)
    assert 0.32 < bert_rate < 0.37  # 90 % of 40 %, a little less when a random token happens to be right
    with pytest.raises(ValueError, match="'bert'"):
        train_masked_lm(corruption="BERT", **kwargs)


def test_the_downstream_task_reads_held_out_text_only():
    task = source_task(seq_len=32, test_per_class=4)
    assert len(task.classes) == 13 and "linnerud" not in task.classes  # 704 characters: too short
    assert task.test_windows.shape == (13 * 4, 32) and task.test_labels.bincount().tolist() == [4] * 13
    train, held_out = split_documents()
    tok = task.tokenizer
    for window, label in zip(task.test_windows, task.test_labels):
        text = tok.decode(window)
        assert text in held_out[task.classes[label]]
    windows, labels = task.train_batch(8, torch.Generator().manual_seed(0))
    for window, label in zip(windows, labels):
        assert tok.decode(window) in train[task.classes[label]]
    assert "13 classes" in repr(task)


def test_fine_tuning_leaves_the_pretrained_model_alone_and_beats_chance():
    run = train_masked_lm(steps=5, batch_size=8, seq_len=32, dim=32, depth=1)
    task = source_task(seq_len=32, test_per_class=4)
    before = [p.detach().clone() for p in run.model.parameters()]
    accuracy = classify_sources(run, task, steps=40, batch_size=32)
    assert all(torch.equal(a, b) for a, b in zip(before, run.model.parameters()))
    assert 0.0 <= accuracy <= 1.0
    fresh = run.untrained_copy()
    assert not torch.equal(fresh.token_embed.weight, run.model.token_embed.weight)
    assert torch.equal(fresh.token_embed.weight, run.untrained_copy().token_embed.weight)  # seeded
    probe_only = classify_sources(run, task, steps=5, batch_size=8, freeze=True)
    assert 0.0 <= probe_only <= 1.0
    assert bag_of_characters(task, per_class=40) > 1.5 / len(task.classes)
    with pytest.raises(ValueError, match="more than the model"):
        classify_sources(run, source_task(seq_len=48, test_per_class=2), steps=1)
