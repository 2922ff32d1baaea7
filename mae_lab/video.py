"""Masked autoencoders for video: tubelets, tube masking, and a decoder that reconstructs less.

VideoMAE (Tong et al., 2022, "VideoMAE: Masked Autoencoders are Data-Efficient Learners for
Self-Supervised Video Pre-Training") cuts a clip into *tubelets* -- ``2 x 16 x 16`` cubes of
pixels, one token each -- and trains an MAE on them.  Neighbouring frames are nearly the same,
so a patch hidden in one frame but visible in the next can simply be copied: the task leaks.
VideoMAE therefore hides the same spatial positions in every frame (*tube masking*) and can
hide 90-95 % of the tokens.  VideoMAE V2 (Wang et al., 2023, "VideoMAE V2: Scaling Video
Masked Autoencoders with Dual Masking") adds *decoder masking*: the decoder reconstructs only
a subset of the hidden tokens (half of them, chosen by a "running cell" pattern in the paper;
a random half here), which cuts the decoder's compute and memory.

Everything here is small enough for a CPU: clips of scikit-learn digits (enlarged to 16 x 16 px)
drifting across a ``24 x 24`` canvas for 8 frames (labels: which digit, which direction), a ViT built from
:class:`mae_lab.models.vit.Block`, the masks from :mod:`mae_lab.masking` (``tube`` and the
leaky ``frame_random``), a flat training loop and a kNN probe.

Shapes: clips ``[B, C, T, H, W]`` in ``[0, 1]``; grid ``(T', h, w) = (T/t, H/p, W/p)``;
tokens ``[B, N, D]`` with ``N = T' * h * w`` numbered time-major, as the video maskers number them.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .masking import Mask, make_mask
from .models.vit import Block, keep_tokens
from .patches import sincos_pos_embed_1d, sincos_pos_embed_2d
from .probe import knn_probe
from .schedules import one_cycle

__all__ = [
    "DIRECTIONS", "ClipDataset", "VideoMAE", "VideoMAEConfig", "VideoRun", "clip_features", "clip_strip",
    "copy_from_neighbours", "decoder_cost", "decoder_queries", "hidden_patch_error", "knn_accuracy",
    "leak_map", "leak_rate", "make_clips", "png_bytes", "spacetime_pos_embed", "train_video_mae",
    "tubelet_patchify", "tubelet_unpatchify", "video_grid",
]

DIRECTIONS = ("right", "left", "down", "up")
_STEP = {"right": (0, 1), "left": (0, -1), "down": (1, 0), "up": (-1, 0)}  # (rows, columns) per frame


# ---------------------------------------------------------------------- clips
@dataclass
class ClipDataset:
    """Labelled clips: ``clips [n, 1, T, H, W]`` in [0, 1], ``digits [n]`` (0-9), ``directions [n]`` (0-3)."""

    clips: torch.Tensor
    digits: torch.Tensor
    directions: torch.Tensor

    def __len__(self) -> int:
        return self.clips.shape[0]

    def labels(self, kind: str) -> torch.Tensor:
        """``"digit"`` or ``"direction"`` labels, long ``[n]``."""
        if kind not in ("digit", "direction"):
            raise ValueError(f"label kind must be 'digit' or 'direction', got {kind!r}")
        return self.digits if kind == "digit" else self.directions

    def __repr__(self) -> str:
        n, c, t, h, w = self.clips.shape
        return f"ClipDataset({n} clips of {t} frames, {c}x{h}x{w} px; labels: digit (10), direction (4))"


@lru_cache(maxsize=1)
def _all_digits() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits  # ships with scikit-learn: always offline

    digits = load_digits()
    return torch.tensor(digits.images, dtype=torch.float32) / 16.0, torch.tensor(digits.target)  # [1797, 8, 8]


def _digit_split(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 1,797 digits ``[m, 8, 8]`` in [0, 1] and labels; a fixed 80/20 train/test split."""
    if split not in ("train", "test", "val"):
        raise ValueError(f"split must be 'train' or 'test' ('val' is an alias of 'test'), got {split!r}")
    images, targets = _all_digits()
    order = torch.randperm(len(targets), generator=torch.Generator().manual_seed(0))
    cut = int(0.8 * len(order))
    rows = order[:cut] if split == "train" else order[cut:]
    return images[rows], targets[rows]  # indexing copies: the cache is never changed


