"""One MAE pretraining step in three implementations: images per second, same math.

A pretraining step is what the masked autoencoder (He et al., 2021, "Masked Autoencoders Are
Scalable Vision Learners") does per batch: draw a random mask (75 % of the patches hidden),
encode the visible patches, decode every patch, take the mean squared error on the hidden
patches, backpropagate and update the weights with AdamW.  The same step, for the same model
shape, batch, mask ratio and precision, is timed in one run for

* **mae_lab** -- :class:`mae_lab.models.MaskedAutoencoder` built from a preset, with the mask
  drawn by ``model.make_mask`` exactly as :func:`mae_lab.train.pretrain` does;
* **transformers** -- Hugging Face ``ViTMAEForPreTraining`` with the equivalent ``ViTMAEConfig``
  (random weights, ``attn_implementation="sdpa"``);
* **timm blocks** -- :class:`TimmBlocksMAE` below: an MAE assembled from timm's ``PatchEmbed``
  and ``Block`` with the layout of the official code (``models_mae.py``): class token, fixed
  2-D sine-cosine positions, argsort random masking, an 8-block decoder, plain-pixel MSE on
  the hidden patches.

Same settings for all: fp32 on the CPU, bf16 autocast on a GPU; AdamW (fused on a GPU) with
weight decay on matrices only; ``--compile`` wraps every model in ``torch.compile``.  Images
are random in [0, 1]; ``mae_base`` normalises them with the ImageNet statistics inside the
model, and the peers get the same normalisation inside their timed step, so all three do the
same work and reconstruct the same targets.

Before timing, the script checks that the math is the same: each peer's weights are copied
into a mae_lab model, which must give the peer's loss on the same images and mask noise; the
trainable parameter counts must agree within 3 %, and the three losses at initialisation (each
with its own initialisation scheme) must be of the same order of magnitude.

Timing: a few warm-up steps, then rounds in which every implementation runs its steps in turn
(so a busy machine slows all of them alike); the median round gives images/s.  Model FLOPs are
counted analytically (every matrix multiply, forward x 3 for forward + backward); on a GPU
they are shown as a fraction of the card's bf16 peak (model FLOPs utilisation, MFU).

    python benchmarks/train_step.py --shape tiny --threads 1          # CPU
    python benchmarks/train_step.py --shape base --batch 4 --threads 1 --markdown
    python benchmarks/train_step.py --device cuda --shape base --compile
    python benchmarks/train_step.py --device cuda --shape tiny --batch 1024 --compile

Peers are optional (``pip install -e .[bench]``); a missing one is skipped with a message.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch
from torch import nn

from mae_lab import convert
from mae_lab.masking.random_masks import mask_from_noise
from mae_lab.models import MAEConfig, MaskedAutoencoder, get_preset
from mae_lab.patches import sincos_pos_embed_2d
from mae_lab.train import param_groups

SHAPES = {"base": "mae_base", "tiny": "mae_tiny"}
MASK_RATIO = 0.75
#: default batch per (shape, device type)
DEFAULT_BATCH = {("base", "cpu"): 4, ("tiny", "cpu"): 128, ("base", "cuda"): 256, ("tiny", "cuda"): 1024}
#: default (warm-up steps, timed rounds, steps per round) per device type
DEFAULT_STEPS = {"cpu": (1, 5, 1), "cuda": (10, 10, 10)}
H100_BF16_DENSE_TFLOPS = 989.0
MFU_GOAL = 0.40
PARAM_TOLERANCE = 0.03  # trainable parameter counts may differ by this fraction
#: largest / smallest loss at initialisation: the same order of magnitude.  Not closer, because
#: transformers initialises linear layers with N(0, 0.02) where the official code (and mae_lab)
#: use xavier-uniform, so its first predictions are smaller; the weight-copy check is the exact one.
LOSS_SPREAD = 5.0
PARITY_RTOL = 1e-4  # peer loss vs. mae_lab with the peer's weights (fp32)


# ---------------------------------------------------------------------- the timm-blocks MAE
class TimmBlocksMAE(nn.Module):
    """MAE built from timm's ``PatchEmbed`` and ``Block``, laid out like the official ``models_mae.py``.

    Parameter names are the official ones (``patch_embed``, ``blocks``, ``decoder_embed``,
    ``mask_token``, ``decoder_blocks``, ``decoder_pred``, ...), so
    :func:`mae_lab.convert.convert_state_dict` with ``source="official"`` maps them onto mae_lab.

    ``forward(images [B, C, H, W], noise [B, N]) -> loss`` (a scalar): patches with the
    smallest noise stay visible.
    """

    def __init__(self, config: MAEConfig, mask_ratio: float = MASK_RATIO):
        super().__init__()
        from timm.models.vision_transformer import Block, PatchEmbed

        norm_layer = partial(nn.LayerNorm, eps=config.norm_eps)
        self.patch_size = config.patch_size
        self.mask_ratio = mask_ratio
        self.patch_embed = PatchEmbed(config.image_size, config.patch_size, config.channels, config.embed_dim)
        grid = tuple(self.patch_embed.grid_size)
        self.num_patches = grid[0] * grid[1]

        # encoder: class token, fixed positions, blocks, final norm
        self.cls_token = nn.Parameter(torch.zeros(1, 1, config.embed_dim))
        self.pos_embed = nn.Parameter(self._sincos(config.embed_dim, grid), requires_grad=False)  # [1, 1+N, D]
        self.blocks = nn.ModuleList([
            Block(config.embed_dim, config.num_heads, config.mlp_ratio, qkv_bias=config.qkv_bias, norm_layer=norm_layer)
            for _ in range(config.depth)
        ])  # fmt: skip
        self.norm = norm_layer(config.embed_dim)

        # decoder: its own width, mask token, positions, blocks, norm and a linear prediction
        width = config.decoder_embed_dim
        self.decoder_embed = nn.Linear(config.embed_dim, width)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, width))
        self.decoder_pos_embed = nn.Parameter(self._sincos(width, grid), requires_grad=False)  # [1, 1+N, D_dec]
        self.decoder_blocks = nn.ModuleList([
            Block(width, config.decoder_num_heads, config.mlp_ratio, qkv_bias=config.qkv_bias, norm_layer=norm_layer)
            for _ in range(config.decoder_depth)
        ])  # fmt: skip
        self.decoder_norm = norm_layer(width)
        self.decoder_pred = nn.Linear(width, config.patch_size**2 * config.channels)
        self._init_weights()

    @staticmethod
    def _sincos(width: int, grid: tuple[int, int]) -> torch.Tensor:
        return torch.from_numpy(sincos_pos_embed_2d(width, grid, cls_token=True)).unsqueeze(0)

    @torch.no_grad()
    def _init_weights(self) -> None:
        """As in the paper's code: xavier-uniform linears (patch projection too), N(0, 0.02) tokens."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        proj = self.patch_embed.proj.weight
        nn.init.xavier_uniform_(proj.view(proj.shape[0], -1))
        nn.init.normal_(self.cls_token, std=0.02)
        nn.init.normal_(self.mask_token, std=0.02)

    def patchify(self, images: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W] -> [B, N, p*p*C]``, values ordered (row, column, channel) inside a patch."""
        p = self.patch_size
        batch, channels, height, width = images.shape
        h, w = height // p, width // p
        x = images.reshape(batch, channels, h, p, w, p)
        x = torch.einsum("bchpwq->bhwpqc", x)
        return x.reshape(batch, h * w, p * p * channels)

    def random_masking(self, tokens: torch.Tensor, noise: torch.Tensor):
        """Keep the patches with the smallest noise: ``tokens [B, N, D]`` -> ``[B, N_vis, D]``, mask, ids_restore."""
        batch, num_patches, width = tokens.shape
        num_keep = int(num_patches * (1 - self.mask_ratio))
        ids_shuffle = torch.argsort(noise, dim=1)  # [B, N]
        ids_restore = torch.argsort(ids_shuffle, dim=1)  # [B, N]
        ids_keep = ids_shuffle[:, :num_keep]  # [B, N_vis]
        visible = torch.gather(tokens, 1, ids_keep.unsqueeze(-1).expand(-1, -1, width))  # [B, N_vis, D]
        mask = torch.ones(batch, num_patches, device=tokens.device)  # 1 = hidden, in shuffled order
        mask[:, :num_keep] = 0
        mask = torch.gather(mask, 1, ids_restore)  # [B, N] in patch order
        return visible, mask, ids_restore

    def forward_encoder(self, images: torch.Tensor, noise: torch.Tensor):
        x = self.patch_embed(images) + self.pos_embed[:, 1:, :]  # [B, N, D]
        x, mask, ids_restore = self.random_masking(x, noise)  # [B, N_vis, D]
        cls = (self.cls_token + self.pos_embed[:, :1, :]).expand(x.shape[0], -1, -1)  # [B, 1, D]
        x = torch.cat([cls, x], dim=1)  # [B, 1+N_vis, D]
        for block in self.blocks:
            x = block(x)
        return self.norm(x), mask, ids_restore

    def forward_decoder(self, latent: torch.Tensor, ids_restore: torch.Tensor) -> torch.Tensor:
        x = self.decoder_embed(latent)  # [B, 1+N_vis, D_dec]
        batch, tokens, width = x.shape
        mask_tokens = self.mask_token.expand(batch, ids_restore.shape[1] + 1 - tokens, -1)  # [B, N_hid, D_dec]
        patches = torch.cat([x[:, 1:, :], mask_tokens], dim=1)  # [B, N, D_dec], shuffled order
        patches = torch.gather(patches, 1, ids_restore.unsqueeze(-1).expand(-1, -1, width))  # patch order
        x = torch.cat([x[:, :1, :], patches], dim=1) + self.decoder_pos_embed  # [B, 1+N, D_dec]
        for block in self.decoder_blocks:
            x = block(x)
        return self.decoder_pred(self.decoder_norm(x))[:, 1:, :]  # [B, N, p*p*C]

    def forward(self, images: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        latent, mask, ids_restore = self.forward_encoder(images, noise)
        pred = self.forward_decoder(latent, ids_restore)  # [B, N, p*p*C]
        per_patch = ((pred - self.patchify(images)) ** 2).mean(dim=-1)  # [B, N]
        return (per_patch * mask).sum() / mask.sum()  # mean over hidden patches


# ---------------------------------------------------------------------- contenders
@dataclasses.dataclass
class Contender:
    """One implementation: its model, how it computes a loss, and where its weights map onto mae_lab."""

    name: str
    model: nn.Module
    #: ``(raw images [B, C, H, W], noise [B, N] or None) -> loss``; with ``None`` the
    #: implementation draws its own random mask, the way its training loop does
    loss_fn: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor] | None
    weights_source: str | None  # convert.convert_state_dict source, None for mae_lab itself
    optimizer: torch.optim.Optimizer | None = None
    forward: nn.Module | None = None  # the (possibly compiled) module loss_fn calls
    generator: torch.Generator | None = None  # where the masks of the timed steps come from
    cpu_masks: bool = False  # masks drawn on the CPU (mae_lab), else on the model's device

    @property
    def trainable_params(self) -> int:
        return sum(p.numel() for p in self.model.parameters() if p.requires_grad)


class PixelNormaliser:
    """The preset's per-channel normalisation for the peers (``mae_base``: ImageNet mean and std).

    mae_lab applies it inside the model; the peers get the same arithmetic in their step.  The
    statistics are moved to the images' device once, not at every step.
    """

    def __init__(self, config: MAEConfig):
        self.mean = self.std = None
        if config.pixel_mean is not None:
            self.mean = torch.tensor(config.pixel_mean).view(1, -1, 1, 1)  # [1, C, 1, 1]
            self.std = torch.tensor(config.pixel_std).view(1, -1, 1, 1)  # [1, C, 1, 1]

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if self.mean is None:
            return images
        if self.mean.device != images.device:
            self.mean, self.std = self.mean.to(images.device), self.std.to(images.device)
        return (images - self.mean) / self.std


def num_hidden(num_patches: int) -> int:
    """Hidden patches per image: the official code keeps ``int(N * (1 - ratio))`` patches."""
    return num_patches - int(num_patches * (1 - MASK_RATIO))


def own_noise(contender: Contender, images: torch.Tensor, num_patches: int) -> torch.Tensor:
    """A peer's mask noise ``[B, N]``, drawn on the images' device as the official code does."""
    return torch.rand(images.shape[0], num_patches, generator=contender.generator, device=images.device)


@contextlib.contextmanager
def seeded(seed: int):
    """Seed torch's global RNG for a block and restore it afterwards (the peers initialise from it)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def build_mae_lab(config: MAEConfig, seed: int) -> Contender:
    model = MaskedAutoencoder(config, seed=seed)
    contender = Contender("mae_lab", model, loss_fn=None, weights_source=None, cpu_masks=True)

    def loss_fn(images: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        if noise is None:  # as mae_lab.train.pretrain does: a CPU generator, then to the device
            mask = model.make_mask(images.shape[0], "random", ratio=MASK_RATIO, generator=contender.generator)
        else:  # the given noise, argsorted like the peers do
            mask = mask_from_noise(noise.cpu(), num_hidden(model.num_patches), grid=model.grid, masker="random")
        return contender.forward(images, mask=mask.to(images.device)).loss

    contender.loss_fn = loss_fn
    return contender


def transformers_config(config: MAEConfig):
    from transformers import ViTMAEConfig

    return ViTMAEConfig(
        image_size=config.image_size, patch_size=config.patch_size, num_channels=config.channels,
        hidden_size=config.embed_dim, num_hidden_layers=config.depth, num_attention_heads=config.num_heads,
        intermediate_size=int(config.embed_dim * config.mlp_ratio),
        decoder_hidden_size=config.decoder_embed_dim, decoder_num_hidden_layers=config.decoder_depth,
        decoder_num_attention_heads=config.decoder_num_heads,
        decoder_intermediate_size=int(config.decoder_embed_dim * config.mlp_ratio),
        hidden_act="gelu", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
        layer_norm_eps=config.norm_eps, qkv_bias=config.qkv_bias, mask_ratio=MASK_RATIO, norm_pix_loss=False,
    )  # fmt: skip


def build_transformers(config: MAEConfig, seed: int) -> Contender:
    from transformers import ViTMAEForPreTraining

    hf_config = transformers_config(config)
    normalise = PixelNormaliser(config)
    with seeded(seed):
        try:
            model = ViTMAEForPreTraining._from_config(hf_config, attn_implementation="sdpa")
        except (ValueError, ImportError):  # an older version without SDPA for ViT-MAE
            model = ViTMAEForPreTraining(hf_config)
    contender = Contender("transformers", model, loss_fn=None, weights_source="transformers")

    def loss_fn(images: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        noise = own_noise(contender, images, config.num_patches) if noise is None else noise
        return contender.forward(pixel_values=normalise(images), noise=noise).loss

    contender.loss_fn = loss_fn
    return contender


def build_timm(config: MAEConfig, seed: int) -> Contender:
    with seeded(seed):
        model = TimmBlocksMAE(config)
    normalise = PixelNormaliser(config)
    contender = Contender("timm blocks", model, loss_fn=None, weights_source="official")

    def loss_fn(images: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        noise = own_noise(contender, images, config.num_patches) if noise is None else noise
        return contender.forward(normalise(images), noise)

    contender.loss_fn = loss_fn
    return contender


PEERS = {"transformers": ("transformers", build_transformers), "timm blocks": ("timm", build_timm)}


def build_contenders(config: MAEConfig, seed: int) -> tuple[list[Contender], list[str]]:
    """mae_lab and every peer whose package imports; the second list explains the skipped ones."""
    contenders, skipped = [build_mae_lab(config, seed)], []
    for label, (package, build) in PEERS.items():
        try:
            importlib.import_module(package)
        except ImportError as err:
            skipped.append(f"{label}: skipped, `{package}` is not installed ({err.msg}); "
                           f"install the peers with `pip install -e .[bench]`")  # fmt: skip
            continue
        contenders.append(build(config, seed))
    for contender in contenders:
        contender.forward = contender.model
    return contenders, skipped


# ---------------------------------------------------------------------- identical math
@torch.no_grad()
def check_same_math(config: MAEConfig, contenders: list[Contender], seed: int) -> list[str]:
    """Assert the implementations compute the same thing; return a few lines saying what was checked.

    * trainable parameter counts within ``PARAM_TOLERANCE`` of mae_lab's;
    * losses at initialisation on the same images and noise within a factor ``LOSS_SPREAD``;
    * each peer's loss equals the loss of a mae_lab model holding the peer's weights (fp32).
    """
    generator = torch.Generator().manual_seed(seed + 1)
    images = torch.rand(2, config.channels, config.image_size, config.image_size, generator=generator)
    num_patches = config.num_patches
    noise = torch.rand(2, num_patches, generator=generator)  # [2, N]
    reference = contenders[0]
    lines = []
    losses = {}
    for contender in contenders:
        contender.model.eval()
        losses[contender.name] = float(contender.loss_fn(images, noise))
        contender.model.train()
        ratio = contender.trainable_params / reference.trainable_params
        assert abs(ratio - 1) <= PARAM_TOLERANCE, (
            f"{contender.name} has {contender.trainable_params:,} trainable parameters, mae_lab "
            f"{reference.trainable_params:,}: the models do not have the same shape"
        )
        if contender.weights_source is None:
            continue
        twin = MaskedAutoencoder(config, seed=seed)
        convert.load_weights(twin, contender.model.state_dict(), source=contender.weights_source)
        twin_mask = mask_from_noise(noise, num_hidden(num_patches), grid=config.grid)
        twin_loss = float(twin(images, mask=twin_mask).loss)
        assert math.isclose(twin_loss, losses[contender.name], rel_tol=PARITY_RTOL), (
            f"{contender.name} loss {losses[contender.name]:.6f} but mae_lab with its weights gives "
            f"{twin_loss:.6f}: the implementations do not compute the same function"
        )
        lines.append(f"{contender.name}: loss {losses[contender.name]:.6f}, mae_lab with its weights "
                     f"{twin_loss:.6f} (same to {PARITY_RTOL:g})")  # fmt: skip
    spread = max(losses.values()) / min(losses.values())
    assert spread <= LOSS_SPREAD, f"losses at initialisation differ by {spread:.2f}x: {losses}"
    lines.insert(0, "losses at initialisation (same images and mask): "
                 + ", ".join(f"{name} {value:.4f}" for name, value in losses.items()))  # fmt: skip
    return lines


# ---------------------------------------------------------------------- FLOPs
def block_flops(tokens: int, width: int, mlp_ratio: float) -> int:
    """Matrix-multiply FLOPs of one transformer block's forward pass on ``tokens`` tokens."""
    hidden = int(width * mlp_ratio)
    linear = 2 * tokens * width * (3 * width + width + 2 * hidden)  # qkv, proj, fc1, fc2
    attention = 2 * 2 * tokens * tokens * width  # q k^T and probs @ v
    return linear + attention


def flops_per_image(config: MAEConfig, ratio: float = MASK_RATIO) -> int:
    """Model FLOPs of one training step per image: 3 x the forward matrix multiplies.

    Forward: patch projection on all ``N`` patches, encoder blocks on ``1 + N_vis`` tokens,
    decoder embedding, decoder blocks on ``1 + N`` tokens, prediction layer.  The backward
    pass costs about twice the forward one.
    """
    n = config.num_patches
    visible = int(n * (1 - ratio))
    patch_values = config.patch_size**2 * config.channels
    forward = 2 * n * patch_values * config.embed_dim  # patch projection
    forward += config.depth * block_flops(1 + visible, config.embed_dim, config.mlp_ratio)
    forward += 2 * (1 + visible) * config.embed_dim * config.decoder_embed_dim  # decoder embedding
    forward += config.decoder_depth * block_flops(1 + n, config.decoder_embed_dim, config.mlp_ratio)
    forward += 2 * (1 + n) * config.decoder_embed_dim * patch_values  # prediction
    return 3 * forward


# ---------------------------------------------------------------------- timing
def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)




def prepare(contender: Contender, device: torch.device, compile_model: bool, seed: int) -> None:
    """Move to ``device``, make the optimizer, compile if asked, seed the mask generator."""
    contender.model.to(device).train()
    mask_device = torch.device("cpu") if contender.cpu_masks else device
    contender.generator = torch.Generator(device=mask_device).manual_seed(seed)
    fused = {"fused": True} if device.type == "cuda" else {}
    contender.optimizer = torch.optim.AdamW(param_groups(contender.model), lr=1.5e-4, betas=(0.9, 0.95), **fused)
    contender.forward = torch.compile(contender.model) if compile_model else contender.model


def train_step(contender: Contender, images: torch.Tensor, amp: bool) -> torch.Tensor:
    """Draw a random mask, forward, backward and AdamW update; returns the loss (not synchronised)."""
    with torch.autocast(images.device.type, dtype=torch.bfloat16, enabled=amp):
        loss = contender.loss_fn(images, None)
    contender.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    contender.optimizer.step()
    return loss.detach()


def time_contenders(contenders: list[Contender], images: torch.Tensor, amp: bool, warmup: int, rounds: int,
                    steps: int) -> dict[str, dict[str, list[float]]]:  # fmt: skip
    """Images/s of every round of ``steps`` steps, per implementation, the implementations taking turns.

    Returns ``{name: {"wall": [...], "cpu": [...]}}``: images per wall-clock second and per second
    of this process's CPU time (the second hardly depends on what other programs do; it only
    means something for CPU runs).
    """
    device = images.device
    for contender in contenders:
        for _ in range(warmup):
            train_step(contender, images, amp)
    synchronize(device)
    rates = {c.name: {"wall": [], "cpu": []} for c in contenders}
    for _ in range(rounds):
        for contender in contenders:
            synchronize(device)
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(steps):
                train_step(contender, images, amp)
            synchronize(device)
            images_done = steps * images.shape[0]
            rates[contender.name]["wall"].append(images_done / (time.perf_counter() - wall))
            rates[contender.name]["cpu"].append(images_done / max(time.process_time() - cpu, 1e-9))
    return rates


# ---------------------------------------------------------------------- report
def cpu_name() -> str:
    """The processor's model name (from /proc/cpuinfo on Linux), else what ``platform`` knows."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def load_average() -> float | None:
    """The 1-minute load average (how many programs want a core), where the system reports one."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def describe_device(device: torch.device, load_at_start: float | None = None) -> str:
    """The GPU's name, or the CPU's with threads, cores and the load average before and after timing."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    threads = torch.get_num_threads()
    load = ""
    if load_at_start is not None:
        load = f", load average {load_at_start:.1f} at the start, {load_average():.1f} at the end"
    return f"CPU ({cpu_name()}, {os.cpu_count()} cores{load}), {threads} thread{'s' if threads != 1 else ''}"


def make_rows(contenders: list[Contender], rates: dict[str, dict[str, list[float]]], config: MAEConfig,
              device: torch.device, peak_tflops: float) -> list[dict]:  # fmt: skip
    """One row per implementation: median images/s, mae_lab's ratio to it, FLOP/s, MFU, parameters."""
    flops = flops_per_image(config)
    on_cpu = device.type == "cpu"
    ours = {clock: statistics.median(rates["mae_lab"][clock]) for clock in ("wall", "cpu")}
    rows = []
    for contender in contenders:
        rate = statistics.median(rates[contender.name]["wall"])
        cpu_rate = statistics.median(rates[contender.name]["cpu"])
        rows.append({
            "implementation": contender.name,
            "images_per_sec": rate,
            "ratio": ours["wall"] / rate,
            "images_per_cpu_sec": cpu_rate if on_cpu else None,
            "cpu_ratio": ours["cpu"] / cpu_rate if on_cpu else None,
            "gflops": rate * flops / 1e9,
            "mfu": None if on_cpu else rate * flops / (peak_tflops * 1e12),
            "params": contender.trainable_params,
        })  # fmt: skip
    return rows


HEADER = ["implementation", "images/s", "mae_lab / this", "images/CPU-s", "mae_lab / this (CPU time)",
          "achieved GFLOP/s", "MFU", "trainable params"]


def _cell(value, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def format_table(rows: list[dict], markdown: bool) -> str:
    """The rows as aligned text or as a markdown table."""
    body = [[r["implementation"], f"{r['images_per_sec']:.2f}", f"{r['ratio']:.2f}x",
             _cell(r["images_per_cpu_sec"], ".2f"), _cell(r["cpu_ratio"], ".2f") + ("x" if r["cpu_ratio"] else ""),
             f"{r['gflops']:.1f}", _cell(r["mfu"], ".1%"), f"{r['params'] / 1e6:.2f}M"] for r in rows]  # fmt: skip
    if markdown:
        lines = ["| " + " | ".join(HEADER) + " |", "| --- |" + " ---: |" * (len(HEADER) - 1)]
        return "\n".join(lines + ["| " + " | ".join(cells) + " |" for cells in body])
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(HEADER)]
    return "\n".join("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths)))
                     for line in [HEADER, *body])  # fmt: skip


def verdict(rows: list[dict], device: torch.device, shape: str, peak_tflops: float) -> list[str]:
    ours = rows[0]
    peers = rows[1:]
    lines = []
    if peers:
        fastest = max(peers, key=lambda r: r["images_per_sec"])
        goal = 1.3 if device.type == "cuda" else 1.0
        met = ours["images_per_sec"] / fastest["images_per_sec"] >= goal
        lines.append(f"wall clock: mae_lab / fastest peer ({fastest['implementation']}) = {fastest['ratio']:.3f}x "
                     f"(goal >= {goal:g}x on {'a GPU' if device.type == 'cuda' else 'the CPU'}: "
                     f"{'met' if met else 'NOT met'})")  # fmt: skip
        if fastest["cpu_ratio"] is not None:
            by_cpu = max(peers, key=lambda r: r["images_per_cpu_sec"])
            lines.append(f"by CPU time: mae_lab / fastest peer ({by_cpu['implementation']}) = "
                         f"{by_cpu['cpu_ratio']:.3f}x")  # fmt: skip
    else:
        lines.append("no peer could run, so there is nothing to compare with")
    if device.type == "cuda" and shape == "base":
        met = ours["mfu"] >= MFU_GOAL
        lines.append(f"mae_lab model FLOPs utilisation {ours['mfu']:.1%} of {peak_tflops:g} bf16 TFLOP/s "
                     f"(goal >= {MFU_GOAL:.0%}: {'met' if met else 'NOT met'})")  # fmt: skip
    return lines


def describe_run(args: argparse.Namespace, config: MAEConfig, batch: int, device: torch.device,
                 schedule: tuple[int, int, int], load_at_start: float | None) -> str:  # fmt: skip
    """One line with everything needed to repeat the measurement."""
    warmup, rounds, steps = schedule
    precision = "bf16 autocast" if device.type == "cuda" else "fp32"
    shape = (f"{args.shape} ({config.preset}: {config.image_size} px, patch {config.patch_size}, encoder "
             f"{config.depth}x{config.embed_dim}, decoder {config.decoder_depth}x{config.decoder_embed_dim})")
    settings = (f"batch {batch}, mask ratio {MASK_RATIO}, {precision}, "
                f"AdamW{' (fused)' if device.type == 'cuda' else ''}{', torch.compile' if args.compile else ''}")
    where = f"{describe_device(device, load_at_start)}, torch {torch.__version__}"
    timing = f"median of {rounds} round(s) x {steps} step(s) after {warmup} warm-up step(s)"
    return f"{shape}, {settings}; {where}; {timing}; {flops_per_image(config) / 1e9:.2f} GFLOP per image per step"


def run(args: argparse.Namespace) -> list[dict]:
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device here; run with --device cpu")
    config = get_preset(SHAPES[args.shape])
    batch = args.batch or DEFAULT_BATCH[(args.shape, device.type)]
    warmup, rounds, steps = DEFAULT_STEPS[device.type]
    warmup = warmup if args.warmup is None else args.warmup
    rounds = rounds if args.rounds is None else args.rounds
    steps = steps if args.steps is None else args.steps
    amp = device.type == "cuda"

    contenders, skipped = build_contenders(config, args.seed)
    for line in skipped:
        print(line)
    for line in check_same_math(config, contenders, args.seed):
        print(line)
    for contender in contenders:
        prepare(contender, device, args.compile, args.seed)

    generator = torch.Generator().manual_seed(args.seed)
    images = torch.rand(batch, config.channels, config.image_size, config.image_size, generator=generator).to(device)
    load_at_start = load_average()
    rates = time_contenders(contenders, images, amp, warmup, rounds, steps)
    rows = make_rows(contenders, rates, config, device, args.peak_tflops)

    title = describe_run(args, config, batch, device, (warmup, rounds, steps), load_at_start)
    print(f"\n### {title}\n" if args.markdown else f"\n{title}\n")
    print(format_table(rows, args.markdown))
    print()
    for line in verdict(rows, device, args.shape, args.peak_tflops):
        print(line)
    return rows


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="tiny",
                        help="base: ViT-B/16 at 224 px, 512x8 decoder; tiny: the mae_tiny preset (32 px, patch 4)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=None, help="default: base 4 / tiny 128 on CPU, 256 / 1024 on GPU")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps per implementation")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds (the median is reported)")
    parser.add_argument("--steps", type=int, default=None, help="steps per implementation per round")
    parser.add_argument("--compile", action="store_true", help="torch.compile every model")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's choice)")
    parser.add_argument("--peak-tflops", type=float, default=H100_BF16_DENSE_TFLOPS,
                        help="the card's dense bf16 peak for MFU (default: H100 SXM, 989)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--markdown", action="store_true", help="print a markdown table for RESULTS.md")
    return parser  # fmt: skip


def main(argv: list[str] | None = None) -> list[dict]:
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    return run(args)


if __name__ == "__main__":
    main()
