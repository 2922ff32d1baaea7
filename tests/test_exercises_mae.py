"""exercises.mae: the decoder's input (MAE's forward pass), the norm-pix loss and the mean-of-visible baseline."""

import pytest
import torch

from mae_lab.exercises.mae import (
    check_decoder_input,
    check_mean_baseline,
    check_norm_pix_loss,
    reference_decoder_input,
    reference_norm_pix_loss,
)
from mae_lab.models import MaskedAutoencoder, get_preset
from mae_lab.patches import patchify


# ---------------------------------------------------------------------------------------------- decoder input
def _split(latent, ids_restore, mask_token):
    cls, visible = latent[:, :1], latent[:, 1:]
    batch, num_visible, dim = visible.shape
    masks = mask_token.expand(batch, ids_restore.shape[1] - num_visible, dim)
    return cls, visible, masks, dim


def _gather(tokens, index):
    return torch.gather(tokens, 1, index.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))


def wrong_dim(latent, ids_restore, mask_token, pos_embed):
    cls, visible, masks, dim = _split(latent, ids_restore, mask_token)
    tokens = torch.gather(torch.cat([visible, masks], 1), 2, ids_restore.unsqueeze(-1).expand(-1, -1, dim))
    return torch.cat([cls, tokens], 1) + pos_embed


def no_class_token(latent, ids_restore, mask_token, pos_embed):
    _, visible, masks, _ = _split(latent, ids_restore, mask_token)
    return _gather(torch.cat([visible, masks], 1), ids_restore) + pos_embed[:, 1:]


def class_token_shuffled(latent, ids_restore, mask_token, pos_embed):
    cls, _, masks, _ = _split(latent, ids_restore, mask_token)
    tokens = _gather(torch.cat([latent, masks[:, 1:]], 1), ids_restore)  # the class token taken for a patch
    return torch.cat([cls, tokens], 1) + pos_embed


def positions_first(latent, ids_restore, mask_token, pos_embed):
    cls, visible, masks, _ = _split(latent, ids_restore, mask_token)
    tokens = _gather(torch.cat([visible, masks], 1) + pos_embed[:, 1:], ids_restore)
    return torch.cat([cls + pos_embed[:, :1], tokens], 1)


def shuffled_again(latent, ids_restore, mask_token, pos_embed):
    cls, visible, masks, _ = _split(latent, ids_restore, mask_token)
    tokens = _gather(torch.cat([visible, masks], 1), torch.argsort(ids_restore, dim=1))
    return torch.cat([cls, tokens], 1) + pos_embed


def masks_first(latent, ids_restore, mask_token, pos_embed):
    cls, visible, masks, _ = _split(latent, ids_restore, mask_token)
    return torch.cat([cls, _gather(torch.cat([masks, visible], 1), ids_restore)], 1) + pos_embed


def no_positions(latent, ids_restore, mask_token, pos_embed):
    cls, visible, masks, _ = _split(latent, ids_restore, mask_token)
    return torch.cat([cls, _gather(torch.cat([visible, masks], 1), ids_restore)], 1)


def off_by_one(latent, ids_restore, mask_token, pos_embed):
    cls, visible, masks, _ = _split(latent, ids_restore, mask_token)
    return torch.cat([cls, _gather(torch.cat([visible, masks], 1), ids_restore) + pos_embed[:, :-1]], 1)


def first_image_only(latent, ids_restore, mask_token, pos_embed):
    cls, visible, masks, _ = _split(latent, ids_restore, mask_token)
    index = ids_restore[:1].expand_as(ids_restore)
    return torch.cat([cls, _gather(torch.cat([visible, masks], 1), index)], 1) + pos_embed


def indexed(latent, ids_restore, mask_token, pos_embed):
    _, visible, masks, _ = _split(latent, ids_restore, mask_token)
    return torch.cat([visible, masks], 1)[:, ids_restore]  # [B, B, N, D]


def test_decoder_input_right_answer_matches_the_model():
    result = check_decoder_input(reference_decoder_input)
    assert result and "model.decode" in result.message
    # the class token's position row is zeros in MAE: leaving it off is accepted, with a word about it
    def patches_only(latent, ids_restore, mask_token, pos_embed):
        out = reference_decoder_input(latent, ids_restore, mask_token, pos_embed)
        return torch.cat([latent[:, :1], out[:, 1:]], 1)

    lenient = check_decoder_input(patches_only)
    assert lenient and "row 0" in lenient.message


