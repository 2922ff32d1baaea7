"""Every check passes a right answer and explains the typical wrong ones."""

from __future__ import annotations

import torch

from mae_lab import exercises as ex
from mae_lab.patches import patchify


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


def test_num_visible():
    assert ex.check_num_visible(49)
    assert ex.check_num_visible(50)  # counting the class token
    assert "hidden" in ex.check_num_visible(147).message
    assert not ex.check_num_visible("lots")


def _masking(noise, ratio):
    keep = noise.shape[1] - round(noise.shape[1] * ratio)
    shuffle = torch.argsort(noise, dim=1)
    return shuffle[:, :keep], torch.argsort(shuffle, dim=1)


def test_random_masking():
    assert ex.check_random_masking(_masking)

    def largest(noise, ratio):
        keep = noise.shape[1] - round(noise.shape[1] * ratio)
        shuffle = torch.argsort(noise, dim=1, descending=True)
        return shuffle[:, :keep], torch.argsort(shuffle, dim=1)

    assert "largest" in ex.check_random_masking(largest).message

    def restore_is_shuffle(noise, ratio):
        keep, _ = _masking(noise, ratio)
        return keep, torch.argsort(noise, dim=1)

    assert "ids_restore equals ids_shuffle" in ex.check_random_masking(restore_is_shuffle).message

    def hidden_count(noise, ratio):
        shuffle = torch.argsort(noise, dim=1)
        return shuffle[:, : round(noise.shape[1] * ratio)], torch.argsort(shuffle, dim=1)

    assert "hidden count" in ex.check_random_masking(hidden_count).message


def test_masked_loss():
    def right(pred, target, hidden):
        per_patch = ((pred - target) ** 2).mean(-1)
        return (per_patch * hidden).sum() / hidden.sum()

    assert ex.check_masked_loss(right)
    assert "all patches" in ex.check_masked_loss(lambda p, t, h: ((p - t) ** 2).mean()).message
    assert "visible" in ex.check_masked_loss(
        lambda p, t, h: (((p - t) ** 2).mean(-1) * ~h).sum() / (~h).sum()
    ).message
    assert "summed the squared error" in ex.check_masked_loss(
        lambda p, t, h: (((p - t) ** 2).sum(-1) * h).sum() / h.sum()
    ).message
    assert "one number" in ex.check_masked_loss(lambda p, t, h: ((p - t) ** 2).mean(-1)).message


def test_norm_pixels():
    def right(x):
        return (x - x.mean(-1, keepdim=True)) / (x.var(-1, keepdim=True) + 1e-6) ** 0.5

    assert ex.check_norm_pixels(right)
    assert "whole batch" in ex.check_norm_pixels(lambda x: (x - x.mean()) / (x.var() + 1e-6) ** 0.5).message
    assert "did not divide" in ex.check_norm_pixels(lambda x: x - x.mean(-1, keepdim=True)).message


def test_lr_scaling():
    assert ex.check_lr_scaling(lambda lr, b: lr * b / 256)
    assert "per 256" in ex.check_lr_scaling(lambda lr, b: lr * b).message
    assert "upside down" in ex.check_lr_scaling(lambda lr, b: lr * 256 / b).message


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


def test_sequence_masking():
    def right(length, ratio, generator):
        hidden = torch.zeros(length, dtype=torch.bool)
        hidden[torch.randperm(length, generator=generator)[: round(length * ratio)]] = True
        return hidden

    def fixed(length, ratio, generator):
        hidden = torch.zeros(length, dtype=torch.bool)
        hidden[: round(length * ratio)] = True
        return hidden

    def floor(length, ratio, generator):
        hidden = torch.zeros(length, dtype=torch.bool)
        hidden[torch.randperm(length, generator=generator)[: int(length * ratio) - 1]] = True
        return hidden

    assert ex.check_sequence_masking(right)
    assert "same mask" in ex.check_sequence_masking(fixed).message
    assert "hide round" in ex.check_sequence_masking(floor).message


def test_predictions():
    assert ex.check_prediction("block_vs_random_error", "block")
    wrong = ex.check_prediction("block_vs_random_error", "random")
    assert not wrong and "neighbour" in wrong.message
    assert "answer with one of" in ex.check_prediction("best_ratio_images", "maybe").message


def test_result_renders_in_a_notebook():
    result = ex.check_num_visible(49)
    assert "✓" in str(result) and "<div" in result._repr_html_()
