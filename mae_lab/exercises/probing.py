"""Exercises of lab 06 (probing): the weighted kNN vote."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..probe import knn_predict
from .core import CheckResult, _as_tensor, _call, _fail, _ok, _shape

__all__ = ["check_knn_vote"]


def check_knn_vote(fn: Callable[..., torch.Tensor]) -> CheckResult:
    """Exercise: ``fn(train_feats, train_labels, test_feats, k, temperature, num_classes) -> predicted labels``.

    Cosine similarity, the ``k`` nearest, each voting ``exp(sim / temperature)`` (DINO's kNN).
    """
    name = "weighted kNN vote"
    gen = torch.Generator().manual_seed(4)
    centers = torch.randn(4, 16, generator=gen) * 2
    train_y = torch.arange(120) % 4
    train_f = centers[train_y] + torch.randn(120, 16, generator=gen) * 1.5
    test_y = torch.arange(40) % 4
    test_f = centers[test_y] + torch.randn(40, 16, generator=gen) * 1.5
    train_f[:, 0] += 50.0 * (train_y == 0)  # large norms: plain dot products go wrong, cosine does not
    k, temperature = 20, 0.07
    expected = knn_predict(train_f, train_y, test_f, k, temperature, 4)
    result, failure = _call(name, fn, train_f.clone(), train_y.clone(), test_f.clone(), k, temperature, 4)
    if failure is not None:
        return failure
    result, failure = _as_tensor(name, result, "the predictions")
    if failure is not None:
        return failure
    if result.shape != expected.shape:
        return _fail(name, f"return one label per test sample: shape {_shape(expected)}, got {_shape(result)}.")
    if torch.equal(result.long(), expected):
        return _ok(name, "correct — cosine similarity, top-k neighbours, votes weighted by exp(sim / T).")
    dot = test_f @ train_f.T
    top = dot.topk(k, dim=1)
    votes = torch.zeros(40, 4).scatter_add_(1, train_y[top.indices], (top.values / temperature).exp())
    if torch.equal(result.long(), votes.argmax(1)):
        return _fail(name, "you used raw dot products; normalise the features first (cosine similarity).")
    return _fail(name, f"{int((result.long() != expected).sum())} of 40 predictions differ from the reference vote.")
