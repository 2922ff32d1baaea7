"""mae_lab.tokens: the k-means tokenizer, the masked token model, the reveal schedule and generation."""

from __future__ import annotations

import pytest
import torch

from mae_lab import tokens


@pytest.fixture(scope="module")
def images():
    gen = torch.Generator().manual_seed(0)
    return (torch.rand(40, 1, 8, 8, generator=gen) > 0.6).float() * torch.rand(40, 1, 1, 1, generator=gen)


@pytest.fixture(scope="module")
def tokenizer(images):
    return tokens.PatchTokenizer.fit(images, num_codes=12, patch_size=2, iters=5, seed=0)


@pytest.fixture(scope="module")
def trained(tokenizer, images):
    codes = tokenizer.encode(images)
    labels = torch.arange(40) % 3
    return tokens.train_token_model(codes, tokenizer.num_codes, (4, 4), labels=labels, steps=3, batch_size=8,
                                    dim=32, depth=1, seed=0)


def test_nearest_code_is_the_closest_row():
    gen = torch.Generator().manual_seed(1)
    codebook, vectors = torch.rand(7, 4, generator=gen), torch.rand(2, 5, 4, generator=gen)
    codes = tokens.nearest_code(vectors, codebook)
    assert codes.shape == (2, 5) and codes.dtype == torch.long
    brute = ((vectors.unsqueeze(-2) - codebook) ** 2).sum(-1).argmin(-1)
    assert torch.equal(codes, brute)
    assert torch.equal(tokens.nearest_code(codebook, codebook), torch.arange(7))
    with pytest.raises(ValueError, match="values but codebook rows"):
        tokens.nearest_code(torch.rand(3, 5), codebook)


def test_kmeans_is_deterministic_and_checks_its_size():
    gen = torch.Generator().manual_seed(2)
    vectors = torch.cat([torch.randn(30, 2, generator=gen) * 0.1 + c for c in (0.0, 5.0, 10.0)])
    first, second = tokens.kmeans(vectors, 3, seed=0), tokens.kmeans(vectors, 3, seed=0)
    assert torch.equal(first, second)
    assert sorted(round(v) for v in first[:, 0].tolist()) == [0, 5, 10]  # one code per cluster
    with pytest.raises(ValueError, match="num_codes=100"):
        tokens.kmeans(vectors, 100)


def test_tokenizer_round_trip(tokenizer, images):
    codes = tokenizer.encode(images)
    assert codes.shape == (40, 16) and int(codes.max()) < tokenizer.num_codes
    decoded = tokenizer.decode(codes)
    assert decoded.shape == images.shape
    assert torch.equal(tokenizer.encode(decoded), codes)  # a decoded image tokenizes to the same codes
    assert tokenizer.patches().shape == (12, 1, 2, 2)
    with pytest.raises(ValueError, match="codes must lie in"):
        tokenizer.decode(torch.full((1, 16), 12))
    with pytest.raises(ValueError, match="expected images"):
        tokenizer.encode(torch.rand(2, 3, 8, 8))


def test_masked_token_model_shapes(trained):
    model = trained.model
    codes = torch.full((2, 16), model.mask_id)
    assert model(codes).shape == (2, 16, 12)
    assert model(codes, torch.tensor([0, 2])).shape == (2, 16, 12)
    assert len(trained.history) == 3
    with pytest.raises(ValueError, match="positions but this model's grid"):
        model(torch.zeros(2, 9, dtype=torch.long))


def test_training_masks_vary_and_hide_at_least_one():
    hidden = tokens.token_training_mask(200, 16, torch.Generator().manual_seed(0))
    counts = hidden.sum(1)
    assert counts.min() >= 1 and counts.max() <= 16 and len(counts.unique()) > 5
    assert counts.float().mean() > 8  # the cosine draws favour high ratios (mean 2/pi of N)
    again = tokens.token_training_mask(200, 16, torch.Generator().manual_seed(0))
    assert torch.equal(hidden, again)


