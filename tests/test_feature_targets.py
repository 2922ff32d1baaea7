"""mae_lab.feature_targets: teacher targets, the stop-gradient loss, EMA, the student loop and the small probes."""

from __future__ import annotations

import pytest
import torch

from mae_lab import feature_targets as ft
from mae_lab.tokens import PatchTokenizer


@pytest.fixture(scope="module")
def digits():
    gen = torch.Generator().manual_seed(0)
    return torch.rand(24, 1, 8, 8, generator=gen)  # stand-ins for 8x8 digits


def test_teacher_features_shape_normalisation_and_no_grad(digits):
    teacher = ft.make_student(seed=3)
    target = ft.teacher_features(teacher, digits[:4])
    assert target.shape == (4, 16, 64)  # [B, N, D]: one feature vector per patch, class token dropped
    assert not target.requires_grad
    assert torch.allclose(target.mean(-1), torch.zeros(4, 16), atol=1e-5)  # each token layer-normed
    assert torch.allclose(target.var(-1, unbiased=False), torch.ones(4, 16), atol=1e-3)
    both = ft.teacher_features(teacher, digits[:4], layers=2)
    assert both.shape == target.shape and not torch.allclose(both, target)
    assert torch.equal(ft.teacher_features(teacher, digits[:4]), target)  # deterministic
    with pytest.raises(ValueError, match="between 1 and the teacher's depth"):
        ft.teacher_features(teacher, digits, layers=3)


def test_feature_loss_scores_hidden_patches_and_stops_the_gradient():
    gen = torch.Generator().manual_seed(1)
    pred = torch.randn(2, 16, 8, generator=gen, requires_grad=True)
    target = torch.randn(2, 16, 8, generator=gen, requires_grad=True)
    hidden = torch.zeros(2, 16, dtype=torch.bool)
    hidden[:, :12] = True
    loss = ft.feature_loss(pred, target, hidden)
    expected = ((pred - target) ** 2).mean(-1)[hidden].mean()
    assert torch.allclose(loss, expected)
    loss.backward()
    assert target.grad is None  # the teacher's side gets nothing
    assert pred.grad[~hidden].abs().sum() == 0 and pred.grad[hidden].abs().sum() > 0
    with pytest.raises(ValueError, match="same shape"):
        ft.feature_loss(pred, target[:, :, :4], hidden)
    with pytest.raises(ValueError, match="hidden must be"):
        ft.feature_loss(pred, target, hidden[:, :8])


def test_ema_update_and_schedule():
    student, teacher = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    before = teacher.weight.detach().clone()
    ft.ema_update(teacher, student, 1.0)
    assert torch.equal(teacher.weight, before)
    ft.ema_update(teacher, student, 0.5)
    assert torch.allclose(teacher.weight, (before + student.weight) / 2)
    ft.ema_update(teacher, student, 0.0)
    assert torch.allclose(teacher.weight, student.weight)
    with pytest.raises(ValueError, match="decay must be in"):
        ft.ema_update(teacher, student, 1.5)
    assert ft.ema_decay_at(0, 100, 0.99, 0.999) == pytest.approx(0.99)
    assert ft.ema_decay_at(99, 100, 0.99, 0.999) == pytest.approx(0.999)
    assert ft.ema_decay_at(50, 101, 0.9, 1.0) == pytest.approx(0.95)


