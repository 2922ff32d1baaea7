"""The checks shared by several labs (patches, kNN vote, rollout, token count, attention distance): every check passes a right answer and explains the typical wrong ones."""

from __future__ import annotations

import pytest
import torch

from mae_lab import exercises as ex
from mae_lab.attention import mean_attention_distance
from mae_lab.exercises import (
    check_attention_distance,
)
from mae_lab.patches import patchify


# ---------------------------------------------------------------------------------------------
# from the checks of every lab
# ---------------------------------------------------------------------------------------------
def _patchify_channel_first(images, p):
    b, c, h, w = images.shape
    x = images.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(b, (h // p) * (w // p), -1)


def _patchify_transposed(images, p):
    b, c, h, w = images.shape
    x = images.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 5, 3, 1)
    return x.reshape(b, (h // p) * (w // p), -1)


def _patchify_column_major(images, p):
    b, c, h, w = images.shape
    x = images.reshape(b, c, h // p, p, w // p, p).permute(0, 4, 2, 3, 5, 1)
    return x.reshape(b, (h // p) * (w // p), -1)


def test_patchify_right_and_wrong():
    assert ex.check_patchify(patchify)
    assert "channel" in ex.check_patchify(_patchify_channel_first).message
    assert "transpose" in ex.check_patchify(_patchify_transposed).message
    assert "row by row" in ex.check_patchify(_patchify_column_major).message
    wrong_shape = ex.check_patchify(lambda im, p: im.flatten(2).transpose(1, 2))
    assert not wrong_shape and "expected shape [2, 6, 48]" in wrong_shape.message


def test_a_missing_body_or_a_crash_is_reported_not_raised():
    def todo(images, p):
        raise NotImplementedError

    assert "not implemented" in ex.check_patchify(todo).message
    assert "raised ZeroDivisionError" in ex.check_patchify(lambda im, p: 1 / 0).message
    assert "returned nothing" in ex.check_patchify(lambda im, p: None).message


def test_knn_vote():
    def right(train_f, train_y, test_f, k, t, c):
        sims = torch.nn.functional.normalize(test_f, dim=1) @ torch.nn.functional.normalize(train_f, dim=1).T
        top = sims.topk(k, dim=1)
        votes = torch.zeros(len(test_f), c).scatter_add_(1, train_y[top.indices], (top.values / t).exp())
        return votes.argmax(1)

    def dot(train_f, train_y, test_f, k, t, c):
        top = (test_f @ train_f.T).topk(k, dim=1)
        votes = torch.zeros(len(test_f), c).scatter_add_(1, train_y[top.indices], (top.values / t).exp())
        return votes.argmax(1)

    assert ex.check_knn_vote(right)
    assert "normalise" in ex.check_knn_vote(dot).message


def test_rollout():
    def right(attentions):
        rollout = torch.eye(attentions[0].shape[-1])
        for a in attentions:
            a = a.mean(0) + torch.eye(a.shape[-1])
            rollout = (a / a.sum(-1, keepdim=True)) @ rollout
        return rollout

    def no_identity(attentions):
        rollout = torch.eye(attentions[0].shape[-1])
        for a in attentions:
            rollout = a.mean(0) @ rollout
        return rollout

    assert ex.check_rollout(right)
    assert "residual" in ex.check_rollout(no_identity).message


# ---------------------------------------------------------------------------------------------
# from the checks of lab 01
# ---------------------------------------------------------------------------------------------
def test_token_count_right_and_wrong():
    assert ex.check_token_count(lambda h, w, p, c: ((h // p) * (w // p), p * p * c))
    per_pixel = ex.check_token_count(lambda h, w, p, c: (h * w // p, p * p * c))
    assert not per_pixel and "p²" in per_pixel.message
    no_channels = ex.check_token_count(lambda h, w, p, c: ((h // p) * (w // p), p * p))
    assert not no_channels and "every channel" in no_channels.message
    swapped = ex.check_token_count(lambda h, w, p, c: (p * p * c, (h // p) * (w // p)))
    assert not swapped and "swapped" in swapped.message
    with_cls = ex.check_token_count(lambda h, w, p, c: ((h // p) * (w // p) + 1, p * p * c))
    assert not with_cls and "class token" in with_cls.message


def test_token_count_rectangular_images():
    square_only = ex.check_token_count(lambda h, w, p, c: ((h // p) ** 2, p * p * c))
    assert not square_only and "64×96" in square_only.message


def test_token_count_stub_and_bad_return():
    def todo(h, w, p, c):
        raise NotImplementedError

    assert "not implemented" in ex.check_token_count(todo).message
    assert "two numbers" in ex.check_token_count(lambda h, w, p, c: 196).message


# ---------------------------------------------------------------------------------------------
# from the checks of lab 07
# ---------------------------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------------------------
# from the checks of lab 09
# ---------------------------------------------------------------------------------------------








# ---------------------------------------------------------------------------------------------
# from the checks of lab 10
# ---------------------------------------------------------------------------------------------
