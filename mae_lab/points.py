"""Masked autoencoding of point clouds: Point-MAE.

Pang et al., 2022, "Masked Autoencoders for Point Cloud Self-supervised Learning" (Point-MAE),
building on Yu et al., 2022, "Point-BERT: Pre-training 3D Point Cloud Transformers with Masked
Point Modeling".  A point cloud has no grid, so the "patches" are made from the points: pick
``G`` well-spread centres by farthest-point sampling, and let each centre's ``K`` nearest
neighbours, moved so the centre is the origin, be one patch.  A mini-PointNet (a shared MLP and
a max over the patch's points) turns each patch into a token; a random ``ratio`` of the patches
is hidden (60 % in the paper); a transformer encodes the visible ones, with each centre's
position added before every block; a light decoder gets mask tokens at the hidden centres and
predicts their ``K`` points, scored with the Chamfer distance, which does not care about the
order of the points.  The encoder's pooled tokens are then probed for shape classification.

The data are generated, not downloaded: surfaces of simple solids (sphere, cube, cylinder, cone,
torus, pyramid) with random proportions, scale, rotation and noise, from a seed.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from .masking import make_mask
from .models.vit import Block
from .schedules import warmup_cosine

__all__ = [
    "SHAPES",
    "PointCloudSet",
    "PointMAE",
    "PointMAEConfig",
    "PointMAEResult",
    "chamfer_distance",
    "cloud_features",
    "distance_histogram",
    "farthest_point_sample",
    "group_points",
    "knn_indices",
    "make_shape_dataset",
    "plot_clouds",
    "plotly_clouds",
    "probe_accuracy",
    "reconstruct",
    "sample_shape",
    "train_point_mae",
]

SHAPES = ("sphere", "cube", "cylinder", "cone", "torus", "pyramid")


# ============================================================================ data: shapes
def _uniform(generator: torch.Generator, n: int, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)


def _sample_triangles(vertices: torch.Tensor, faces: list, n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` points uniform on the surface of a triangle mesh (each face chosen by its area)."""
    tri = vertices[torch.tensor(faces)]  # [F, 3 corners, 3]
    area = torch.linalg.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]).norm(dim=1)  # [F] (twice the area)
    face = torch.multinomial(area, n, replacement=True, generator=generator)  # [n]
    u, v = torch.rand(n, 1, generator=generator), torch.rand(n, 1, generator=generator)
    flip = (u + v) > 1  # fold the far half of the parallelogram back into the triangle
    u, v = torch.where(flip, 1 - u, u), torch.where(flip, 1 - v, v)
    a, b, c = tri[face, 0], tri[face, 1], tri[face, 2]
    return a + u * (b - a) + v * (c - a)  # [n, 3]


def _pick_by_area(areas: list, n: int, generator: torch.Generator) -> torch.Tensor:
    """Which part of a surface each of ``n`` points falls on, in proportion to the parts' areas."""
    return torch.multinomial(torch.tensor(areas, dtype=torch.float), n, replacement=True, generator=generator)


