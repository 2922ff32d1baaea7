"""Several inputs at once: one masked autoencoder over two views of the same scene.

Bachmann, Mizrahi, Atanov & Zamir, 2022, "MultiMAE: Multi-modal Multi-task Masked
Autoencoders".  Each modality (here a colour picture ``rgb`` and a ``depth`` map of the same
scene) is cut into patches by its own patch embedding; the tokens of all modalities, each with
its position and a learned *modality embedding*, form one sequence for one shared encoder.
Only a small budget of tokens is visible, and MultiMAE spreads it across the modalities at
random: for every sample the shares come from a symmetric Dirichlet distribution (alpha = 1),
so sometimes nearly all visible tokens are colour, sometimes nearly all depth.  One light
decoder per modality reads the whole encoded sequence and predicts its own modality's hidden
patches, so a model trained this way can fill in a depth map it never saw from colour patches.

The scenes are synthetic and made from a seed (:func:`make_scenes`): a sky, a ground plane
that recedes to a horizon, and a few balls, boxes and cones standing on it, drawn with a
depth buffer, so the depth of every pixel is known exactly.

Shapes: ``B`` batch, ``M`` modalities, ``N`` patches per modality (the same grid for all),
``K`` visible tokens in all (the budget), ``D`` width.  A joint :class:`~mae_lab.masking.Mask`
covers all ``M * N`` tokens, modality after modality, with True = hidden.
"""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .masking import Mask, invert_permutation, make_generator
from .models.vit import Block, PatchEmbed, keep_tokens
from .patches import grid_size, patchify, sincos_pos_embed_2d, unpatchify
from .schedules import warmup_cosine
from .utils import module_device

__all__ = [
    "MultiMAE",
    "MultiMAEConfig",
    "TrainResult",
    "dirichlet_shares",
    "evaluate",
    "joint_mask",
    "joint_sequence",
    "make_scenes",
    "mean_map",
    "modality_losses",
    "split_budget",
    "train_multimae",
    "visible_mask",
]


# ---------------------------------------------------------------------- data: synthetic scenes
def _hsv(h: float, s: float, v: float) -> torch.Tensor:
    """One colour from hue, saturation, value in [0, 1]: ``[3]``."""
    k = (torch.tensor([5.0, 3.0, 1.0]) + h * 6) % 6
    return v - v * s * torch.clamp(torch.minimum(k, 4 - k), 0, 1)


