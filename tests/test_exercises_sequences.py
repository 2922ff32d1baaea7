"""The checks of mae_lab/exercises/sequences.py (lab 11): BERT's 80-10-10 corruption, and the lab's predictions."""

from __future__ import annotations

import pytest
import torch

from mae_lab.exercises import PREDICTIONS, check_bert_corruption, check_prediction
from mae_lab.sequences import corrupt_tokens


def bert_right(ids, chosen, mask_id, vocab_size, generator):
    corrupted = ids.clone()
    for row in range(len(ids)):
        positions = chosen[row].nonzero().flatten()
        order = positions[torch.randperm(len(positions), generator=generator)]
        num_mask, num_random = round(0.8 * len(order)), round(0.1 * len(order))
        corrupted[row, order[:num_mask]] = mask_id
        randoms = order[num_mask:num_mask + num_random]
        corrupted[row, randoms] = torch.randint(0, vocab_size, (len(randoms),), generator=generator)
    return corrupted


def test_bert_corruption_right_answers_pass_including_the_package_function():
    assert check_bert_corruption(bert_right).passed
    result = check_bert_corruption(lambda ids, chosen, m, v, g: corrupt_tokens(ids, chosen, m, v, g))
    assert result.passed and "90 %" in result.message


def _with(num_mask_share, num_random_share, random_high=None, exact=True):
    def answer(ids, chosen, mask_id, vocab_size, generator):
        corrupted = ids.clone()
        for row in range(len(ids)):
            positions = chosen[row].nonzero().flatten()
            order = positions[torch.randperm(len(positions), generator=generator)]
            if exact:
                num_mask = round(num_mask_share * len(order))
            else:  # a coin per position: about, not exactly, the share
                num_mask = int((torch.rand(len(order), generator=generator) < num_mask_share).sum())
            num_random = round(num_random_share * len(order))
            corrupted[row, order[:num_mask]] = mask_id
            randoms = order[num_mask:num_mask + num_random]
            high = random_high if random_high is not None else vocab_size
            corrupted[row, randoms] = torch.randint(0, high, (len(randoms),), generator=generator)
        return corrupted

    return answer


def _unseeded(ids, chosen, mask_id, vocab_size, generator):
    return bert_right(ids, chosen, mask_id, vocab_size, None)


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (lambda ids, chosen, m, v, g: ids.masked_fill(chosen, m), "every chosen token became [MASK]"),
        (_with(0.8, 0.1, random_high=1000), "not in the vocabulary"),
        (_with(0.8, 0.1, random_high=21), "some random tokens are the [MASK] id"),
        (_with(0.8, 0.1, exact=False), "not exactly"),
        (_with(0.9, 0.0), "exactly round(0.8·k) = 32"),
        (_with(0.8, 0.0), "none of the chosen tokens got a random token"),
        (_with(0.8, 0.2), "too few chosen tokens were left"),
        (lambda ids, chosen, m, v, g: torch.where(chosen, torch.full_like(ids, m), ids).masked_fill(
            ~chosen, 0), "not chosen"),
        (lambda ids, chosen, m, v, g: bert_right(ids, chosen, m, v, g).float(), "long tensor"),
        (lambda ids, chosen, m, v, g: bert_right(ids, chosen, m, v, g)[:, :10], "one id per position"),
        (lambda ids, chosen, m, v, g: bert_right(ids, chosen, m, v, torch.Generator().manual_seed(5)),
         "two different generators"),
    ],
)
def test_bert_corruption_typical_mistakes_get_their_message(answer, words):
    result = check_bert_corruption(answer)
    assert not result.passed
    assert words in result.message, result.message


def test_bert_corruption_without_the_generator_is_not_reproducible():
    torch.manual_seed(0)
    result = check_bert_corruption(_unseeded)
    assert not result.passed and "generator" in result.message


def test_bert_corruption_stub_is_reported_not_raised():
    def stub(ids, chosen, mask_id, vocab_size, generator):
        raise NotImplementedError

    assert "not implemented yet" in check_bert_corruption(stub).message


@pytest.mark.parametrize(
    ("question", "right", "wrong"),
    [("mlm_eval_ratio", "down", ["up", "same"]), ("mlm_corruption_rate", "13.5", ["15", "12"])],
)
def test_predictions_of_lab_11(question, right, wrong):
    assert check_prediction(question, right).passed
    assert check_prediction(question, f" {right} ").passed
    for answer in wrong:
        result = check_prediction(question, answer)
        assert not result.passed and result.message.startswith("Not quite")
    assert "answer with one of" in check_prediction(question, "maybe").message
    assert PREDICTIONS[question][0] == right