def sample_shape(name: str, num_points: int, generator: torch.Generator) -> torch.Tensor:
    """``num_points`` points uniform on the surface of one solid, with random proportions: ``[N, 3]``.

    The solid is centred at the origin in its canonical pose (axis along z); proportions are drawn
    from ``generator``: a box's sides, a cylinder's or cone's height, a torus's tube radius...
    """
    n, g = int(num_points), generator
    if name == "sphere":
        points = torch.randn(n, 3, generator=g)
        return points / points.norm(dim=1, keepdim=True)
    if name == "cube":
        sx, sy, sz = _uniform(g, 3, 0.7, 1.3).tolist()  # a box with slightly uneven sides
        corners = torch.tensor([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=torch.float)
        corners = corners * torch.tensor([sx, sy, sz])
        faces = [(0, 1, 3), (0, 3, 2), (4, 5, 7), (4, 7, 6), (0, 1, 5), (0, 5, 4),
                 (2, 3, 7), (2, 7, 6), (0, 2, 6), (0, 6, 4), (1, 3, 7), (1, 7, 5)]
        return _sample_triangles(corners, faces, n, g)
    if name in ("cylinder", "cone"):
        height = float(_uniform(g, 1, 1.2, 3.0))
        angle = _uniform(g, n, 0, 2 * math.pi)
        if name == "cylinder":  # side 2*pi*h, two caps of pi each
            part = _pick_by_area([2 * math.pi * height, math.pi, math.pi], n, g)
            side_r, side_z = torch.ones(n), _uniform(g, n, -height / 2, height / 2)
            cap_r, cap_z = _uniform(g, n).sqrt(), torch.where(part == 1, height / 2, -height / 2)
        else:  # lateral surface pi*r*slant, base pi
            part = _pick_by_area([math.pi * math.hypot(1.0, height), math.pi], n, g)
            frac = _uniform(g, n).sqrt()  # distance from the apex, uniform over the area
            side_r, side_z = frac, height / 2 - frac * height
            cap_r, cap_z = _uniform(g, n).sqrt(), torch.full((n,), -height / 2)
        on_side = part == 0
        r, z = torch.where(on_side, side_r, cap_r), torch.where(on_side, side_z, cap_z)
        return torch.stack([r * angle.cos(), r * angle.sin(), z], dim=1)
    if name == "torus":
        tube = float(_uniform(g, 1, 0.25, 0.5))
        # the outer side of the tube has more area: accept angle v with probability (1 + tube*cos v)/(1 + tube)
        v = torch.zeros(0)
        while len(v) < n:  # at least 2/3 of the draws are accepted, so one round nearly always suffices
            draw = _uniform(g, 4 * n, 0, 2 * math.pi)
            keep = _uniform(g, 4 * n) * (1 + tube) < 1 + tube * draw.cos()
            v = torch.cat([v, draw[keep]])
        v = v[:n]
        u = _uniform(g, n, 0, 2 * math.pi)
        ring = 1 + tube * v.cos()
        return torch.stack([ring * u.cos(), ring * u.sin(), tube * v.sin()], dim=1)
    if name == "pyramid":
        height = float(_uniform(g, 1, 1.2, 2.5))
        corners = torch.tensor([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0], [0, 0, height]], dtype=torch.float)
        corners[:, 2] -= height / 3
        faces = [(0, 1, 2), (0, 2, 3), (0, 1, 4), (1, 2, 4), (2, 3, 4), (3, 0, 4)]
        return _sample_triangles(corners, faces, n, g)
    raise KeyError(f"unknown shape {name!r}; choose one of {', '.join(SHAPES)}")


def _random_rotation(generator: torch.Generator) -> torch.Tensor:
    """A uniformly random 3-D rotation ``[3, 3]`` (QR of a Gaussian matrix, signs fixed)."""
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=generator))
    q = q * torch.sign(torch.diagonal(r)).unsqueeze(0)
    if torch.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


@dataclass
class PointCloudSet:
    """A labelled set of point clouds: ``points [M, N, 3]``, ``labels [M]`` (indices into ``classes``)."""

    points: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.points.shape[0])

    def __repr__(self) -> str:
        return f"PointCloudSet({len(self)} clouds of {self.points.shape[1]} points, classes={list(self.classes)})"