def test_the_reference_is_what_the_models_decoder_reads():
    model = MaskedAutoencoder(get_preset("mae_micro"), seed=0).eval()
    images = torch.rand(2, 1, 8, 8)
    mask = model.make_mask(2, "random", ratio=0.5, seed=0)
    with torch.no_grad():
        latent = model.encode(images, mask)
        x = reference_decoder_input(model.decoder.embed(latent), mask.ids_restore, model.decoder.mask_token,
                                    model.decoder.pos_embed)
        for block in model.decoder.blocks:
            x, _ = block(x)
        pred = model.decoder.pred(model.decoder.norm(x))[:, 1:]
    assert torch.allclose(pred, model.decode(latent, mask), atol=1e-6)


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (wrong_dim, "wrong dimension"),
        (no_class_token, "class token is missing"),
        (class_token_shuffled, "class token went into the shuffle"),
        (positions_first, "before un-shuffling"),
        (shuffled_again, "shuffled again"),
        (masks_first, "*after* the visible tokens"),
        (no_positions, "no positions"),
        (off_by_one, "off by one"),
        (first_image_only, "first image's ids_restore"),
        (indexed, "torch.gather along dim 1"),
        (lambda latent, ids, token, pos: latent, "append N − N_vis"),
        (lambda latent, ids, token, pos: torch.cat([token.expand(2, 1, -1), reference_decoder_input(
            latent, ids, token, pos)[:, 1:]], 1), "must be the class token"),
        (lambda latent, ids, token, pos: reference_decoder_input(latent, ids, token, pos) + 1, "patch tokens are not"),
        (lambda latent, ids, token, pos: "tokens", "torch tensor"),
    ],
)
def test_decoder_input_typical_mistakes_get_their_message(answer, words):
    result = check_decoder_input(answer)
    assert not result
    assert words in result.message


def test_decoder_input_that_only_works_on_the_checks_shapes_is_caught():
    def hard_coded(latent, ids_restore, mask_token, pos_embed):
        if latent.shape[-1] != 24:
            raise RuntimeError("only for D = 24")
        return reference_decoder_input(latent, ids_restore, mask_token, pos_embed)

    result = check_decoder_input(hard_coded)
    assert not result and "inside a real decoder your function raised RuntimeError" in result.message


def test_decoder_input_stub_is_reported_not_raised():
    def stub(latent, ids_restore, mask_token, pos_embed):
        raise NotImplementedError

    assert "not implemented" in check_decoder_input(stub).message


# ---------------------------------------------------------------------------------------------- norm-pix loss
def _norm(x, dim=-1, unbiased=True):
    return (x - x.mean(dim, keepdim=True)) / (x.var(dim, keepdim=True, unbiased=unbiased) + 1e-6) ** 0.5


def _hidden_mean(per_patch, hidden):
    return (per_patch * hidden).sum() / hidden.sum()


