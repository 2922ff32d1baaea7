"""Self-checking exercises for the course notebooks.

Each ``check_*`` function runs a student's answer on inputs it makes itself, compares the
result with mae_lab's reference implementation, and says what is wrong in plain words:
a shape mismatch, a wrong count, values in the wrong order ("off by a transpose"), a loss
averaged over the wrong patches...  It returns a :class:`CheckResult` that shows as a green
or red line in a notebook and is truthy when the answer is right.

>>> from mae_lab.exercises import check_patchify
>>> def my_patchify(images, p):
...     ...
>>> check_patchify(my_patchify)        # doctest: +SKIP
✅ patchify: correct — [2, 3, 8, 8] → [2, 4, 48], every value in place.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import Any, Callable

import torch

from .patches import patchify as _reference_patchify

__all__ = [
    "CheckResult",
    "check_patchify",
    "check_num_visible",
    "check_random_masking",
    "check_masked_loss",
    "check_norm_pixels",
    "check_lr_scaling",
    "check_knn_vote",
    "check_rollout",
    "check_sequence_masking",
    "check_prediction",
    "PREDICTIONS",
]


@dataclass
class CheckResult:
    """The verdict on one exercise: ``passed`` and a message in plain words."""

    exercise: str
    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return f"{'✅' if self.passed else '❌'} {self.exercise}: {self.message}"

    __repr__ = __str__

    def _repr_html_(self) -> str:
        colour = "#1a7f37" if self.passed else "#cf222e"
        icon = "✅" if self.passed else "❌"
        return (
            f'<div style="border-left:4px solid {colour};padding:4px 10px;margin:4px 0">'
            f"{icon} <b>{html.escape(self.exercise)}</b>: {html.escape(self.message)}</div>"
        )


def _ok(exercise: str, message: str) -> CheckResult:
    return CheckResult(exercise, True, message)


def _fail(exercise: str, message: str) -> CheckResult:
    return CheckResult(exercise, False, message)


def _call(exercise: str, fn: Callable[..., Any], *args: Any) -> tuple[Any, CheckResult | None]:
    """Run the student's function; turn an exception or a missing body into a verdict."""
    try:
        result = fn(*args)
    except NotImplementedError:
        return None, _fail(exercise, "not implemented yet — replace `raise NotImplementedError` with your code.")
    except Exception as error:  # the student's code: report, never crash the notebook
        return None, _fail(exercise, f"your function raised {type(error).__name__}: {error}")
    if result is None or result is Ellipsis:
        return None, _fail(exercise, "your function returned nothing — did you forget `return`?")
    return result, None


def _as_tensor(exercise: str, value: Any, what: str) -> tuple[torch.Tensor | None, CheckResult | None]:
    if isinstance(value, torch.Tensor):
        return value, None
    try:
        return torch.as_tensor(value), None
    except Exception:
        return None, _fail(exercise, f"{what} should be a torch tensor, got {type(value).__name__}.")


def _shape(t: torch.Tensor) -> str:
    return "[" + ", ".join(str(s) for s in t.shape) + "]"


# --------------------------------------------------------------------------- 01 patches
def check_patchify(fn: Callable[[torch.Tensor, int], torch.Tensor]) -> CheckResult:
    """Exercise: ``fn(images [B, C, H, W], p) -> patches [B, N, p*p*C]`` in MAE's order."""
    name = "patchify"
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(2, 3, 8, 12, generator=gen)  # rectangular on purpose
    p = 4
    expected = _reference_patchify(images, p)  # [2, 6, 48]
    result, failure = _call(name, fn, images.clone(), p)
    if failure is not None:
        return failure
    result, failure = _as_tensor(name, result, "the patches")
    if failure is not None:
        return failure
    if result.shape != expected.shape:
        hint = ""
        if result.numel() == expected.numel():
            hint = " You have the right number of values; check the final reshape to [B, N, p*p*C]."
        if result.ndim == 3 and result.shape[1] == 8 * 12:
            hint = " It looks like one token per pixel: each token should hold a whole p×p patch."
        return _fail(name, f"expected shape {_shape(expected)} (B, N=(H/p)·(W/p), p·p·C), got {_shape(result)}.{hint}")
    if torch.allclose(result.float(), expected):
        return _ok(name, f"correct — {_shape(images)} → {_shape(expected)}, every value in place.")
    b, c, h, w = images.shape
    gh, gw = h // p, w // p
    grid = images.reshape(b, c, gh, p, gw, p)
    variants = {
        "the values inside each patch are ordered (channel, row, column); MAE orders them (row, column, channel) "
        "— move the channel axis last before flattening": grid.permute(0, 2, 4, 1, 3, 5).reshape(b, gh * gw, -1),
        "off by a transpose inside each patch: rows and columns of a patch are swapped": grid.permute(
            0, 2, 4, 5, 3, 1
        ).reshape(b, gh * gw, -1),
        "the patches are listed column by column; list them row by row (left to right, then top to bottom)": grid.permute(
            0, 4, 2, 3, 5, 1
        ).reshape(b, gh * gw, -1),
    }
    for message, variant in variants.items():
        if torch.allclose(result.float(), variant):
            return _fail(name, message + ".")
    if torch.allclose(result.float().sort(dim=-1).values, expected.sort(dim=-1).values):
        return _fail(name, "each token holds the right pixels but in the wrong order; check the permute before the reshape.")
    return _fail(name, "the shape is right but the values are not the patches; reshape to [B, C, h, p, w, p] first.")


