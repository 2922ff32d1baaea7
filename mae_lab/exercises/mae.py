"""Exercises of labs 03-04 (inside the MAE): the decoder's input, the norm-pix loss, a trivial baseline.

* :func:`check_decoder_input` — the heart of MAE's forward pass (He et al., 2021, Section 3, "Simple
  implementation"): append one mask token per hidden patch, un-shuffle with ``ids_restore``, put the
  class token back in front and add the decoder's positions.
* :func:`check_norm_pix_loss` — MAE's loss with its best target (MAE Table 1d): every target patch
  normalised by its own mean and variance, squared error averaged over the hidden patches only.
* :func:`check_mean_baseline` — the most trivial guess a model must beat (lab 04).

Each check builds inputs whose typical wrong answers differ from the right one, runs the reference
computation of :mod:`mae_lab.models.mae` on them and names the mistake it recognises.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from ..masking import make_mask
from ..models import MaskedAutoencoder, get_preset
from ..models.vit import keep_tokens, run_blocks
from ..patches import patchify
from ..targets import NORM_PIX_EPS, normalized_pixel_targets
from .core import CheckResult, _as_tensor, _call, _call_for_loss, _fail, _ok, _shape

__all__ = ["check_decoder_input", "check_mean_baseline", "check_norm_pix_loss"]


# ---------------------------------------------------------------------- the decoder's input
def reference_decoder_input(latent: torch.Tensor, ids_restore: torch.Tensor, mask_token: torch.Tensor,
                            pos_embed: torch.Tensor) -> torch.Tensor:
    """What :class:`~mae_lab.models.mae.MAEDecoder` feeds its blocks: ``[B, 1 + N, D]``."""
    cls, visible = latent[:, :1], latent[:, 1:]  # [B, 1, D], [B, N_vis, D]
    num_hidden = ids_restore.shape[1] - visible.shape[1]
    mask_tokens = mask_token.expand(latent.shape[0], num_hidden, -1)  # [B, N_hid, D]
    tokens = keep_tokens(torch.cat([visible, mask_tokens], dim=1), ids_restore)  # [B, N, D] in patch order
    return torch.cat([cls, tokens], dim=1) + pos_embed  # [B, 1 + N, D]


def _decoder_input_mistakes(latent, ids_restore, mask_token, pos_embed) -> list[tuple[torch.Tensor, str]]:
    """The patch part ``[B, N, D]`` of the classic wrong answers, each with what to say about it."""
    batch, dim = latent.shape[0], latent.shape[-1]
    visible = latent[:, 1:]
    num_hidden = ids_restore.shape[1] - visible.shape[1]
    masks = mask_token.expand(batch, num_hidden, -1)
    appended = torch.cat([visible, masks], dim=1)  # [B, N, D], visible first
    restored = keep_tokens(appended, ids_restore)
    positions = pos_embed[:, 1:]  # [1, N, D]: the patches' rows
    wrong_dim = torch.gather(appended, 2, ids_restore.unsqueeze(-1).expand(-1, -1, dim))
    with_cls = torch.cat([latent, mask_token.expand(batch, num_hidden - 1, -1)], dim=1)  # class token in the shuffle
    return [
        (wrong_dim + positions,
         "you gathered along the wrong dimension: ids_restore reorders *tokens*, so gather along dim 1 with "
         "the index expanded over the channels, ids_restore.unsqueeze(-1).expand(-1, -1, D)"),
        (keep_tokens(appended, torch.argsort(ids_restore, dim=1)) + positions,
         "you shuffled again instead of un-shuffling: argsort(ids_restore) is ids_shuffle; gather with "
         "ids_restore itself (it was made as argsort(ids_shuffle) to undo the shuffle)"),
        (keep_tokens(torch.cat([masks, visible], 1), ids_restore) + positions,
         "the mask tokens go *after* the visible tokens: ids_restore was built for the order "
         "[visible patches in ids_keep order, then the hidden ones]"),
        (keep_tokens(appended + positions, ids_restore),
         "you added the positions before un-shuffling, so each position landed on the wrong token: "
         "un-shuffle first, then add pos_embed to the tokens in patch order"),
        (restored,
         "no positions: add the decoder's pos_embed after un-shuffling — without it the mask tokens are all "
         "identical and the decoder cannot tell which patch each one stands for"),
        (restored + pos_embed[:, :-1],
         "off by one in the positions: row 0 of pos_embed belongs to the class token, the patches take rows "
         "1 .. N (simplest: add pos_embed to the whole [B, 1 + N, D] sequence)"),
        (keep_tokens(with_cls, ids_restore) + positions,
         "the class token went into the shuffle: split latent into latent[:, :1] (the class token) and "
         "latent[:, 1:] (the visible patches) before appending the mask tokens"),
        (keep_tokens(appended, ids_restore[:1].expand_as(ids_restore)) + positions,
         "every image used the first image's ids_restore: each sample has its own mask, so gather with the "
         "whole [B, N] index"),
    ]


def _decoder_input_in_a_real_model(fn: Callable) -> tuple[float, str]:
    """Plug ``fn`` into a small MAE's decoder: the largest difference from ``model.decode`` and a description."""
    model = MaskedAutoencoder(get_preset("mae_micro"), seed=0).eval()
    images = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(7))
    mask = model.make_mask(3, "random", ratio=0.75, seed=11)
    decoder = model.decoder
    with torch.no_grad():
        latent = model.encode(images, mask)  # [3, 1 + 4, 64]
        expected = model.decode(latent, mask)  # [3, 16, 4]
        x = torch.as_tensor(fn(decoder.embed(latent), mask.ids_restore.clone(), decoder.mask_token,
                               decoder.pos_embed))
        x, _ = run_blocks(decoder.blocks, x)
        pred = decoder.pred(decoder.norm(x))[:, 1:]
    return float((pred - expected).abs().max()), f"{_shape(latent)} → decoder → {_shape(expected)}"


