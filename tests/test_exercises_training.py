"""exercises.training: one pretraining step, and MAE's warm-up + cosine learning rate."""

import math

import pytest
import torch

from mae_lab.exercises.training import (
    _STEP_MISTAKES,
    check_train_step,
    check_warmup_cosine,
    reference_train_step,
)
from mae_lab.masking import make_mask
from mae_lab.models import MaskedAutoencoder, get_preset
from mae_lab.schedules import warmup_cosine
from mae_lab.train import param_groups


# ---------------------------------------------------------------------------------------------- training step
def test_train_step_right_answer_passes():
    result = check_train_step(reference_train_step)
    assert result and "mae_lab's own loop" in result.message

    def tensor_loss(model, optimizer, images, mask, lr):  # returning the loss tensor is fine too
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss = model(images, mask=mask).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss

    assert check_train_step(tensor_loss)


def test_the_reference_step_is_the_step_of_pretrain():
    """Two steps of the reference equal the loop body of mae_lab.train (same lr, mask, batch)."""
    model = MaskedAutoencoder(get_preset("mae_micro"), seed=0)
    optimizer = torch.optim.AdamW(param_groups(model, 0.05), lr=0.0, betas=(0.9, 0.95))
    images = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    mask = make_mask("random", 4, grid=model.grid, ratio=0.75, seed=0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    loss = reference_train_step(model, optimizer, images, mask, 1e-3)
    assert isinstance(loss, float) and loss > 0
    assert all(group["lr"] == 1e-3 for group in optimizer.param_groups)
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize(("mistake", "message"), _STEP_MISTAKES)
def test_train_step_typical_mistakes_get_their_message(mistake, message):
    result = check_train_step(mistake)
    assert not result and result.message == message + "."


def test_train_step_other_mistakes():
    def new_mask(model, optimizer, images, mask, lr):
        return reference_train_step(model, optimizer, images, model.make_mask(len(images), seed=99), lr)

    assert "with the mask you are given" in check_train_step(new_mask).message

    def forward_only(model, optimizer, images, mask, lr):
        return model(images, mask=mask).loss.item()

    assert "did not change" in check_train_step(forward_only).message

    def wrong_loss(model, optimizer, images, mask, lr):
        reference_train_step(model, optimizer, images, mask, lr)
        return 0.5

    assert "first loss" in check_train_step(wrong_loss).message

    first_losses = []

    def stale_loss(model, optimizer, images, mask, lr):
        first_losses.append(reference_train_step(model, optimizer, images, mask, lr))
        return first_losses[0]

    assert "returned losses" in check_train_step(stale_loss).message
    assert "returned nothing" in check_train_step(lambda *args: None).message
    assert "as a number" in check_train_step(lambda *args: "done").message


def test_train_step_stub_is_reported_not_raised():
    def stub(model, optimizer, images, mask, lr):
        raise NotImplementedError

    assert "not implemented" in check_train_step(stub).message


# ---------------------------------------------------------------------------------------------- warm-up + cosine
def warmup_cosine_right(progress, peak, minimum, warmup_fraction):
    if progress < warmup_fraction:
        return peak * progress / warmup_fraction
    decay = (progress - warmup_fraction) / (1 - warmup_fraction)
    return minimum + (peak - minimum) * 0.5 * (1 + math.cos(math.pi * decay))


def test_warmup_cosine_right_answers_pass_including_the_package_schedule():
    assert check_warmup_cosine(warmup_cosine_right).passed
    # the schedule pretrain() uses is the one the exercise asks for
    assert check_warmup_cosine(lambda p, peak, low, warm: warmup_cosine(p, peak, low, warm)).passed


def cosine(p, peak, low):
    return low + (peak - low) * 0.5 * (1 + math.cos(math.pi * p))


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (lambda p, peak, low, warm: cosine(p, peak, low), "no warm-up"),
        (lambda p, peak, low, warm: peak * p / warm if p < warm else cosine(p, peak, low),
         "(progress − warmup_fraction) / (1 − warmup_fraction)"),
        (lambda p, peak, low, warm: warmup_cosine_right(p, peak, 0.0, warm), "end at minimum"),
        (lambda p, peak, low, warm: peak * p / warm if p < warm else low + (peak - low) * (1 - (p - warm) / (1 - warm)),
         "straight line"),
        (lambda p, peak, low, warm: peak + low - warmup_cosine_right(p, peak, low, warm) if p >= warm
         else warmup_cosine_right(p, peak, low, warm), "backwards"),
        (lambda p, peak, low, warm: low + (peak - low) * p / warm if p < warm
         else warmup_cosine_right(p, peak, low, warm), "start from 0"),
        (lambda p, peak, low, warm: peak * (p / warm) ** 2 if p < warm else warmup_cosine_right(p, peak, low, warm),
         "curve between them"),
        (lambda p, peak, low, warm: 2 * warmup_cosine_right(p, peak, low, warm), "at the end of the warm-up"),
        (lambda p, peak, low, warm: [peak], "one number"),
    ],
)
def test_warmup_cosine_typical_mistakes_get_their_message(answer, words):
    result = check_warmup_cosine(answer)
    assert not result.passed
    assert words in result.message


def test_warmup_cosine_unfinished_stub_is_reported_not_raised():
    def stub(progress, peak, minimum, warmup_fraction):
        raise NotImplementedError

    result = check_warmup_cosine(stub)
    assert not result.passed and "not implemented" in result.message
