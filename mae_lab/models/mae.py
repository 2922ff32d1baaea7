"""The masked autoencoder, in three readable steps: encode, decode, loss.

He et al., 2021, "Masked Autoencoders Are Scalable Vision Learners" (MAE):

1. **encode** — cut the image into patches, hide most of them, and run the ViT encoder on
   the *visible* patches only (with a 75 % mask the encoder sees a quarter of the tokens,
   which is where MAE's speed comes from);
2. **decode** — a small transformer gets the encoded visible tokens plus one shared,
   learned *mask token* for every hidden patch, puts them back in image order, adds its
   own positions and predicts a target for every patch;
3. **loss** — mean squared error between prediction and target, averaged over the
   *hidden* patches only.

A second design, SimMIM (Xie et al., 2022, "SimMIM: A Simple Framework for Masked Image
Modeling"), is built from the same parts with ``design="simmim"``: hidden patch embeddings
are replaced by a learned mask token *before* the encoder, the encoder sees all ``N``
tokens, and a single linear layer predicts every patch; the loss is the mean absolute
error (L1, as in the SimMIM paper) on hidden patches.  Comparing both on the same data
shows why dropping tokens matters.

A third, masked frequency modeling (Xie et al., 2023, "Masked Frequency Modeling for
Self-Supervised Visual Pre-Training"), is ``design="mfm"``: no patch is hidden.  Its "mask"
is a :class:`~mae_lab.frequency.FrequencyMask` (a low- or high-pass filter per image); the
encoder sees every token of the filtered image, a linear head predicts the image, and the
loss compares the spectra of prediction and image on the removed frequencies
(:func:`~mae_lab.frequency.frequency_loss`).

Images go in as ``[B, C, H, W]`` in ``[0, 1]``; when the config has ``pixel_mean`` /
``pixel_std`` (the official ImageNet models do) the model normalises them itself, and the
targets are computed on the normalised images, as in the official code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..frequency import FrequencyMask, apply_frequency_mask, draw_frequency_mask, frequency_loss
from ..masking import Mask, make_mask
from ..patches import patchify, sincos_pos_embed_2d, unpatchify
from ..targets import compute_target, get_target, patch_mean_std
from .config import MAEConfig
from .vit import Block, ViTEncoder, keep_tokens, run_blocks

__all__ = ["MAEDecoder", "MAEOutput", "MaskedAutoencoder", "Reconstruction", "SimMIMHead"]



# ---------------------------------------------------------------------- outputs
@dataclass
class MAEOutput:
    """What :meth:`MaskedAutoencoder.forward` returns.

    Attributes:
        loss: scalar, the loss on hidden patches (MFM: on the removed frequencies).
        pred: ``[B, N, target_dim]``, a prediction for every patch (visible ones too).
        mask: the :class:`~mae_lab.masking.Mask` used (``hidden`` is ``[B, N]``); for MFM the
            :class:`~mae_lab.frequency.FrequencyMask` (``removed`` is ``[B, H, W]``).
        target: ``[B, N, target_dim]``, what ``pred`` was compared with.
        latent: encoder output ``[B, 1 + N_vis, D]`` (``[B, 1 + N, D]`` for SimMIM).
        attentions: with ``return_attention=True``, one ``[B, heads, T, T]`` per encoder block.
    """

    loss: torch.Tensor
    pred: torch.Tensor
    mask: Mask | FrequencyMask
    target: torch.Tensor
    latent: torch.Tensor
    attentions: list[torch.Tensor] | None = None


@dataclass
class Reconstruction:
    """Images for showing what the model saw and what it guessed, all ``[B, C, H, W]`` in ``[0, 1]``.

    Attributes:
        original: the input images.
        masked_input: the input with hidden patches filled with grey.
        reconstruction: the prediction for every patch as an image (``None`` for non-pixel targets).
        pasted: visible patches from the input, hidden ones from the prediction (``None`` likewise).
        patch_error: ``[B, N]`` the loss of each patch, in target space.
        mask: the mask used.
    """

    original: torch.Tensor
    masked_input: torch.Tensor
    reconstruction: torch.Tensor | None
    pasted: torch.Tensor | None
    patch_error: torch.Tensor
    mask: Mask | None = field(default=None, repr=False)


# ---------------------------------------------------------------------- decoders
class MAEDecoder(nn.Module):
    """MAE's light decoder: visible latents + mask tokens -> a prediction for every patch.

    Attributes (official names without the ``decoder_`` prefix):
        embed: ``Linear(D, D_dec)``; mask_token: ``[1, 1, D_dec]``; pos_embed: buffer
        ``[1, 1 + N, D_dec]`` (fixed sine-cosine); blocks; norm; pred: ``Linear(D_dec, target_dim)``.
    """

    def __init__(self, grid, embed_dim, decoder_embed_dim, depth, num_heads, mlp_ratio, qkv_bias, norm_eps,
                 out_dim):
        super().__init__()
        self.grid = tuple(grid)
        self.num_patches = self.grid[0] * self.grid[1]
        self.embed = nn.Linear(embed_dim, decoder_embed_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_embed_dim))
        pos = torch.from_numpy(sincos_pos_embed_2d(decoder_embed_dim, self.grid, cls_token=True))
        self.register_buffer("pos_embed", pos.unsqueeze(0))  # [1, 1+N, D_dec]
        self.blocks = nn.ModuleList(
            [Block(decoder_embed_dim, num_heads, mlp_ratio, qkv_bias, norm_eps) for _ in range(depth)]
        )
        self.norm = nn.LayerNorm(decoder_embed_dim, eps=norm_eps)
        self.pred = nn.Linear(decoder_embed_dim, out_dim)

    def forward(self, latent: torch.Tensor, ids_restore: torch.Tensor, return_attention: bool = False):
        """``latent [B, 1 + N_vis, D]``, ``ids_restore [B, N]`` -> ``pred [B, N, target_dim]``."""
        x = self.embed(latent)  # [B, 1+N_vis, D_dec]
        cls, visible = x[:, :1], x[:, 1:]
        num_hidden = ids_restore.shape[1] - visible.shape[1]
        mask_tokens = self.mask_token.expand(x.shape[0], num_hidden, -1)  # [B, N_hid, D_dec]
        shuffled = torch.cat([visible, mask_tokens], dim=1)  # [B, N, D_dec]: visible first, hidden after
        tokens = keep_tokens(shuffled, ids_restore)  # [B, N, D_dec] back in patch order
        x = torch.cat([cls, tokens], dim=1) + self.pos_embed  # [B, 1+N, D_dec]
        x, attentions = run_blocks(self.blocks, x, return_attention)
        pred = self.pred(self.norm(x))[:, 1:, :]  # [B, N, target_dim], class token dropped
        return (pred, attentions) if return_attention else pred


class SimMIMHead(nn.Module):
    """SimMIM's prediction head: one linear layer per token, ``[B, 1 + N, D] -> [B, N, target_dim]``.

    MFM's ViT head is the same layer (its 1x1 convolution and pixel shuffle act on each token alone).
    """

    def __init__(self, embed_dim: int, out_dim: int):
        super().__init__()
        self.pred = nn.Linear(embed_dim, out_dim)

    def forward(self, latent: torch.Tensor, ids_restore: torch.Tensor | None = None, return_attention=False):
        pred = self.pred(latent[:, 1:, :])  # [B, N, target_dim]
        return (pred, []) if return_attention else pred


# ---------------------------------------------------------------------- the model
class MaskedAutoencoder(nn.Module):
    """A masked autoencoder (MAE; SimMIM with ``design="simmim"``; MFM with ``design="mfm"``).

    Build one from a preset or a config::

        model = mae_lab.load_model("mae_tiny")                  # a fresh preset
        model = MaskedAutoencoder(get_preset("mae_tiny", image_size=28, channels=1))

    Attributes:
        config: the :class:`MAEConfig`.
        grid: patches per side ``(h, w)``; num_patches: ``N``; patch_size: ``p``.
        target_dim: length of one patch's target.
        encoder: :class:`~mae_lab.models.vit.ViTEncoder`.
        decoder: :class:`MAEDecoder` (or :class:`SimMIMHead` for SimMIM and MFM).
        mask_token: SimMIM only, ``[1, 1, D]``, replaces hidden patch embeddings.
        metadata: dict filled by :func:`mae_lab.hub.load_checkpoint` (training history, ...).

    Args:
        config: the configuration (default: ``MAEConfig()``, ViT-L/16).
        seed: seed for the weight initialisation (``None``: a fresh random one).  Torch's
            global random state is left untouched either way.
    """

    def __init__(self, config: MAEConfig | None = None, seed: int | None = 0):
        super().__init__()
        config = MAEConfig() if config is None else config
        if not isinstance(config, MAEConfig):
            raise TypeError(f"config must be an MAEConfig (see mae_lab.models.get_preset), got {type(config)}")
        self.config = config
        self.grid = config.grid
        self.num_patches = config.num_patches
        self.patch_size = config.patch_size
        self.target_dim = config.target_dim
        self.metadata: dict[str, Any] = {}
        with torch.random.fork_rng(devices=[]):
            if seed is None:
                torch.seed()
            else:
                torch.manual_seed(int(seed))
            self._build(config)
            self.initialize_weights()
        self._register_pixel_stats(config)

    def _build(self, c: MAEConfig) -> None:
        self.encoder = ViTEncoder(c.image_size, c.patch_size, c.channels, c.embed_dim, c.depth, c.num_heads,
                                  c.mlp_ratio, c.qkv_bias, c.norm_eps)
        if c.design == "mae":
            self.decoder = MAEDecoder(self.grid, c.embed_dim, c.decoder_embed_dim, c.decoder_depth,
                                      c.decoder_num_heads, c.mlp_ratio, c.qkv_bias, c.norm_eps, self.target_dim)
        elif c.design == "simmim":
            self.mask_token = nn.Parameter(torch.zeros(1, 1, c.embed_dim))
            self.decoder = SimMIMHead(c.embed_dim, self.target_dim)
        else:  # mfm: no mask token at all, the same one-layer head
            self.decoder = SimMIMHead(c.embed_dim, self.target_dim)

    def _register_pixel_stats(self, c: MAEConfig) -> None:
        mean = torch.tensor(c.pixel_mean if c.pixel_mean is not None else [0.0] * c.channels)
        std = torch.tensor(c.pixel_std if c.pixel_std is not None else [1.0] * c.channels)
        self.register_buffer("pixel_mean", mean.view(1, -1, 1, 1), persistent=False)  # [1, C, 1, 1]
        self.register_buffer("pixel_std", std.view(1, -1, 1, 1), persistent=False)  # [1, C, 1, 1]

    @torch.no_grad()
    def initialize_weights(self) -> None:
        """The official MAE initialisation: xavier-uniform linears (and patch projection), N(0, 0.02) tokens."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        proj = self.encoder.patch_embed.proj
        nn.init.xavier_uniform_(proj.weight.view(proj.weight.shape[0], -1))  # as a Linear on flat patches
        nn.init.zeros_(proj.bias)
        nn.init.normal_(self.encoder.cls_token, std=0.02)
        design = self.config.design
        tokens = [self.decoder.mask_token] if design == "mae" else [self.mask_token] if design == "simmim" else []
        for token in tokens:
            nn.init.normal_(token, std=0.02)

    # ------------------------------------------------------------------ normalisation and masks
    @property
    def device(self) -> torch.device:
        return self.encoder.cls_token.device

    def _images(self, images: torch.Tensor) -> torch.Tensor:
        """``images`` checked (a float tensor ``[B, C, H, W]`` of this model's size), in the model's dtype."""
        self.encoder.patch_embed.check_images(images)
        dtype = self.encoder.cls_token.dtype
        return images if images.dtype == dtype else images.to(dtype)

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """Check ``images [B, C, H, W]`` and apply ``pixel_mean`` / ``pixel_std`` (if configured)."""
        self.encoder.patch_embed.check_images(images)
        if self.config.pixel_mean is None:
            return images
        return (images - self.pixel_mean) / self.pixel_std

    def make_mask(self, batch_size: int, masker: str = "random", ratio: float | None = None,
                  seed: int | None = None, generator: torch.Generator | None = None, **options) -> Mask:
        """A mask for this model's grid: ``hidden`` is ``[batch_size, N]`` (on the CPU).

        ``masker`` is any name from :func:`mae_lab.list_maskers`; ``ratio=None`` uses that
        strategy's default ratio.

        An MFM model (``design="mfm"``) hides no patch: it returns a
        :class:`~mae_lab.frequency.FrequencyMask` of shape ``[batch_size, H, W]``. Its ``masker`` names
        the filter: ``"random"`` (low- or high-pass, one each with probability 0.5 per image, as in MFM),
        ``"low_pass"`` or ``"high_pass"``; the option ``radius=`` overrides ``config.frequency_radius``.
        ``ratio`` does not apply (the radius decides how much is removed) and is ignored.
        """
        if self.config.design == "mfm":
            size = self.config.image_size
            radius = options.pop("radius", self.config.resolved_frequency_radius)
            if options:
                raise ValueError(f"an MFM model's mask takes only radius=, got {sorted(options)}")
            return draw_frequency_mask(batch_size, size, size, radius, filter=masker, seed=seed, generator=generator)
        return make_mask(masker, batch_size, grid=self.grid, ratio=ratio, seed=seed, generator=generator,
                         **options)

    def _check_mask(self, mask: Mask | FrequencyMask, batch_size: int) -> Mask | FrequencyMask:
        if self.config.design == "mfm":
            size = self.config.image_size
            if not isinstance(mask, FrequencyMask) or tuple(mask.removed.shape) != (batch_size, size, size):
                raise ValueError(f"an MFM model needs a FrequencyMask [B, H, W] = [{batch_size}, {size}, {size}]; "
                                 f"make it with model.make_mask({batch_size}, 'random')")
            return mask
        if not isinstance(mask, Mask):
            try:
                hidden = torch.as_tensor(mask)
            except (TypeError, ValueError, RuntimeError):
                raise ValueError(f"mask must be a Mask (model.make_mask({batch_size}, ...)) or a bool tensor [B, N] = "
                                 f"[{batch_size}, {self.num_patches}], got {type(mask).__name__} {mask!r:.60}") from None
            mask = Mask.from_hidden(hidden, grid=self.grid)
        if tuple(mask.hidden.shape) != (batch_size, self.num_patches):
            raise ValueError(
                f"mask has shape {list(mask.hidden.shape)} but this model needs [B, N] = "
                f"[{batch_size}, {self.num_patches}] (grid {self.grid[0]}x{self.grid[1]}); "
                f"make it with model.make_mask({batch_size}, ...)"
            )
        return mask

    # ------------------------------------------------------------------ the three steps
    def encode(self, images: torch.Tensor, mask: Mask | None = None, return_attention: bool = False):
        """Run the encoder.

        Args:
            images: ``[B, C, H, W]`` in ``[0, 1]``.
            mask: which patches to hide; ``None`` keeps every patch.
            return_attention: also return each block's attention probabilities.

        Returns:
            ``latent [B, 1 + N_vis, D]`` (class token first, then the visible patches in
            ``mask.ids_keep`` order).  SimMIM keeps every token: ``[B, 1 + N, D]``; so does MFM,
            whose encoder sees the image filtered by ``mask`` (a ``FrequencyMask``).
            With ``return_attention=True``: ``(latent, attentions)``, one
            ``[B, heads, T, T]`` per block, ``T = latent.shape[1]``.
        """
        images = self._images(images)
        x = self.normalize(images)
        if mask is not None:
            mask = self._check_mask(mask, images.shape[0]).to(images.device)
        if self.config.design == "simmim":
            tokens = self._simmim_tokens(x, mask)  # [B, N, D]
        elif self.config.design == "mfm":
            if mask is not None:
                x = apply_frequency_mask(x, mask.removed)  # the whole image, low- or high-pass filtered
            tokens = self.encoder.embed(x)  # [B, N, D]: every token, no mask token
        else:
            tokens = self.encoder.embed(x)  # [B, N, D]
            if mask is not None:
                tokens = keep_tokens(tokens, mask.ids_keep)  # [B, N_vis, D]
        latent, attentions = self.encoder.run(self.encoder.add_cls_token(tokens), return_attention)
        return (latent, attentions) if return_attention else latent

    def _simmim_tokens(self, x: torch.Tensor, mask: Mask | None) -> torch.Tensor:
        tokens = self.encoder.patch_embed(x)  # [B, N, D]
        if mask is not None:
            hidden = mask.hidden.unsqueeze(-1)  # [B, N, 1]
            tokens = torch.where(hidden, self.mask_token.to(tokens.dtype), tokens)
        return tokens + self.encoder.pos_embed[:, 1:, :]

    def decode(self, latent: torch.Tensor, mask: Mask | None = None) -> torch.Tensor:
        """Predict every patch: ``latent [B, 1 + N_vis, D]`` -> ``pred [B, N, target_dim]``.

        MAE appends one mask token per hidden patch, restores the patch order with
        ``mask.ids_restore``, adds decoder positions and runs the decoder blocks.
        ``mask=None`` means every patch was visible.
        """
        if self.config.design in ("simmim", "mfm"):
            return self.decoder(latent)
        if mask is None:
            if latent.shape[1] != 1 + self.num_patches:
                raise ValueError(f"latent has {latent.shape[1] - 1} patch tokens; pass the mask used to encode")
            ids_restore = torch.arange(self.num_patches, device=latent.device).expand(latent.shape[0], -1)
        else:
            ids_restore = mask.ids_restore.to(latent.device)
        return self.decoder(latent, ids_restore)

    def target(self, images: torch.Tensor) -> torch.Tensor:
        """What the model must predict: ``[B, C, H, W] -> [B, N, target_dim]`` (after normalisation)."""
        return compute_target(self.config.target, self.normalize(images), self.patch_size)

    def per_patch_loss(self, target: torch.Tensor, pred: torch.Tensor) -> torch.Tensor:
        """Loss of every patch, ``[B, N]``: mean squared (or absolute) error over the patch vector."""
        diff = pred - target  # [B, N, target_dim]
        if self.config.resolved_loss_type == "l1":
            return diff.abs().mean(dim=-1)
        return (diff**2).mean(dim=-1)

    def loss(self, target: torch.Tensor, pred: torch.Tensor, mask: Mask | FrequencyMask | torch.Tensor) -> torch.Tensor:
        """Mean of :meth:`per_patch_loss` over the **hidden** patches only (a scalar).

        ``mask`` is a :class:`Mask` or a bool ``[B, N]`` (True = hidden).  If nothing is
        hidden (ratio 0), the mean over all patches is returned instead.

        MFM (``mask`` a :class:`~mae_lab.frequency.FrequencyMask`): the images are put back together
        and compared in the frequency domain on the removed frequencies (:func:`frequency_loss`).
        """
        if isinstance(mask, FrequencyMask):
            p, grid, channels = self.patch_size, self.grid, self.config.channels
            return frequency_loss(unpatchify(pred, p, grid, channels), unpatchify(target, p, grid, channels),
                                  mask.removed)
        hidden = mask.hidden if isinstance(mask, Mask) else torch.as_tensor(mask)
        per_patch = self.per_patch_loss(target, pred)  # [B, N]
        weights = hidden.to(device=per_patch.device, dtype=per_patch.dtype)  # [B, N]
        count = weights.sum()
        hidden_mean = (per_patch * weights).sum() / count.clamp_min(1.0)
        return torch.where(count > 0, hidden_mean, per_patch.mean())

    # ------------------------------------------------------------------ forward
    def forward(
        self,
        images: torch.Tensor,
        mask: Mask | None = None,
        masker: str = "random",
        ratio: float | None = None,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        return_attention: bool = False,
        **masker_options,
    ) -> MAEOutput:
        """Mask, encode, decode and score a batch.

        Example (``mae_tiny``: 32x32 RGB, 4-px patches, an 8x8 grid of ``N = 64`` patches)::

            model = mae_lab.load_model("mae_tiny")
            images = torch.rand(8, 3, 32, 32)                        # [B, C, H, W] in [0, 1]
            out = model(images, masker="block", ratio=0.6, seed=0)
            out.mask.hidden      # [8, 64] bool, 38 True per row (round(64 * 0.6))
            out.latent           # [8, 1 + 26, 192]   class token + visible patches
            out.pred             # [8, 64, 48]        48 = 4 * 4 * 3 values per patch
            out.target           # [8, 64, 48]
            out.loss             # scalar: MSE on the 38 hidden patches of each image

        Args:
            images: ``[B, C, H, W]`` in ``[0, 1]`` of exactly ``config.image_size`` pixels.
            mask: a ready :class:`~mae_lab.masking.Mask` (``hidden [B, N]``); when given,
                ``masker``/``ratio``/``seed`` are ignored.
            masker: a strategy name from :func:`mae_lab.list_maskers` (``"random"``, ``"block"``, ...).
            ratio: fraction of patches to hide; ``None`` uses the strategy's default.
            seed / generator: make the mask reproducible.
            return_attention: also return each encoder block's attention ``[B, heads, T, T]``.
            **masker_options: options of the strategy (see ``list_maskers()``).

        Returns:
            :class:`MAEOutput` with ``loss`` (scalar), ``pred`` and ``target``
            ``[B, N, target_dim]``, ``mask``, ``latent [B, 1 + N_vis, D]`` and ``attentions``.
        """
        images = self._images(images)
        if not isinstance(return_attention, (bool, int)):
            raise ValueError(f"return_attention must be True or False, got {return_attention!r}")
        if mask is None:
            mask = self.make_mask(images.shape[0], masker, ratio=ratio, seed=seed, generator=generator,
                                  **masker_options)
        mask = self._check_mask(mask, images.shape[0]).to(images.device)
        encoded = self.encode(images, mask, return_attention=return_attention)
        latent, attentions = encoded if return_attention else (encoded, None)
        pred = self.decode(latent, mask)  # [B, N, target_dim]
        target = self.target(images)  # [B, N, target_dim]
        loss = self.loss(target, pred, mask)
        return MAEOutput(loss=loss, pred=pred, mask=mask, target=target, latent=latent, attentions=attentions)

    # ------------------------------------------------------------------ for students and figures
    def prediction_to_pixels(self, images: torch.Tensor, pred: torch.Tensor) -> torch.Tensor:
        """Turn pixel-type predictions ``[B, N, p*p*C]`` back into ``[0, 1]`` patch values.

        ``norm_pixels`` predictions are de-normalised with each patch's own mean and std
        (taken from ``images``), then ``pixel_mean`` / ``pixel_std`` are undone.
        """
        if not get_target(self.config.target).is_pixels:
            raise ValueError(f"target {self.config.target!r} is not made of pixels; it cannot be drawn as an image")
        if self.config.target == "norm_pixels":
            mean, std = patch_mean_std(self.normalize(images), self.patch_size)  # [B, N, 1] each
            pred = pred * std + mean
        batch, num_patches, _ = pred.shape
        channels = self.config.channels
        pixels = pred.reshape(batch, num_patches, -1, channels)  # [B, N, p*p, C]: channel is the last index
        pixels = pixels * self.pixel_std.view(1, 1, 1, -1) + self.pixel_mean.view(1, 1, 1, -1)
        return pixels.reshape(batch, num_patches, -1)  # [B, N, p*p*C]

    @torch.no_grad()
    def reconstruct(self, images: torch.Tensor, out: MAEOutput | None = None, fill: float = 0.5,
                    **forward_kwargs) -> Reconstruction:
        """Images for "what the model saw / what it guessed" figures.

        Args:
            images: ``[B, C, H, W]`` in ``[0, 1]``.
            out: an :class:`MAEOutput` for these images; ``None`` runs ``self(images, **forward_kwargs)``.
            fill: grey level drawn over hidden patches in ``masked_input``.

        Returns:
            :class:`Reconstruction` (images ``[B, C, H, W]`` clamped to ``[0, 1]``,
            ``patch_error [B, N]``).  For MFM, ``masked_input`` is the filtered image the encoder saw,
            and ``pasted`` keeps the image's own frequencies where the filter kept them and takes the
            prediction's in the removed band.
        """
        if out is None:
            out = self(images, **forward_kwargs)
        if isinstance(out.mask, FrequencyMask):
            return self._reconstruct_frequencies(images, out)
        p, channels = self.patch_size, self.config.channels
        hidden = out.mask.hidden.to(images.device).unsqueeze(-1)  # [B, N, 1]
        original_patches = patchify(images, p)  # [B, N, p*p*C]
        masked = torch.where(hidden, torch.full_like(original_patches, fill), original_patches)
        reconstruction = pasted = None
        if get_target(self.config.target).is_pixels:
            pred_pixels = self.prediction_to_pixels(images, out.pred).clamp(0.0, 1.0)  # [B, N, p*p*C]
            reconstruction = unpatchify(pred_pixels, p, self.grid, channels)
            pasted = unpatchify(torch.where(hidden, pred_pixels, original_patches), p, self.grid, channels)
        return Reconstruction(
            original=images,
            masked_input=unpatchify(masked, p, self.grid, channels),
            reconstruction=reconstruction,
            pasted=pasted,
            patch_error=self.per_patch_loss(out.target, out.pred),
            mask=out.mask,
        )

    def _reconstruct_frequencies(self, images: torch.Tensor, out: MAEOutput) -> Reconstruction:
        removed = out.mask.removed.to(images.device)[:, None]  # [B, 1, H, W]
        pred = unpatchify(self.prediction_to_pixels(images, out.pred), self.patch_size, self.grid,
                          self.config.channels)  # [B, C, H, W] in [0, 1] units
        spectrum = torch.where(removed, torch.fft.fft2(pred.float()), torch.fft.fft2(images.float()))
        return Reconstruction(
            original=images,
            masked_input=apply_frequency_mask(images, out.mask.removed).clamp(0.0, 1.0),
            reconstruction=pred.clamp(0.0, 1.0),
            pasted=torch.fft.ifft2(spectrum).real.clamp(0.0, 1.0),
            patch_error=self.per_patch_loss(out.target, out.pred),
            mask=out.mask,
        )

    def features(self, images: torch.Tensor, pool: str = "cls") -> torch.Tensor:
        """One vector per image from the unmasked encoder (after its final norm): ``[B, D]``.

        ``pool="cls"`` takes the class token, ``pool="mean"`` averages the patch tokens.
        """
        latent = self.encode(images)  # [B, 1+N, D]
        if pool == "cls":
            return latent[:, 0]
        if pool == "mean":
            return latent[:, 1:].mean(dim=1)
        raise ValueError(f"pool must be 'cls' or 'mean', got {pool!r}")

    @torch.no_grad()
    def attention_maps(self, images: torch.Tensor, mask: Mask | None = None) -> list[torch.Tensor]:
        """Attention probabilities of every encoder block: a list of ``[B, heads, T, T]``.

        ``T = 1 + N`` without a mask (``1 + N_vis`` with one); token 0 is the class token.
        """
        _, attentions = self.encode(images, mask, return_attention=True)
        return attentions

    # ------------------------------------------------------------------ description
    def num_params(self, part: str = "all") -> int:
        """Trainable parameter count of ``"all"``, ``"encoder"`` or ``"decoder"``."""
        modules = {"all": self, "encoder": self.encoder, "decoder": self.decoder}
        if part not in modules:
            raise ValueError(f"part must be one of {list(modules)}, got {part!r}")
        return sum(p.numel() for p in modules[part].parameters())

    def summary(self, ratio: float = 0.75) -> str:
        """A few lines a student can read: sizes, grid, tokens seen by each part at ``ratio``."""
        c = self.config
        h, w = self.grid
        n = self.num_patches
        visible = n - round(n * ratio)
        encoder_params = _millions(self.num_params("encoder"))
        loss = "frequency" if c.design == "mfm" else c.resolved_loss_type
        title = f"MaskedAutoencoder '{c.preset or 'custom'}' (design={c.design}, target={c.target}, loss={loss})"
        grid_line = f"  input   {c.channels}x{c.image_size}x{c.image_size} -> {h}x{w} = {n} patches of "
        grid_line += f"{c.patch_size}x{c.patch_size} px ({self.target_dim} target values each)"
        lines = [
            title,
            grid_line,
            f"  encoder {c.depth} blocks, width {c.embed_dim}, {c.num_heads} heads: {encoder_params} params",
        ]
        if c.design == "mae":
            decoder_params = _millions(self.num_params("decoder"))
            lines.append(f"  decoder {c.decoder_depth} blocks, width {c.decoder_embed_dim}, "
                         f"{c.decoder_num_heads} heads: {decoder_params} params")
            lines.append(f"  at mask ratio {ratio:.0%}: encoder sees 1 + {visible} tokens, "
                         f"decoder sees 1 + {n} tokens")
        elif c.design == "simmim":
            lines.append(f"  head    linear {c.embed_dim} -> {self.target_dim}")
            lines.append(f"  at mask ratio {ratio:.0%}: encoder sees 1 + {n} tokens "
                         f"({n - visible} of them mask tokens)")
        else:
            lines.append(f"  head    linear {c.embed_dim} -> {self.target_dim}")
            lines.append(f"  no patch hidden: encoder sees 1 + {n} tokens of the low- or high-pass filtered image "
                         f"(radius {c.resolved_frequency_radius:g}); loss on the removed frequencies")
        lines.append(f"  total   {_millions(self.num_params())} parameters")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary() + "\n  (print(model.encoder) / print(model.decoder) list every layer)"


def _millions(count: int) -> str:
    return f"{count / 1e6:.2f}M" if count >= 1e5 else f"{count / 1e3:.1f}k"