def check_decoder_input(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], Any]) -> CheckResult:
    """Exercise: ``fn(latent [B, 1 + N_vis, D], ids_restore [B, N], mask_token [1, 1, D], pos_embed [1, 1 + N, D])
    -> [B, 1 + N, D]``, the sequence MAE's decoder blocks read.

    ``latent`` is the encoder output already projected to the decoder's width (class token first, then
    the visible patches in ``ids_keep`` order). Append one copy of ``mask_token`` per hidden patch,
    un-shuffle with ``ids_restore`` so every token is back at its patch, put the class token back in
    front and add ``pos_embed``. Then the check runs your function inside a real (small) MAE decoder.
    """
    name = "decoder input"
    gen = torch.Generator().manual_seed(12)
    batch, num_patches, num_visible, dim = 2, 16, 4, 24  # dim > N: a gather on the wrong axis runs, and is caught
    latent = torch.randn(batch, 1 + num_visible, dim, generator=gen)
    ids_restore = torch.stack([torch.argsort(torch.randperm(num_patches, generator=gen)) for _ in range(batch)])
    mask_token = torch.randn(1, 1, dim, generator=gen)
    pos_embed = torch.randn(1, 1 + num_patches, dim, generator=gen)
    expected = reference_decoder_input(latent, ids_restore, mask_token, pos_embed)
    result, failure = _call(name, fn, latent.clone(), ids_restore.clone(), mask_token.clone(), pos_embed.clone())
    if failure is not None:
        return failure
    result, failure = _as_tensor(name, result, "the decoder input")
    if failure is not None:
        return failure
    result = result.float()
    if result.shape != expected.shape:
        if tuple(result.shape) == (batch, num_patches, dim):
            return _fail(name, f"got {_shape(result)}: the class token is missing. Keep latent[:, :1] aside and "
                         f"put it back in front of the un-shuffled tokens: [B, 1 + N, D] = {_shape(expected)}.")
        if tuple(result.shape) == (batch, 1 + num_visible, dim):
            return _fail(name, f"got {_shape(result)}, the encoder's sequence: append N − N_vis = "
                         f"{num_patches - num_visible} mask tokens so every patch gets a token.")
        if result.ndim == 4:
            return _fail(name, f"got {_shape(result)}: indexing tokens[:, ids_restore] pairs every image with "
                         "every row of ids_restore. Use torch.gather along dim 1, one index row per image.")
        if tuple(result.shape[:2]) == (batch, 1 + num_patches) and result.shape[-1] == 1:
            return _fail(name, f"got {_shape(result)}: expand the gather index over the channels, "
                         "ids_restore.unsqueeze(-1).expand(-1, -1, D), not just unsqueeze(-1).")
        return _fail(name, f"expected shape {_shape(expected)} (B, 1 + N, D), got {_shape(result)}.")
    patches_right = torch.allclose(result[:, 1:], expected[:, 1:], atol=1e-5)
    if not patches_right:
        for variant, message in _decoder_input_mistakes(latent, ids_restore, mask_token, pos_embed):
            if torch.allclose(result[:, 1:], variant, atol=1e-5):
                return _fail(name, message + ".")
        return _fail(name, "the patch tokens are not right: x = cat(visible, mask tokens); x = gather(x, 1, "
                     "ids_restore expanded over D); x = cat(class token, x); x = x + pos_embed.")
    note = ""
    if torch.allclose(result[:, :1], latent[:, :1], atol=1e-5):  # MAE's class-token position is a row of zeros
        note = " (You left pos_embed's row 0 off the class token; in MAE that row is zeros, so it changes nothing.)"
    elif not torch.allclose(result[:, :1], expected[:, :1], atol=1e-5):
        return _fail(name, "the patch tokens are right, but token 0 must be the class token, latent[:, :1] "
                     "(plus pos_embed[:, :1]).")
    try:
        difference, shapes = _decoder_input_in_a_real_model(fn)
    except Exception as error:  # the student's code, on other shapes: report, never crash the notebook
        return _fail(name, f"right on the check's inputs, but inside a real decoder your function raised "
                     f"{type(error).__name__}: {error}")
    if difference > 1e-4:
        return _fail(name, "right on the check's inputs, but inside a real decoder the prediction differs from "
                     f"model.decode by {difference:.2g}: does your function depend on the batch size or change "
                     "its inputs in place?")
    return _ok(name, "correct — mask tokens appended, un-shuffled, class token in front, positions added; inside "
               f"a real MAE ({shapes}) it gives exactly model.decode's prediction.{note}")