def make_scenes(n: int, image_size: int = 32, seed: int = 0) -> dict[str, torch.Tensor]:
    """``n`` scenes as ``{"rgb": [n, 3, H, W], "depth": [n, 1, H, W]}``, values in [0, 1].

    The depth map is stored as *inverse* depth (nearness, what monocular depth networks such as
    MiDaS predict): 0 for the sky at infinity, growing linearly down the ground plane to about 1 at
    the bottom row.  Every object stands on the ground, so its nearness is the ground's at its foot
    and its height in the picture grows with it: a model can read depth from colour only through
    such context (where the horizon is, where an object touches the ground, how big it looks).
    """
    if n < 1 or image_size < 8:
        raise ValueError(f"need n >= 1 scenes of image_size >= 8 pixels, got n={n}, image_size={image_size}")
    gen = torch.Generator().manual_seed(seed)

    def u() -> float:  # one uniform number in [0, 1)
        return float(torch.rand((), generator=gen))

    size = image_size
    rows = (torch.arange(size).float() + 0.5).view(size, 1).expand(size, size)  # [H, W] pixel centres
    cols = (torch.arange(size).float() + 0.5).view(1, size).expand(size, size)  # [H, W]
    rgb, depth = torch.empty(n, 3, size, size), torch.empty(n, 1, size, size)
    for i in range(n):
        horizon = size * (0.25 + 0.2 * u())  # the camera tilts a little from scene to scene
        sky = rows < horizon  # [H, W]
        d = ((rows - horizon) / (0.75 * size)).clamp(min=0)  # [H, W] nearness: 0 at the horizon and above
        sky_colour = _hsv(0.55 + 0.1 * u(), 0.3 + 0.3 * u(), 0.85 + 0.15 * u())
        ground_colour = _hsv(0.05 + 0.3 * u(), 0.4 + 0.4 * u(), 0.35 + 0.3 * u())
        furrows = (torch.sin(2 * math.pi * 0.12 / d.clamp(min=0.01)) > 0).float()  # denser far away
        img = torch.where(
            sky.unsqueeze(-1),
            sky_colour * (0.85 + 0.15 * rows / size).unsqueeze(-1),
            ground_colour * (0.75 + 0.25 * d - 0.12 * furrows).unsqueeze(-1),
        )
        objects = []
        for _ in range(1 + int(u() * 3.999)):  # 1 to 4 objects
            foot = horizon + 1 + u() * (size - horizon - 1)  # the row where it touches the ground
            height = (0.3 + 0.6 * u()) * (foot - horizon)  # up to 0.9 camera heights tall
            near = (foot - horizon) / (0.75 * size)  # the ground's nearness at the foot
            kind, centre, colour = int(u() * 3), u() * size, _hsv(u(), 0.6 + 0.4 * u(), 0.6 + 0.4 * u())
            objects.append((near, foot, height / 2, centre, kind, colour))
        for near, foot, radius, centre, kind, colour in sorted(objects, key=lambda o: o[0]):  # far to near
            radius = max(radius, 0.5)
            dy, dx = (rows - (foot - radius)) / radius, (cols - centre) / radius  # [H, W] in object units
            bulge = torch.sqrt((1 - dx**2 - dy**2).clamp(min=0))
            if kind == 0:  # a ball, lit from the upper left
                inside, shade = dx**2 + dy**2 <= 1, 0.45 + 0.55 * (0.6 * bulge - 0.4 * (dx + dy))
            elif kind == 1:  # a box with a darker right side
                inside, shade = (dx.abs() <= 0.8) & (dy.abs() <= 1), 1.0 - 0.3 * (dx > 0.2).float()
            else:  # a cone
                inside, shade = (dy.abs() <= 1) & (dx.abs() <= 0.45 * (dy + 1)), 0.75 - 0.25 * dx
            inside = inside & (near >= d)  # nearer surfaces win (painted far to near)
            img = torch.where(inside.unsqueeze(-1), colour * shade.clamp(0.3, 1).unsqueeze(-1), img)
            d = torch.where(inside, near * (1 + 0.1 * bulge * (kind == 0)), d)
        rgb[i] = img.permute(2, 0, 1).clamp(0, 1)  # [3, H, W]
        depth[i, 0] = d.clamp(0, 1)
    return {"rgb": rgb, "depth": depth}