def test_norm_pix_loss_right_answers_pass_and_equal_the_models_loss():
    result = check_norm_pix_loss(reference_norm_pix_loss)
    assert result and "model.loss" in result.message
    model = MaskedAutoencoder(get_preset("mae_micro", target="norm_pixels"), seed=0)
    images = torch.rand(3, 1, 8, 8)
    out = model(images, ratio=0.75, seed=1)
    assert torch.allclose(reference_norm_pix_loss(images, out.pred, out.mask.hidden, 2), out.loss)
    biased = check_norm_pix_loss(lambda im, pred, hid, p: _hidden_mean(
        ((pred - _norm(patchify(im, p), unbiased=False)) ** 2).mean(-1), hid.float()))
    assert biased and "biased variance" in biased.message


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (lambda im, pred, hid, p: ((pred - _norm(patchify(im, p))) ** 2).mean(), "all patches"),
        (lambda im, pred, hid, p: _hidden_mean(((pred - _norm(patchify(im, p))) ** 2).mean(-1), (~hid).float()),
         "visible patches"),
        (lambda im, pred, hid, p: _hidden_mean(((pred - _norm(patchify(im, p))) ** 2).sum(-1), hid.float()),
         "summed the squared error"),
        (lambda im, pred, hid, p: (((pred - _norm(patchify(im, p))) ** 2).mean(-1) * hid).sum(), "divide by how many"),
        (lambda im, pred, hid, p: _hidden_mean(((pred - patchify(im, p)) ** 2).mean(-1), hid.float()), "raw pixels"),
        (lambda im, pred, hid, p: _hidden_mean(((_norm(pred) - _norm(patchify(im, p))) ** 2).mean(-1), hid.float()),
         "normalised the prediction too"),
        (lambda im, pred, hid, p: _hidden_mean(((pred - _norm(patchify(im, p), dim=1)) ** 2).mean(-1), hid.float()),
         "across patches"),
        (lambda im, pred, hid, p: _hidden_mean(((pred - _norm(patchify(im, p).flatten(), dim=0).view_as(pred)) ** 2)
                                               .mean(-1), hid.float()), "whole batch"),
        (lambda im, pred, hid, p: _hidden_mean(((pred - (patchify(im, p) - patchify(im, p).mean(-1, keepdim=True)))
                                                ** 2).mean(-1), hid.float()), "did not divide"),
        (lambda im, pred, hid, p: _hidden_mean(((pred - _norm(patchify(im, p))) ** 2).mean(-1), hid.float()) ** 0.5,
         "square root"),
        (lambda im, pred, hid, p: ((pred - _norm(patchify(im, p))) ** 2).mean(-1), "one number"),
        (lambda im, pred, hid, p: _hidden_mean(((pred - _norm(patchify(im, p))) ** 2).mean(-1), hid.float()) + 1,
         "expected"),
    ],
)
def test_norm_pix_loss_typical_mistakes_get_their_message(answer, words):
    result = check_norm_pix_loss(answer)
    assert not result
    assert words in result.message


def test_norm_pix_loss_in_channel_first_order_is_named():
    def channel_first(images, pred, hidden, p):
        b, c, h, w = images.shape
        patches = images.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5).reshape(b, -1, c * p * p)
        return _hidden_mean(((pred - _norm(patches)) ** 2).mean(-1), hidden.float())

    result = check_norm_pix_loss(channel_first)
    assert not result and "(channel, row, column)" in result.message


def test_norm_pix_loss_that_assumes_three_channels_is_caught_on_the_real_model():
    def three_channels(images, pred, hidden, p):
        if images.shape[1] != 3:
            raise ValueError("expected RGB")
        return reference_norm_pix_loss(images, pred, hidden, p)

    result = check_norm_pix_loss(three_channels)
    assert not result and "real model's output" in result.message


def test_norm_pix_loss_stub_is_reported_not_raised():
    def stub(images, pred, hidden, patch_size):
        raise NotImplementedError

    assert "not implemented" in check_norm_pix_loss(stub).message


# ---------------------------------------------------------------------------------------------- mean baseline
def _visible_mean(patches, hidden):
    visible = (~hidden).unsqueeze(-1).float()
    return ((patches * visible).sum(1, keepdim=True) / visible.sum(1, keepdim=True)).expand_as(patches)


def test_mean_baseline_right():
    assert check_mean_baseline(_visible_mean)
    # visible rows are not checked: any value there is fine
    assert check_mean_baseline(lambda p, h: torch.where(h.unsqueeze(-1), _visible_mean(p, h), p))


def test_mean_baseline_typical_mistakes():
    everything = check_mean_baseline(lambda p, h: p.mean(1, keepdim=True).expand_as(p))
    assert not everything and "hidden ones included" in everything.message
    peeking = check_mean_baseline(
        lambda p, h: ((p * h.unsqueeze(-1)).sum(1, keepdim=True) / h.sum(1).view(-1, 1, 1)).expand_as(p))
    assert not peeking and "peeks" in peeking.message
    batch = check_mean_baseline(
        lambda p, h: ((p * (~h).unsqueeze(-1)).sum((0, 1), keepdim=True) / (~h).sum()).expand_as(p))
    assert not batch and "whole batch" in batch.message
    inside = check_mean_baseline(lambda p, h: p.mean(-1, keepdim=True).expand_as(p))
    assert not inside and "dim=-1" in inside.message
    shape = check_mean_baseline(lambda p, h: p.mean(1))
    assert not shape and "shape [3, 16, 12]" in shape.message


def test_mean_baseline_stub_is_reported():
    def todo(patches, hidden):
        raise NotImplementedError

    assert "not implemented" in check_mean_baseline(todo).message