# ---------------------------------------------------------------------- the norm-pix loss
def reference_norm_pix_loss(images: torch.Tensor, pred: torch.Tensor, hidden: torch.Tensor,
                            patch_size: int) -> torch.Tensor:
    """MAE's loss with ``norm_pix_loss``: per-patch normalised target, MSE averaged over hidden patches."""
    target = normalized_pixel_targets(images, patch_size)  # [B, N, p*p*C], unbiased variance as MAE's code
    per_patch = ((pred - target) ** 2).mean(dim=-1)  # [B, N]
    weights = hidden.float()
    return (per_patch * weights).sum() / weights.sum()


def _norm_pix_variants(images, pred, hidden, p) -> tuple[list[tuple[float, str]], list[tuple[float, str]]]:
    """``(accepted, mistakes)``: loss values of near-right answers and of the typical wrong ones."""
    patches = patchify(images, p)
    b, c, h, w = images.shape
    channel_first = images.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5).reshape(b, -1, c * p * p)
    eps = NORM_PIX_EPS
    hid, vis = hidden.float(), (~hidden).float()

    def norm(x, dim=-1, unbiased=True, eps_inside=True):
        mean = x.mean(dim=dim, keepdim=True)
        var = x.var(dim=dim, keepdim=True, unbiased=unbiased)
        return (x - mean) / ((var + eps) ** 0.5 if eps_inside else var**0.5 + eps)

    def hidden_mean(per_patch, weights=hid):
        return float((per_patch * weights).sum() / weights.sum())

    def mse(target, prediction=pred):
        return ((prediction - target) ** 2).mean(-1)

    target = norm(patches)
    accepted = [
        (hidden_mean(mse(norm(patches, unbiased=False))), "correct, with the biased variance (MAE's code uses "
         "torch's default, the unbiased one; the two differ by a factor (D − 1) / D)"),
        (hidden_mean(mse(norm(patches, eps_inside=False))), "correct up to where eps goes (MAE adds it to the "
         "variance, inside the square root)"),
    ]
    global_norm = (patches - patches.mean()) / (patches.var() + eps) ** 0.5
    mistakes = [
        (float(mse(target).mean()), "you averaged over all patches; MAE's loss counts only the hidden ones "
         "(`hidden` is True for them) — the visible ones would be copied, which teaches nothing"),
        (hidden_mean(mse(target), vis), "you averaged over the visible patches; True in `hidden` marks the ones "
         "to score"),
        (hidden_mean(((pred - target) ** 2).sum(-1)), "you summed the squared error over each patch's values; "
         "take their mean (one number per patch), then average over the hidden patches"),
        (float((mse(target) * hid).sum()), "you summed over the hidden patches; divide by how many there are"),
        (hidden_mean(mse(patches)), "you compared the prediction with raw pixels; the target is each patch "
         "normalised by its own mean and standard deviation"),
        (hidden_mean(mse(target, norm(pred))), "you normalised the prediction too; normalise only the target — "
         "the model learns to output normalised patches"),
        (hidden_mean(mse(global_norm)), "you normalised the whole batch at once; normalise each patch over its "
         "own values (dim=-1, keepdim=True)"),
        (hidden_mean(mse(norm(patches, dim=1))), "you normalised across patches (dim=1); normalise within each "
         "patch (dim=-1)"),
        (hidden_mean(mse(patches - patches.mean(-1, keepdim=True))), "you subtracted each patch's mean but did "
         "not divide by its standard deviation, sqrt(var + 1e-6)"),
        (hidden_mean(mse(norm(channel_first))), "your patches hold their values in (channel, row, column) order; "
         "the predictions are in MAE's (row, column, channel) order — use mae_lab.patchify (lab 01)"),
        (math.sqrt(hidden_mean(mse(target))), "you took a square root: MAE's loss is the mean *squared* error, "
         "no root"),
    ]
    return accepted, mistakes


