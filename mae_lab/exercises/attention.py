"""Exercises of lab 07 (attention): rollout and mean attention distance."""

from __future__ import annotations

from collections.abc import Callable

import torch

from .core import CheckResult, _as_tensor, _call, _fail, _ok, _shape

__all__ = ["check_attention_distance", "check_rollout"]


def check_rollout(fn: Callable[[list], torch.Tensor]) -> CheckResult:
    """Exercise: ``fn(attentions: list of [heads, T, T]) -> [T, T]`` attention rollout (Abnar & Zuidema, 2020).

    Average the heads, add the identity (the residual path), renormalise the rows, multiply
    the layers' matrices from the first to the last.
    """
    name = "attention rollout"
    gen = torch.Generator().manual_seed(5)
    attentions = [torch.softmax(torch.randn(3, 5, 5, generator=gen) * 2, dim=-1) for _ in range(4)]
    rollout = torch.eye(5)
    for attn in attentions:
        a = attn.mean(0) + torch.eye(5)
        a = a / a.sum(-1, keepdim=True)
        rollout = a @ rollout
    result, failure = _call(name, fn, [a.clone() for a in attentions])
    if failure is not None:
        return failure
    result, failure = _as_tensor(name, result, "the rollout")
    if failure is not None:
        return failure
    if result.shape != rollout.shape:
        return _fail(name, f"expected a [T, T] matrix {_shape(rollout)}, got {_shape(result)}; average over heads.")
    if torch.allclose(result, rollout, atol=1e-5):
        return _ok(name, "correct — each row still sums to 1, and the residual path is counted.")
    no_identity = torch.eye(5)
    for attn in attentions:
        no_identity = attn.mean(0) @ no_identity
    if torch.allclose(result, no_identity, atol=1e-5):
        return _fail(name, "you forgot the residual connection: add the identity before renormalising.")
    reversed_order = torch.eye(5)
    for attn in attentions:
        a = attn.mean(0) + torch.eye(5)
        reversed_order = reversed_order @ (a / a.sum(-1, keepdim=True))
    if torch.allclose(result, reversed_order, atol=1e-5):
        return _fail(name, "off by a transpose of the product: multiply later layers on the left (rollout = A_l @ rollout).")
    if torch.allclose(result.sum(-1), torch.ones(5), atol=1e-4):
        return _fail(name, "rows sum to 1 but the values differ; check the head average and the order of products.")
    return _fail(name, "rows of a rollout must sum to 1; renormalise after adding the identity.")


def check_attention_distance(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> CheckResult:
    """Exercise: ``fn(attn [heads, T, T], centers [N, 2]) -> [heads]``, the mean attention distance in pixels.

    ``attn`` is one layer's attention for one image, class token first (``T = 1 + N``);
    ``centers`` are the patch centres in pixels. Leave the class token out (as query and as
    key), renormalise each query's weights to sum to 1, weight the distance to every key by
    them, then average over the queries (ViT paper, Figure 7).
    """
    name = "mean attention distance"
    gen = torch.Generator().manual_seed(8)
    grid, patch = (4, 4), 4
    rows, cols = torch.meshgrid(torch.arange(grid[0]), torch.arange(grid[1]), indexing="ij")
    centers = (torch.stack([rows.reshape(-1), cols.reshape(-1)], dim=1).float() + 0.5) * patch  # [N, 2]
    distance = torch.cdist(centers, centers)  # [N, N]
    local_bias = torch.cat([torch.zeros(1, 17), torch.cat([torch.zeros(16, 1), -distance / 3], dim=1)])
    logits = torch.randn(3, 17, 17, generator=gen) * 1.5 + local_bias * torch.tensor([2.0, 0.5, 0.0]).view(3, 1, 1)
    attn = torch.softmax(logits, dim=-1)  # [heads, T, T]: a local head, a mixed one, a global one

    def weighted(weights):  # [heads, N, N] -> [heads]
        return (weights * distance).sum(-1).mean(-1)

    patches = attn[:, 1:, 1:]  # [heads, N, N]
    expected = weighted(patches / patches.sum(-1, keepdim=True))
    result, failure = _call(name, fn, attn.clone(), centers.clone())
    if failure is not None:
        return failure
    result, failure = _as_tensor(name, result, "the distances")
    if failure is not None:
        return failure
    result = result.float()
    if result.shape != expected.shape:
        if tuple(result.shape) == (3, 16):
            return _fail(name, "you return one distance per head *and query*; average over the queries too (shape [heads]).")
        if result.numel() == 1 or tuple(result.shape) == (16,):
            return _fail(name, "keep the heads apart: return one distance per head, shape [heads]; "
                         "average over the queries only.")
        return _fail(name, f"expected one distance per head, shape {_shape(expected)}, got {_shape(result)}.")
    if torch.allclose(result, expected, rtol=1e-4, atol=1e-4):
        return _ok(name, f"correct — {', '.join(f'{v:.1f}' for v in expected.tolist())} px: a local head, a mixed "
                   "one and a global one.")
    wrong = [
        (weighted(patches), "you did not renormalise: after dropping the class token, each query's weights no "
         "longer sum to 1 — divide them by their sum (dim=-1) first"),
        (weighted(patches / patches.sum(-2, keepdim=True)), "you renormalised the columns; renormalise each "
         "query's row (dim=-1): row i is what query i looks at"),
        ((patches / patches.sum(-1, keepdim=True) * distance**2).sum(-1).mean(-1),
         "you weighted the squared distance; weight the distance itself (torch.cdist)"),
        (distance.mean().expand(3), "that is the plain average distance between patches, the same for every "
         "head; weight each distance by the attention the query pays to that key"),
        (weighted(attn[:, :-1, :-1] / attn[:, :-1, :-1].sum(-1, keepdim=True)), "off by one token: the class "
         "token is the *first* token, so drop row and column 0 (attn[:, 1:, 1:])"),
    ]
    for variant, message in wrong:
        if torch.allclose(result, variant, rtol=1e-4, atol=1e-4):
            return _fail(name, message + ".")
    return _fail(name, f"expected {', '.join(f'{v:.2f}' for v in expected.tolist())} px, got "
                 f"{', '.join(f'{v:.2f}' for v in result.tolist())}: drop the class token, renormalise rows, "
                 "weight the distances, average over queries.")
