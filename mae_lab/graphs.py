"""Masked autoencoding of graphs: GraphMAE.

Hou et al., 2022, "GraphMAE: Self-Supervised Masked Graph Autoencoders".  On a graph the tokens
are the nodes and what is hidden is their *features*: a random half of the nodes get a learned
``[MASK]`` vector instead of their features.  A graph neural network encodes every node from its
neighbourhood; the codes of the hidden nodes are then **re-masked** (set to zero) before a
one-layer GNN decoder, so the decoder too must rebuild a hidden node from its neighbours' codes
and cannot copy the node's own code.  The loss is the *scaled cosine error*
``(1 - cos(x, x_hat)) ** gamma`` on the hidden nodes: the cosine ignores the scale of the
features, and ``gamma > 1`` turns down the weight of nodes that are already easy.
The encoder's node codes are then probed with a logistic regression on a few labelled nodes.

The graphs are generated, not downloaded: stochastic block models (communities with dense links
inside and sparse links between) whose node features are noisy and only partly informative of
the community, so that looking at the neighbours pays.  The GNN is a plain GCN (Kipf & Welling,
2017) on a dense normalised adjacency; GraphMAE's default encoder is a GAT, and it also swaps a
few hidden nodes' features for other nodes' (``replace_rate``), which we leave out.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .masking import make_mask

__all__ = [
    "GCN",
    "Graph",
    "GraphMAE",
    "GraphMAEResult",
    "make_sbm_graph",
    "mask_node_features",
    "node_probe",
    "normalized_adjacency",
    "remask",
    "sce_loss",
    "spectral_layout",
    "split_nodes",
    "train_graphmae",
]


# ============================================================================ data: block-model graphs
@dataclass
class Graph:
    """One graph: ``features [N, F]``, ``adjacency [N, N]`` (0/1, symmetric, no self-loops), ``labels [N]``."""

    features: torch.Tensor
    adjacency: torch.Tensor
    labels: torch.Tensor

    @property
    def num_nodes(self) -> int:
        return int(self.features.shape[0])

    @property
    def num_classes(self) -> int:
        return int(self.labels.max()) + 1

    @property
    def num_edges(self) -> int:
        return int(self.adjacency.sum()) // 2

    def homophily(self) -> float:
        """Share of edges that join two nodes of the same community."""
        same = (self.labels[:, None] == self.labels[None, :]).float()
        return float((self.adjacency * same).sum() / self.adjacency.sum().clamp(min=1))

    def __repr__(self) -> str:
        return (f"Graph({self.num_nodes} nodes, {self.num_edges} edges, {self.features.shape[1]} features, "
                f"{self.num_classes} communities, homophily {self.homophily():.2f})")


def make_sbm_graph(
    num_nodes: int = 400,
    num_classes: int = 4,
    p_in: float = 0.05,
    p_out: float = 0.01,
    feature_dim: int = 32,
    informative: int = 8,
    signal: float = 0.6,
    seed: int = 0,
) -> Graph:
    """A stochastic block model with noisy node features, deterministic from ``seed``.

    Nodes ``0 .. N-1`` fall into ``num_classes`` equal communities (in order).  Each pair of nodes
    is linked with probability ``p_in`` inside a community and ``p_out`` between two.  Features:
    every community has a random mean on the first ``informative`` dimensions (zero elsewhere), and
    each node is its community's mean times ``signal`` plus unit Gaussian noise on all
    ``feature_dim`` dimensions.  With a small ``signal`` one node's features say little about its
    community, but the average over its neighbours says much more.
    """
    if num_classes < 2 or num_nodes < 2 * num_classes:
        raise ValueError(f"need at least 2 communities and 2 nodes per community, got {num_nodes} nodes "
                         f"and {num_classes} communities")
    if not (0 <= p_out <= 1 and 0 <= p_in <= 1):
        raise ValueError(f"p_in and p_out are probabilities, got p_in={p_in}, p_out={p_out}")
    if not 0 < informative <= feature_dim:
        raise ValueError(f"informative={informative} must be between 1 and feature_dim={feature_dim}")
    generator = torch.Generator().manual_seed(int(seed))
    labels = torch.arange(num_nodes) * num_classes // num_nodes  # [N] communities in order
    same = labels[:, None] == labels[None, :]  # [N, N]
    prob = torch.where(same, torch.tensor(p_in), torch.tensor(p_out))  # [N, N]
    upper = torch.triu(torch.rand(num_nodes, num_nodes, generator=generator) < prob, diagonal=1)
    adjacency = (upper | upper.T).float()  # [N, N] symmetric, no self-loops
    means = torch.zeros(num_classes, feature_dim)
    means[:, :informative] = torch.randn(num_classes, informative, generator=generator)
    features = signal * means[labels] + torch.randn(num_nodes, feature_dim, generator=generator)  # [N, F]
    return Graph(features, adjacency, labels)


def normalized_adjacency(adjacency: torch.Tensor) -> torch.Tensor:
    """GCN's propagation matrix ``D^-1/2 (A + I) D^-1/2`` (self-loops added): ``[N, N]``."""
    if adjacency.ndim != 2 or adjacency.shape[0] != adjacency.shape[1]:
        raise ValueError(f"adjacency must be a square [N, N] matrix, got {tuple(adjacency.shape)}")
    a_hat = adjacency + torch.eye(adjacency.shape[0])
    scale = a_hat.sum(dim=1).rsqrt()  # [N], degree including the self-loop
    return scale[:, None] * a_hat * scale[None, :]