# ---------------------------------------------------------------------- masking across modalities
def dirichlet_shares(
    batch_size: int,
    num_modalities: int,
    alpha: float = 1.0,
    seed: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Each sample's share of the visible budget per modality: ``[B, M]``, rows sum to 1.

    A symmetric Dirichlet(alpha): alpha = 1 (MultiMAE's default) is uniform over all splits;
    small alpha favours lopsided splits (one modality gets nearly everything), large alpha even ones.
    Give a ``seed`` or a ``generator`` (as for :func:`mae_lab.make_mask`).
    """
    if alpha <= 0 or num_modalities < 1:
        raise ValueError(f"need alpha > 0 and at least one modality, got alpha={alpha}, M={num_modalities}")
    gen = make_generator(seed, generator)
    rng = np.random.default_rng(int(torch.randint(0, 2**62, (), generator=gen)))  # numpy draws the gammas
    return torch.from_numpy(rng.dirichlet([alpha] * num_modalities, size=batch_size)).float()


def split_budget(shares: torch.Tensor, budget: int, sizes: Sequence[int]) -> torch.Tensor:
    """Turn shares ``[B, M]`` into exact visible counts ``[B, M]`` (long).

    Every row sums to ``budget`` and no modality gets more tokens than it has (``sizes[m]``).
    Rule: round every ideal count ``share * budget`` down, then hand out the tokens still
    missing one at a time to the modality with the largest remainder that still has room.
    (MultiMAE's own code rounds each share and then trims or tops up the joint sequence at
    random, so its per-modality counts are only approximately the shares.)
    """
    shares = torch.as_tensor(shares, dtype=torch.float64)
    shares = shares.unsqueeze(0) if shares.ndim == 1 else shares  # [B, M]
    sizes_t = torch.as_tensor(list(sizes), dtype=torch.long)  # [M]
    if shares.shape[1] != len(sizes_t):
        raise ValueError(
            f"got shares for {shares.shape[1]} modalities but sizes for {len(sizes_t)}; give one size each"
        )
    if not 0 <= budget <= int(sizes_t.sum()):
        raise ValueError(f"budget {budget} must be between 0 and the {int(sizes_t.sum())} tokens there are")
    ideal = shares / shares.sum(1, keepdim=True) * budget  # [B, M]
    counts = torch.minimum(ideal.floor().long(), sizes_t)  # [B, M]
    rows = torch.arange(len(counts))
    while bool((counts.sum(1) < budget).any()):
        missing = counts.sum(1) < budget  # [B] rows still short of the budget
        priority = torch.where(counts < sizes_t, ideal - counts, torch.tensor(-math.inf, dtype=ideal.dtype))
        pick = priority.argmax(1)  # [B] the largest remainder with room
        counts[rows[missing], pick[missing]] += 1
    return counts


def _modality_visible(
    counts: torch.Tensor, num_tokens: int, generators: Sequence[torch.Generator]
) -> torch.Tensor:
    """bool ``[B, M*N]``, True where visible: ``counts[b, m]`` random tokens of modality ``m``."""
    parts = []
    for m, gen in enumerate(generators):
        noise = torch.rand(counts.shape[0], num_tokens, generator=gen)  # [B, N]
        rank = invert_permutation(torch.argsort(noise, dim=1))  # [B, N], a random order of 0 .. N-1
        parts.append(rank < counts[:, m : m + 1])  # the first counts[b, m] of the random order
    return torch.cat(parts, dim=1)  # [B, M*N]


def joint_mask(
    batch_size: int,
    sizes: Sequence[int],
    budget: int,
    alpha: float = 1.0,
    seed: int | None = None,
    generator: torch.Generator | None = None,
) -> tuple[Mask, torch.Tensor]:
    """MultiMAE's masking: ``budget`` visible tokens per sample, split by a Dirichlet draw.

    Returns the joint :class:`Mask` over ``sum(sizes)`` tokens (the same total visible in every
    sample, so the encoder's batch stays rectangular) and the counts ``[B, M]``.
    """
    if len(set(sizes)) != 1:
        raise ValueError(f"every modality needs the same number of tokens here, got {list(sizes)}")
    gen = make_generator(seed, generator)
    shares = dirichlet_shares(batch_size, len(sizes), alpha, generator=gen)  # [B, M]
    counts = split_budget(shares, budget, sizes)  # [B, M] exact counts
    visible = _modality_visible(counts, sizes[0], [gen] * len(sizes))
    mask = Mask.from_hidden(~visible, None, "dirichlet")  # (hidden [B, M*N], grid, name of the masking)
    return mask, counts


def visible_mask(
    names: Sequence[str], visible: Mapping[str, int], num_tokens: int, batch_size: int = 1, seed: int = 0
) -> Mask:
    """A joint mask with a fixed number of visible tokens per modality, for evaluation.

    Which tokens of a modality are visible depends only on ``seed`` and the modality's name, so
    two models (say rgb + depth, and depth alone) see the *same* depth patches.
    """
    unknown = set(visible) - set(names)
    if unknown:
        raise KeyError(f"no modality {sorted(unknown)} in this model; its modalities are {list(names)}")
    counts = torch.tensor([[int(visible.get(name, 0)) for name in names]] * batch_size)  # [B, M]
    if bool((counts < 0).any() or (counts > num_tokens).any()):
        raise ValueError(f"visible counts {dict(visible)} must each be between 0 and {num_tokens}")
    generators = [torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(n.encode())) for n in names]
    return Mask.from_hidden(~_modality_visible(counts, num_tokens, generators), None, "fixed counts")


# ---------------------------------------------------------------------- the model
def joint_sequence(
    tokens: Sequence[torch.Tensor], pos_embed: torch.Tensor, modality_embed: torch.Tensor
) -> torch.Tensor:
    """One sequence from every modality's patch tokens: ``M x [B, N, D]`` -> ``[B, M*N, D]``.

    Each token gets its patch's position (``pos_embed [N, D]``, the same grid for every modality)
    and its modality's embedding (row ``m`` of ``modality_embed [M, D]``), so the encoder can tell
    the depth patch at (2, 3) from the colour patch at the same place.
    """
    return torch.cat([t + pos_embed + modality_embed[m] for m, t in enumerate(tokens)], dim=1)


@dataclass
class MultiMAEConfig:
    """Sizes of a :class:`MultiMAE` (JSON-safe).

    ``modalities`` maps each name to its channels; ``blocks`` and ``decoder_blocks`` count the
    transformer blocks of the encoder and of each modality's decoder.
    """

    modalities: dict[str, int] = field(default_factory=lambda: {"rgb": 3, "depth": 1})
    image_size: int = 32
    patch_size: int = 4
    dim: int = 64
    blocks: int = 4
    num_heads: int = 4
    decoder_dim: int = 48
    decoder_blocks: int = 1
    mlp_ratio: float = 2.0

    def __post_init__(self) -> None:
        if not self.modalities:
            raise ValueError("give at least one modality, e.g. modalities={'rgb': 3, 'depth': 1}")
        grid_size(self.image_size, self.patch_size)  # raises when the image is not a multiple of the patch
        for width in (self.dim, self.decoder_dim):
            if width % 4 or width % self.num_heads:
                raise ValueError(f"width {width} must be divisible by 4 and by num_heads={self.num_heads}")


class ModalityDecoder(nn.Module):
    """A light decoder for one modality, after MultiMAE's output adapters.

    Its sequence holds a *query* for every patch of its own modality (the encoded token where the
    patch was visible, a learned mask token where it was hidden) followed by the *context*: the
    global token and the encoded visible tokens of every modality.  MultiMAE lets the queries
    cross-attend to the context; here one ordinary :class:`~mae_lab.models.vit.Block` attends over
    queries and context together, and only the queries' rows are read out.
    """

    def __init__(self, c: MultiMAEConfig, index: int, channels: int):
        super().__init__()
        self.index = index
        grid = grid_size(c.image_size, c.patch_size)
        self.num_tokens = grid[0] * grid[1]
        self.embed = nn.Linear(c.dim, c.decoder_dim)
        self.mask_token = nn.Parameter(torch.randn(1, 1, c.decoder_dim) * 0.02)
        self.modality_embed = nn.Parameter(torch.randn(len(c.modalities), c.decoder_dim) * 0.02)  # [M, Dd]
        pos = torch.from_numpy(sincos_pos_embed_2d(c.decoder_dim, grid))  # [N, Dd]
        self.register_buffer("pos_embed", pos)
        blocks = [Block(c.decoder_dim, c.num_heads, c.mlp_ratio) for _ in range(c.decoder_blocks)]
        self.blocks = nn.ModuleList(blocks)
        self.norm = nn.LayerNorm(c.decoder_dim, eps=1e-6)
        self.head = nn.Linear(c.decoder_dim, c.patch_size**2 * channels)

    def forward(self, latent: torch.Tensor, mask: Mask) -> torch.Tensor:
        """``latent [B, 1+K, D]`` (global token first) -> this modality's patches ``[B, N, p*p*C]``."""
        x = self.embed(latent)  # [B, 1+K, Dd]
        glob, visible = x[:, :1], x[:, 1:]
        hidden = self.mask_token.expand(x.shape[0], mask.num_hidden, -1)  # [B, M*N-K, Dd]
        shuffled = torch.cat([visible, hidden], dim=1)  # [B, M*N, Dd]: visible first, hidden after
        everything = keep_tokens(shuffled, mask.ids_restore)  # [B, M*N, Dd] back in token order
        parts = everything.split(self.num_tokens, dim=1)  # M x [B, N, Dd]
        everything = joint_sequence(parts, self.pos_embed, self.modality_embed)  # [B, M*N, Dd]
        start = self.index * self.num_tokens
        queries = everything[:, start : start + self.num_tokens]  # [B, N, Dd] this modality's patches
        context = keep_tokens(everything, mask.ids_keep)  # [B, K, Dd] visible tokens of every modality
        x = torch.cat([queries, glob, context], dim=1)  # [B, N+1+K, Dd]
        for block in self.blocks:
            x, _ = block(x)
        return self.head(self.norm(x[:, : self.num_tokens]))  # [B, N, p*p*C]


class MultiMAE(nn.Module):
    """A small MultiMAE: per-modality patch embeddings, one shared encoder, one decoder per modality.

    ``forward(inputs: {name: [B, C, H, W]}, mask) -> {name: prediction [B, N, p*p*C]}``.
    """

    def __init__(self, config: MultiMAEConfig | None = None, seed: int = 0):
        super().__init__()
        c = self.config = config if config is not None else MultiMAEConfig()
        self.names = list(c.modalities)
        grid = grid_size(c.image_size, c.patch_size)
        self.num_tokens = grid[0] * grid[1]  # N per modality
        with torch.random.fork_rng(devices=[]):  # seed the weights without touching the caller's RNG
            torch.manual_seed(seed)
            self.patch_embed = nn.ModuleDict(
                {n: PatchEmbed(c.image_size, c.patch_size, ch, c.dim) for n, ch in c.modalities.items()}
            )
            self.modality_embed = nn.Parameter(torch.randn(len(self.names), c.dim) * 0.02)  # [M, D]
            self.global_token = nn.Parameter(torch.randn(1, 1, c.dim) * 0.02)  # MultiMAE's one global token
            self.blocks = nn.ModuleList([Block(c.dim, c.num_heads, c.mlp_ratio) for _ in range(c.blocks)])
            self.norm = nn.LayerNorm(c.dim, eps=1e-6)
            self.decoders = nn.ModuleDict(
                {n: ModalityDecoder(c, m, ch) for m, (n, ch) in enumerate(c.modalities.items())}
            )
        self.register_buffer("pos_embed", torch.from_numpy(sincos_pos_embed_2d(c.dim, grid)))  # [N, D]

    def _check(self, inputs: Mapping[str, torch.Tensor]) -> None:
        missing = [n for n in self.names if n not in inputs]
        if missing:
            raise KeyError(
                f"inputs lack modality {missing}; this model needs {self.names} (a dict name -> [B, C, H, W])"
            )

    def encode(self, inputs: Mapping[str, torch.Tensor], mask: Mask) -> torch.Tensor:
        """Visible tokens of every modality through the shared encoder: ``[B, 1+K, D]``."""
        self._check(inputs)
        tokens = [self.patch_embed[n](inputs[n]) for n in self.names]  # M x [B, N, D]
        x = joint_sequence(tokens, self.pos_embed, self.modality_embed)  # [B, M*N, D]
        if mask.num_patches != x.shape[1]:
            raise ValueError(
                f"the mask covers {mask.num_patches} tokens but the model has {x.shape[1]} "
                f"({len(self.names)} modalities x {self.num_tokens}); build it for {self.names}"
            )
        x = keep_tokens(x, mask.ids_keep.to(x.device))  # [B, K, D] visible only
        x = torch.cat([self.global_token.expand(x.shape[0], -1, -1), x], dim=1)  # [B, 1+K, D]
        for block in self.blocks:
            x, _ = block(x)
        return self.norm(x)

    def forward(self, inputs: Mapping[str, torch.Tensor], mask: Mask) -> dict[str, torch.Tensor]:
        mask = mask.to(module_device(self))
        latent = self.encode(inputs, mask)
        return {n: self.decoders[n](latent, mask) for n in self.names}

    def hidden_by_modality(self, mask: Mask) -> dict[str, torch.Tensor]:
        """The joint mask cut per modality: ``{name: bool [B, N]}``."""
        return dict(zip(self.names, mask.hidden.split(self.num_tokens, dim=1)))

    def targets(self, inputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """What each decoder predicts: the modality's pixels as patches ``[B, N, p*p*C]``."""
        return {n: patchify(inputs[n], self.config.patch_size) for n in self.names}

    @torch.no_grad()
    def reconstruct(self, inputs: Mapping[str, torch.Tensor], mask: Mask) -> dict[str, torch.Tensor]:
        """Per modality ``[B, C, H, W]``: the prediction in hidden patches, the input in visible ones."""
        preds, targets = self(inputs, mask), self.targets(inputs)
        grid = grid_size(self.config.image_size, self.config.patch_size)
        out = {}
        for n, hidden in self.hidden_by_modality(mask).items():
            hidden = hidden.unsqueeze(-1).to(preds[n].device)  # [B, N, 1]
            patches = torch.where(hidden, preds[n], targets[n].to(preds[n].device))  # [B, N, p*p*C]
            out[n] = unpatchify(patches, self.config.patch_size, grid, self.config.modalities[n]).clamp(0, 1)
        return out


def modality_losses(
    preds: Mapping[str, torch.Tensor], targets: Mapping[str, torch.Tensor], hidden: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Mean squared error over each modality's *hidden* patches, one number per modality.

    A modality with no hidden patch in the batch scores 0 (not 0 / 0).  The total loss is the sum
    over modalities, as in MultiMAE (without its optional uncertainty weighting).
    """
    losses = {}
    for name, pred in preds.items():
        per_patch = ((pred - targets[name]) ** 2).mean(-1)  # [B, N]
        h = hidden[name].to(per_patch.device).float()  # [B, N]
        losses[name] = (per_patch * h).sum() / h.sum().clamp(min=1)
    return losses


# ---------------------------------------------------------------------- training
@dataclass
class TrainResult:
    """A trained model, its loss per step and the time it took."""

    model: MultiMAE
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    def __repr__(self) -> str:
        last = self.history[-1]["loss"] if self.history else float("nan")
        steps = len(self.history)
        return f"TrainResult({self.model.names}, steps={steps}, last loss={last:.4f}, {self.seconds:.0f} s)"


def train_multimae(
    scenes: Mapping[str, torch.Tensor],
    modalities: Sequence[str] = ("rgb", "depth"),
    steps: int = 2000,
    batch_size: int = 64,
    budget: int = 32,
    alpha: float = 1.0,
    lr: float = 2e-3,
    seed: int = 0,
    progress: bool = False,
    **sizes,
) -> TrainResult:
    """Train a :class:`MultiMAE` on ``scenes`` (a dict of ``[n, C, H, W]`` tensors) for ``steps``.

    With two or more modalities every sample sees ``budget`` tokens split by a Dirichlet(alpha)
    draw.  A single modality has nothing to share with, so each step instead draws how many of its
    tokens are visible uniformly from 0 to ``budget`` — the spread the Dirichlet (alpha = 1) gives
    one of two modalities, so both models meet every count during training.
    ``sizes`` go to :class:`MultiMAEConfig` (``dim``, ``blocks``, ...).
    """
    unknown = [m for m in modalities if m not in scenes]
    if unknown:
        raise KeyError(f"scenes have no modality {unknown}; they have {list(scenes)}")
    data = {m: scenes[m] for m in modalities}
    first = data[modalities[0]]
    config = MultiMAEConfig({m: data[m].shape[1] for m in modalities}, image_size=first.shape[-1], **sizes)
    model = MultiMAE(config, seed=seed)
    n_tokens = model.num_tokens
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05, betas=(0.9, 0.95))
    data_gen, mask_gen = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed + 1)
    warmup = max(1, steps // 20)
    history, start = [], time.perf_counter()
    iterator = range(steps)
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(iterator, desc=f"MultiMAE {'+'.join(modalities)}")
    model.train()
    for step in iterator:
        for group in optimizer.param_groups:  # linear warm-up, then half a cosine down to 0
            group["lr"] = warmup_cosine(step / steps, lr, 0.0, warmup / steps)
        # a batch of scenes, flipped left-right at random (the same flip for every modality)
        index = torch.randint(0, len(first), (batch_size,), generator=data_gen)
        flip = torch.rand(batch_size, generator=data_gen) < 0.5
        batch = {m: torch.where(flip.view(-1, 1, 1, 1), x[index].flip(-1), x[index]) for m, x in data.items()}
        # the mask: Dirichlet shares of the budget, or one random count for a single modality
        if len(modalities) > 1:
            mask, _ = joint_mask(batch_size, [n_tokens] * len(modalities), budget, alpha, generator=mask_gen)
        else:
            count = int(torch.randint(0, budget + 1, (), generator=mask_gen))
            counts = torch.full((batch_size, 1), count)
            mask = Mask.from_hidden(~_modality_visible(counts, n_tokens, [mask_gen]), None, "random count")
        # forward, loss on hidden patches of every modality, step
        preds = model(batch, mask)
        losses = modality_losses(preds, model.targets(batch), model.hidden_by_modality(mask))
        loss = sum(losses.values())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        history.append({"step": step, "loss": loss.item(), **{m: v.item() for m, v in losses.items()}})
    model.eval()
    return TrainResult(model, history, time.perf_counter() - start)


# ---------------------------------------------------------------------- evaluation and the baseline
def mean_map(scenes: Mapping[str, torch.Tensor], name: str = "depth") -> torch.Tensor:
    """The trivial baseline: the average map of a modality over the training scenes, ``[C, H, W]``."""
    return scenes[name].mean(0)


@torch.no_grad()
def evaluate(
    model: MultiMAE | torch.Tensor,
    scenes: Mapping[str, torch.Tensor],
    visible: Mapping[str, int],
    target: str = "depth",
    seed: int = 0,
    patch_size: int = 4,
    batch_size: int = 250,
) -> float:
    """Mean squared error on the hidden patches of ``target``, every scene with the same counts.

    ``visible`` says how many tokens of each modality the model sees (``{"rgb": 32, "depth": 0}``).
    ``model`` may also be a fixed map ``[C, H, W]`` (a baseline such as :func:`mean_map`, cut into
    ``patch_size`` patches): it is scored on the same hidden patches a model would be.
    """
    fixed = isinstance(model, torch.Tensor)
    names = [target] if fixed else model.names
    p = patch_size if fixed else model.config.patch_size
    num_tokens = (scenes[target].shape[-2] // p) * (scenes[target].shape[-1] // p)
    counts = {target: visible.get(target, 0)} if fixed else visible
    total, count = 0.0, 0.0
    for begin in range(0, len(scenes[target]), batch_size):
        batch = {k: v[begin : begin + batch_size] for k, v in scenes.items()}
        mask = visible_mask(names, counts, num_tokens, len(batch[target]), seed + begin)
        hidden = mask.hidden.split(num_tokens, dim=1)[names.index(target)]  # [B, N]
        truth = patchify(batch[target], p)  # [B, N, p*p*C]
        pred = patchify(model.expand_as(batch[target]), p) if fixed else model(batch, mask)[target]
        per_patch = ((pred - truth) ** 2).mean(-1)  # [B, N]
        total += float((per_patch * hidden).sum())
        count += float(hidden.sum())
    return total / max(count, 1.0)