def make_clips(n: int, split: str = "train", frames: int = 8, size: int = 24, speed: int = 1,
               digit_size: int = 16, seed: int = 0) -> ClipDataset:
    """``n`` clips of one digit (``digit_size`` px, upscaled from 8x8) moving ``speed`` px per frame
    in one of four directions.

    Digit images come from a fixed split of scikit-learn's digits, so ``"train"`` and ``"test"``
    clips never share a digit image.  The start is random but keeps the digit on the canvas for
    every frame.  Deterministic: the same arguments give the same clips.
    """
    travel, d = (frames - 1) * speed, digit_size
    if size - d < travel:
        raise ValueError(f"a {d}-px digit moving {speed} px/frame for {frames} frames needs a canvas of at least "
                         f"{d + travel} px, got size={size}; enlarge size or lower speed/frames/digit_size")
    images, targets = _digit_split(split)
    if d != 8:
        images = F.interpolate(images[:, None], size=(d, d), mode="bilinear", align_corners=False)[:, 0]
    gen = torch.Generator().manual_seed(seed)
    pick = torch.randint(0, len(images), (n,), generator=gen)
    direction = torch.randint(0, len(DIRECTIONS), (n,), generator=gen)
    steps = torch.tensor([_STEP[name] for name in DIRECTIONS])[direction]  # [n, 2] (drow, dcol)
    free = torch.randint(0, size - d + 1, (n, 2), generator=gen)  # anywhere across the motion
    along = torch.randint(0, size - d - travel + 1, (n, 2), generator=gen)  # room to travel
    start = torch.where(steps == 0, free, torch.where(steps > 0, along, along + travel))  # [n, 2]
    t = torch.arange(frames)
    top = start[:, :1] + steps[:, :1] * speed * t  # [n, T]
    left = start[:, 1:] + steps[:, 1:] * speed * t  # [n, T]
    offs = torch.arange(d)
    rows = (top[:, :, None, None] + offs[:, None]).expand(n, frames, d, d)  # [n, T, d, d]
    cols = (left[:, :, None, None] + offs[None, :]).expand(n, frames, d, d)  # [n, T, d, d]
    clips = torch.zeros(n, frames, size, size)
    sample = torch.arange(n)[:, None, None, None].expand_as(rows)
    frame = t[None, :, None, None].expand_as(rows)
    clips[sample, frame, rows, cols] = images[pick][:, None].expand(n, frames, d, d)
    return ClipDataset(clips.unsqueeze(1), targets[pick], direction)  # clips [n, 1, T, H, W]


# ---------------------------------------------------------------------- tubelets and positions
def video_grid(frames: int, size: int, tubelet: int, patch_size: int) -> tuple[int, int, int]:
    """Tubelets per axis ``(T/t, H/p, W/p)``; a ``ValueError`` names the size that does not divide."""
    if frames % tubelet:
        raise ValueError(f"{frames} frames do not split into tubelets of {tubelet}; use a divisor of {frames}")
    if size % patch_size:
        raise ValueError(f"a {size}-px frame does not split into {patch_size}-px patches; use a divisor of {size}")
    return frames // tubelet, size // patch_size, size // patch_size


def tubelet_patchify(clips: torch.Tensor, tubelet: int, patch_size: int) -> torch.Tensor:
    """``[B, C, T, H, W] -> [B, N, t*p*p*C]``: one token per ``t x p x p`` cube, time-major.

    Inside a token the values are ordered ``(time, row, column, channel)``, as in VideoMAE.
    """
    if clips.ndim != 5:
        raise ValueError(f"clips must be [B, C, T, H, W], got shape {tuple(clips.shape)}")
    b, c, frames, height, width = clips.shape
    if height != width:
        raise ValueError(f"frames must be square, got {height}x{width}")
    nt, nh, nw = video_grid(frames, height, tubelet, patch_size)
    t, p = tubelet, patch_size
    x = clips.reshape(b, c, nt, t, nh, p, nw, p)  # [B, C, T', t, h, p, w, p]
    x = x.permute(0, 2, 4, 6, 3, 5, 7, 1)  # [B, T', h, w, t, p, p, C]
    return x.reshape(b, nt * nh * nw, t * p * p * c)  # [B, N, t*p*p*C]