# ============================================================================ the model
class GCN(nn.Module):
    """A graph convolutional network: each layer is ``A_hat @ (h W)``, with PReLU between layers.

    ``forward(x [N, F_in], a_hat [N, N]) -> [N, F_out]``.  ``last_activation`` also puts a PReLU
    after the last layer (GraphMAE's encoders have it, its decoders do not).  ``dropout`` drops
    input features of every layer while training (GraphMAE's ``in_drop``, 0.2).
    """

    def __init__(self, dims: list[int], last_activation: bool = True, dropout: float = 0.0):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(dims))
        count = len(self.layers) if last_activation else len(self.layers) - 1
        self.activations = nn.ModuleList(nn.PReLU() for _ in range(count))
        self.dropout = dropout

    def forward(self, x: torch.Tensor, a_hat: torch.Tensor) -> torch.Tensor:
        for k, layer in enumerate(self.layers):
            x = F.dropout(x, self.dropout, self.training)
            x = a_hat @ layer(x)  # [N, F_out]: every node averages its neighbours' messages
            if k < len(self.activations):
                x = self.activations[k](x)
        return x


def mask_node_features(features: torch.Tensor, hidden: torch.Tensor, mask_token: torch.Tensor) -> torch.Tensor:
    """The encoder's input: hidden nodes' features replaced by ``mask_token`` ``[1, F]``: ``[N, F]``."""
    return torch.where(hidden[:, None], mask_token.expand_as(features), features)


