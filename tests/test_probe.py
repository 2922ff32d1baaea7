"""Probes: kNN and linear probes on known features, feature extraction, fine-tuning, baselines."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from mae_lab.data import load_dataset
from mae_lab.models import MaskedAutoencoder, get_preset
from mae_lab.probe import (
    FinetuneClassifier,
    ProbeResult,
    extract_features,
    finetune,
    knn_probe,
    layer_decay_groups,
    linear_probe,
    probe,
    raw_pixel_features,
)


def clusters(per_class: int = 30, classes: int = 4, dim: int = 16, noise: float = 0.3, seed: int = 0):
    """Points around one random direction per class: ``(features [M, D], labels [M])``."""
    centers = (
        torch.randn(classes, dim, generator=torch.Generator().manual_seed(123)) * 3
    )  # shared by all seeds
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(classes).repeat_interleave(per_class)
    features = centers[labels] + noise * torch.randn(len(labels), dim, generator=generator)
    return features, labels


@pytest.fixture(scope="module")
def micro_model():
    return MaskedAutoencoder(get_preset("mae_micro"), seed=0)


@pytest.fixture(scope="module")
def digits_small():
    return load_dataset("digits", "train", limit=300), load_dataset("digits", "test", limit=100)


# ---------------------------------------------------------------------------------------------
# kNN
# ---------------------------------------------------------------------------------------------
def test_knn_is_perfect_on_separated_clusters():
    train = clusters(seed=0)
    test = clusters(per_class=10, seed=0)
    assert knn_probe(*train, *test) == 1.0


def knn_reference(train_f, train_y, test_f, k, temperature, classes):
    """A slow, obvious implementation of the weighted vote."""
    train_f, test_f = F.normalize(train_f, dim=1), F.normalize(test_f, dim=1)
    predictions = []
    for query in test_f:
        similarity = train_f @ query
        top = similarity.topk(k)
        votes = torch.zeros(classes)
        for sim, index in zip(top.values, top.indices):
            votes[train_y[index]] += torch.exp(sim / temperature)
        predictions.append(int(votes.argmax()))
    return torch.tensor(predictions)


def test_knn_matches_a_reference_vote_and_chunking_changes_nothing():
    train_f, train_y = clusters(per_class=20, noise=3.0, seed=1)
    test_f, test_y = clusters(per_class=8, noise=3.0, seed=2)
    expected = (knn_reference(train_f, train_y, test_f, 5, 0.1, 4) == test_y).float().mean().item()
    assert knn_probe(train_f, train_y, test_f, test_y, k=5, temperature=0.1) == pytest.approx(expected)
    assert knn_probe(train_f, train_y, test_f, test_y, k=5, temperature=0.1, chunk_size=3) == pytest.approx(
        expected
    )
    assert 0.3 < expected < 1.0  # a hard enough case to mean something
    assert 0 <= knn_probe(train_f, train_y, test_f, test_y, k=1000) <= 1  # k larger than the train set


def test_knn_rejects_mismatched_features():
    with pytest.raises(ValueError, match="dimensions"):
        knn_probe(torch.randn(5, 3), torch.zeros(5, dtype=torch.long), torch.randn(2, 4), torch.zeros(2))
    with pytest.raises(ValueError, match="k must"):
        knn_probe(*clusters(), *clusters(), k=0)


# ---------------------------------------------------------------------------------------------
# linear probe
# ---------------------------------------------------------------------------------------------
def test_linear_probe_learns_a_linear_rule_that_knn_misses():
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(600, 8, generator=generator)
    features[:, 0] *= 0.05  # the informative direction is tiny: cosine kNN is fooled, a linear head is not
    labels = (features[:, 0] > 0).long()
    train, test = (features[:400], labels[:400]), (features[400:], labels[400:])
    assert linear_probe(*train, *test, epochs=100) > 0.85
    assert knn_probe(*train, *test) < 0.75
    assert linear_probe(*train, *test, epochs=5, seed=0) == linear_probe(*train, *test, epochs=5, seed=0)


# ---------------------------------------------------------------------------------------------
# features
# ---------------------------------------------------------------------------------------------
def test_extract_features_shapes_pools_and_training_flag(micro_model, digits_small):
    train, _ = digits_small
    micro_model.train()
    features, labels = extract_features(micro_model, train, pool="cls", batch_size=64)
    assert features.shape == (300, micro_model.config.embed_dim) and labels.shape == (300,)
    assert torch.equal(labels, train.labels)
    assert micro_model.training  # restored
    images = train.tensors()[0][:5]
    with torch.no_grad():
        assert torch.allclose(features[:5], micro_model.features(images, pool="cls"), atol=1e-5)
    mean_features, _ = extract_features(micro_model, (images, torch.zeros(5)), pool="mean")
    assert not torch.allclose(mean_features, features[:5])
    with pytest.raises(ValueError, match="pool"):
        extract_features(micro_model, train, pool="max")


def test_wrong_image_size_for_the_model_is_a_clear_error(micro_model):
    wrong = load_dataset("digits", "test", image_size=16, limit=4)
    with pytest.raises(ValueError, match="image_size=8"):
        extract_features(micro_model, wrong)


def test_raw_pixel_features_are_flat_images(digits_small):
    train, _ = digits_small
    pixels, labels = raw_pixel_features(train)
    assert pixels.shape == (300, 64) and torch.equal(labels, train.labels)
    assert torch.equal(pixels[0], train[0][0].flatten())


# ---------------------------------------------------------------------------------------------
# fine-tuning
# ---------------------------------------------------------------------------------------------
def test_layer_decay_scales_early_blocks_down(micro_model):
    classifier = FinetuneClassifier(micro_model, num_classes=10)
    groups = layer_decay_groups(classifier, weight_decay=0.05, layer_decay=0.5)
    depth = micro_model.config.depth
    scales = sorted({g["lr_scale"] for g in groups})
    assert scales[0] == pytest.approx(0.5 ** (depth + 1)) and scales[-1] == 1.0
    trained = {id(p) for g in groups for p in g["params"]}
    assert all(id(p) not in trained for p in classifier.backbone.decoder.parameters())
    for group in groups:
        if any(p.ndim <= 1 for p in group["params"]):
            assert group["weight_decay"] == 0.0


def test_finetune_trains_a_copy_and_reports_accuracy(micro_model, digits_small):
    train, val = digits_small
    before = {k: v.clone() for k, v in micro_model.state_dict().items()}
    accuracy, classifier = finetune(
        micro_model,
        train,
        val,
        epochs=8,
        batch_size=16,
        lr=3e-3,
        layer_decay=None,
        augment=False,
        return_classifier=True,
    )
    assert accuracy > 0.3  # well above chance (0.1) after 150 steps from a random init
    assert all(torch.equal(before[k], v) for k, v in micro_model.state_dict().items())  # original untouched
    assert classifier(val.tensors()[0][:2]).shape == (2, 10)


# ---------------------------------------------------------------------------------------------
# one call with baselines
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["knn", "linear"])
def test_probe_reports_both_baselines(micro_model, digits_small, method):
    train, val = digits_small
    result = probe(micro_model, train, val, method=method, epochs=5)
    assert isinstance(result, ProbeResult)
    assert set(result.baselines) == {"random_init", "raw_pixels"}
    assert all(0.0 <= v <= 1.0 for v in [result.accuracy, *result.baselines.values()])
    assert result.baselines["raw_pixels"] > 0.5  # pixels of digits are very informative
    # the model here *is* a random init with seed 0, so the random-init baseline reproduces it
    assert result.accuracy == pytest.approx(result.baselines["random_init"])
    assert result.gap_over_random_init == pytest.approx(0.0)
    text = repr(result)
    assert "random init" in text and "raw pixels" in text and method in text
    assert json.loads(json.dumps(result.to_dict()))["method"] == method
    plain = probe(micro_model, train, val, method=method, baselines=False, epochs=5)
    assert plain.baselines == {} and plain.accuracy == pytest.approx(result.accuracy)


def test_probe_finetune_and_bad_method(micro_model, digits_small):
    train, val = digits_small
    result = probe(micro_model, train, val, method="finetune", epochs=1, baselines=["raw_pixels"])
    assert set(result.baselines) == {"raw_pixels"} and 0 <= result.accuracy <= 1
    with pytest.raises(ValueError, match="method"):
        probe(micro_model, train, val, method="svm")
    with pytest.raises(ValueError, match="baseline"):
        probe(micro_model, train, val, baselines=["imagenet"])


# ---------------------------------------------------------------------------------------------
# label efficiency
# ---------------------------------------------------------------------------------------------
def test_balanced_indices_take_the_same_number_of_every_class():
    from mae_lab.probe import balanced_indices

    labels = torch.tensor([0, 1, 2] * 10 + [0] * 5)
    chosen = balanced_indices(labels, 4, seed=0)
    assert torch.bincount(labels[chosen]).tolist() == [4, 4, 4]
    assert torch.equal(chosen, balanced_indices(labels, 4, seed=0))  # reproducible from the seed
    assert not torch.equal(chosen, balanced_indices(labels, 4, seed=1))
    assert len(balanced_indices(labels, None)) == len(labels)
    with pytest.raises(ValueError, match="fewer than per_class"):
        balanced_indices(labels, 11)


def test_finetune_steps_follow_the_labels_within_bounds():
    from mae_lab.probe import finetune_steps

    assert finetune_steps(100) == 300  # 100 images: one step per epoch, raised to the minimum
    assert finetune_steps(2000, epochs=30) == 30 * 15  # 15 batches of 128 per epoch
    assert finetune_steps(60000) == 3000  # capped


def test_label_efficiency_runs_every_method_on_the_same_labels(micro_model, digits_small):
    from mae_lab.probe import label_efficiency

    train, test = digits_small
    result = label_efficiency(micro_model, train, test, labels_per_class=(3, 10),
                              finetune_settings={"steps": 6}, scratch_settings={"steps": 6})
    assert result.labels_per_class == [3, 10]
    assert set(result.accuracy) == {"finetune", "linear", "scratch", "pixels"}
    assert all(len(values) == 2 and all(0 <= v <= 1 for v in values) for values in result.accuracy.values())
    assert result.accuracy["pixels"][1] > 0.5  # logistic regression on 100 digits is far above chance
    assert "labels/class" in repr(result) and "finetune" in repr(result)
    with pytest.raises(ValueError, match="unknown method"):
        label_efficiency(micro_model, train, test, methods=("finetune", "magic"))


def test_lp_ft_starts_from_a_head_that_already_classifies(micro_model, digits_small):
    from mae_lab.finetune import finetune

    train, test = digits_small
    zero_steps = {"steps": 1, "lr": 1e-9, "augment": False}
    cold = finetune(micro_model, train, test, head_init="zeros", **zero_steps)
    warm = finetune(micro_model, train, test, head_init="linear_probe", **zero_steps)
    assert warm > cold + 0.2  # before any real training, the fitted head already separates the digits
    with pytest.raises(ValueError, match="head_init"):
        finetune(micro_model, train, test, head_init="random")