def tubelet_unpatchify(tokens: torch.Tensor, tubelet: int, patch_size: int, grid: tuple[int, int, int],
                       channels: int = 1) -> torch.Tensor:
    """Inverse of :func:`tubelet_patchify`: ``[B, N, t*p*p*C] -> [B, C, T, H, W]``."""
    b, n, dim = tokens.shape
    nt, nh, nw = grid
    t, p = tubelet, patch_size
    if n != nt * nh * nw or dim != t * p * p * channels:
        raise ValueError(f"tokens {tuple(tokens.shape)} do not fit grid {grid} with tubelet {t}, patch {p}, "
                         f"{channels} channel(s): expected [B, {nt * nh * nw}, {t * p * p * channels}]")
    x = tokens.reshape(b, nt, nh, nw, t, p, p, channels)  # [B, T', h, w, t, p, p, C]
    x = x.permute(0, 7, 1, 4, 2, 5, 3, 6)  # [B, C, T', t, h, p, w, p]
    return x.reshape(b, channels, nt * t, nh * p, nw * p)


def spacetime_pos_embed(dim: int, grid: tuple[int, int, int]) -> np.ndarray:
    """Fixed space-time sine-cosine positions ``[T'*h*w, dim]``: half the channels say *where*
    (MAE's 2-D embedding of row and column), half say *when* (a 1-D embedding of the time slot).

    VideoMAE itself uses one 1-D sine-cosine table over the flattened token index; splitting
    space and time keeps "same place, next slot" visible in the numbers.
    """
    if dim % 8:
        raise ValueError(f"dim must be divisible by 8 (4 for space, 2 for time, halves), got {dim}; try {dim // 8 * 8 or 8}")
    nt, nh, nw = grid
    space = sincos_pos_embed_2d(dim // 2, (nh, nw))  # [h*w, D/2]
    when = sincos_pos_embed_1d(dim // 2, np.arange(nt))  # [T', D/2]
    space = np.tile(space, (nt, 1))  # [T'*h*w, D/2]: slot 0's positions, then slot 1's, ...
    when = np.repeat(when, nh * nw, axis=0)  # [T'*h*w, D/2]
    return np.concatenate([space, when], axis=1).astype(np.float32)


# ---------------------------------------------------------------------- the model
@dataclass
class VideoMAEConfig:
    """Sizes of a :class:`VideoMAE`; the defaults are a CPU-sized model for 8-frame 24x24 clips."""

    frames: int = 8
    image_size: int = 24
    channels: int = 1
    tubelet: int = 2
    patch_size: int = 4
    embed_dim: int = 64
    depth: int = 4
    num_heads: int = 4
    decoder_embed_dim: int = 32
    decoder_depth: int = 2
    decoder_num_heads: int = 2
    mlp_ratio: float = 4.0

    @property
    def grid(self) -> tuple[int, int, int]:
        return video_grid(self.frames, self.image_size, self.tubelet, self.patch_size)

    @property
    def num_patches(self) -> int:
        nt, nh, nw = self.grid
        return nt * nh * nw

    @property
    def target_dim(self) -> int:
        return self.tubelet * self.patch_size**2 * self.channels


@dataclass
class VideoMAEOutput:
    """``loss`` (scalar, on the decoded hidden tokens), ``pred [B, Q, t*p*p*C]`` for the tokens in
    ``queries [B, Q]``, ``target [B, N, t*p*p*C]`` (every token) and the ``mask`` used."""

    loss: torch.Tensor
    pred: torch.Tensor
    queries: torch.Tensor
    target: torch.Tensor
    mask: Mask


class VideoMAE(nn.Module):
    """A small VideoMAE: tubelet embedding, encoder on visible tokens, light decoder, loss on hidden tokens.

    No class token (VideoMAE has none); :meth:`features` averages the encoder's tokens.
    """

    def __init__(self, config: VideoMAEConfig | None = None, seed: int = 0):
        super().__init__()
        c = self.config = config or VideoMAEConfig()
        self.grid, self.num_patches = c.grid, c.num_patches
        with torch.random.fork_rng(devices=[]):  # seeded weights, the caller's RNG untouched
            torch.manual_seed(seed)
            # encoder: a Conv3d with kernel = stride = (t, p, p) is this linear map of flattened tubelets
            self.patch_embed = nn.Linear(c.target_dim, c.embed_dim)
            self.register_buffer("pos_embed", torch.from_numpy(spacetime_pos_embed(c.embed_dim, c.grid))[None])
            self.blocks = nn.ModuleList([Block(c.embed_dim, c.num_heads, c.mlp_ratio) for _ in range(c.depth)])
            self.norm = nn.LayerNorm(c.embed_dim, eps=1e-6)
            # decoder
            self.decoder_embed = nn.Linear(c.embed_dim, c.decoder_embed_dim)
            self.mask_token = nn.Parameter(torch.zeros(1, 1, c.decoder_embed_dim))
            dec_pos = torch.from_numpy(spacetime_pos_embed(c.decoder_embed_dim, c.grid))[None]
            self.register_buffer("decoder_pos_embed", dec_pos)  # [1, N, D_dec]
            self.decoder_blocks = nn.ModuleList(
                [Block(c.decoder_embed_dim, c.decoder_num_heads, c.mlp_ratio) for _ in range(c.decoder_depth)])
            self.decoder_norm = nn.LayerNorm(c.decoder_embed_dim, eps=1e-6)
            self.decoder_pred = nn.Linear(c.decoder_embed_dim, c.target_dim)
            self._init_weights()

    @torch.no_grad()
    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        nn.init.normal_(self.mask_token, std=0.02)

    def make_mask(self, batch_size: int, masker: str = "tube", ratio: float = 0.9, seed=None, generator=None) -> Mask:
        """A mask over this model's ``(T', h, w)`` grid (``"tube"``, ``"frame_random"``, ...)."""
        return make_mask(masker, batch_size, grid=self.grid, ratio=ratio, seed=seed, generator=generator)

    def encode(self, clips: torch.Tensor, mask: Mask | None = None) -> torch.Tensor:
        """``clips [B, C, T, H, W]`` -> latent ``[B, N_vis, D]`` (every token without a mask)."""
        c = self.config
        if tuple(clips.shape[1:]) != (c.channels, c.frames, c.image_size, c.image_size):
            raise ValueError(f"this model takes clips [B, {c.channels}, {c.frames}, {c.image_size}, {c.image_size}], "
                             f"got {tuple(clips.shape)}; make them with make_clips(frames={c.frames}, size={c.image_size})")
        x = self.patch_embed(tubelet_patchify(clips, c.tubelet, c.patch_size)) + self.pos_embed  # [B, N, D]
        if mask is not None:
            x = keep_tokens(x, mask.ids_keep.to(x.device))  # [B, N_vis, D]: hidden tokens are dropped
        for block in self.blocks:
            x, _ = block(x)
        return self.norm(x)

    def decode(self, latent: torch.Tensor, ids_keep: torch.Tensor, queries: torch.Tensor) -> torch.Tensor:
        """Predict the tokens in ``queries [B, Q]`` from ``latent [B, N_vis, D]``: ``[B, Q, t*p*p*C]``.

        The decoder sees the visible tokens and one mask token per *query*, each with its position;
        order does not matter to attention, so the queries simply go last (as in VideoMAE's code).
        """
        batch = latent.shape[0]
        pos = self.decoder_pos_embed.expand(batch, -1, -1)  # [B, N, D_dec]
        visible = self.decoder_embed(latent) + keep_tokens(pos, ids_keep)  # [B, N_vis, D_dec]
        asked = self.mask_token + keep_tokens(pos, queries)  # [B, Q, D_dec]
        x = torch.cat([visible, asked], dim=1)  # [B, N_vis + Q, D_dec]
        for block in self.decoder_blocks:
            x, _ = block(x)
        return self.decoder_pred(self.decoder_norm(x[:, -queries.shape[1]:]))  # [B, Q, t*p*p*C]

    def forward(self, clips: torch.Tensor, mask: Mask, decoder_ratio: float = 0.0,
                generator: torch.Generator | None = None) -> VideoMAEOutput:
        """Encode the visible tokens, decode the hidden ones (a ``1 - decoder_ratio`` share of them,
        VideoMAE V2's decoder masking), mean squared error on the decoded hidden tokens."""
        c = self.config
        mask = mask.to(clips.device)  # masks are drawn on the CPU
        target = tubelet_patchify(clips, c.tubelet, c.patch_size)  # [B, N, t*p*p*C]
        queries = decoder_queries(mask, decoder_ratio, generator)  # [B, Q], all hidden
        pred = self.decode(self.encode(clips, mask), mask.ids_keep, queries)  # [B, Q, t*p*p*C]
        loss = F.mse_loss(pred, keep_tokens(target, queries))
        return VideoMAEOutput(loss, pred, queries, target, mask)

    @torch.no_grad()
    def reconstruct(self, clips: torch.Tensor, mask: Mask) -> torch.Tensor:
        """Visible tokens from the clip, every hidden one from the model: ``[B, C, T, H, W]`` in [0, 1]."""
        out = self(clips, mask)
        tokens = out.target.clone().scatter_(1, out.queries[..., None].expand_as(out.pred), out.pred)
        c = self.config
        return tubelet_unpatchify(tokens, c.tubelet, c.patch_size, self.grid, c.channels).clamp(0, 1)

    @torch.no_grad()
    def features(self, clips: torch.Tensor) -> torch.Tensor:
        """One vector per clip: the mean of the unmasked encoder's tokens, ``[B, D]``."""
        return self.encode(clips).mean(dim=1)


def decoder_queries(mask: Mask, decoder_ratio: float = 0.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """Which hidden tokens the decoder reconstructs, long ``[B, Q]``.

    ``decoder_ratio=0``: all of them (VideoMAE).  Otherwise VideoMAE V2's decoder masking: keep a
    random ``Q = num_hidden - round(num_hidden * decoder_ratio)`` of the hidden tokens.
    """
    if not 0.0 <= decoder_ratio < 1.0:
        raise ValueError(f"decoder_ratio must be in [0, 1), got {decoder_ratio}; 0.5 decodes half the hidden tokens")
    hidden_ids = mask.ids_shuffle[:, mask.num_visible:]  # [B, N_hid]
    if decoder_ratio == 0.0:
        return hidden_ids
    num_hidden = hidden_ids.shape[1]
    keep = max(num_hidden - round(num_hidden * decoder_ratio), 1)
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    order = torch.argsort(torch.rand(hidden_ids.shape, generator=gen), dim=1)[:, :keep]  # [B, Q]
    return torch.gather(hidden_ids, 1, order.to(hidden_ids.device))


# ---------------------------------------------------------------------- the leak
def _slots(hidden: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
    return torch.as_tensor(hidden).bool().reshape(-1, *grid)  # [B, T', h, w]


def leak_map(hidden: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
    """bool ``[B, T', h, w]``: hidden tokens whose position is visible in the slot before or after."""
    h = _slots(hidden, grid)
    seen_next = torch.zeros_like(h)
    seen_next[:, :-1] = ~h[:, 1:]  # visible one slot later
    seen_prev = torch.zeros_like(h)
    seen_prev[:, 1:] = ~h[:, :-1]  # visible one slot earlier
    return h & (seen_next | seen_prev)


def leak_rate(hidden: torch.Tensor, grid: tuple[int, int, int]) -> float:
    """Share of hidden tokens whose same spatial position is visible in an adjacent time slot."""
    return float(leak_map(hidden, grid).sum() / _slots(hidden, grid).sum().clamp(min=1))


def copy_from_neighbours(tokens: torch.Tensor, hidden: torch.Tensor, grid: tuple[int, int, int],
                         fill: float = 0.0) -> torch.Tensor:
    """A model-free guess: each hidden token copies its position from the nearest visible time slot
    (earlier wins a tie), or is ``fill`` (the background) when its position is hidden at every slot.

    ``tokens [B, N, D]``, ``hidden [B, N]`` -> ``[B, N, D]``.
    """
    b, n, d = tokens.shape
    nt = grid[0]
    x = tokens.reshape(b, nt, -1, d)  # [B, T', h*w, D]
    h = _slots(hidden, grid).reshape(b, nt, -1)  # [B, T', h*w]
    out = torch.where(h[..., None], torch.full_like(x, fill), x)
    done = ~h
    for distance in range(1, nt):
        for shift in (-distance, distance):  # earlier slot first
            source = torch.arange(nt) + shift
            ok = (source >= 0) & (source < nt)
            src = source.clamp(0, nt - 1)
            can = ~done & ok[None, :, None] & ~h[:, src]  # [B, T', h*w]
            out = torch.where(can[..., None], x[:, src], out)
            done = done | can
    return out.reshape(b, n, d)


# ---------------------------------------------------------------------- training and evaluation
@dataclass
class VideoRun:
    """A trained :class:`VideoMAE` with how it was trained and its loss per step."""

    model: VideoMAE
    masker: str
    ratio: float
    decoder_ratio: float = 0.0
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    def __repr__(self) -> str:
        last = np.mean([h["loss"] for h in self.history[-20:]]) if self.history else float("nan")
        return f"VideoRun({self.masker} {self.ratio:.0%}, {len(self.history)} steps, loss {last:.4f}, {self.seconds:.0f} s)"


def train_video_mae(data: ClipDataset, masker: str = "tube", ratio: float = 0.9, steps: int = 300,
                    batch_size: int = 32, config: VideoMAEConfig | None = None, lr: float = 2e-3,
                    decoder_ratio: float = 0.0, seed: int = 0, progress: bool = False) -> VideoRun:
    """Pretrain a :class:`VideoMAE` on ``data.clips`` with masks from ``masker`` (labels unused).

    The same ``seed`` gives the same initial weights, batches and masks whatever the masker,
    so two runs differ only in how they hide tokens.
    """
    model = VideoMAE(config, seed=seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.05)
    schedule = one_cycle(optimizer, lr, steps, warmup=0.1)
    data_gen = torch.Generator().manual_seed(seed)
    mask_gen = torch.Generator().manual_seed(seed + 1)
    history, start = [], time.perf_counter()
    iterator = range(steps)
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(iterator, desc=f"VideoMAE, {masker} {ratio:.0%}")
    model.train()
    for step in iterator:
        batch = data.clips[torch.randint(0, len(data), (batch_size,), generator=data_gen)]  # [B, C, T, H, W]
        mask = model.make_mask(batch_size, masker, ratio, generator=mask_gen)
        loss = model(batch, mask, decoder_ratio=decoder_ratio, generator=mask_gen).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        history.append({"step": step, "loss": loss.item()})
    model.eval()
    return VideoRun(model, masker, ratio, decoder_ratio, history, time.perf_counter() - start)


@torch.no_grad()
def hidden_patch_error(model: VideoMAE, data: ClipDataset, masker: str = "tube", ratio: float = 0.9,
                       seed: int = 123, batch_size: int = 128) -> float:
    """Mean squared error on every hidden token of ``data``, masks from ``masker`` (seeded)."""
    gen = torch.Generator().manual_seed(seed)
    total, count = 0.0, 0
    for start in range(0, len(data), batch_size):
        clips = data.clips[start:start + batch_size]
        out = model(clips, model.make_mask(len(clips), masker, ratio, generator=gen))
        total += float(out.loss) * out.pred.numel()
        count += out.pred.numel()
    return total / count


@torch.no_grad()
def clip_features(model: VideoMAE | None, clips: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Encoder features ``[n, D]``, or the raw pixels ``[n, C*T*H*W]`` when ``model`` is None."""
    if model is None:
        return clips.flatten(1)
    return torch.cat([model.features(clips[i:i + batch_size]) for i in range(0, len(clips), batch_size)])


def knn_accuracy(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor,
                 k: int = 20, temperature: float = 0.07) -> float:
    """Weighted kNN on cosine similarity (DINO's probe: k = 20, votes ``exp(sim / 0.07)``): the vote of
    :func:`mae_lab.probe.knn_probe`, the one kNN of the package."""
    return knn_probe(train_x, train_y, test_x, test_y, k=k, temperature=temperature)


# ---------------------------------------------------------------------- decoder masking: compute
def decoder_cost(model: VideoMAE, ratio: float = 0.9, decoder_ratios=(0.0, 0.5, 0.75), batch_size: int = 32,
                 repeats: int = 5, seed: int = 0) -> list[dict]:
    """For each decoder ratio: tokens the decoder sees, its forward FLOPs (counted by
    ``torch.utils.flop_counter``), and milliseconds per training step (forward, backward, AdamW)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    c = model.config
    clips = make_clips(batch_size, frames=c.frames, size=c.image_size, seed=seed).clips  # [B, 1, T, H, W]
    mask = model.make_mask(batch_size, "tube", ratio, seed=seed)
    latent = model.encode(clips, mask).detach()
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.0)  # lr 0: timing must not change the model
    rows = []
    for decoder_ratio in decoder_ratios:
        queries = decoder_queries(mask, decoder_ratio, torch.Generator().manual_seed(seed))
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad(), sdpa_kernel(SDPBackend.MATH):  # plain matmuls, so attention is counted too
            model.decode(latent, mask.ids_keep, queries)
        seconds = []
        for repeat in range(repeats + 1):
            begin = time.perf_counter()
            loss = model(clips, mask, decoder_ratio, torch.Generator().manual_seed(repeat)).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            seconds.append(time.perf_counter() - begin)
        rows.append({"decoder_ratio": decoder_ratio, "decoded": queries.shape[1],
                     "decoder_tokens": mask.num_visible + queries.shape[1],
                     "decoder_gflops": counter.get_total_flops() / 1e9,
                     "step_ms": 1000 * float(np.median(seconds[1:]))})  # the first run warms up
    optimizer.zero_grad(set_to_none=True)
    return rows


# ---------------------------------------------------------------------- pictures
def clip_strip(clip: torch.Tensor, hidden: torch.Tensor | None = None, tubelet: int = 2, patch_size: int = 4,
               scale: int = 6, gap: int = 2, opacity: float = 0.45, leaks: torch.Tensor | None = None,
               frame: int | None = None) -> np.ndarray:
    """One clip ``[C, T, H, W]`` as a row of frames, RGB ``uint8``.

    Hidden tokens (``hidden``, ``[N]`` or ``[T', h, w]``) are painted blue with ``opacity`` (1: what the
    encoder gets; less: see what is under the mask), ``leaks`` (same shape) orange; ``frame``: only that one.
    """
    frames, height = clip.shape[1:3]
    rgb = clip.mean(0, keepdim=True).expand(3, -1, -1, -1).permute(1, 2, 3, 0).numpy().copy()  # [T, H, W, 3]
    grid = video_grid(frames, height, tubelet, patch_size)
    for cells, colour in ((hidden, (0.35, 0.55, 1.0)), (leaks, (1.0, 0.6, 0.1))):
        if cells is None:
            continue
        cells = torch.as_tensor(cells).bool().reshape(grid)
        pix = cells.repeat_interleave(tubelet, 0).repeat_interleave(patch_size, 1).repeat_interleave(patch_size, 2)
        pix = pix.numpy()[..., None]  # [T, H, W, 1]
        rgb = np.where(pix, (1 - opacity) * rgb + opacity * np.asarray(colour), rgb)
    if frame is not None:
        rgb = rgb[frame:frame + 1]
    rgb = rgb.repeat(scale, 1).repeat(scale, 2)
    frames_out = [np.pad(f, ((0, 0), (0, gap), (0, 0)), constant_values=1.0) for f in rgb]
    return (np.concatenate(frames_out, axis=1)[:, :-gap] * 255).round().astype(np.uint8)


def png_bytes(rgb: np.ndarray) -> bytes:
    """PNG bytes of an RGB ``uint8`` array (for ``ipywidgets.Image``)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()