# --------------------------------------------------------------------------- 02/03 masking
def check_num_visible(answer: Any, num_patches: int = 196, ratio: float = 0.75) -> CheckResult:
    """Predict: how many tokens does MAE's encoder see for ``num_patches`` at ``ratio``?"""
    name = f"visible tokens at {ratio:.0%} of {num_patches}"
    expected = num_patches - int(round(num_patches * ratio))
    try:
        value = int(answer)
    except (TypeError, ValueError):
        return _fail(name, f"answer with a whole number, got {answer!r}.")
    if value == expected:
        return _ok(name, f"correct — {expected} visible patch tokens (plus the class token: {expected + 1} in all).")
    if value == expected + 1:
        return _ok(name, f"correct, counting the class token — {expected} patches + 1 class token.")
    if value == num_patches - expected:
        return _fail(name, f"{value} is the number of *hidden* patches; the encoder sees the others.")
    return _fail(name, f"{value} is not it: the ratio is the fraction hidden, so {num_patches} × (1 − {ratio}) are seen.")


def check_random_masking(fn: Callable[[torch.Tensor, float], Any]) -> CheckResult:
    """Exercise: ``fn(noise [B, N], ratio) -> (ids_keep [B, N_vis], ids_restore [B, N])``, MAE's argsort masking."""
    name = "random masking"
    gen = torch.Generator().manual_seed(1)
    noise = torch.rand(3, 50, generator=gen)
    ratio = 0.75
    num_keep = 50 - int(round(50 * ratio))  # 12 (not int(50 * 0.25) = 12 here; see below)
    ids_shuffle = torch.argsort(noise, dim=1)
    expected_keep = ids_shuffle[:, :num_keep]
    expected_restore = torch.argsort(ids_shuffle, dim=1)
    result, failure = _call(name, fn, noise.clone(), ratio)
    if failure is not None:
        return failure
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        return _fail(name, "return two tensors: (ids_keep, ids_restore).")
    ids_keep, ids_restore = (torch.as_tensor(r) for r in result)
    if ids_keep.shape != expected_keep.shape:
        if ids_keep.shape[-1] == 50 - num_keep:
            return _fail(name, f"ids_keep has {ids_keep.shape[-1]} entries per sample: that is the hidden count. "
                         f"Keep N·(1−ratio) = {num_keep}.")
        return _fail(name, f"ids_keep should have shape {_shape(expected_keep)}, got {_shape(ids_keep)}.")
    if ids_restore.shape != expected_restore.shape:
        return _fail(name, f"ids_restore should have shape {_shape(expected_restore)}, got {_shape(ids_restore)}.")
    if torch.equal(ids_keep.sort(dim=1).values, ids_shuffle[:, -num_keep:].sort(dim=1).values):
        return _fail(name, "you kept the patches with the *largest* noise; argsort is ascending, keep the first ones.")
    if not torch.equal(ids_keep.sort(dim=1).values, expected_keep.sort(dim=1).values):
        return _fail(name, "ids_keep does not hold the patches with the smallest noise.")
    if torch.equal(ids_restore, ids_shuffle):
        return _fail(name, "ids_restore equals ids_shuffle; it must undo it: ids_restore = argsort(ids_shuffle).")
    if not torch.equal(ids_restore, expected_restore):
        return _fail(name, "ids_restore does not invert the shuffle: gathering with it must give 0, 1, ..., N−1.")
    return _ok(name, f"correct — {num_keep} of 50 patches kept in every sample, and ids_restore undoes the shuffle.")


