"""Self-checking exercises for lab 16 (several modalities, MultiMAE).

Three mechanisms a student builds: splitting a budget of visible tokens into exact counts per
modality, the joint token sequence with modality embeddings, and the loss on each modality's
hidden patches.  Each check runs the student's function on inputs it makes itself and names the
likely mistake.

>>> from mae_lab.exercises.multimodal import check_split_budget
>>> check_split_budget(my_split_budget)        # doctest: +SKIP
✓ budget split: correct — ...
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from ..multimodal import joint_sequence, modality_losses
from .core import CheckResult, _as_tensor, _call, _fail, _ok, _shape

__all__ = ["check_joint_sequence", "check_modality_losses", "check_split_budget"]


# --------------------------------------------------------------------------- 1. the budget split
def _as_counts(name: str, value: Any, num_modalities: int) -> tuple[list[int] | None, CheckResult | None]:
    tensor, failure = _as_tensor(name, value, "the counts")
    if failure is not None:
        return None, failure
    tensor = tensor.reshape(-1)
    if tensor.numel() != num_modalities:
        return None, _fail(
            name, f"return one count per modality ({num_modalities} numbers), got {tensor.numel()}."
        )
    if tensor.is_floating_point() and not bool((tensor == tensor.round()).all()):
        return None, _fail(
            name, f"counts must be whole numbers of tokens, got {tensor.tolist()}; round them."
        )
    return [int(v) for v in tensor.tolist()], None


def check_split_budget(fn: Callable[[torch.Tensor, int, list], Any]) -> CheckResult:
    """Exercise: ``fn(shares [M], budget, sizes) -> counts [M]`` (whole numbers).

    The counts must sum to ``budget`` exactly, no modality may get more tokens than it has
    (``sizes[m]``), and where no size limit gets in the way each count is ``share * budget``
    rounded down or up.
    """
    name = "budget split"
    gen = torch.Generator().manual_seed(16)
    cases = [
        ([0.5, 0.5], 7, [64, 64]),  # plain rounding gives 4 + 4 = 8
        ([1 / 3, 1 / 3, 1 / 3], 10, [16, 16, 16]),  # plain rounding gives 9
        ([0.2, 0.5, 0.3], 20, [16, 16, 16]),  # exact
        ([0.9, 0.1], 40, [16, 64]),  # the first modality has only 16 tokens
        ([0.05, 0.15, 0.8], 30, [8, 8, 40]),
    ]
    for _ in range(6):  # random shares, some with size limits that bind
        k = int(torch.randint(2, 5, (), generator=gen))
        shares = -torch.log(torch.rand(k, generator=gen))  # Dirichlet(1): exponentials, then normalised
        sizes = [int(s) for s in torch.randint(4, 20, (k,), generator=gen)]
        budget = int(torch.randint(1, sum(sizes) + 1, (), generator=gen))
        cases.append(((shares / shares.sum()).tolist(), budget, sizes))
    for shares, budget, sizes in cases:
        result, failure = _call(name, fn, torch.tensor(shares), budget, list(sizes))
        if failure is not None:
            return failure
        counts, failure = _as_counts(name, result, len(shares))
        if failure is not None:
            return failure
        failure = _judge_split(name, counts, shares, budget, sizes)
        if failure is not None:
            return failure
    return _ok(
        name,
        "correct — every split sums to the budget, respects each modality's size, and follows the shares "
        "to within one token.",
    )


def _judge_split(
    name: str, counts: list[int], shares: list[float], budget: int, sizes: list[int]
) -> CheckResult | None:
    """None when ``counts`` is a right split, else the verdict naming the mistake."""
    ideal = [s * budget for s in shares]
    capped = [v > size for v, size in zip(ideal, sizes)]  # modalities that want more tokens than they have
    case = f"for shares {[round(s, 3) for s in shares]}, budget {budget} and sizes {sizes}"
    for m, (c, size) in enumerate(zip(counts, sizes)):
        if c < 0:
            return _fail(name, f"{case} you returned a negative count {counts}.")
        if c > size:
            return _fail(
                name,
                f"{case} modality {m} gets {c} tokens but has only {size}: cap each count at its "
                "modality's size and give the spare tokens to modalities that still have room.",
            )
    if sum(counts) != budget:
        if counts == [round(v) for v in ideal]:
            why = (
                "rounding each share on its own can gain or lose tokens (0.5 × 7 = 3.5 rounds up twice); round "
                "down, then hand the missing tokens one by one to the largest remainders"
            )
        elif any(capped) and sum(counts) < budget:
            why = "the tokens a full modality cannot take are lost; hand them to the modalities that still have room"
        elif counts == [math.floor(v + 1e-9) for v in ideal]:
            why = (
                "rounding every share down loses tokens; hand the missing ones out, one each, to the modalities "
                "with the largest remainders"
            )
        else:
            why = "the encoder's batch needs exactly the budget in every sample"
        return _fail(
            name, f"{case} your counts {counts} sum to {sum(counts)}, not the budget {budget}: {why}."
        )
    for m, (c, v, size) in enumerate(zip(counts, ideal, sizes)):
        low, high = math.floor(v + 1e-9), math.ceil(v - 1e-9)
        if not any(capped) and c not in (low, high):
            return _fail(
                name,
                f"{case} modality {m} gets {c} tokens but share × budget = {v:.2f}: each count should "
                f"be that rounded down or up ({low} or {high}).",
            )
        if capped[m] and c != size:  # (c > size was caught above)
            return _fail(
                name,
                f"{case} modality {m} wants {v:.1f} tokens and has {size}: it should get all {size}, "
                f"got {c}.",
            )
        if any(capped) and not capped[m] and c < low:
            return _fail(
                name,
                f"{case} modality {m} gets {c} tokens, fewer than its own share ({v:.2f}); the spare "
                "tokens of a full modality go *to* the others, never from them.",
            )
    return None


# --------------------------------------------------------------------------- 2. the joint sequence
def check_joint_sequence(fn: Callable[[list, torch.Tensor, torch.Tensor], Any]) -> CheckResult:
    """Exercise: ``fn(tokens: M x [B, N, D], pos_embed [N, D], modality_embed [M, D]) -> [B, M*N, D]``.

    Every token gets its patch's position and its modality's embedding; the modalities follow
    one another along the token dimension (all of modality 0, then all of modality 1, ...).
    """
    name = "joint token sequence"
    gen = torch.Generator().manual_seed(17)
    m_count, batch, n, dim = 3, 2, 5, 8
    tokens = [torch.randn(batch, n, dim, generator=gen) for _ in range(m_count)]
    pos = torch.randn(n, dim, generator=gen)
    modality = torch.randn(m_count, dim, generator=gen)
    expected = joint_sequence(tokens, pos, modality)  # [2, 15, 8]
    result, failure = _call(name, fn, [t.clone() for t in tokens], pos.clone(), modality.clone())
    if failure is not None:
        return failure
    result, failure = _as_tensor(name, result, "the sequence")
    if failure is not None:
        return failure
    if result.shape != expected.shape:
        if tuple(result.shape) == (batch, n, m_count * dim):
            return _fail(
                name,
                f"got {_shape(result)}: you joined the modalities along the feature dimension. Put them "
                "one after the other along the token dimension (torch.cat(..., dim=1)).",
            )
        if tuple(result.shape) in ((m_count, batch, n, dim), (batch, m_count, n, dim)):
            return _fail(
                name,
                f"got {_shape(result)}: torch.stack adds a new dimension; torch.cat(..., dim=1) "
                "makes one sequence [B, M·N, D].",
            )
        return _fail(name, f"expected shape {_shape(expected)} ([B, M·N, D]), got {_shape(result)}.")
    result = result.float()
    if torch.allclose(result, expected, atol=1e-5):
        return _ok(
            name,
            f"correct — {m_count} modalities × {n} patches → one sequence of {m_count * n} tokens, each "
            "with its position and its modality's embedding.",
        )
    variants = {
        "no modality embedding: the depth patch and the colour patch at the same place differ only by their "
        "content, and the encoder cannot tell which modality a token came from. Add modality_embed[m] to every "
        "token of modality m": torch.cat([t + pos for t in tokens], dim=1),
        "no position: add pos_embed to every modality's tokens (the same grid for all), or the encoder does not "
        "know where a patch sits": torch.cat([t + modality[m] for m, t in enumerate(tokens)], dim=1),
        "every modality got the embedding of modality 0; modality m needs row m of modality_embed": torch.cat(
            [t + pos + modality[0] for t in tokens], dim=1
        ),
        "the modality embeddings are in the wrong order: modality m needs row m of modality_embed": torch.cat(
            [t + pos + modality[m_count - 1 - m] for m, t in enumerate(tokens)], dim=1
        ),
        "you added the whole modality table (a sum over modalities) to every token; modality m gets only its "
        "own row, modality_embed[m]": torch.cat([t + pos + modality.sum(0) for t in tokens], dim=1),
        "the modalities are interleaved (patch 0 of each modality, then patch 1 ...); keep each modality's "
        "tokens together: all of modality 0, then all of modality 1": torch.stack(
            [t + pos + modality[m] for m, t in enumerate(tokens)], dim=2
        ).reshape(batch, m_count * n, dim),
    }
    for message, variant in variants.items():
        if torch.allclose(result, variant, atol=1e-5):
            return _fail(name, message + ".")
    return _fail(
        name,
        "the shape is right but not the values: torch.cat([tokens[m] + pos_embed + modality_embed[m] "
        "for each m], dim=1).",
    )


# --------------------------------------------------------------------------- 3. the loss per modality
def _per_sample_then_batch(pred, target, hidden):
    """MultiMAE's own averaging: per sample over its hidden patches, then over samples with any (nanmean)."""
    per_patch = ((pred - target) ** 2).mean(-1)
    h = hidden.float()
    per_sample = (per_patch * h).sum(1) / h.sum(1)
    valid = h.sum(1) > 0
    return per_sample[valid].mean() if bool(valid.any()) else torch.tensor(0.0)