def make_shape_dataset(
    per_class: int = 100,
    num_points: int = 256,
    shapes: tuple[str, ...] = SHAPES,
    noise: float = 0.02,
    seed: int = 0,
) -> PointCloudSet:
    """Clouds of ``num_points`` surface points, ``per_class`` of each shape, deterministic from ``seed``.

    Each cloud: a solid with random proportions (:func:`sample_shape`), centred, scaled so its
    farthest point is at distance 1 (as Point-MAE's data pipeline does), then randomly rotated,
    rescaled by a factor in [0.6, 1] and jittered with Gaussian noise of std ``noise``.
    Points are in random order.  Classes are interleaved (cloud ``i`` has label ``i % C``).
    """
    if per_class < 1:
        raise ValueError(f"per_class must be at least 1, got {per_class}")
    if num_points < 8:
        raise ValueError(f"num_points must be at least 8, got {num_points}; Point-MAE uses 1024")
    for name in shapes:
        if name not in SHAPES:
            raise KeyError(f"unknown shape {name!r}; choose from {', '.join(SHAPES)}")
    generator = torch.Generator().manual_seed(int(seed))
    clouds, labels = [], []
    for _ in range(per_class):
        for label, name in enumerate(shapes):
            points = sample_shape(name, num_points, generator)  # [N, 3]
            points = points - points.mean(dim=0)
            points = points / points.norm(dim=1).max()
            scale = float(_uniform(generator, 1, 0.6, 1.0))
            points = scale * points @ _random_rotation(generator).T
            points = points + noise * torch.randn(points.shape, generator=generator)
            clouds.append(points[torch.randperm(num_points, generator=generator)])
            labels.append(label)
    return PointCloudSet(torch.stack(clouds), torch.tensor(labels), tuple(shapes))


# ============================================================================ patches for points
def farthest_point_sample(points: torch.Tensor, num_samples: int) -> torch.Tensor:
    """Indices of ``num_samples`` well-spread points of each cloud: ``[B, N, 3] -> long [B, G]``.

    Start from point 0 (as the official CUDA kernel does); then, again and again, take the point
    whose distance to the *nearest already chosen point* is largest.  ``min_dist`` holds that
    distance for every point and only needs updating with the newest choice.
    """
    batch, num_points, _ = points.shape
    if not 1 <= num_samples <= num_points:
        raise ValueError(f"cannot pick {num_samples} of {num_points} points; use 1 <= num_samples <= {num_points}")
    chosen = torch.zeros(batch, num_samples, dtype=torch.long, device=points.device)  # [B, G]
    min_dist = torch.full((batch, num_points), float("inf"), device=points.device)  # [B, N]
    newest = torch.zeros(batch, dtype=torch.long, device=points.device)  # [B]
    rows = torch.arange(batch, device=points.device)
    for step in range(num_samples):
        chosen[:, step] = newest
        centre = points[rows, newest]  # [B, 3]
        dist = ((points - centre.unsqueeze(1)) ** 2).sum(-1)  # [B, N]
        min_dist = torch.minimum(min_dist, dist)  # distance to the chosen SET, not to the newest point
        newest = min_dist.argmax(dim=1)  # [B]
    return chosen


def knn_indices(points: torch.Tensor, centres: torch.Tensor, k: int) -> torch.Tensor:
    """The ``k`` nearest points of each centre: ``points [B, N, 3]``, ``centres [B, G, 3] -> long [B, G, K]``."""
    if not 1 <= k <= points.shape[1]:
        raise ValueError(f"group size k={k} must be between 1 and the number of points {points.shape[1]}")
    dist = ((centres.unsqueeze(2) - points.unsqueeze(1)) ** 2).sum(-1)  # [B, G, N] squared distances
    return dist.topk(k, dim=-1, largest=False).indices  # [B, G, K], nearest first