def check_masked_loss(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], Any]) -> CheckResult:
    """Exercise: ``fn(pred [B, N, D], target [B, N, D], hidden [B, N] bool) -> scalar``, MSE on hidden patches."""
    name = "masked loss"
    gen = torch.Generator().manual_seed(2)
    pred, target = torch.rand(2, 16, 12, generator=gen), torch.rand(2, 16, 12, generator=gen)
    hidden = torch.zeros(2, 16, dtype=torch.bool)
    hidden[:, ::4] = True
    hidden[:, 1::4] = True  # half hidden
    per_patch = ((pred - target) ** 2).mean(dim=-1)  # [B, N]
    expected = (per_patch * hidden).sum() / hidden.sum()
    result, failure = _call(name, fn, pred.clone(), target.clone(), hidden.clone())
    if failure is not None:
        return failure
    result, failure = _as_tensor(name, result, "the loss")
    if failure is not None:
        return failure
    if result.numel() != 1:
        return _fail(name, f"the loss should be one number, got a tensor of shape {_shape(result)}; average it.")
    value = float(result)
    if math.isclose(value, float(expected), rel_tol=1e-5):
        return _ok(name, f"correct — {value:.4f}, the mean squared error over hidden patches only.")
    if math.isclose(value, float(per_patch.mean()), rel_tol=1e-5):
        return _fail(name, "you averaged over all patches; MAE's loss counts only the hidden ones (visible ones are easy).")
    if math.isclose(value, float((per_patch * ~hidden).sum() / (~hidden).sum()), rel_tol=1e-5):
        return _fail(name, "you averaged over the visible patches; True in `hidden` marks the ones to score.")
    if math.isclose(value, float((((pred - target) ** 2).sum(-1) * hidden).sum() / hidden.sum()), rel_tol=1e-5):
        return _fail(name, "you summed the squared error over each patch's values; take their mean first.")
    if math.isclose(value, float((per_patch * hidden).sum()), rel_tol=1e-5):
        return _fail(name, "you summed over hidden patches; divide by how many there are.")
    return _fail(name, f"got {value:.4f}, expected {float(expected):.4f}: per-patch mean of squared errors, then mean over hidden patches.")


def check_norm_pixels(fn: Callable[[torch.Tensor], torch.Tensor]) -> CheckResult:
    """Exercise: ``fn(patches [B, N, D]) -> [B, N, D]``, each patch normalised to mean 0, variance 1 (eps 1e-6)."""
    name = "per-patch normalisation"
    gen = torch.Generator().manual_seed(3)
    patches = torch.rand(2, 9, 48, generator=gen) * 3 + 1
    mean = patches.mean(dim=-1, keepdim=True)
    var = patches.var(dim=-1, keepdim=True)
    expected = (patches - mean) / (var + 1e-6) ** 0.5
    result, failure = _call(name, fn, patches.clone())
    if failure is not None:
        return failure
    result, failure = _as_tensor(name, result, "the normalised patches")
    if failure is not None:
        return failure
    if result.shape != expected.shape:
        return _fail(name, f"expected shape {_shape(expected)}, got {_shape(result)}; keep one row per patch (keepdim=True).")
    if torch.allclose(result, expected, atol=1e-4):
        return _ok(name, "correct — every patch now has mean 0 and variance 1, as in MAE's norm_pix_loss.")
    global_norm = (patches - patches.mean()) / (patches.var() + 1e-6) ** 0.5
    if torch.allclose(result, global_norm, atol=1e-4):
        return _fail(name, "you normalised the whole batch at once; normalise each patch over its own values (dim=-1).")
    across = (patches - patches.mean(1, keepdim=True)) / (patches.var(1, keepdim=True) + 1e-6) ** 0.5
    if torch.allclose(result, across, atol=1e-4):
        return _fail(name, "you normalised across patches (dim=1); normalise within each patch (dim=-1).")
    if torch.allclose(result, (patches - mean) / (var.sqrt() + 1e-6), atol=1e-4):
        return _ok(name, "correct up to where eps goes (MAE adds it to the variance before the square root).")
    if torch.allclose(result, patches - mean, atol=1e-4):
        return _fail(name, "you subtracted the mean but did not divide by the standard deviation.")
    return _fail(name, "not the per-patch normalisation: (x − mean) / sqrt(var + 1e-6) over each patch's values.")


# --------------------------------------------------------------------------- 05 training
def check_lr_scaling(fn: Callable[[float, int], float]) -> CheckResult:
    """Exercise: ``fn(base_lr, batch_size) -> lr`` with MAE's linear scaling rule (per 256 images)."""
    name = "learning-rate scaling"
    cases = [(1.5e-4, 4096), (1.5e-4, 256), (1e-3, 64)]
    for base_lr, batch in cases:
        result, failure = _call(name, fn, base_lr, batch)
        if failure is not None:
            return failure
        expected = base_lr * batch / 256
        if not math.isclose(float(result), expected, rel_tol=1e-6):
            if math.isclose(float(result), base_lr * batch, rel_tol=1e-6):
                return _fail(name, "you multiplied by the batch size; the rule is per 256 images: base_lr × batch / 256.")
            if math.isclose(float(result), base_lr * 256 / batch, rel_tol=1e-6):
                return _fail(name, "upside down: a larger batch gets a larger learning rate (base_lr × batch / 256).")
            return _fail(name, f"for base_lr={base_lr}, batch={batch} expected {expected:g}, got {float(result):g}.")
    return _ok(name, "correct — MAE's recipe: 1.5e-4 × 4096 / 256 = 2.4e-3 for its batch of 4096.")


