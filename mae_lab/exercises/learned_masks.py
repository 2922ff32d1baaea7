"""Exercises for lab 14 (learning what to hide): build HPM's mask, HPM's ranking loss and AdaMAE's sampling loss.

Each check runs the student's function on inputs it makes itself, compares with a reference
written here, and names the likely mistake.

>>> from mae_lab.exercises.learned_masks import check_hpm_mask
>>> check_hpm_mask(my_hpm_mask)        # doctest: +SKIP
✓ HPM mask: correct — ...
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..learned_masks import ranking_loss, sampling_loss
from .core import CheckResult, _as_tensor, _call, _call_for_loss, _fail, _ok, _shape

__all__ = ["check_hpm_mask", "check_ranking_loss", "check_sampling_loss"]


# --------------------------------------------------------------------------- HPM mask
def _as_bool_mask(name: str, value, shape: tuple[int, int]) -> tuple[torch.Tensor | None, CheckResult | None]:
    tensor, failure = _as_tensor(name, value, "the mask")
    if failure is not None:
        return None, failure
    if tuple(tensor.shape) != shape:
        return None, _fail(name, f"expected a mask of shape [{shape[0]}, {shape[1]}] (one row per image), "
                                 f"got {_shape(tensor)}.")
    if tensor.dtype != torch.bool:
        if not bool(((tensor == 0) | (tensor == 1)).all()):
            return None, _fail(name, "the mask should be bool (True = hidden), or 0/1 values.")
        tensor = tensor.bool()
    return tensor, None


def check_hpm_mask(fn: Callable) -> CheckResult:
    """Exercise: ``fn(predicted_loss [B, N], num_hidden, alpha, generator) -> hidden bool [B, N]``.

    Each row hides exactly ``num_hidden`` patches: the ``round(alpha * num_hidden)`` with the
    highest predicted loss, plus patches drawn at random (with ``generator``) among the others.
    """
    name = "HPM mask"
    batch, num_patches, num_hidden = 4, 16, 12
    scores = torch.randperm(batch * num_patches, generator=torch.Generator().manual_seed(7)).float()
    scores = scores.reshape(batch, num_patches) / 10  # distinct predicted losses, no ties
    order = scores.argsort(dim=1, descending=True)  # hardest first

    def run(alpha: float, seed: int):
        result, failure = _call(name, fn, scores.clone(), num_hidden, alpha, torch.Generator().manual_seed(seed))
        if failure is not None:
            return None, failure
        return _as_bool_mask(name, result, (batch, num_patches))

    def hidden_among(hidden: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        return hidden.gather(1, ids).all(dim=1)  # [B]: every patch of ids is hidden

    hidden, failure = run(0.5, 0)
    if failure is not None:
        return failure
    counts = hidden.sum(dim=1)
    if bool((counts < num_hidden).any()):
        return _fail(name, f"rows hide {counts.tolist()} patches, expected {num_hidden} each. The random part "
                           "overlaps the hard part: draw the random patches only among those not already hidden.")
    if bool((counts > num_hidden).any()):
        return _fail(name, f"rows hide {counts.tolist()} patches, expected {num_hidden} each: the random part "
                           "should add num_hidden - num_hard patches, no more.")
    num_hard = round(0.5 * num_hidden)
    if not bool(hidden_among(hidden, order[:, :num_hard]).all()):
        if bool(hidden_among(hidden, order[:, -num_hard:]).all()):
            return _fail(name, "your mask hides the patches with the LOWEST predicted loss (the easiest). Sort in "
                               "descending order, or take the largest values: HPM hides the hardest patches.")
        return _fail(name, f"with alpha = 0.5 the {num_hard} patches with the highest predicted loss must all "
                           "be hidden, and some of them are visible.")
    if bool(hidden_among(hidden, order[:, :num_hidden]).all()):
        return _fail(name, "your mask ignores alpha: all 12 hidden patches are the 12 hardest. Only "
                           "round(alpha * num_hidden) are chosen by predicted loss; the rest are random.")
    for alpha in (1.0, 0.25):
        other, failure = run(alpha, 0)
        if failure is not None:
            return failure
        k = round(alpha * num_hidden)
        if int(other.sum(1).min()) != num_hidden or not bool(hidden_among(other, order[:, :k]).all()):
            return _fail(name, f"with alpha = {alpha} the {k} hardest patches must be hidden (and {num_hidden} in "
                               "all); your mask ignores alpha, or uses a fixed number of hard patches.")
    again, failure = run(0.5, 0)
    if failure is not None:
        return failure
    if not torch.equal(again, hidden):
        return _fail(name, "the same generator seed gave two different masks: draw the random part with the "
                           "generator you are given (e.g. torch.rand(..., generator=generator)).")
    draws = []
    for seed in range(1, 201):
        mask, failure = run(0.5, seed)
        if failure is not None:
            return failure
        draws.append(mask)
    draws = torch.stack(draws).float()  # [200, B, N]
    if bool((draws == hidden.float()).all()):
        return _fail(name, "every seed gives the same mask: the random part must change with the generator.")
    rest = order[:, num_hard:]  # the patches that are not forced: each should be hidden 6 times in 10
    frequency = draws.mean(0).gather(1, rest)  # [B, N - num_hard]
    expected = (num_hidden - num_hard) / (num_patches - num_hard)
    if float((frequency - expected).abs().max()) > 0.15:
        return _fail(name, f"the random part is not uniform: among the non-forced patches each should be hidden "
                           f"with probability {expected:.2f}, but the frequencies range from {float(frequency.min()):.2f} "
                           f"to {float(frequency.max()):.2f}. Draw them uniformly (e.g. random scores + top-k).")
    return _ok(name, f"correct — exactly {num_hidden} hidden per image: the {num_hard} hardest (alpha = 0.5) plus "
                     f"{num_hidden - num_hard} uniform random picks among the rest, reproducible from the generator.")


# --------------------------------------------------------------------------- HPM ranking loss
def _ranking_with_ties(predicted: torch.Tensor, actual: torch.Tensor) -> torch.Tensor:
    """The usual mistake: ``>=`` instead of ``>`` (ties, and each patch with itself, counted)."""
    gap = predicted.unsqueeze(1) - predicted.unsqueeze(2)  # [B, M, M]: pred_j - pred_i
    return F.softplus(-gap[actual.unsqueeze(1) >= actual.unsqueeze(2)]).mean()


def check_ranking_loss(fn: Callable) -> CheckResult:
    """Exercise: ``fn(predicted [B, M], actual [B, M]) -> scalar``, HPM's relative loss.

    For every ordered pair ``(i, j)`` of patches of the SAME image with ``actual[j] > actual[i]``:
    ``-log sigmoid(predicted[j] - predicted[i])``; ties are left out; mean over those pairs.
    """
    name = "ranking loss"
    gen = torch.Generator().manual_seed(3)
    predicted = torch.randn(3, 6, generator=gen)
    actual = torch.rand(3, 6, generator=gen)
    actual[:, 5] = actual[:, 1]  # one tied pair in every image
    leaf = predicted.clone().requires_grad_(True)
    value, failure = _call_for_loss(name, fn, leaf, actual.clone())
    if failure is not None:
        return failure
    expected = ranking_loss(predicted, actual)
    got = float(value.detach())
    pairs = int((actual.unsqueeze(1) > actual.unsqueeze(2)).sum())
    variants = {
        "the sign is flipped: the loss must be SMALL when the harder patch gets the higher prediction, "
        "i.e. -log sigmoid(pred_harder - pred_easier)": ranking_loss(-predicted, actual),
        "you count pairs with equal true losses (and each patch with itself): HPM leaves ties out, "
        "use a strict > comparison": _ranking_with_ties(predicted, actual),
        f"you summed over the {pairs} pairs: take the mean": expected * pairs,
        "you compared patches of different images: pairs must come from the same image (work on [B, M, M])":
            ranking_loss(predicted.reshape(1, -1), actual.reshape(1, -1)),
    }
    if not math.isclose(got, float(expected), rel_tol=1e-3, abs_tol=1e-4):
        for message, variant in variants.items():
            if math.isclose(got, float(variant), rel_tol=1e-3, abs_tol=1e-4):
                return _fail(name, message + ".")
        return _fail(name, f"expected {float(expected):.4f}, got {got:.4f}. Build gap[b, i, j] = pred[b, j] - "
                           "pred[b, i] and harder[b, i, j] = actual[b, j] > actual[b, i] with unsqueeze, then "
                           "average -log sigmoid(gap) where harder is True.")
    if not value.requires_grad:
        return _fail(name, "the value is right but it has no gradient: keep it a torch computation on `predicted` "
                           "(no .item(), numpy or torch.no_grad()), or the predictor cannot learn.")
    flat, failure = _call_for_loss(name, fn, torch.zeros(2, 5), torch.rand(2, 5, generator=gen))
    if failure is not None:
        return failure
    if not math.isclose(float(flat.detach()), math.log(2), abs_tol=1e-3):
        return _fail(name, f"with all predictions equal the loss should be log 2 = 0.693, got {float(flat):.4f}.")
    return _ok(name, f"correct — {float(expected):.4f} on the test batch ({pairs} ordered pairs, ties left out), "
                     "and log 2 when the predictor cannot tell patches apart.")


# --------------------------------------------------------------------------- AdaMAE sampling loss
def check_sampling_loss(fn: Callable) -> CheckResult:
    """Exercise: ``fn(probs [B, N], hidden [B, N], patch_loss [B, N]) -> scalar``, AdaMAE's REINFORCE loss.

    Minus the mean over the hidden patches of ``log p_i * loss_i`` (the loss detached: it is a
    reward), averaged over the images.
    """
    name = "sampling loss"
    gen = torch.Generator().manual_seed(5)
    batch, num_patches, num_hidden = 3, 8, 6
    probs = torch.randn(batch, num_patches, generator=gen).softmax(dim=1)
    hidden = torch.zeros(batch, num_patches, dtype=torch.bool)
    hidden.scatter_(1, torch.rand(batch, num_patches, generator=gen).argsort(1)[:, :num_hidden], True)
    patch_loss = torch.rand(batch, num_patches, generator=gen) + 0.1
    probs_leaf = probs.clone().requires_grad_(True)
    loss_leaf = patch_loss.clone().requires_grad_(True)
    value, failure = _call_for_loss(name, fn, probs_leaf, hidden.clone(), loss_leaf)
    if failure is not None:
        return failure
    expected = sampling_loss(probs, hidden, patch_loss)
    got = float(value.detach())
    variants = {
        "the sign is flipped: gradient descent on your loss would make the badly reconstructed hidden patches "
        "LESS likely to be shown; the loss is MINUS log p times the reward": -expected,
        "you used the visible patches: the reward is the reconstruction loss of the HIDDEN ones":
            sampling_loss(probs, ~hidden, patch_loss),
        "you used p instead of log p: the policy gradient needs the log-probability":
            (-(probs * patch_loss * hidden.float()).sum(1) / num_hidden).mean(),
        f"you averaged over all {num_patches} patches: average over the {num_hidden} hidden ones":
            expected * num_hidden / num_patches,
        "you summed over the hidden patches: take their mean": expected * num_hidden,
    }
    if not math.isclose(got, float(expected), rel_tol=1e-3, abs_tol=1e-5):
        for message, variant in variants.items():
            if math.isclose(got, float(variant), rel_tol=1e-3, abs_tol=1e-5):
                return _fail(name, message + ".")
        return _fail(name, f"expected {float(expected):.4f}, got {got:.4f}. Multiply log(probs) by the detached "
                           "patch loss, keep the hidden patches, average per image, then over the batch; negate.")
    if not value.requires_grad:
        return _fail(name, "the value is right but it has no gradient with respect to probs: the sampler could "
                           "not learn (no .item(), numpy or torch.no_grad()).")
    value.backward()
    if loss_leaf.grad is not None and float(loss_leaf.grad.abs().sum()) > 0:
        return _fail(name, "detach the reconstruction loss (patch_loss.detach()): it is a reward for the "
                           "sampler; without detach the sampler's loss also pushes the MAE to reconstruct WORSE.")
    return _ok(name, f"correct — {float(expected):.4f}: -mean over hidden patches of log p × (detached) loss; "
                     "a step of gradient descent makes the hardest hidden patches more likely to be shown.")