def group_points(points: torch.Tensor, num_groups: int, group_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Point-MAE's patches: ``points [B, N, 3] -> (neighbourhoods [B, G, K, 3], centres [B, G, 3])``.

    Centres by farthest-point sampling, each group the ``K`` nearest points of its centre, moved
    so that the centre is the origin: a patch holds the *shape* of a small region, and its
    position is given separately (as a position embedding of the centre).
    """
    if points.ndim != 3 or points.shape[-1] != 3:
        raise ValueError(f"expected point clouds of shape [B, N, 3], got {tuple(points.shape)}")
    rows = torch.arange(points.shape[0], device=points.device)[:, None]  # [B, 1]
    centres = points[rows, farthest_point_sample(points, num_groups)]  # [B, G, 3]
    idx = knn_indices(points, centres, group_size)  # [B, G, K]
    neighbourhoods = points[rows[:, :, None], idx]  # [B, G, K, 3]
    return neighbourhoods - centres.unsqueeze(2), centres


def chamfer_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Symmetric squared Chamfer distance (Point-MAE's ``cdl2``): ``a [B, n, 3]``, ``b [B, m, 3]`` -> scalar.

    ``mean_i min_j |a_i - b_j|^2 + mean_j min_i |a_i - b_j|^2``, averaged over the batch.  Both
    directions matter: ``a -> b`` alone is small when every predicted point sits on one true point,
    ``b -> a`` alone when the prediction is a cloud that covers everything loosely.
    """
    dist = ((a.unsqueeze(2) - b.unsqueeze(1)) ** 2).sum(-1)  # [B, n, m] squared distances
    return dist.min(dim=2).values.mean() + dist.min(dim=1).values.mean()


# ============================================================================ the model
@dataclass
class PointMAEConfig:
    """Sizes of a small Point-MAE (the paper: 1024 points, 64 groups of 32, width 384, 12 + 4 blocks)."""

    num_points: int = 256
    num_groups: int = 32
    group_size: int = 16
    dim: int = 96
    depth: int = 4
    num_heads: int = 4
    decoder_depth: int = 2
    mask_ratio: float = 0.6

    def to_dict(self) -> dict:
        return asdict(self)


class MiniPointNet(nn.Module):
    """A patch of ``K`` points -> one token, as in PointNet: shared MLP, max, concat, shared MLP, max.

    ``[B, G, K, 3] -> [B, G, D]``; the max over points makes the token independent of their order.
    """

    def __init__(self, dim: int, width: int = 32):
        super().__init__()
        self.first = nn.Sequential(nn.Linear(3, width), nn.BatchNorm1d(width), nn.ReLU(), nn.Linear(width, 2 * width))
        self.second = nn.Sequential(nn.Linear(4 * width, 4 * width), nn.BatchNorm1d(4 * width), nn.ReLU(),
                                    nn.Linear(4 * width, dim))

    @staticmethod
    def _per_point(layers: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
        return layers(x.reshape(-1, x.shape[-1])).reshape(*x.shape[:-1], -1)  # BatchNorm wants [rows, C]

    def forward(self, groups: torch.Tensor) -> torch.Tensor:
        feats = self._per_point(self.first, groups)  # [B, G, K, 2w]
        pooled = feats.max(dim=2, keepdim=True).values.expand_as(feats)  # [B, G, K, 2w]
        feats = self._per_point(self.second, torch.cat([pooled, feats], dim=-1))  # [B, G, K, D]
        return feats.max(dim=2).values  # [B, G, D]


def _position_mlp(dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(3, 128), nn.GELU(), nn.Linear(128, dim))


@dataclass
class PointMAEOutput:
    """One forward pass: the loss, the predicted hidden groups and everything needed to draw them."""

    loss: torch.Tensor
    pred: torch.Tensor  # [B, M, K, 3] predicted hidden groups, relative to their centres
    hidden: torch.Tensor  # [B, G] bool, True = hidden group
    ids_hidden: torch.Tensor  # [B, M] which groups pred belongs to
    neighbourhoods: torch.Tensor  # [B, G, K, 3]
    centres: torch.Tensor  # [B, G, 3]


class PointMAE(nn.Module):
    """Point-MAE: group, embed, hide, encode the visible groups, decode all, Chamfer on the hidden ones."""

    def __init__(self, config: PointMAEConfig | None = None, seed: int = 0):
        super().__init__()
        self.config = config = config or PointMAEConfig()
        with torch.random.fork_rng(devices=[]):  # the initialisation depends on `seed` only
            torch.manual_seed(seed)
            self.embed = MiniPointNet(config.dim)
            self.pos_embed = _position_mlp(config.dim)
            self.blocks = nn.ModuleList([Block(config.dim, config.num_heads) for _ in range(config.depth)])
            self.norm = nn.LayerNorm(config.dim, eps=1e-6)
            self.mask_token = nn.Parameter(torch.zeros(1, 1, config.dim))
            self.decoder_pos_embed = _position_mlp(config.dim)
            self.decoder_blocks = nn.ModuleList(
                [Block(config.dim, config.num_heads) for _ in range(config.decoder_depth)])
            self.decoder_norm = nn.LayerNorm(config.dim, eps=1e-6)
            self.head = nn.Linear(config.dim, 3 * config.group_size)  # one token -> K points
            self.apply(self._init_weights)
            nn.init.trunc_normal_(self.mask_token, std=0.02)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.trunc_normal_(module.weight, std=0.02)
            nn.init.zeros_(module.bias)

    def group(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[B, N, 3] -> (neighbourhoods [B, G, K, 3], centres [B, G, 3])``."""
        return group_points(points, self.config.num_groups, self.config.group_size)

    def encode(self, tokens: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
        """Transformer over the given tokens, the centres' positions added before every block."""
        pos = self.pos_embed(centres)  # [B, T, D]
        x = tokens
        for block in self.blocks:
            x, _ = block(x + pos)  # Point-MAE adds the positions at every block, not once
        return self.norm(x)  # [B, T, D]

    def forward(self, points: torch.Tensor, ratio: float | None = None, seed: int | None = None,
                generator: torch.Generator | None = None) -> PointMAEOutput:
        cfg = self.config
        ratio = cfg.mask_ratio if ratio is None else ratio
        neighbourhoods, centres = self.group(points)  # [B, G, K, 3], [B, G, 3]
        batch = points.shape[0]
        # a random mask over the G groups is a mask over a (1, G) grid
        mask = make_mask("random", batch, grid=(1, cfg.num_groups), ratio=ratio, seed=seed, generator=generator)
        mask = mask.to(points.device)
        ids_visible, ids_hidden = mask.ids_shuffle[:, :mask.num_visible], mask.ids_shuffle[:, mask.num_visible:]

        def take(x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:  # x [B, G, ...] -> [B, len(ids), ...]
            return x[torch.arange(batch, device=x.device)[:, None], ids]

        tokens = self.embed(neighbourhoods)  # [B, G, D]
        latent = self.encode(take(tokens, ids_visible), take(centres, ids_visible))  # [B, V, D]
        # decoder: visible latents then one mask token per hidden group, every token at its centre
        num_hidden = ids_hidden.shape[1]
        x = torch.cat([latent, self.mask_token.expand(batch, num_hidden, -1)], dim=1)  # [B, G, D]
        pos = self.decoder_pos_embed(torch.cat([take(centres, ids_visible), take(centres, ids_hidden)], dim=1))
        for block in self.decoder_blocks:
            x, _ = block(x + pos)
        x = self.decoder_norm(x[:, -num_hidden:])  # [B, M, D] only the hidden groups are predicted
        pred = self.head(x).reshape(batch, num_hidden, cfg.group_size, 3)  # [B, M, K, 3]
        truth = take(neighbourhoods, ids_hidden)  # [B, M, K, 3]
        loss = chamfer_distance(pred.reshape(-1, cfg.group_size, 3), truth.reshape(-1, cfg.group_size, 3))
        return PointMAEOutput(loss, pred, mask.hidden, ids_hidden, neighbourhoods, centres)

    @torch.no_grad()
    def features(self, points: torch.Tensor) -> torch.Tensor:
        """One vector per cloud for probing: mean and max of the encoder's tokens, nothing hidden: ``[B, 2D]``."""
        neighbourhoods, centres = self.group(points)
        latent = self.encode(self.embed(neighbourhoods), centres)  # [B, G, D]
        return torch.cat([latent.mean(dim=1), latent.max(dim=1).values], dim=1)


# ============================================================================ training
@dataclass
class PointMAEResult:
    """A trained Point-MAE and its history (one dict per step: step, loss, lr)."""

    model: PointMAE
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    def __repr__(self) -> str:
        last = self.history[-1]["loss"] if self.history else float("nan")
        return f"PointMAEResult(steps={len(self.history)}, final loss={last:.4f}, {self.seconds:.1f} s)"


def train_point_mae(
    data: PointCloudSet,
    config: PointMAEConfig | None = None,
    steps: int = 1000,
    batch_size: int = 32,
    lr: float = 1e-3,
    weight_decay: float = 0.05,
    warmup: float = 0.05,
    seed: int = 0,
    progress: bool = False,
) -> PointMAEResult:
    """Pretrain a :class:`PointMAE` on ``data.points`` (the labels are never used).

    AdamW with a warm-up then cosine learning rate, as in the paper; ``seed`` fixes the
    initialisation, the batches and the masks, and the global RNG is left alone.
    """
    config = config or PointMAEConfig(num_points=data.points.shape[1])
    if data.points.shape[1] < config.group_size:
        raise ValueError(f"clouds have {data.points.shape[1]} points, fewer than group_size={config.group_size}")
    model = PointMAE(config, seed=seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    warm = max(1, int(warmup * steps))

    def lr_at(step: int) -> float:  # linear warm-up over `warm` steps, then half a cosine down to 0
        return warmup_cosine(step / steps, lr, 0.0, warm / steps)

    batch_gen = torch.Generator().manual_seed(seed)
    mask_gen = torch.Generator().manual_seed(seed + 1)
    iterator = range(steps)
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(iterator, desc="Point-MAE")
    history, start = [], time.perf_counter()
    model.train()
    for step in iterator:
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step)
        batch = data.points[torch.randint(len(data), (batch_size,), generator=batch_gen)]  # [B, N, 3]
        out = model(batch, generator=mask_gen)
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        optimizer.step()
        history.append({"step": step, "loss": out.loss.item(), "lr": lr_at(step)})
    model.eval()
    return PointMAEResult(model, history, time.perf_counter() - start)


@torch.no_grad()
def reconstruct(model: PointMAE, points: torch.Tensor, ratio: float | None = None, seed: int = 0) -> dict:
    """Hide groups of one cloud ``[N, 3]`` and predict them; everything in absolute coordinates.

    Returns a dict of numpy arrays: ``visible`` (points of visible groups), ``hidden`` (true points
    of hidden groups), ``predicted`` (predicted points of hidden groups), ``centres`` and
    ``hidden_centres``, plus ``loss`` (the Chamfer distance of this cloud's hidden groups).
    """
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"reconstruct takes one cloud of shape [N, 3], got {tuple(points.shape)}")
    model.eval()
    out = model(points.unsqueeze(0), ratio=ratio, seed=seed)
    hidden = out.hidden[0]  # [G]
    absolute = out.neighbourhoods[0] + out.centres[0].unsqueeze(1)  # [G, K, 3]
    hidden_centres = out.centres[0, out.ids_hidden[0]]  # [M, 3]
    predicted = out.pred[0] + hidden_centres.unsqueeze(1)  # [M, K, 3]
    return {
        "visible": absolute[~hidden].reshape(-1, 3).numpy(),
        "hidden": absolute[out.ids_hidden[0]].reshape(-1, 3).numpy(),
        "predicted": predicted.reshape(-1, 3).numpy(),
        "centres": out.centres[0].numpy(),
        "hidden_centres": hidden_centres.numpy(),
        "loss": float(out.loss),
    }


# ============================================================================ probing
@torch.no_grad()
def cloud_features(model: PointMAE, points: torch.Tensor, batch_size: int = 128) -> torch.Tensor:
    """:meth:`PointMAE.features` for many clouds, in batches: ``[M, N, 3] -> [M, 2D]``."""
    model.eval()
    return torch.cat([model.features(chunk) for chunk in points.split(batch_size)])


def distance_histogram(points: torch.Tensor, bins: int = 16) -> torch.Tensor:
    """A hand-made baseline: how far the points lie from the centroid, ``[M, N, 3] -> [M, bins]``.

    Each point's distance to its cloud's centroid, divided by the cloud's mean distance (so the
    size does not matter), counted in ``bins`` equal bins over [0, 2.5].  It ignores rotation,
    size and the order of the points: on clean solids that is a strong feature.
    """
    radius = (points - points.mean(dim=1, keepdim=True)).norm(dim=-1)  # [M, N]
    radius = radius / radius.mean(dim=1, keepdim=True)
    edges = torch.linspace(0, 2.5, bins + 1)
    which = torch.bucketize(radius.clamp(max=2.5 - 1e-6), edges[1:-1])  # [M, N] bin of each point
    counts = torch.zeros(points.shape[0], bins).scatter_add_(1, which, torch.ones_like(radius))
    return counts / points.shape[1]


def probe_accuracy(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor,
                   max_iter: int = 2000) -> float:
    """Accuracy of a logistic regression (scikit-learn, standardised inputs) trained on frozen features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if len(torch.unique(train_y)) < 2:
        raise ValueError("the probe needs labelled examples of at least two classes; give it more labels")
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter))
    classifier.fit(train_x.numpy(), train_y.numpy())
    return float((classifier.predict(test_x.numpy()) == test_y.numpy()).mean())


# ============================================================================ pictures
_COLOURS = {"visible": "#1f77b4", "hidden": "#bbbbbb", "predicted": "#d62728"}


def plot_clouds(rec: dict, title: str = "", elev: float = 20, azim: float = 35, size: float = 3.2):
    """Static picture (matplotlib): the input with hidden groups removed, the truth, the reconstruction."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3 * size, size + 0.3), layout="constrained")
    FigureCanvasAgg(fig)
    panels = [
        ("what the encoder sees", [("visible", rec["visible"])]),
        ("truth (hidden in grey)", [("visible", rec["visible"]), ("hidden", rec["hidden"])]),
        (f"reconstruction (red), CD {rec['loss']:.4f}", [("visible", rec["visible"]), ("predicted", rec["predicted"])]),
    ]
    everything = np.concatenate([rec["visible"], rec["hidden"], rec["predicted"]])
    low, high = everything.min(), everything.max()
    for k, (panel_title, layers) in enumerate(panels):
        ax = fig.add_subplot(1, 3, k + 1, projection="3d")
        for kind, xyz in layers:
            ax.scatter(xyz[:, 0], xyz[:, 1], xyz[:, 2], s=4, c=_COLOURS[kind], depthshade=False)
        ax.set(xlim=(low, high), ylim=(low, high), zlim=(low, high), xticklabels=[], yticklabels=[], zticklabels=[])
        ax.set_box_aspect((1, 1, 1), zoom=1.2)
        ax.view_init(elev=elev, azim=azim)
        ax.set_title(panel_title, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plotly_clouds(rec: dict, title: str = "", height: int = 420):
    """Interactive 3-D view (plotly): drag to turn the clouds; hidden truth in grey, prediction in red."""
    try:
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots
    except ImportError:
        raise ImportError(
            "plotly_clouds needs plotly: pip install plotly (or draw the static picture with plot_clouds)"
        ) from None
    fig = make_subplots(rows=1, cols=2, specs=[[{"type": "scene"}, {"type": "scene"}]],
                        subplot_titles=("truth: visible + hidden (grey)", "visible + reconstruction (red)"))
    for col, layers in ((1, ("visible", "hidden")), (2, ("visible", "predicted"))):
        for kind in layers:
            xyz = rec[kind]
            fig.add_trace(go.Scatter3d(x=xyz[:, 0], y=xyz[:, 1], z=xyz[:, 2], mode="markers", name=kind,
                                       marker={"size": 2, "color": _COLOURS[kind]}, showlegend=col == 2 or kind == "hidden"),
                          row=1, col=col)
    fig.update_layout(title=title, height=height, margin={"l": 0, "r": 0, "t": 50, "b": 0})
    fig.update_scenes(aspectmode="cube", xaxis_visible=False, yaxis_visible=False, zaxis_visible=False)
    return fig
