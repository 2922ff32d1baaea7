"""GraphMAE on block-model graphs: data, propagation, masking, re-mask, SCE loss, training, probe."""

from __future__ import annotations

import pytest
import torch

from mae_lab import graphs as G


@pytest.fixture(scope="module")
def graph():
    return G.make_sbm_graph(num_nodes=120, num_classes=3, p_in=0.15, p_out=0.01, feature_dim=12, informative=4, seed=0)


def test_graph_is_deterministic_symmetric_and_homophilous(graph):
    again = G.make_sbm_graph(num_nodes=120, num_classes=3, p_in=0.15, p_out=0.01, feature_dim=12, informative=4, seed=0)
    assert torch.equal(graph.adjacency, again.adjacency) and torch.equal(graph.features, again.features)
    other = G.make_sbm_graph(num_nodes=120, num_classes=3, p_in=0.15, p_out=0.01, feature_dim=12, informative=4, seed=1)
    assert not torch.equal(graph.adjacency, other.adjacency)
    a = graph.adjacency
    assert torch.equal(a, a.T) and a.diagonal().sum() == 0 and set(a.unique().tolist()) <= {0.0, 1.0}
    assert graph.labels.bincount().tolist() == [40, 40, 40]
    assert graph.homophily() > 0.7  # p_in 0.15 inside vs 0.01 between
    assert graph.features.shape == (120, 12) and "120 nodes" in repr(graph)


def test_only_the_informative_dimensions_carry_the_community():
    g = G.make_sbm_graph(num_nodes=2000, num_classes=2, feature_dim=10, informative=3, signal=3.0, seed=0)
    gap = (g.features[g.labels == 0].mean(0) - g.features[g.labels == 1].mean(0)).abs()  # [F]
    assert gap[3:].max() < 0.3 < gap[:3].max()


def test_bad_graph_arguments_raise():
    with pytest.raises(ValueError, match="2 communities"):
        G.make_sbm_graph(num_nodes=3, num_classes=2)
    with pytest.raises(ValueError, match="probabilities"):
        G.make_sbm_graph(p_in=1.5)
    with pytest.raises(ValueError, match="informative=40"):
        G.make_sbm_graph(feature_dim=32, informative=40)
    with pytest.raises(ValueError, match="square"):
        G.normalized_adjacency(torch.zeros(3, 4))


def test_normalized_adjacency_is_symmetric_with_self_loops(graph):
    a_hat = G.normalized_adjacency(graph.adjacency)
    assert torch.allclose(a_hat, a_hat.T)
    degree = graph.adjacency.sum(1) + 1
    assert torch.allclose(a_hat.diagonal(), 1 / degree)
    # D^-1/2 (A+I) D^-1/2 has largest eigenvalue 1, with eigenvector sqrt(degree)
    assert torch.allclose(a_hat @ degree.sqrt(), degree.sqrt(), atol=1e-5)


def test_masking_remask_and_sce():
    features = torch.randn(6, 4)
    hidden = torch.tensor([True, False, True, False, False, False])
    token = torch.full((1, 4), 7.0)
    x = G.mask_node_features(features, hidden, token)
    assert (x[hidden] == 7).all() and torch.equal(x[~hidden], features[~hidden])
    codes = torch.randn(6, 3, requires_grad=True)
    out = G.remask(codes, hidden)
    assert (out[hidden] == 0).all() and torch.equal(out[~hidden], codes[~hidden])
    out.sum().backward()
    assert torch.equal(codes.grad[:, 0], (~hidden).float())  # no gradient through re-masked rows
    target = torch.randn(5, 4)
    assert float(G.sce_loss(3 * target, target, gamma=2)) == pytest.approx(0, abs=1e-6)  # scale-free
    assert float(G.sce_loss(-target, target, gamma=1)) == pytest.approx(2)
    assert float(G.sce_loss(-target, target, gamma=3)) == pytest.approx(8)
    with pytest.raises(ValueError, match="gamma must be at least 1"):
        G.sce_loss(target, target, gamma=0.5)


def test_remask_hides_the_node_from_the_decoder(graph):
    """With re-mask, a hidden node's reconstruction does not depend on its own code."""
    model = G.GraphMAE(12, hidden_dim=8, seed=0).eval()
    a_hat = G.normalized_adjacency(graph.adjacency)
    hidden = torch.zeros(graph.num_nodes, dtype=torch.bool)
    hidden[0] = True
    out = model(graph.features, a_hat, hidden)
    assert out.recon.shape == (120, 12) and out.loss.ndim == 0
    isolated = graph.adjacency.clone()
    isolated[0, :] = isolated[:, 0] = 0  # cut node 0 off: only its own code could rebuild it
    lonely = model(graph.features, G.normalized_adjacency(isolated), hidden)
    # its code was zeroed and no neighbour sends anything: all that is left is the decoder's bias
    assert torch.allclose(lonely.recon[0], model.decoder.layers[0].bias)
    with pytest.raises(ValueError, match="no node is hidden"):
        model(graph.features, a_hat, torch.zeros(graph.num_nodes, dtype=torch.bool))
    model.use_remask = False
    assert not torch.allclose(model(graph.features, G.normalized_adjacency(isolated), hidden).recon[0],
                              lonely.recon[0])


def test_training_learns_reproducibly_and_probe_beats_chance(graph):
    state = torch.random.get_rng_state()
    result = G.train_graphmae(graph, steps=60, hidden_dim=16, lr=1e-2, seed=0)
    assert torch.equal(state, torch.random.get_rng_state())
    losses = [h["loss"] for h in result.history]
    assert sum(losses[-10:]) / 10 < sum(losses[:10]) / 10
    again = G.train_graphmae(graph, steps=60, hidden_dim=16, lr=1e-2, seed=0)
    assert [h["loss"] for h in again.history] == losses
    embeddings = result.model.embed(graph.features, G.normalized_adjacency(graph.adjacency))
    assert embeddings.shape == (120, 16)
    assert G.node_probe(embeddings, graph.labels, per_class=5, seeds=2) > 0.6  # chance is 1/3


def test_split_and_layout(graph):
    train, test = G.split_nodes(graph.labels, per_class=4, seed=0)
    assert len(train) == 12 and len(test) == 108
    assert set(train.tolist()).isdisjoint(test.tolist())
    assert graph.labels[train].bincount().tolist() == [4, 4, 4]
    with pytest.raises(ValueError, match="per_class=40 leaves none"):
        G.split_nodes(graph.labels, per_class=40)
    layout = G.spectral_layout(graph.adjacency)
    assert layout.shape == (120, 2) and torch.isfinite(layout).all()
