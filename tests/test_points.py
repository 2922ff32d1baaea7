"""Point-MAE on generated shapes: data, farthest-point sampling, groups, Chamfer distance, the model."""

from __future__ import annotations

import pytest
import torch

from mae_lab import points as P


@pytest.fixture(scope="module")
def shapes():
    return P.make_shape_dataset(per_class=3, num_points=128, seed=0)


def test_dataset_is_deterministic_labelled_and_normalised(shapes):
    again = P.make_shape_dataset(per_class=3, num_points=128, seed=0)
    other = P.make_shape_dataset(per_class=3, num_points=128, seed=1)
    assert torch.equal(shapes.points, again.points) and not torch.equal(shapes.points, other.points)
    assert shapes.points.shape == (18, 128, 3) and shapes.labels.tolist()[:6] == list(range(6))
    radius = shapes.points.norm(dim=-1).max(dim=1).values
    assert (radius < 1.1).all() and (radius > 0.5).all()  # scaled to [0.6, 1] plus a little noise
    assert "sphere" in repr(shapes)


def test_every_shape_samples_its_surface():
    gen = torch.Generator().manual_seed(0)
    sphere = P.sample_shape("sphere", 500, gen)
    assert torch.allclose(sphere.norm(dim=1), torch.ones(500), atol=1e-5)
    torus = P.sample_shape("torus", 500, gen)
    ring = torus[:, :2].norm(dim=1)  # distance from the axis: between 1 - tube and 1 + tube
    assert torus.shape == (500, 3) and (ring > 0.49).all() and (ring < 1.51).all()
    for name in P.SHAPES:
        assert P.sample_shape(name, 64, gen).shape == (64, 3)
    with pytest.raises(KeyError, match="unknown shape 'cubes'"):
        P.sample_shape("cubes", 10, gen)
    with pytest.raises(KeyError, match="choose from"):
        P.make_shape_dataset(per_class=1, shapes=("sphere", "blob"))
    with pytest.raises(ValueError, match="num_points"):
        P.make_shape_dataset(per_class=1, num_points=4)


def test_farthest_point_sampling_is_farthest_from_the_set():
    points = torch.rand(2, 100, 3, generator=torch.Generator().manual_seed(0))
    idx = P.farthest_point_sample(points, 10)  # [2, 10]
    assert idx.shape == (2, 10) and (idx[:, 0] == 0).all()
    for b in range(2):
        assert len(set(idx[b].tolist())) == 10
        dist = ((points[b].unsqueeze(1) - points[b].unsqueeze(0)) ** 2).sum(-1)  # [N, N] squared
        for step in range(1, 10):
            nearest_chosen = dist[:, idx[b, :step]].min(dim=1).values  # [N]
            assert int(idx[b, step]) == int(nearest_chosen.argmax())
    with pytest.raises(ValueError, match="cannot pick 101 of 100"):
        P.farthest_point_sample(points, 101)


def test_groups_are_nearest_neighbours_around_their_centres(shapes):
    neighbourhoods, centres = P.group_points(shapes.points[:2], num_groups=8, group_size=5)
    assert neighbourhoods.shape == (2, 8, 5, 3) and centres.shape == (2, 8, 3)
    # the nearest neighbour of a centre is the centre itself (it is one of the points)
    assert torch.allclose(neighbourhoods[:, :, 0], torch.zeros(2, 8, 3), atol=1e-6)
    absolute = neighbourhoods + centres.unsqueeze(2)
    radius = neighbourhoods.norm(dim=-1).max(dim=-1).values  # [2, 8] farthest member of each group
    dist = ((centres[0].unsqueeze(1) - shapes.points[0].unsqueeze(0)) ** 2).sum(-1).sqrt()  # [8, N]
    inside = (dist <= radius[0, :, None] + 1e-6).sum(dim=1)
    assert (inside == 5).all()  # exactly the 5 members lie within the group's radius
    gap = ((absolute[0].reshape(-1, 1, 3) - shapes.points[0].unsqueeze(0)) ** 2).sum(-1)  # [G*K, N]
    assert gap.min(dim=1).values.max() < 1e-10  # every member is one of the cloud's points
    with pytest.raises(ValueError, match=r"\[B, N, 3\]"):
        P.group_points(shapes.points[0], 8, 5)


