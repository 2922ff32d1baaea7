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
✓ patchify: correct — [2, 3, 8, 8] → [2, 4, 48], every value in place.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from ..patches import patchify as _reference_patchify
from ..probe import knn_predict
from ..schedules import warmup_cosine
from .core import CheckResult, _as_tensor, _call, _fail, _ok, _shape

__all__ = [
    "PREDICTIONS",
    "CheckResult",
    "check_attention_distance",
    "check_cosine_schedule",
    "check_fft_target",
    "check_hog_bins",
    "check_knn_vote",
    "check_lr_scaling",
    "check_masked_loss",
    "check_mean_baseline",
    "check_norm_pixels",
    "check_num_visible",
    "check_patchify",
    "check_prediction",
    "check_random_masking",
    "check_rollout",
    "check_sequence_masking",
    "check_token_count",
    "check_warmup_cosine",
]


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


def check_token_count(fn: Callable[[int, int, int, int], Any]) -> CheckResult:
    """Exercise: ``fn(height, width, patch_size, channels) -> (num_tokens, values_per_token)``."""
    name = "token count"
    cases = [(224, 224, 16, 3), (32, 32, 4, 3), (28, 28, 7, 1), (64, 96, 8, 3)]
    for height, width, p, channels in cases:
        expected = ((height // p) * (width // p), p * p * channels)
        result, failure = _call(name, fn, height, width, p, channels)
        if failure is not None:
            return failure
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            return _fail(name, "return two numbers: (num_tokens, values_per_token).")
        try:
            got = (int(result[0]), int(result[1]))
        except (TypeError, ValueError):
            return _fail(name, f"return two whole numbers, got {result!r}.")
        if got == expected:
            continue
        case = f"for a {height}×{width} image with {channels} channel(s) and {p}-px patches"
        if got == expected[::-1]:
            return _fail(name, f"{case} you returned {got}: the two numbers are swapped — (num_tokens, values_per_token).")
        if got[0] == height * width // p:
            return _fail(name, f"{case} you got {got[0]} tokens: a patch covers p×p pixels, so divide H·W by p² "
                         f"(= {expected[0]}).")
        if got[0] == expected[0] + 1:
            return _fail(name, f"{case} count only the patch tokens ({expected[0]}); the class token is added later.")
        if got[0] != expected[0]:
            return _fail(name, f"{case} expected (H/p)·(W/p) = {expected[0]} tokens, got {got[0]}.")
        if got[1] == p * p:
            return _fail(name, f"{case} each token holds every channel of its patch: p·p·C = {expected[1]}, not {got[1]}.")
        if got[1] == p * channels:
            return _fail(name, f"{case} a patch is p×p pixels, so a token holds p·p·C = {expected[1]} numbers.")
        return _fail(name, f"{case} expected {expected[1]} numbers per token (p·p·C), got {got[1]}.")
    return _ok(name, "correct — a 224×224 RGB image with 16-px patches is 196 tokens of 768 numbers (ViT-B/16).")


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


# --------------------------------------------------------------------------- 04 reconstruction
def check_mean_baseline(fn: Callable[[torch.Tensor, torch.Tensor], Any]) -> CheckResult:
    """Exercise: ``fn(patches [B, N, D], hidden [B, N] bool) -> pred [B, N, D]``.

    The trivial baseline: every hidden patch is predicted as the mean of the *visible*
    patches of the same image (only the hidden rows are checked).
    """
    name = "mean-of-visible baseline"
    gen = torch.Generator().manual_seed(6)
    patches = torch.rand(3, 16, 12, generator=gen) + torch.arange(3).view(3, 1, 1)  # images differ in brightness
    hidden = torch.zeros(3, 16, dtype=torch.bool)
    for b in range(3):
        hidden[b, torch.randperm(16, generator=gen)[:12]] = True  # 75 % hidden
    visible = (~hidden).unsqueeze(-1).float()  # [B, N, 1]
    visible_mean = (patches * visible).sum(1, keepdim=True) / visible.sum(1, keepdim=True)  # [B, 1, D]
    expected = visible_mean.expand_as(patches)
    result, failure = _call(name, fn, patches.clone(), hidden.clone())
    if failure is not None:
        return failure
    result, failure = _as_tensor(name, result, "the prediction")
    if failure is not None:
        return failure
    if result.shape != patches.shape:
        hint = " Broadcast the mean back to every patch (e.g. .expand_as(patches))." if result.numel() < patches.numel() else ""
        return _fail(name, f"return one prediction per patch: shape {_shape(patches)}, got {_shape(result)}.{hint}")
    rows = hidden.unsqueeze(-1).expand_as(patches)
    got = result.float()[rows]
    if torch.allclose(got, expected[rows], atol=1e-5):
        return _ok(name, "correct — each hidden patch is guessed as the average visible patch of its own image.")
    wrong = {
        "you averaged every patch, hidden ones included; the model cannot see the hidden ones, so neither may "
        "the baseline": patches.mean(1, keepdim=True).expand_as(patches),
        "you averaged the hidden patches: that peeks at the answer. Use the visible ones (~hidden)": (
            (patches * hidden.unsqueeze(-1)).sum(1, keepdim=True) / hidden.sum(1).view(3, 1, 1)
        ).expand_as(patches),
        "you averaged the visible patches of the whole batch; each image needs its own mean (average over dim=1 "
        "per image)": ((patches * visible).sum((0, 1), keepdim=True) / visible.sum()).expand_as(patches),
        "you averaged the values inside each patch (dim=-1); average over the patches instead (dim=1)": (
            patches.mean(-1, keepdim=True).expand_as(patches)
        ),
    }
    for message, variant in wrong.items():
        if torch.allclose(got, variant[rows], atol=1e-5):
            return _fail(name, message + ".")
    return _fail(name, "the hidden patches' predictions are not the mean of the visible patches of their image.")


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
        try:
            result = float(result)
        except (TypeError, ValueError):
            return _fail(name, f"return one number (the learning rate), got {type(result).__name__}.")
        if not math.isclose(result, expected, rel_tol=1e-6):
            if math.isclose(float(result), base_lr * batch, rel_tol=1e-6):
                return _fail(name, "you multiplied by the batch size; the rule is per 256 images: base_lr × batch / 256.")
            if math.isclose(float(result), base_lr * 256 / batch, rel_tol=1e-6):
                return _fail(name, "upside down: a larger batch gets a larger learning rate (base_lr × batch / 256).")
            return _fail(name, f"for base_lr={base_lr}, batch={batch} expected {expected:g}, got {float(result):g}.")
    return _ok(name, "correct — MAE's recipe: 1.5e-4 × 4096 / 256 = 2.4e-3 for its batch of 4096.")


def _warmup_then(progress: float, peak: float, minimum: float, warmup: float, decay_shape) -> float:
    """A typical wrong schedule: the right warm-up followed by another ``decay_shape`` down to ``minimum``."""
    if warmup > 0 and progress < warmup:
        return peak * progress / warmup
    decay = (progress - warmup) / (1.0 - warmup)
    return minimum + (peak - minimum) * decay_shape(decay)


def check_warmup_cosine(fn: Callable[[float, float, float, float], float]) -> CheckResult:
    """Exercise: ``fn(progress, peak, minimum, warmup_fraction) -> lr``, MAE's warm-up + cosine schedule.

    ``progress`` in [0, 1] is the fraction of training done. The lr climbs linearly from 0 to
    ``peak`` during the first ``warmup_fraction`` of the run, then follows half a cosine from
    ``peak`` down to ``minimum`` over the rest.
    """
    name = "warm-up + cosine schedule"
    settings = [(1e-3, 1e-5, 0.1), (2e-3, 0.0, 0.25)]
    cases = [(p / 20, peak, low, warm) for peak, low, warm in settings for p in range(21)]
    answers = []
    for progress, peak, low, warm in cases:
        result, failure = _call(name, fn, progress, peak, low, warm)
        if failure is not None:
            return failure
        try:
            answers.append(float(result))
        except (TypeError, ValueError):
            return _fail(name, f"return one number (the learning rate), got {type(result).__name__}.")

    def same(rule) -> bool:
        return all(math.isclose(a, rule(*case), rel_tol=1e-6, abs_tol=1e-12) for a, case in zip(answers, cases))

    def cosine(p, peak, low, warm):
        return low + (peak - low) * 0.5 * (1 + math.cos(math.pi * p))

    if same(warmup_cosine):
        return _ok(name, "correct — a linear warm-up to the peak, then half a cosine down to the minimum.")
    wrong = [
        (cosine, ("there is no warm-up: during the first warmup_fraction of the run the lr must climb "
                  "linearly from 0 to peak (peak · progress / warmup_fraction)")),
        (lambda p, peak, low, warm: peak * p / warm if p < warm else cosine(p, peak, low, warm),
         ("after the warm-up the lr should start its cosine at peak; measure the decay's progress from the end "
          "of the warm-up: (progress − warmup_fraction) / (1 − warmup_fraction)")),
        (lambda p, peak, low, warm: warmup_cosine(p, peak, 0.0, warm),
         "the cosine should end at minimum, not at 0: minimum + (peak − minimum) · (1 + cos(π·t)) / 2"),
        (lambda p, peak, low, warm: _warmup_then(p, peak, low, warm, lambda d: 1.0 - d),
         "that decay is a straight line; MAE decays along half a cosine, (1 + cos(π·t)) / 2"),
        (lambda p, peak, low, warm: _warmup_then(p, peak, low, warm, lambda d: 0.5 * (1 - math.cos(math.pi * d))),
         "the cosine runs backwards: after the warm-up the lr must fall from peak to minimum, not rise"),
        (lambda p, peak, low, warm: low + (peak - low) * p / warm if p < warm else warmup_cosine(p, peak, low, warm),
         "the warm-up should start from 0 (as in MAE), not from minimum: peak · progress / warmup_fraction"),
    ]
    for rule, message in wrong:
        if same(rule):
            return _fail(name, message + ".")
    checkpoints = [(0.0, "at progress 0", lambda peak, low, warm: 0.0),
                   (None, "at the end of the warm-up", lambda peak, low, warm: peak),
                   (1.0, "at progress 1", lambda peak, low, warm: low)]
    for answer, (progress, peak, low, warm) in zip(answers, cases):
        for at, words, expected in checkpoints:
            if (progress == at or (at is None and progress == warm)) and not math.isclose(
                    answer, expected(peak, low, warm), rel_tol=1e-6, abs_tol=1e-12):
                return _fail(name, f"with peak={peak:g}, minimum={low:g}, warmup_fraction={warm:g} the lr {words} "
                             f"should be {expected(peak, low, warm):g}, got {answer:g}.")
    return _fail(name, "the ends are right but the curve between them is not: linear up to peak, then "
                 "minimum + (peak − minimum) · (1 + cos(π·t)) / 2 with t the fraction of the decay done.")


# --------------------------------------------------------------------------- 06 probing
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


# --------------------------------------------------------------------------- 09 targets and schedules
def check_hog_bins(fn: Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]) -> CheckResult:
    """Exercise: ``fn(dx [M], dy [M], num_bins) -> long [M]``, the HOG orientation bin of each gradient.

    Unsigned orientation ``atan2(dy, dx)`` folded into ``[0, pi)``, split into ``num_bins`` equal bins.
    """
    name = "HOG orientation bins"
    gen = torch.Generator().manual_seed(7)
    dx, dy = torch.randn(200, generator=gen), torch.randn(200, generator=gen)
    num_bins = 9

    def binned(angle, span=math.pi, rounding=torch.floor):
        return rounding(angle / span * num_bins).long().clamp(0, num_bins - 1)

    expected = binned(torch.remainder(torch.atan2(dy, dx), math.pi))  # [M]
    result, failure = _call(name, fn, dx.clone(), dy.clone(), num_bins)
    if failure is not None:
        return failure
    result, failure = _as_tensor(name, result, "the bins")
    if failure is not None:
        return failure
    if result.shape != expected.shape:
        return _fail(name, f"return one bin per gradient: shape {_shape(expected)}, got {_shape(result)}.")
    if result.is_floating_point():
        if not torch.equal(result, result.round()):
            return _fail(name, "bins are whole numbers 0 … num_bins − 1; take the floor and convert with .long().")
        result = result.long()
    if torch.equal(result, expected):
        return _ok(name, "correct — unsigned orientations in [0°, 180°), 9 bins of 20° each, as in MaskFeat's HOG.")
    folded = torch.remainder(torch.atan2(dy, dx), math.pi)  # [M] in [0, pi)
    rounded = (folded / math.pi * num_bins).round().long()
    if torch.equal(result, rounded) or torch.equal(result, rounded.clamp(0, num_bins - 1)):
        return _fail(name, "use the floor, not rounding: bin k holds the angles from k·π/bins up to (k+1)·π/bins.")
    if torch.equal(result, binned(torch.remainder(torch.atan2(dy, dx), 2 * math.pi), span=2 * math.pi)):
        return _fail(name, "you split the full circle; HOG's orientations are unsigned (an edge from dark to light "
                     "is the same edge as light to dark): fold the angle into [0, π).")
    if torch.equal(result, binned(torch.remainder(torch.atan2(dx, dy), math.pi))):
        return _fail(name, "off by a transpose: torch.atan2 takes (dy, dx) — the y component first.")
    if int(result.min()) < 0:
        return _fail(name, "some bins are negative: atan2 returns angles in (−π, π]; fold them into [0, π) with "
                     "torch.remainder(angle, math.pi).")
    if int(result.max()) >= num_bins:
        return _fail(name, f"some bins are {int(result.max())} or more; there are {num_bins} bins, numbered 0 … "
                     f"{num_bins - 1}.")
    wrong = int((result != expected).sum())
    return _fail(name, f"{wrong} of {len(expected)} gradients are in the wrong bin: floor(angle / π · num_bins), "
                 "with angle = atan2(dy, dx) folded into [0, π).")


def check_fft_target(fn: Callable[[torch.Tensor], torch.Tensor]) -> CheckResult:
    """Exercise: ``fn(patches [B, N, p, p]) -> [B, N, p, p]``, ``log1p(|FFT2|)`` of each patch with ``norm="ortho"``."""
    name = "frequency target"
    gen = torch.Generator().manual_seed(6)
    patches = torch.rand(2, 5, 4, 4, generator=gen)
    spectrum = torch.fft.fft2(patches, dim=(-2, -1), norm="ortho")  # [B, N, p, p] complex
    expected = torch.log1p(spectrum.abs())
    result, failure = _call(name, fn, patches.clone())
    if failure is not None:
        return failure
    result, failure = _as_tensor(name, result, "the frequency target")
    if failure is not None:
        return failure
    if result.is_complex():
        return _fail(name, "the result is complex; keep the amplitude only, spectrum.abs(), then torch.log1p.")
    if result.shape != expected.shape:
        return _fail(name, f"expected shape {_shape(expected)} (one p×p spectrum per patch), got {_shape(result)}.")
    result = result.float()
    if torch.allclose(result, expected, atol=1e-5):
        return _ok(name, "correct — log1p(|FFT|) of every patch; entry [0, 0] is the patch mean × p.")

    def ortho(x, dim):
        return torch.fft.fftn(x, dim=dim, norm="ortho")

    wrong = [
        (spectrum.abs(), "you return the raw amplitude; compress it with torch.log1p, or the large low "
         "frequencies drown out the rest of the loss"),
        (torch.log1p(torch.fft.fft2(patches, dim=(-2, -1)).abs()), "the scale is off by a factor p: pass "
         "norm=\"ortho\" so the amplitudes do not grow with the patch size"),
        (torch.log1p(spectrum.real.abs()), "you used the real part; the amplitude is the absolute value of the "
         "complex number, spectrum.abs()"),
        (torch.log1p(spectrum.abs() ** 2), "that is the power |F|²; the target is the amplitude |F|"),
        (torch.log1p(ortho(patches, dim=(-1,)).abs()), "a 1-D transform along rows only; use a 2-D transform "
         "over both axes of each patch, dim=(-2, -1)"),
        (torch.log1p(ortho(patches, dim=(1, 2)).abs()), "you transformed across patches; transform within "
         "each patch, dim=(-2, -1)"),
        (torch.fft.fftshift(expected, dim=(-2, -1)), "right values, shifted: fftshift is for pictures only; "
         "keep the frequency (0, 0) at index [0, 0]"),
    ]
    for variant, message in wrong:
        if torch.allclose(result, variant, atol=1e-5):
            return _fail(name, message + ".")
    return _fail(name, "not the target: torch.log1p(torch.fft.fft2(patches, dim=(-2, -1), norm=\"ortho\").abs()).")


def check_cosine_schedule(fn: Callable[[float, float, float], float]) -> CheckResult:
    """Exercise: ``fn(progress, start, end) -> value``, a half-cosine from ``start`` (progress 0) to ``end`` (1)."""
    name = "cosine schedule"
    cases = [(p / 8, 0.4, 0.15) for p in range(9)] + [(p / 4, 0.0, 0.5) for p in range(5)]
    answers = []
    for progress, start, end in cases:
        result, failure = _call(name, fn, progress, start, end)
        if failure is not None:
            return failure
        try:
            answers.append(float(result))
        except (TypeError, ValueError):
            return _fail(name, f"return one number, got {type(result).__name__}.")

    def curve(weight):
        return [start + (end - start) * weight(p) for p, start, end in cases]

    def same(values):
        return all(math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9) for a, b in zip(answers, values))

    if same(curve(lambda p: (1 - math.cos(math.pi * p)) / 2)):
        return _ok(name, "correct — slow at the start, fastest halfway, slow again near the end.")
    if same(curve(lambda p: p)):
        return _fail(name, "that is a straight line; a cosine schedule follows (1 − cos(π·progress)) / 2.")
    if same(curve(lambda p: (1 + math.cos(math.pi * p)) / 2)):
        return _fail(name, "it runs backwards: at progress 0 the value must be start, at 1 it must be end.")
    if same(curve(lambda p: 1 - math.cos(math.pi * p))):
        return _fail(name, "overshoots: at progress 1 you get start + 2·(end − start); divide 1 − cos(π·progress) by 2.")
    if same(curve(lambda p: (1 - math.cos(2 * math.pi * p)) / 2)):
        return _fail(name, "a whole cosine period comes back to start; use half a period, cos(π·progress).")
    first, last = answers[0], answers[8]
    if not math.isclose(first, 0.4, abs_tol=1e-6) or not math.isclose(last, 0.15, abs_tol=1e-6):
        return _fail(name, f"with start=0.4 and end=0.15 expected 0.4 at progress 0 and 0.15 at 1, "
                     f"got {first:g} and {last:g}.")
    return _fail(name, "the ends are right but the shape is not half a cosine: start + (end − start) · "
                 "(1 − cos(π·progress)) / 2.")


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
    "nearest_position": (
        "neighbour",
        {
            "neighbour": "Right: sine-cosine codes change smoothly with position, so the patches next to it have the "
            "most similar codes, and similarity falls off with distance.",
            "corner": "Not quite: the codes change smoothly, so far-away positions (like a corner) are the least alike.",
            "random": "Not quite: the codes are fixed functions of (row, column), not random; nearby means similar.",
        },
    ),
    "easiest_mask_at_75": (
        "grid",
        {
            "grid": "Right: with grid sampling every hidden patch touches a visible one, so it can be filled in by "
            "interpolation — MAE found this too easy a task (worse features).",
            "random": "Not quite: random masking leaves some hidden patches far from any visible one; grid sampling "
            "never does.",
            "block": "Not quite: block masking is the hardest — the middle of a hidden block is far from every visible patch.",
        },
    ),
    "hardest_patches": (
        "textured",
        {
            "textured": "Right: smooth regions are easy to continue from their neighbours; edges, texture and small "
            "details cannot be guessed exactly, so the model blurs them and pays for it in pixel error.",
            "flat": "Not quite: a flat patch is predicted well by continuing its neighbours; the model blurs details, "
            "so textured patches cost the most pixel error.",
        },
    ),
    "best_ratio_images": (
        "high",
        {
            "high": "Right: images are redundant; MAE found 75 % best, far above BERT's 15 %.",
            "low": "Not quite: with little hidden, neighbours give the answer away and the encoder learns little.",
        },
    ),
    "brightness_shift_target": (
        "hog",
        {
            "hog": "Right: HOG is built from differences between neighbouring pixels, and a constant shift cancels "
            "in a difference (norm_pixels ignores it too: it subtracts each patch's own mean).",
            "pixels": "Not quite: every pixel value moves by the shift, so the pixel target moves with it.",
            "fft": "Not quite: the frequency (0, 0) is the patch mean, and the mean moved; only the other "
            "frequencies stay put.",
        },
    ),
    "mae_linear_vs_finetune": (
        "finetune",
        {
            "finetune": "Right: MAE's ViT-L reaches 85.9 % on ImageNet when fine-tuned but 75.8 % with a linear "
            "probe (ViT-B: 83.6 vs 68.0). Its features are rich but not linearly ready; fine-tuning adapts them.",
            "linear": "Not quite: a linear probe can only read what the frozen features already separate; "
            "fine-tuning may change the features too, and for MAE it gains about 10 points (ViT-L: 85.9 vs 75.8 %).",
            "same": "Not quite: for MAE the gap is large — ViT-L: 85.9 % fine-tuned, 75.8 % linear probe on ImageNet.",
        },
    ),
    "attention_distance_depth": (
        "grows",
        {
            "grows": "Right: in the ViT paper's Figure 7, the lowest layers hold both local heads (a few pixels) "
            "and global ones, and with depth every head's attention distance grows towards the whole image.",
            "shrinks": "Not quite: it is the other way round — deep layers look far; the early layers are the only "
            "ones with local, convolution-like heads.",
            "same": "Not quite: early layers mix local and global heads; deeper layers are all global, so the "
            "distance grows with depth.",
        },
    ),
    "block_at_high_ratio": (
        "block",
        {
            "block": "Right: at a high ratio, big hidden blocks leave whole regions without a visible patch; "
            "the task gets too hard to learn from, and MAE measured worse features for block masking at 75 % "
            "than at 50 %, while random masking was best at 75 %.",
            "random": "Not quite: random masking keeps a few visible patches spread over the whole image, so even "
            "at 75-90 % every region has some context; MAE found random masking best at 75 %.",
            "grid": "Not quite: a regular grid keeps evenly spread visible patches at any ratio; its problem is the "
            "opposite one — the task stays too easy (neighbours leak), so it is mediocre at every ratio.",
        },
    ),
    "mlm_eval_ratio": (
        "down",
        {
            "down": "Right: with more characters hidden, each guess has less context — fewer visible neighbours, and "
            "hidden characters often sit next to other hidden ones.",
            "up": "Not quite: more hidden characters means less context for every guess, not more.",
            "same": "Not quite: a model that uses context does worse when its context has more holes.",
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