def check_modality_losses(fn: Callable[[dict, dict, dict], Any]) -> CheckResult:
    """Exercise: ``fn(preds, targets, hidden) -> {name: loss}``, each a dict keyed by modality.

    ``preds[name]`` and ``targets[name]`` are ``[B, N, P]``, ``hidden[name]`` bool ``[B, N]``.  Each
    modality's loss is the mean squared error over *its own* hidden patches (mean over a patch's
    values, then over the hidden patches of the batch); a modality with nothing hidden scores 0.
    """
    name = "loss per modality"
    gen = torch.Generator().manual_seed(18)
    shapes = {"rgb": 12, "depth": 4, "edges": 4}
    preds = {k: torch.rand(2, 8, p, generator=gen) for k, p in shapes.items()}
    targets = {k: torch.rand(2, 8, p, generator=gen) * 2 for k, p in shapes.items()}
    hidden = {k: torch.zeros(2, 8, dtype=torch.bool) for k in shapes}
    hidden["rgb"][0, :6] = True  # 6 + 5 hidden colour patches
    hidden["rgb"][1, 2:7] = True
    hidden["depth"][1, [1, 4]] = True  # only 2 hidden depth patches, both in sample 1
    # edges: everything visible, so nothing to score
    per_patch = {k: ((preds[k] - targets[k]) ** 2).mean(-1) for k in shapes}  # [B, N]
    expected = {k: float(v) for k, v in modality_losses(preds, targets, hidden).items()}  # the package's own
    result, failure = _call(
        name,
        fn,
        {k: v.clone() for k, v in preds.items()},
        {k: v.clone() for k, v in targets.items()},
        {k: v.clone() for k, v in hidden.items()},
    )
    if failure is not None:
        return failure
    if not isinstance(result, dict):
        return _fail(
            name, f"return one loss per modality, a dict {{name: loss}}, got {type(result).__name__}."
        )
    if set(result) != set(shapes):
        return _fail(name, f"return a loss for every modality {sorted(shapes)}, got keys {sorted(result)}.")
    got = {}
    for key, value in result.items():
        value, failure = _as_tensor(name, value, f"the loss of {key!r}")
        if failure is not None:
            return failure
        if value.numel() != 1:
            return _fail(
                name, f"the loss of {key!r} should be one number, got a tensor of shape {_shape(value)}."
            )
        got[key] = float(value)
    if math.isnan(got["edges"]):
        return _fail(
            name,
            "'edges' has no hidden patch and your loss is nan (0 / 0); a modality with nothing hidden "
            "should score 0 — divide by the count clamped to at least 1.",
        )

    def same(values: dict) -> bool:
        return all(math.isclose(got[k], float(values[k]), rel_tol=1e-5, abs_tol=1e-7) for k in shapes)

    if same(expected):
        return _ok(
            name,
            f"correct — rgb {got['rgb']:.4f}, depth {got['depth']:.4f}, edges 0: each modality averaged "
            "over its own hidden patches.",
        )
    official = {k: _per_sample_then_batch(preds[k], targets[k], hidden[k]) for k in shapes}
    if same(official):
        return _ok(
            name,
            "correct, the way MultiMAE's code averages: per sample first, then over the samples that "
            "have hidden patches (mae_lab pools the hidden patches of the whole batch instead).",
        )
    pooled_h = sum(int(hidden[k].sum()) for k in shapes)
    pooled = sum(float((per_patch[k] * hidden[k]).sum()) for k in shapes) / pooled_h
    together = (
        "you averaged over the hidden patches of all modalities together; each modality needs its own "
        "average, or the one with more hidden patches drowns the other"
    )
    wrong = [
        (
            {k: per_patch[k].mean() for k in shapes},
            "you averaged over every patch; score only the hidden ones — the visible patches were given to the model",
        ),
        (
            {k: (per_patch[k] * ~hidden[k]).sum() / (~hidden[k]).sum() for k in shapes},
            "you scored the visible patches; True in hidden marks the patches to score",
        ),
        (
            {k: (per_patch[k] * hidden[k]).sum() for k in shapes},
            "you summed over the hidden patches; divide by how many there are",
        ),
        (
            {
                k: (((preds[k] - targets[k]) ** 2).sum(-1) * hidden[k]).sum() / max(int(hidden[k].sum()), 1)
                for k in shapes
            },
            (
                "you summed the squared errors over each patch's values; take their mean first (patches of different "
                "modalities hold different numbers of values)"
            ),
        ),
        ({k: (pooled if hidden[k].any() else 0.0) for k in shapes}, together),
        ({k: pooled for k in shapes}, together),
    ]
    for values, message in wrong:
        if same(values):
            return _fail(name, message + ".")
    for key in shapes:
        if not math.isclose(got[key], expected[key], rel_tol=1e-5, abs_tol=1e-7):
            return _fail(
                name,
                f"the loss of {key!r} is {got[key]:.4f}, expected {expected[key]:.4f}: mean over each "
                "patch's values, then over that modality's hidden patches.",
            )
    return _fail(name, "not the expected losses.")  # pragma: no cover
