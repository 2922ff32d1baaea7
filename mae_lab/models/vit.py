"""The Vision Transformer pieces MAE is built from.

Dosovitskiy et al., 2021, "An Image is Worth 16x16 Words: Transformers for Image
Recognition at Scale", as used by MAE (He et al., 2021).  Each piece is small on purpose:

* :class:`PatchEmbed` — a ``p x p`` convolution with stride ``p``: one linear map per patch;
* :class:`Attention` — multi-head self-attention.  The fast path calls
  ``torch.nn.functional.scaled_dot_product_attention``; with ``return_attention=True`` it
  computes ``softmax(q k^T / sqrt(d))`` explicitly and returns those probabilities;
* :class:`Mlp` and :class:`Block` — the pre-norm transformer block
  ``x + attn(norm1(x))`` then ``x + mlp(norm2(x))``;
* :class:`ViTEncoder` — patch embedding, class token, fixed 2-D sine-cosine positions,
  blocks and a final LayerNorm.

Module and parameter names follow the official MAE / timm code (``patch_embed.proj``,
``blocks.0.attn.qkv``, ...), so their weights map onto ours one to one.

Shapes: ``B`` batch, ``N`` patches, ``T`` tokens (``1 + N`` with the class token, or
``1 + N_vis`` when hidden patches were dropped), ``D`` width, ``H`` heads.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..patches import grid_size, sincos_pos_embed_2d

__all__ = ["Attention", "Block", "Mlp", "PatchEmbed", "ViTEncoder", "keep_tokens"]


class PatchEmbed(nn.Module):
    """Cut an image into ``p x p`` patches and map each one to a ``D``-vector.

    A convolution with kernel ``p`` and stride ``p`` is exactly a shared linear layer
    applied to every flattened patch.

    Input ``[B, C, H, W]`` -> output ``[B, N, D]``, ``N = (H/p) * (W/p)``, row-major.
    """

    def __init__(self, image_size: int, patch_size: int, channels: int, embed_dim: int):
        super().__init__()
        self.image_size = (int(image_size), int(image_size))
        self.patch_size = int(patch_size)
        self.channels = int(channels)
        self.grid = grid_size(self.image_size, self.patch_size)
        self.num_patches = self.grid[0] * self.grid[1]
        self.proj = nn.Conv2d(channels, embed_dim, kernel_size=patch_size, stride=patch_size)

    def check_images(self, images: torch.Tensor) -> None:
        """Raise a ``ValueError`` naming the expected and received sizes when ``images`` do not fit."""
        if not isinstance(images, torch.Tensor):
            raise ValueError(f"images must be a tensor [B, C, H, W] of floats in [0, 1], got a {type(images).__name__}; "
                             "convert them with torch.as_tensor(...)")
        if not images.is_floating_point():
            hint = "; divide by 255 (images.float() / 255)" if images.dtype == torch.uint8 else ""
            raise ValueError(f"images must be floats in [0, 1], got dtype {images.dtype}{hint}")
        if images.ndim == 4 and images.shape[0] == 0:
            raise ValueError("images is an empty batch (B = 0); pass at least one image")
        if images.ndim != 4:
            raise ValueError(
                f"expected images of shape [B, C, H, W] = [B, {self.channels}, {self.image_size[0]}, "
                f"{self.image_size[1]}], got shape {tuple(images.shape)}"
            )
        channels, height, width = images.shape[1:]
        if channels != self.channels:
            raise ValueError(
                f"this model expects images with {self.channels} channel(s), got {channels}; "
                f"convert the images or build the model with channels={channels}"
            )
        if (height, width) != self.image_size:
            raise ValueError(
                f"this model expects {self.image_size[0]}x{self.image_size[1]} images, got {height}x{width}; "
                f"load or resize them to that size (load_dataset(..., image_size={self.image_size[0]}) or "
                f"torch.nn.functional.interpolate(images, size={self.image_size[0]})), or build the model "
                f"with image_size={height}"
            )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.check_images(images)
        x = self.proj(images)  # [B, D, h, w]
        return x.flatten(2).transpose(1, 2)  # [B, N, D]


class Attention(nn.Module):
    """Multi-head self-attention with one fused ``qkv`` projection.

    ``forward(x [B, T, D], return_attention=False) -> (out [B, T, D], probs)`` where
    ``probs`` is ``[B, H, T, T]`` (rows sum to 1) when asked for, else ``None``.
    """

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True):
        super().__init__()
        if dim % num_heads != 0:
            raise ValueError(f"width {dim} is not divisible by num_heads {num_heads}; pick a divisor of {dim}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, return_attention: bool = False):
        batch, tokens, dim = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each [B, H, T, d]
        if return_attention:
            scores = (q * self.scale) @ k.transpose(-2, -1)  # [B, H, T, T]
            probs = scores.softmax(dim=-1)  # [B, H, T, T]
            out = probs @ v  # [B, H, T, d]
        else:
            probs = None
            out = F.scaled_dot_product_attention(q, k, v)  # [B, H, T, d], fused kernel
        out = out.transpose(1, 2).reshape(batch, tokens, dim)  # [B, T, D]
        return self.proj(out), probs


class Mlp(nn.Module):
    """Two linear layers with a GELU between: ``D -> mlp_ratio * D -> D``."""

    def __init__(self, dim: int, hidden_dim: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))  # [B, T, D]


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(norm1(x))``, then ``x + mlp(norm2(x))``.

    ``forward(x [B, T, D], return_attention=False) -> (x [B, T, D], probs [B, H, T, T] or None)``.
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, qkv_bias: bool = True, eps=1e-6):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, num_heads, qkv_bias=qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, return_attention: bool = False):
        attended, probs = self.attn(self.norm1(x), return_attention=return_attention)
        x = x + attended  # [B, T, D]
        x = x + self.mlp(self.norm2(x))  # [B, T, D]
        return x, probs


def run_blocks(blocks: nn.ModuleList, x: torch.Tensor, return_attention: bool = False):
    """Apply ``blocks`` in turn: ``(x [B, T, D], [probs [B, H, T, T] per block] or None)``."""
    attentions = [] if return_attention else None
    for block in blocks:
        x, probs = block(x, return_attention=return_attention)
        if return_attention:
            attentions.append(probs)
    return x, attentions


def keep_tokens(tokens: torch.Tensor, ids_keep: torch.Tensor) -> torch.Tensor:
    """Select tokens per sample: ``tokens [B, N, D]``, ``ids_keep [B, K]`` -> ``[B, K, D]``."""
    index = ids_keep.unsqueeze(-1).expand(-1, -1, tokens.shape[-1])  # [B, K, D]
    return torch.gather(tokens, dim=1, index=index)


class ViTEncoder(nn.Module):
    """A ViT encoder with a class token and fixed 2-D sine-cosine positions (MAE's encoder).

    Attributes:
        patch_embed: :class:`PatchEmbed`, ``[B, C, H, W] -> [B, N, D]``.
        cls_token: parameter ``[1, 1, D]``.
        pos_embed: buffer ``[1, 1 + N, D]``; row 0 (the class token's) is zero.  It is a
            buffer, not a trained parameter, but it is saved with the weights so learned
            positions (e.g. from a timm ViT) can be loaded into it.
        blocks: ``depth`` :class:`Block` modules.
        norm: final LayerNorm.

    The encoder is used step by step by the masked autoencoder (:meth:`embed`,
    :meth:`add_cls_token`, :meth:`run`) so hidden patches can be dropped in between;
    :meth:`forward` runs all steps.
    """

    def __init__(
        self,
        image_size: int = 224,
        patch_size: int = 16,
        channels: int = 3,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        norm_eps: float = 1e-6,
    ):
        super().__init__()
        self.embed_dim = embed_dim
        self.patch_embed = PatchEmbed(image_size, patch_size, channels, embed_dim)
        self.grid = self.patch_embed.grid
        self.num_patches = self.patch_embed.num_patches
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        pos = torch.from_numpy(sincos_pos_embed_2d(embed_dim, self.grid, cls_token=True))  # [1+N, D]
        self.register_buffer("pos_embed", pos.unsqueeze(0))  # [1, 1+N, D]
        self.blocks = nn.ModuleList(
            [Block(embed_dim, num_heads, mlp_ratio, qkv_bias, norm_eps) for _ in range(depth)]
        )
        self.norm = nn.LayerNorm(embed_dim, eps=norm_eps)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Patch tokens with their positions added: ``[B, C, H, W] -> [B, N, D]`` (no class token)."""
        return self.patch_embed(images) + self.pos_embed[:, 1:, :]

    def add_cls_token(self, tokens: torch.Tensor) -> torch.Tensor:
        """Prepend the class token (plus its position): ``[B, n, D] -> [B, 1 + n, D]``."""
        cls = (self.cls_token + self.pos_embed[:, :1, :]).expand(tokens.shape[0], -1, -1)  # [B, 1, D]
        return torch.cat([cls, tokens], dim=1)

    def run(self, x: torch.Tensor, return_attention: bool = False):
        """Blocks then the final norm: ``[B, T, D] -> ([B, T, D], attentions or None)``."""
        x, attentions = run_blocks(self.blocks, x, return_attention)
        return self.norm(x), attentions

    def forward(self, images: torch.Tensor, ids_keep: torch.Tensor | None = None, return_attention=False):
        """Encode ``images [B, C, H, W]``, keeping only the patches in ``ids_keep [B, K]`` if given.

        Returns ``[B, 1 + K, D]`` (``K = N`` without ``ids_keep``), or ``(tokens, attentions)``
        with ``return_attention=True``, attentions being one ``[B, H, T, T]`` per block.
        """
        tokens = self.embed(images)  # [B, N, D]
        if ids_keep is not None:
            tokens = keep_tokens(tokens, ids_keep)  # [B, K, D]
        x, attentions = self.run(self.add_cls_token(tokens), return_attention)
        return (x, attentions) if return_attention else x
