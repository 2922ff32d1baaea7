"""The self-checking exercises of notebook 07 (attention): right answers pass, typical mistakes get the
message written for them."""

import pytest
import torch

from mae_lab.attention import mean_attention_distance
from mae_lab.exercises import check_attention_distance, check_prediction


def distance_right(attn, centers):
    weights = attn[:, 1:, 1:]
    weights = weights / weights.sum(-1, keepdim=True)
    return (weights * torch.cdist(centers, centers)).sum(-1).mean(-1)


def test_attention_distance_right_answers_pass_including_the_package_function():
    assert check_attention_distance(distance_right).passed
    # the package's own mean_attention_distance (one layer, one image) is the same computation
    assert check_attention_distance(lambda attn, centers: mean_attention_distance([attn[None]], (4, 4), 4)[0]).passed


def unnormalised(attn, centers):
    return (attn[:, 1:, 1:] * torch.cdist(centers, centers)).sum(-1).mean(-1)


def columns(attn, centers):
    weights = attn[:, 1:, 1:]
    return (weights / weights.sum(-2, keepdim=True) * torch.cdist(centers, centers)).sum(-1).mean(-1)


def squared(attn, centers):
    weights = attn[:, 1:, 1:]
    return (weights / weights.sum(-1, keepdim=True) * torch.cdist(centers, centers) ** 2).sum(-1).mean(-1)


def last_token_dropped(attn, centers):
    weights = attn[:, :-1, :-1]
    return (weights / weights.sum(-1, keepdim=True) * torch.cdist(centers, centers)).sum(-1).mean(-1)


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (unnormalised, "did not renormalise"),
        (columns, "renormalised the columns"),
        (squared, "squared distance"),
        (lambda attn, centers: torch.cdist(centers, centers).mean().expand(attn.shape[0]), "plain average"),
        (last_token_dropped, "class token is the *first* token"),
        (lambda attn, centers: distance_right(attn, centers) + 1.0, "expected"),
        (lambda attn, centers: distance_right(attn, centers).mean(), "keep the heads apart"),
        (lambda attn, centers: (attn[:, 1:, 1:] / attn[:, 1:, 1:].sum(-1, keepdim=True)
                                * torch.cdist(centers, centers)).sum(-1), "average over the queries"),
        (lambda attn, centers: "far", "torch tensor"),
    ],
)
def test_attention_distance_typical_mistakes_get_their_message(answer, words):
    result = check_attention_distance(answer)
    assert not result.passed
    assert words in result.message


def test_attention_distance_unfinished_stub_is_reported_not_raised():
    def stub(attn, centers):
        raise NotImplementedError

    assert "not implemented" in check_attention_distance(stub).message


@pytest.mark.parametrize(
    ("question", "right", "wrong"),
    [
        ("attention_distance_depth", "grows", ["shrinks", "same"]),
        ("mae_linear_vs_finetune", "finetune", ["linear", "same"]),
        ("block_at_high_ratio", "block", ["random", "grid"]),
    ],
)
def test_predictions_of_notebooks_06_to_08(question, right, wrong):
    assert check_prediction(question, right).passed
    assert check_prediction(question, right.upper() + " ").passed  # case and spaces do not matter
    for answer in wrong:
        result = check_prediction(question, answer)
        assert not result.passed and result.message.startswith("Not quite")
    assert "answer with one of" in check_prediction(question, "maybe").message