def test_chamfer_distance_is_symmetric_and_zero_only_on_match():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(3, 10, 3, generator=gen), torch.randn(3, 14, 3, generator=gen)
    assert torch.isclose(P.chamfer_distance(a, b), P.chamfer_distance(b, a))
    assert float(P.chamfer_distance(a, a[:, torch.randperm(10, generator=gen)])) == pytest.approx(0, abs=1e-6)
    # a collapsed prediction is close in one direction but not in the other
    collapsed = a[:, :1].expand(-1, 10, -1)
    assert float(P.chamfer_distance(collapsed, a)) > 0.1
    one_point = torch.zeros(1, 1, 3)
    two = torch.tensor([[[1.0, 0, 0], [3.0, 0, 0]]])
    assert float(P.chamfer_distance(one_point, two)) == pytest.approx(1 + (1 + 9) / 2)  # squared, means, added


def test_model_forward_shapes_masks_and_seed():
    config = P.PointMAEConfig(num_points=64, num_groups=8, group_size=8, dim=32, depth=1, num_heads=2,
                              decoder_depth=1, mask_ratio=0.75)
    model = P.PointMAE(config, seed=0)
    clouds = P.make_shape_dataset(per_class=1, num_points=64, seed=0).points  # [6, 64, 3]
    out = model(clouds, seed=0)
    assert out.pred.shape == (6, 6, 8, 3) and out.hidden.shape == (6, 8)
    assert (out.hidden.sum(dim=1) == 6).all()
    assert torch.equal(out.hidden.gather(1, out.ids_hidden), torch.ones(6, 6, dtype=torch.bool))
    assert out.loss.ndim == 0 and out.loss > 0
    again = model(clouds, seed=0)
    assert torch.equal(out.hidden, again.hidden) and torch.allclose(out.loss, again.loss)
    assert not torch.equal(out.hidden, model(clouds, seed=1).hidden)
    same_init = P.PointMAE(config, seed=0)
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), same_init.parameters()))
    assert model.eval().features(clouds).shape == (6, 64)


def test_training_reduces_the_loss_and_keeps_the_global_rng():
    data = P.make_shape_dataset(per_class=4, num_points=64, seed=0)
    config = P.PointMAEConfig(num_points=64, num_groups=8, group_size=8, dim=32, depth=1, num_heads=2,
                              decoder_depth=1)
    state = torch.random.get_rng_state()
    result = P.train_point_mae(data, config, steps=25, batch_size=8, lr=3e-3, seed=0)
    assert torch.equal(state, torch.random.get_rng_state())
    losses = [h["loss"] for h in result.history]
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5
    again = P.train_point_mae(data, config, steps=3, batch_size=8, lr=3e-3, seed=0)
    assert again.history[0]["loss"] == losses[0]  # same seed: same initialisation, batch and mask
    rec = P.reconstruct(result.model, data.points[0], seed=0)
    num_hidden = round(8 * 0.6)
    assert rec["predicted"].shape == (num_hidden * 8, 3) and rec["hidden"].shape == rec["predicted"].shape
    assert rec["visible"].shape == ((8 - num_hidden) * 8, 3)
    with pytest.raises(ValueError, match=r"one cloud of shape \[N, 3\]"):
        P.reconstruct(result.model, data.points[:2])


def test_probe_helpers():
    data = P.make_shape_dataset(per_class=6, num_points=64, seed=0)
    hist = P.distance_histogram(data.points, bins=8)
    assert hist.shape == (36, 8) and torch.allclose(hist.sum(dim=1), torch.ones(36))
    turned = data.points @ torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(0)))[0]
    assert torch.allclose(P.distance_histogram(0.5 * turned, bins=8), hist)  # blind to size and rotation
    accuracy = P.probe_accuracy(hist[:24], data.labels[:24], hist[24:], data.labels[24:])
    assert 0.0 <= accuracy <= 1.0
    with pytest.raises(ValueError, match="two classes"):
        P.probe_accuracy(hist[:3], torch.zeros(3, dtype=torch.long), hist, data.labels)


def test_pictures():
    rec = {"visible": torch.rand(20, 3).numpy(), "hidden": torch.rand(10, 3).numpy(),
           "predicted": torch.rand(10, 3).numpy(), "loss": 0.01}
    fig = P.plot_clouds(rec, title="test")
    assert len(fig.axes) == 3
    plotly_fig = P.plotly_clouds(rec)
    assert len(plotly_fig.data) == 4