def test_make_student_swaps_the_head(digits):
    model = ft.make_student(out_dim=10, seed=0)
    mask = model.make_mask(3, ratio=0.75, seed=0)
    assert model.decode(model.encode(digits[:3], mask), mask).shape == (3, 16, 10)
    again = ft.make_student(out_dim=10, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    with pytest.raises(ValueError, match="out_dim"):
        ft.make_student(out_dim=0)


@pytest.mark.parametrize("target", ["pixels", "teacher", "ema", "tokens"])
def test_train_student_runs_every_target_and_is_reproducible(digits, target):
    kwargs = {"steps": 3, "batch_size": 8, "seed": 0}
    if target == "teacher":
        kwargs["teacher"] = ft.make_student(seed=7)
    if target == "tokens":
        kwargs["tokenizer"] = PatchTokenizer.fit(digits, num_codes=8, patch_size=2, iters=3)
    first = ft.train_student(digits, target, **kwargs)
    second = ft.train_student(digits, target, **kwargs)
    assert len(first.history) == 3 and first.target == target and first.seconds > 0
    assert [h["loss"] for h in first.history] == [h["loss"] for h in second.history]
    assert ft.encoder_features(first.model, digits).shape == (24, 64)


def test_frozen_teacher_is_not_trained_and_ema_teacher_follows(digits):
    teacher = ft.make_student(seed=7)
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    ft.train_student(digits, "teacher", teacher=teacher, steps=3, batch_size=8)
    assert all(torch.equal(before[k], v) for k, v in teacher.state_dict().items())
    result = ft.train_student(digits, "ema", steps=3, batch_size=8, ema_decay=(0.5, 0.5))
    assert [h["decay"] for h in result.history] == [0.5, 0.5, 0.5]
    fresh = ft.make_student(seed=0)
    t_weight = result.teacher.encoder.blocks[0].mlp.fc1.weight
    assert not torch.equal(t_weight, fresh.encoder.blocks[0].mlp.fc1.weight)  # it moved ...
    assert not torch.equal(t_weight, result.model.encoder.blocks[0].mlp.fc1.weight)  # ... but lags behind
    assert not any(p.requires_grad for p in result.teacher.parameters())


def test_train_student_explains_bad_arguments(digits):
    with pytest.raises(ValueError, match="target must be one of"):
        ft.train_student(digits, "features")
    with pytest.raises(ValueError, match="needs teacher="):
        ft.train_student(digits, "teacher")
    with pytest.raises(ValueError, match="needs tokenizer="):
        ft.train_student(digits, "tokens")
    with pytest.raises(ValueError, match=r"\[M, C, H, W\]"):
        ft.train_student(digits[:, 0])
    with pytest.raises(ValueError, match="steps must be at least 1"):
        ft.train_student(digits, steps=0)


def test_probes_on_separable_points():
    gen = torch.Generator().manual_seed(2)
    centres = torch.eye(3) * 5
    labels = torch.arange(3).repeat(20)
    points = centres[labels] + 0.3 * torch.randn(60, 3, generator=gen)
    test_labels = torch.arange(3).repeat(5)
    test_points = centres[test_labels] + 0.3 * torch.randn(15, 3, generator=gen)
    assert ft.knn_accuracy(points, labels, test_points, test_labels) == 1.0
    assert ft.knn_accuracy(points, labels, test_points, test_labels, k=1) == 1.0
    assert ft.linear_probe_accuracy(points, labels, test_points, test_labels) == 1.0
    assert ft.few_label_accuracy(points, labels, test_points, test_labels, 2, method="knn") == 1.0
    assert ft.few_label_accuracy(points, labels, test_points, test_labels, 2, method="linear") == 1.0
    with pytest.raises(ValueError, match="fewer than labels_per_class"):
        ft.few_label_accuracy(points, labels, test_points, test_labels, 50)
    with pytest.raises(ValueError, match="method must be"):
        ft.few_label_accuracy(points, labels, test_points, test_labels, 2, method="svm")


def test_image_tensors_and_raw_pixel_features():
    dataset = [(torch.full((1, 8, 8), float(i)), i % 2) for i in range(4)]
    images, labels = ft.image_tensors(dataset)
    assert images.shape == (4, 1, 8, 8) and labels.tolist() == [0, 1, 0, 1]
    assert ft.encoder_features(None, images).shape == (4, 64)
    with pytest.raises(ValueError, match="empty"):
        ft.image_tensors([])