def check_norm_pix_loss(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor, int], Any]) -> CheckResult:
    """Exercise: ``fn(images [B, C, H, W], pred [B, N, p*p*C], hidden [B, N] bool, patch_size) -> scalar``.

    MAE's loss with ``norm_pix_loss`` (MAE Table 1d): cut the images into patches, normalise every target
    patch by its own mean and ``sqrt(var + 1e-6)`` (unbiased variance, as the official code), take the
    squared error averaged over each patch's values, then average over the hidden patches only. The
    check also compares your loss with a real model's ``loss`` (target ``"norm_pixels"``).
    """
    name = "norm-pix loss"
    gen = torch.Generator().manual_seed(3)
    p = 4
    images = torch.rand(2, 3, 8, 12, generator=gen) * torch.tensor([0.3, 1.0]).view(2, 1, 1, 1)  # [2, 3, 8, 12]
    num_patches = (8 // p) * (12 // p)  # 6
    pred = torch.randn(2, num_patches, p * p * 3, generator=gen)
    hidden = make_mask("random", 2, grid=(2, 3), ratio=0.5, seed=4).hidden  # [2, 6], 3 hidden per image
    expected = float(reference_norm_pix_loss(images, pred, hidden, p))
    result, failure = _call_for_loss(name, fn, images.clone(), pred.clone(), hidden.clone(), p)
    if failure is not None:
        return failure
    value = float(result)
    if math.isclose(value, expected, rel_tol=1e-5):
        model = MaskedAutoencoder(get_preset("mae_micro", target="norm_pixels"), seed=0)
        digits = torch.rand(2, 1, 8, 8, generator=gen)
        mask = model.make_mask(2, "random", ratio=0.75, seed=5)
        with torch.no_grad():
            out = model(digits, mask=mask)
            try:
                mine = float(torch.as_tensor(fn(digits, out.pred, mask.hidden.clone(), model.patch_size)))
            except Exception as error:  # the student's code, on other shapes
                return _fail(name, f"right on the first test, but on a real model's output (1 channel, 2-px "
                             f"patches) your function raised {type(error).__name__}: {error}")
        if not math.isclose(mine, float(out.loss), rel_tol=1e-4):
            return _fail(name, f"right on the first test, but on a real model's output you get {mine:.4f} where "
                         f"model.loss gives {float(out.loss):.4f}: does your code assume 3 channels or a fixed size?")
        return _ok(name, f"correct — {value:.4f}: normalised target patches, squared error per patch, averaged over "
                   f"the hidden ones; on a real MAE it equals model.loss ({float(out.loss):.4f}).")
    accepted, mistakes = _norm_pix_variants(images, pred, hidden, p)
    for variant, message in accepted:
        if math.isclose(value, variant, rel_tol=1e-5):
            return _ok(name, message + ".")
    for variant, message in mistakes:
        if math.isclose(value, variant, rel_tol=1e-5):
            return _fail(name, message + ".")
    return _fail(name, f"got {value:.4f}, expected {expected:.4f}: patchify, normalise each patch "
                 "((x − mean) / sqrt(var + 1e-6) over its values), mean squared error per patch, mean over hidden.")


# ---------------------------------------------------------------------- the mean-of-visible baseline
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