def test_reveal_schedule():
    assert tokens.reveal_schedule(16, 4) == [14, 11, 6, 0]
    assert tokens.reveal_schedule(16, 1) == [0]
    assert tokens.reveal_schedule(16, 16) == list(range(15, -1, -1))
    for steps in range(1, 17):
        counts = tokens.reveal_schedule(16, steps)
        assert len(counts) == steps and counts[-1] == 0
        assert all(b < a for a, b in zip([16] + counts, counts))  # at least one revealed per step
    with pytest.raises(ValueError, match="steps must be between 1 and"):
        tokens.reveal_schedule(16, 17)


def test_unmask_step_keeps_revealed_tokens_and_the_most_confident():
    gen = torch.Generator().manual_seed(3)
    logits = torch.randn(4, 10, 6, generator=gen)
    hidden = torch.rand(4, 10, generator=gen).argsort(1) < 7  # 7 hidden per row
    codes = torch.where(hidden, 6, torch.randint(0, 6, (4, 10), generator=gen))
    logits[~hidden] = 0.0  # revealed tokens look unsure: they must still never be hidden again
    for generator in (None, torch.Generator().manual_seed(0)):
        new_codes, new_hidden = tokens.unmask_step(logits, codes, hidden, 3, mask_id=6, choice_temperature=1.0,
                                                   generator=generator)
        assert (new_hidden.sum(1) == 3).all()
        assert not (new_hidden & ~hidden).any()
        assert torch.equal(new_codes[~hidden], codes[~hidden])
        assert (new_codes[new_hidden] == 6).all() and (new_codes[~new_hidden] < 6).all()
    greedy_codes, greedy_hidden = tokens.unmask_step(logits, codes, hidden, 3, mask_id=6)
    confidence = logits.softmax(-1).max(-1).values
    revealed_now = hidden & ~greedy_hidden
    for b in range(4):  # every newly revealed guess is at least as confident as any still hidden one
        assert confidence[b][revealed_now[b]].min() >= confidence[b][greedy_hidden[b]].max()
    assert torch.equal(greedy_codes[revealed_now], logits.argmax(-1)[revealed_now])


def test_generate_reveals_everything_following_the_schedule(trained):
    model = trained.model
    result = tokens.generate(model, num_images=5, steps=4, labels=1, seed=0)
    assert result.steps == 4 and (result.order >= 0).all() and (result.order <= 3).all()
    assert (result.codes < model.num_codes).all()
    assert [int(h.sum(1)[0]) for _, h in result.states] == tokens.reveal_schedule(16, 4)
    assert [int((result.order == t).sum(1)[0]) for t in range(4)] == [2, 3, 5, 6]
    assert torch.equal(result.codes, tokens.generate(model, 5, 4, labels=1, seed=0).codes)
    assert not torch.equal(result.codes, tokens.generate(model, 5, 4, labels=1, seed=1).codes)
    assert result.labels.tolist() == [1] * 5
    with pytest.raises(ValueError, match="labels must be digits"):
        tokens.generate(model, 2, 4, labels=7)


def test_plot_and_explorer(trained, tokenizer):
    fig = tokens.plot_generation(tokens.generate(trained.model, 3, 4, seed=0), tokenizer, (4, 4))
    assert len(fig.axes) == 3 * 4
    app = tokens.GenerationExplorer(trained.model, tokenizer, num_images=3, steps=4, seed=0)
    assert app.last_error is None and app.generation.steps == 4
    assert app.generation.labels.tolist() == [0, 1, 2]  # "one of each" by default
    first = bytes(app.view.value)
    app.steps.value = 2
    assert app.generation.steps == 2 and bytes(app.view.value) != first
    app.digit.value = 2
    assert app.generation.labels.tolist() == [2, 2, 2]
    app.digit.value = -1
    assert app.generation.labels is None
    app.seed.value = 5
    assert app.last_error is None and "2 step(s)" in app.status.value
    assert "image/png" in app._repr_mimebundle_()  # a still picture for static viewers
