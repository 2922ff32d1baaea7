"""The checks of mae_lab/exercises/course.py: every check passes a right answer and explains the typical wrong ones."""

from __future__ import annotations

import math

import pytest
import torch

from mae_lab import exercises as ex
from mae_lab.attention import mean_attention_distance
from mae_lab.exercises import (
    PREDICTIONS,
    check_attention_distance,
    check_cosine_schedule,
    check_fft_target,
    check_hog_bins,
    check_lr_scaling,
    check_prediction,
    check_warmup_cosine,
)
from mae_lab.patches import patchify
from mae_lab.schedules import warmup_cosine as learning_rate


# ---------------------------------------------------------------------------------------------
# from the checks of every lab
# ---------------------------------------------------------------------------------------------
def _patchify_channel_first(images, p):
    b, c, h, w = images.shape
    x = images.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(b, (h // p) * (w // p), -1)


def _patchify_transposed(images, p):
    b, c, h, w = images.shape
    x = images.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 5, 3, 1)
    return x.reshape(b, (h // p) * (w // p), -1)


def _patchify_column_major(images, p):
    b, c, h, w = images.shape
    x = images.reshape(b, c, h // p, p, w // p, p).permute(0, 4, 2, 3, 5, 1)
    return x.reshape(b, (h // p) * (w // p), -1)


def test_patchify_right_and_wrong():
    assert ex.check_patchify(patchify)
    assert "channel" in ex.check_patchify(_patchify_channel_first).message
    assert "transpose" in ex.check_patchify(_patchify_transposed).message
    assert "row by row" in ex.check_patchify(_patchify_column_major).message
    wrong_shape = ex.check_patchify(lambda im, p: im.flatten(2).transpose(1, 2))
    assert not wrong_shape and "expected shape [2, 6, 48]" in wrong_shape.message


def test_a_missing_body_or_a_crash_is_reported_not_raised():
    def todo(images, p):
        raise NotImplementedError

    assert "not implemented" in ex.check_patchify(todo).message
    assert "raised ZeroDivisionError" in ex.check_patchify(lambda im, p: 1 / 0).message
    assert "returned nothing" in ex.check_patchify(lambda im, p: None).message


def test_num_visible():
    assert ex.check_num_visible(49)
    assert ex.check_num_visible(50)  # counting the class token
    assert "hidden" in ex.check_num_visible(147).message
    assert not ex.check_num_visible("lots")


def _masking(noise, ratio):
    keep = noise.shape[1] - round(noise.shape[1] * ratio)
    shuffle = torch.argsort(noise, dim=1)
    return shuffle[:, :keep], torch.argsort(shuffle, dim=1)


def test_random_masking():
    assert ex.check_random_masking(_masking)

    def largest(noise, ratio):
        keep = noise.shape[1] - round(noise.shape[1] * ratio)
        shuffle = torch.argsort(noise, dim=1, descending=True)
        return shuffle[:, :keep], torch.argsort(shuffle, dim=1)

    assert "largest" in ex.check_random_masking(largest).message

    def restore_is_shuffle(noise, ratio):
        keep, _ = _masking(noise, ratio)
        return keep, torch.argsort(noise, dim=1)

    assert "ids_restore equals ids_shuffle" in ex.check_random_masking(restore_is_shuffle).message

    def hidden_count(noise, ratio):
        shuffle = torch.argsort(noise, dim=1)
        return shuffle[:, : round(noise.shape[1] * ratio)], torch.argsort(shuffle, dim=1)

    assert "hidden count" in ex.check_random_masking(hidden_count).message


def test_masked_loss():
    def right(pred, target, hidden):
        per_patch = ((pred - target) ** 2).mean(-1)
        return (per_patch * hidden).sum() / hidden.sum()

    assert ex.check_masked_loss(right)
    assert "all patches" in ex.check_masked_loss(lambda p, t, h: ((p - t) ** 2).mean()).message
    assert "visible" in ex.check_masked_loss(
        lambda p, t, h: (((p - t) ** 2).mean(-1) * ~h).sum() / (~h).sum()
    ).message
    assert "summed the squared error" in ex.check_masked_loss(
        lambda p, t, h: (((p - t) ** 2).sum(-1) * h).sum() / h.sum()
    ).message
    assert "one number" in ex.check_masked_loss(lambda p, t, h: ((p - t) ** 2).mean(-1)).message


def test_norm_pixels():
    def right(x):
        return (x - x.mean(-1, keepdim=True)) / (x.var(-1, keepdim=True) + 1e-6) ** 0.5

    assert ex.check_norm_pixels(right)
    assert "whole batch" in ex.check_norm_pixels(lambda x: (x - x.mean()) / (x.var() + 1e-6) ** 0.5).message
    assert "did not divide" in ex.check_norm_pixels(lambda x: x - x.mean(-1, keepdim=True)).message


def test_lr_scaling():
    assert ex.check_lr_scaling(lambda lr, b: lr * b / 256)
    assert "per 256" in ex.check_lr_scaling(lambda lr, b: lr * b).message
    assert "upside down" in ex.check_lr_scaling(lambda lr, b: lr * 256 / b).message


def test_knn_vote():
    def right(train_f, train_y, test_f, k, t, c):
        sims = torch.nn.functional.normalize(test_f, dim=1) @ torch.nn.functional.normalize(train_f, dim=1).T
        top = sims.topk(k, dim=1)
        votes = torch.zeros(len(test_f), c).scatter_add_(1, train_y[top.indices], (top.values / t).exp())
        return votes.argmax(1)

    def dot(train_f, train_y, test_f, k, t, c):
        top = (test_f @ train_f.T).topk(k, dim=1)
        votes = torch.zeros(len(test_f), c).scatter_add_(1, train_y[top.indices], (top.values / t).exp())
        return votes.argmax(1)

    assert ex.check_knn_vote(right)
    assert "normalise" in ex.check_knn_vote(dot).message


def test_rollout():
    def right(attentions):
        rollout = torch.eye(attentions[0].shape[-1])
        for a in attentions:
            a = a.mean(0) + torch.eye(a.shape[-1])
            rollout = (a / a.sum(-1, keepdim=True)) @ rollout
        return rollout

    def no_identity(attentions):
        rollout = torch.eye(attentions[0].shape[-1])
        for a in attentions:
            rollout = a.mean(0) @ rollout
        return rollout

    assert ex.check_rollout(right)
    assert "residual" in ex.check_rollout(no_identity).message


def test_sequence_masking():
    def right(length, ratio, generator):
        hidden = torch.zeros(length, dtype=torch.bool)
        hidden[torch.randperm(length, generator=generator)[: round(length * ratio)]] = True
        return hidden

    def fixed(length, ratio, generator):
        hidden = torch.zeros(length, dtype=torch.bool)
        hidden[: round(length * ratio)] = True
        return hidden

    def floor(length, ratio, generator):
        hidden = torch.zeros(length, dtype=torch.bool)
        hidden[torch.randperm(length, generator=generator)[: int(length * ratio) - 1]] = True
        return hidden

    assert ex.check_sequence_masking(right)
    assert "same mask" in ex.check_sequence_masking(fixed).message
    assert "hide round" in ex.check_sequence_masking(floor).message


def test_predictions():
    assert ex.check_prediction("block_vs_random_error", "block")
    wrong = ex.check_prediction("block_vs_random_error", "random")
    assert not wrong and "neighbour" in wrong.message
    assert "answer with one of" in ex.check_prediction("best_ratio_images", "maybe").message


def test_result_renders_in_a_notebook():
    result = ex.check_num_visible(49)
    assert "✓" in str(result) and "<div" in result._repr_html_()



# ---------------------------------------------------------------------------------------------
# from the checks of lab 01
# ---------------------------------------------------------------------------------------------
def test_token_count_right_and_wrong():
    assert ex.check_token_count(lambda h, w, p, c: ((h // p) * (w // p), p * p * c))
    per_pixel = ex.check_token_count(lambda h, w, p, c: (h * w // p, p * p * c))
    assert not per_pixel and "p²" in per_pixel.message
    no_channels = ex.check_token_count(lambda h, w, p, c: ((h // p) * (w // p), p * p))
    assert not no_channels and "every channel" in no_channels.message
    swapped = ex.check_token_count(lambda h, w, p, c: (p * p * c, (h // p) * (w // p)))
    assert not swapped and "swapped" in swapped.message
    with_cls = ex.check_token_count(lambda h, w, p, c: ((h // p) * (w // p) + 1, p * p * c))
    assert not with_cls and "class token" in with_cls.message


def test_token_count_rectangular_images():
    square_only = ex.check_token_count(lambda h, w, p, c: ((h // p) ** 2, p * p * c))
    assert not square_only and "64×96" in square_only.message


def test_token_count_stub_and_bad_return():
    def todo(h, w, p, c):
        raise NotImplementedError

    assert "not implemented" in ex.check_token_count(todo).message
    assert "two numbers" in ex.check_token_count(lambda h, w, p, c: 196).message


def test_nearest_position_prediction():
    assert ex.check_prediction("nearest_position", "neighbour")
    assert not ex.check_prediction("nearest_position", "corner")
    assert "answer with one of" in ex.check_prediction("nearest_position", "").message



# ---------------------------------------------------------------------------------------------
# from the checks of lab 02
# ---------------------------------------------------------------------------------------------
def test_easiest_mask_prediction():
    assert ex.check_prediction("easiest_mask_at_75", "grid")
    block = ex.check_prediction("easiest_mask_at_75", "Block ")
    assert not block and "hardest" in block.message
    assert not ex.check_prediction("easiest_mask_at_75", "random")



# ---------------------------------------------------------------------------------------------
# from the checks of lab 04
# ---------------------------------------------------------------------------------------------
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



# ---------------------------------------------------------------------------------------------
# from the checks of lab 05
# ---------------------------------------------------------------------------------------------
def warmup_cosine_right(progress, peak, minimum, warmup_fraction):
    if progress < warmup_fraction:
        return peak * progress / warmup_fraction
    decay = (progress - warmup_fraction) / (1 - warmup_fraction)
    return minimum + (peak - minimum) * 0.5 * (1 + math.cos(math.pi * decay))


def test_warmup_cosine_right_answers_pass_including_the_package_schedule():
    assert check_warmup_cosine(warmup_cosine_right).passed
    # the schedule pretrain() uses is the one the exercise asks for
    assert check_warmup_cosine(lambda p, peak, low, warm: learning_rate(p, peak, low, warm)).passed


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


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (lambda base, batch: base * batch, "per 256 images"),
        (lambda base, batch: base * 256 / batch, "upside down"),
        (lambda base, batch: base, "expected"),
        (lambda base, batch: "fast", "one number"),
    ],
)
def test_lr_scaling_mistakes(answer, words):
    result = check_lr_scaling(answer)
    assert not result.passed and words in result.message
    assert check_lr_scaling(lambda base, batch: base * batch / 256).passed



# ---------------------------------------------------------------------------------------------
# from the checks of lab 07
# ---------------------------------------------------------------------------------------------
def distance_right(attn, centers):
    weights = attn[:, 1:, 1:]
    weights = weights / weights.sum(-1, keepdim=True)
    return (weights * torch.cdist(centers, centers)).sum(-1).mean(-1)


def test_attention_distance_right_answers_pass_including_the_package_function():
    assert check_attention_distance(distance_right).passed
    # the package's own mean_attention_distance (one layer, one image) is the same computation
    assert check_attention_distance(lambda attn, centers: mean_attention_distance([attn[None]], (4, 4), 4)[0]).passed


def unnormalised(attn, centers):
    return (attn[:, 1:, 1:] * torch.cdist(centers, centers)).sum(-1).mean(-1)


def columns(attn, centers):
    weights = attn[:, 1:, 1:]
    return (weights / weights.sum(-2, keepdim=True) * torch.cdist(centers, centers)).sum(-1).mean(-1)


def squared(attn, centers):
    weights = attn[:, 1:, 1:]
    return (weights / weights.sum(-1, keepdim=True) * torch.cdist(centers, centers) ** 2).sum(-1).mean(-1)


def last_token_dropped(attn, centers):
    weights = attn[:, :-1, :-1]
    return (weights / weights.sum(-1, keepdim=True) * torch.cdist(centers, centers)).sum(-1).mean(-1)


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (unnormalised, "did not renormalise"),
        (columns, "renormalised the columns"),
        (squared, "squared distance"),
        (lambda attn, centers: torch.cdist(centers, centers).mean().expand(attn.shape[0]), "plain average"),
        (last_token_dropped, "class token is the *first* token"),
        (lambda attn, centers: distance_right(attn, centers) + 1.0, "expected"),
        (lambda attn, centers: distance_right(attn, centers).mean(), "keep the heads apart"),
        (lambda attn, centers: (attn[:, 1:, 1:] / attn[:, 1:, 1:].sum(-1, keepdim=True)
                                * torch.cdist(centers, centers)).sum(-1), "average over the queries"),
        (lambda attn, centers: "far", "torch tensor"),
    ],
)
def test_attention_distance_typical_mistakes_get_their_message(answer, words):
    result = check_attention_distance(answer)
    assert not result.passed
    assert words in result.message


def test_attention_distance_unfinished_stub_is_reported_not_raised():
    def stub(attn, centers):
        raise NotImplementedError

    assert "not implemented" in check_attention_distance(stub).message


@pytest.mark.parametrize(
    ("question", "right", "wrong"),
    [
        ("attention_distance_depth", "grows", ["shrinks", "same"]),
        ("mae_linear_vs_finetune", "finetune", ["linear", "same"]),
        ("block_at_high_ratio", "block", ["random", "grid"]),
    ],
)
def test_predictions_of_notebooks_06_to_08(question, right, wrong):
    assert check_prediction(question, right).passed
    assert check_prediction(question, right.upper() + " ").passed  # case and spaces do not matter
    for answer in wrong:
        result = check_prediction(question, answer)
        assert not result.passed and result.message.startswith("Not quite")
    assert "answer with one of" in check_prediction(question, "maybe").message



# ---------------------------------------------------------------------------------------------
# from the checks of lab 09
# ---------------------------------------------------------------------------------------------
def hog_bins_right(dx, dy, num_bins):
    angle = torch.remainder(torch.atan2(dy, dx), math.pi)  # unsigned orientation in [0, pi)
    return (angle / math.pi * num_bins).floor().long().clamp(0, num_bins - 1)


def test_hog_bins_right_answer_passes_and_matches_the_package_target():
    assert check_hog_bins(hog_bins_right).passed
    assert check_hog_bins(lambda dx, dy, b: hog_bins_right(dx, dy, b).float()).passed  # whole floats are fine
    # a vertical edge (gradient along x) votes in bin 0 of the package's HOG target, a horizontal one in bin 4
    from mae_lab.targets import HOG_BINS, compute_target

    assert int(hog_bins_right(torch.tensor([1.0]), torch.tensor([0.0]), HOG_BINS)) == 0
    assert int(hog_bins_right(torch.tensor([0.0]), torch.tensor([1.0]), HOG_BINS)) == HOG_BINS // 2
    vertical_edge = torch.zeros(1, 1, 8, 8)
    vertical_edge[..., 4:] = 1.0
    hog = compute_target("hog", vertical_edge, 8).reshape(-1, HOG_BINS).sum(0)  # 4 cells, summed
    assert int(hog.argmax()) == 0


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (lambda dx, dy, b: (torch.atan2(dy, dx) / math.pi * b).floor().long(), "negative"),
        (lambda dx, dy, b: (torch.remainder(torch.atan2(dy, dx), 2 * math.pi) / (2 * math.pi) * b).floor().long(),
         "unsigned"),
        (lambda dx, dy, b: hog_bins_right(dy, dx, b), "transpose"),
        (lambda dx, dy, b: (torch.remainder(torch.atan2(dy, dx), math.pi) / math.pi * b).round().long(), "floor"),
        (lambda dx, dy, b: hog_bins_right(dx, dy, b) + 1, "numbered 0"),
        (lambda dx, dy, b: hog_bins_right(dx, dy, b) + 0.5, "whole numbers"),
        (lambda dx, dy, b: hog_bins_right(dx, dy, b)[:10], "one bin per gradient"),
        (lambda dx, dy, b: (torch.atan2(dy, dx).abs() / math.pi * b).floor().long().clamp(0, b - 1),
         "in the wrong bin"),
    ],
)
def test_hog_bins_typical_mistakes_get_their_message(answer, words):
    result = check_hog_bins(answer)
    assert not result.passed
    assert words in result.message


def fft_right(patches):
    return torch.log1p(torch.fft.fft2(patches, dim=(-2, -1), norm="ortho").abs())


def test_fft_target_right_answer_passes():
    result = check_fft_target(fft_right)
    assert result.passed, result.message
    assert "correct" in result.message


def test_fft_target_matches_the_package_target():
    # the exercise asks for exactly what mae_lab.targets computes (per channel, for one channel)
    from mae_lab.patches import patchify
    from mae_lab.targets import compute_target

    images = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    patches = patchify(images, 4).reshape(2, 4, 4, 4)  # [B, N, p, p]
    expected = compute_target("fft", images, 4).reshape(2, 4, 4, 4)
    assert torch.allclose(fft_right(patches), expected, atol=1e-6)


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (lambda x: torch.fft.fft2(x, dim=(-2, -1), norm="ortho").abs(), "log1p"),
        (lambda x: torch.log1p(torch.fft.fft2(x, dim=(-2, -1)).abs()), "ortho"),
        (lambda x: torch.log1p(torch.fft.fft2(x, dim=(-2, -1), norm="ortho").real.abs()), "real part"),
        (lambda x: torch.log1p(torch.fft.fft2(x, dim=(-2, -1), norm="ortho").abs() ** 2), "power"),
        (lambda x: torch.log1p(torch.fft.fft(x, dim=-1, norm="ortho").abs()), "1-D"),
        (lambda x: torch.log1p(torch.fft.fft2(x, dim=(1, 2), norm="ortho").abs()), "across patches"),
        (lambda x: torch.fft.fftshift(fft_right(x), dim=(-2, -1)), "fftshift"),
        (lambda x: torch.fft.fft2(x, dim=(-2, -1), norm="ortho"), "complex"),
        (lambda x: fft_right(x)[..., 0], "expected shape"),
        (lambda x: fft_right(x) + 1.0, "not the target"),
    ],
)
def test_fft_target_typical_mistakes_get_their_message(answer, words):
    result = check_fft_target(answer)
    assert not result.passed
    assert words in result.message


def test_fft_target_stub_and_crash_never_raise():
    def stub(patches):
        raise NotImplementedError

    assert "not implemented yet" in check_fft_target(stub).message
    assert "raised ZeroDivisionError" in check_fft_target(lambda x: 1 / 0).message
    assert "returned nothing" in check_fft_target(lambda x: None).message


def cosine_right(progress, start, end):
    return start + (end - start) * (1 - math.cos(math.pi * progress)) / 2


def test_cosine_schedule_right_answer_passes_and_matches_the_package():
    from mae_lab.masking import make_schedule

    assert check_cosine_schedule(cosine_right).passed
    schedule = make_schedule("cosine", 0.4, 0.15)
    for progress in (0.0, 0.3, 0.5, 0.9, 1.0):
        assert math.isclose(cosine_right(progress, 0.4, 0.15), schedule(progress), abs_tol=1e-12)


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (lambda p, s, e: s + (e - s) * p, "straight line"),
        (lambda p, s, e: s + (e - s) * (1 + math.cos(math.pi * p)) / 2, "backwards"),
        (lambda p, s, e: s + (e - s) * (1 - math.cos(math.pi * p)), "overshoots"),
        (lambda p, s, e: s + (e - s) * (1 - math.cos(2 * math.pi * p)) / 2, "half a period"),
        (lambda p, s, e: s + (e - s) * p**2, "shape is not half a cosine"),
        (lambda p, s, e: 0.3, "expected 0.4 at progress 0"),
        (lambda p, s, e: "0.3 please", "one number"),
    ],
)
def test_cosine_schedule_typical_mistakes_get_their_message(answer, words):
    result = check_cosine_schedule(answer)
    assert not result.passed
    assert words in result.message


def test_brightness_prediction_and_its_claim():
    assert check_prediction("brightness_shift_target", "hog").passed
    assert check_prediction("brightness_shift_target", " HOG ").passed
    for wrong in ("pixels", "fft"):
        result = check_prediction("brightness_shift_target", wrong)
        assert not result.passed and result.message.startswith("Not quite")
    assert "answer with one of" in check_prediction("brightness_shift_target", "colour").message
    # the claim behind the answer: a brightness shift leaves HOG and norm_pixels unchanged, not the others
    from mae_lab.targets import compute_target

    image = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(1)) * 0.5
    for name, unchanged in [("hog", True), ("norm_pixels", True), ("pixels", False), ("fft", False)]:
        before, after = compute_target(name, image, 8), compute_target(name, image + 0.2, 8)
        assert torch.allclose(before, after, atol=1e-4) == unchanged, name
    assert set(PREDICTIONS["brightness_shift_target"][1]) == {"hog", "pixels", "fft"}



# ---------------------------------------------------------------------------------------------
# from the checks of lab 10
# ---------------------------------------------------------------------------------------------
def test_mlm_eval_ratio_prediction():
    assert check_prediction("mlm_eval_ratio", "down").passed
    assert check_prediction("mlm_eval_ratio", "Down ").passed
    for wrong in ("up", "same"):
        result = check_prediction("mlm_eval_ratio", wrong)
        assert not result.passed and result.message.startswith("Not quite")
    assert "answer with one of" in check_prediction("mlm_eval_ratio", "higher").message
    assert PREDICTIONS["mlm_eval_ratio"][0] == "down"