# --------------------------------------------------------------------------- 06 probing
def _reference_knn(train_f, train_y, test_f, k, temperature, num_classes):
    sims = torch.nn.functional.normalize(test_f, dim=1) @ torch.nn.functional.normalize(train_f, dim=1).T
    top_sims, top_idx = sims.topk(k, dim=1)
    weights = (top_sims / temperature).exp()
    votes = torch.zeros(test_f.shape[0], num_classes)
    votes.scatter_add_(1, train_y[top_idx], weights)
    return votes.argmax(dim=1)


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
    expected = _reference_knn(train_f, train_y, test_f, k, temperature, 4)
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


# --------------------------------------------------------------------------- 07 attention
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


# --------------------------------------------------------------------------- 10 sequences
def check_sequence_masking(fn: Callable[[int, float, torch.Generator], torch.Tensor]) -> CheckResult:
    """Exercise: ``fn(length, ratio, generator) -> hidden [length] bool`` hiding exactly ``round(length*ratio)`` positions at random."""
    name = "sequence masking"
    seen = []
    for length, ratio in [(20, 0.15), (64, 0.4), (7, 0.5)]:
        gen = torch.Generator().manual_seed(length)
        result, failure = _call(name, fn, length, ratio, gen)
        if failure is not None:
            return failure
        result, failure = _as_tensor(name, result, "the mask")
        if failure is not None:
            return failure
        if result.shape != (length,):
            return _fail(name, f"for a sequence of {length} return a [{length}] bool tensor, got {_shape(result)}.")
        count = int(result.bool().sum())
        expected = int(round(length * ratio))
        if count != expected:
            if count == length - expected:
                return _fail(name, f"you hid {count} of {length}: that is the number to keep. True should mark the hidden positions.")
            return _fail(name, f"length {length}, ratio {ratio}: hide round({length}×{ratio}) = {expected} positions, you hid {count}.")
        seen.append(result.bool())
    gen_a, gen_b = torch.Generator().manual_seed(0), torch.Generator().manual_seed(1)
    a, failure = _call(name, fn, 64, 0.4, gen_a)
    if failure is not None:
        return failure
    b, failure = _call(name, fn, 64, 0.4, gen_b)
    if failure is not None:
        return failure
    if torch.equal(torch.as_tensor(a).bool(), torch.as_tensor(b).bool()):
        return _fail(name, "two different generators gave the same mask: draw the positions with the generator you are given.")
    return _ok(name, "correct — exact counts, random positions, reproducible from the generator.")


# --------------------------------------------------------------------------- predictions
PREDICTIONS: dict[str, tuple[str, dict[str, str]]] = {
    # question id: (right answer, {answer: explanation})
    "block_vs_random_error": (
        "block",
        {
            "block": "Right: a big hidden block has no visible neighbours, so the model must guess whole parts.",
            "random": "Not quite: with random masking almost every hidden patch has a visible neighbour to copy from.",
            "same": "Not quite: at the same ratio, where the hidden patches lie changes how hard the task is.",
        },
    ),
    "encoder_cost_at_75": (
        "quarter",
        {
            "quarter": "Right: the encoder sees a quarter of the tokens, so its linear layers do about a quarter of "
            "the work, and attention (quadratic) even less.",
            "same": "Not quite: MAE drops hidden tokens before the encoder, so it does much less work.",
            "half": "Not quite: 75 % hidden leaves 25 % of the tokens, not half.",
        },
    ),
    "best_ratio_images": (
        "high",
        {
            "high": "Right: images are redundant; MAE found 75 % best, far above BERT's 15 %.",
            "low": "Not quite: with little hidden, neighbours give the answer away and the encoder learns little.",
        },
    ),
}


def check_prediction(question: str, answer: str) -> CheckResult:
    """Check a predicted outcome for one of the notebooks' "predict before you run" questions."""
    if question not in PREDICTIONS:
        raise KeyError(f"unknown question {question!r}; known: {', '.join(PREDICTIONS)}")
    right, explanations = PREDICTIONS[question]
    answer = str(answer).strip().lower()
    if answer not in explanations:
        return _fail(question, f"answer with one of {', '.join(repr(a) for a in explanations)}, got {answer!r}.")
    return CheckResult(question, answer == right, explanations[answer])
