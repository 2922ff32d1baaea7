"""Checks added for notebook 04: the mean-of-visible baseline and the hardest-patches prediction."""

import torch

from mae_lab import exercises as ex


def _visible_mean(patches, hidden):
    visible = (~hidden).unsqueeze(-1).float()
    return ((patches * visible).sum(1, keepdim=True) / visible.sum(1, keepdim=True)).expand_as(patches)


def test_mean_baseline_right():
    assert ex.check_mean_baseline(_visible_mean)
    # visible rows are not checked: any value there is fine
    assert ex.check_mean_baseline(lambda p, h: torch.where(h.unsqueeze(-1), _visible_mean(p, h), p))


def test_mean_baseline_typical_mistakes():
    everything = ex.check_mean_baseline(lambda p, h: p.mean(1, keepdim=True).expand_as(p))
    assert not everything and "hidden ones included" in everything.message
    peeking = ex.check_mean_baseline(
        lambda p, h: ((p * h.unsqueeze(-1)).sum(1, keepdim=True) / h.sum(1).view(-1, 1, 1)).expand_as(p))
    assert not peeking and "peeks" in peeking.message
    batch = ex.check_mean_baseline(
        lambda p, h: ((p * (~h).unsqueeze(-1)).sum((0, 1), keepdim=True) / (~h).sum()).expand_as(p))
    assert not batch and "whole batch" in batch.message
    inside = ex.check_mean_baseline(lambda p, h: p.mean(-1, keepdim=True).expand_as(p))
    assert not inside and "dim=-1" in inside.message
    shape = ex.check_mean_baseline(lambda p, h: p.mean(1))
    assert not shape and "shape [3, 16, 12]" in shape.message


def test_mean_baseline_stub_is_reported():
    def todo(patches, hidden):
        raise NotImplementedError

    assert "not implemented" in ex.check_mean_baseline(todo).message


def test_hardest_patches_prediction():
    assert ex.check_prediction("hardest_patches", "textured")
    assert not ex.check_prediction("hardest_patches", "flat")