def remask(codes: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
    """GraphMAE's re-mask: the hidden nodes' codes set to zero before the decoder, ``[N, D] -> [N, D]``.

    Without it the decoder could rebuild a hidden node from that node's own code; with it, the
    node's features must come back from its neighbours.
    """
    return codes.masked_fill(hidden[:, None], 0.0)


def sce_loss(pred: torch.Tensor, target: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    """Scaled cosine error: ``mean((1 - cos(pred_i, target_i)) ** gamma)`` over the rows, a scalar.

    ``pred``, ``target``: ``[M, F]``, the hidden nodes only.  ``gamma >= 1``; GraphMAE uses 1 to 3.
    """
    if gamma < 1:
        raise ValueError(f"gamma must be at least 1 (GraphMAE uses 1 to 3), got {gamma}")
    cos = F.cosine_similarity(pred, target, dim=-1)  # [M]
    return (1 - cos).pow(gamma).mean()


@dataclass
class GraphMAEOutput:
    loss: torch.Tensor
    recon: torch.Tensor  # [N, F] reconstruction of every node (the loss looks at the hidden ones)
    hidden: torch.Tensor  # [N] bool


class GraphMAE(nn.Module):
    """Mask node features, encode with a GCN, re-mask, decode with a one-layer GCN, SCE on hidden nodes."""

    def __init__(self, in_dim: int, hidden_dim: int = 64, num_layers: int = 2, gamma: float = 2.0,
                 remask: bool = True, dropout: float = 0.2, seed: int = 0):
        super().__init__()
        self.gamma, self.use_remask = gamma, remask
        with torch.random.fork_rng(devices=[]):  # the initialisation depends on `seed` only
            torch.manual_seed(seed)
            self.encoder = GCN([in_dim] + [hidden_dim] * num_layers, last_activation=True, dropout=dropout)
            self.encoder_to_decoder = nn.Linear(hidden_dim, hidden_dim, bias=False)
            self.decoder = GCN([hidden_dim, in_dim], last_activation=False, dropout=dropout)
        self.mask_token = nn.Parameter(torch.zeros(1, in_dim))  # GraphMAE starts it at zero

    def forward(self, features: torch.Tensor, a_hat: torch.Tensor, hidden: torch.Tensor) -> GraphMAEOutput:
        if not bool(hidden.any()):
            raise ValueError("no node is hidden, so there is nothing to reconstruct; hide at least one node")
        x = mask_node_features(features, hidden, self.mask_token)  # [N, F]
        codes = self.encoder_to_decoder(self.encoder(x, a_hat))  # [N, D]
        if self.use_remask:
            codes = remask(codes, hidden)
        recon = self.decoder(codes, a_hat)  # [N, F]
        loss = sce_loss(recon[hidden], features[hidden], self.gamma)
        return GraphMAEOutput(loss, recon, hidden)

    @torch.no_grad()
    def embed(self, features: torch.Tensor, a_hat: torch.Tensor) -> torch.Tensor:
        """Node codes for probing, nothing hidden and no dropout: ``[N, D]``."""
        was_training = self.training
        self.eval()
        codes = self.encoder(features, a_hat)
        self.train(was_training)
        return codes


# ============================================================================ training
@dataclass
class GraphMAEResult:
    """A trained GraphMAE and its history (one dict per step: step, loss)."""

    model: GraphMAE
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    def __repr__(self) -> str:
        last = self.history[-1]["loss"] if self.history else float("nan")
        return f"GraphMAEResult(steps={len(self.history)}, final loss={last:.4f}, {self.seconds:.1f} s)"


def train_graphmae(
    graph: Graph,
    steps: int = 500,
    hidden_dim: int = 64,
    mask_rate: float = 0.5,
    gamma: float = 2.0,
    remask: bool = True,
    dropout: float = 0.2,
    lr: float = 1e-3,
    weight_decay: float = 2e-4,
    seed: int = 0,
) -> GraphMAEResult:
    """Pretrain a :class:`GraphMAE` on the whole graph (no labels): one step = one full-graph pass.

    Each step hides a fresh random ``mask_rate`` of the nodes, drawn from the shared mask
    registry (the nodes are a ``(1, N)`` grid).  Adam, as in GraphMAE's configs.  ``seed`` fixes the
    initialisation, the masks and the dropout; the global RNG is left as it was.
    """
    a_hat = normalized_adjacency(graph.adjacency)
    model = GraphMAE(graph.features.shape[1], hidden_dim, gamma=gamma, remask=remask, dropout=dropout, seed=seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    mask_gen = torch.Generator().manual_seed(seed + 1)
    history, start = [], time.perf_counter()
    model.train()
    with torch.random.fork_rng(devices=[]):  # dropout draws from the global RNG: seed it, then restore it
        torch.manual_seed(seed + 2)
        for step in range(steps):
            hidden = make_mask("random", 1, grid=(1, graph.num_nodes), ratio=mask_rate, generator=mask_gen).hidden[0]
            out = model(graph.features, a_hat, hidden)
            optimizer.zero_grad(set_to_none=True)
            out.loss.backward()
            optimizer.step()
            history.append({"step": step, "loss": out.loss.item()})
    model.eval()
    return GraphMAEResult(model, history, time.perf_counter() - start)


# ============================================================================ probing and pictures
def split_nodes(labels: torch.Tensor, per_class: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``per_class`` labelled nodes of every community for training, all the others for testing."""
    generator = torch.Generator().manual_seed(int(seed))
    train = []
    for c in range(int(labels.max()) + 1):
        members = torch.nonzero(labels == c).flatten()
        if per_class >= len(members):
            raise ValueError(f"community {c} has {len(members)} nodes; per_class={per_class} leaves none to test")
        train.append(members[torch.randperm(len(members), generator=generator)[:per_class]])
    train = torch.cat(train).sort().values
    test = torch.ones(len(labels), dtype=torch.bool)
    test[train] = False
    return train, torch.nonzero(test).flatten()


def node_probe(embeddings: torch.Tensor, labels: torch.Tensor, per_class: int = 5, seeds: int = 5) -> float:
    """Mean test accuracy of a logistic regression (standardised inputs) on ``per_class`` labelled nodes,
    averaged over ``seeds`` random choices of the labelled nodes."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = embeddings.detach().numpy(), labels.numpy()
    scores = []
    for seed in range(seeds):
        train, test = split_nodes(labels, per_class, seed=seed)
        classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        classifier.fit(x[train], y[train])
        scores.append(float((classifier.predict(x[test]) == y[test]).mean()))
    return float(np.mean(scores))


def spectral_layout(adjacency: torch.Tensor) -> torch.Tensor:
    """2-D positions for drawing: the second and third eigenvectors of the normalised adjacency, ``[N, 2]``."""
    _, vectors = torch.linalg.eigh(normalized_adjacency(adjacency))  # ascending
    return vectors[:, -3:-1].flip(1) * adjacency.shape[0] ** 0.5
