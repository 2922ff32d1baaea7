"""Where a Vision Transformer looks: attention maps, attention rollout and attention distance.

Every encoder block computes, for each head, a matrix of attention probabilities
``[T, T]``: row ``i`` says how much token ``i`` (the *query*) reads from every token
``j`` (the *keys*).  Token 0 is the class token, tokens ``1..`` are the visible patches in
the order of ``mask.ids_keep`` (all patches, in row-major order, when nothing is masked).

This module turns those matrices into pictures and numbers:

* :func:`attention_maps` runs the encoder and collects one ``[B, heads, T, T]`` tensor per block;
* :func:`mean_patch_attention`: what the *average patch* reads from each patch — the attention
  behind a mean-pooled feature, and the map to look at in an MAE, whose loss never trains the
  class token (He et al., 2021, Appendix A.1: the token is an auxiliary dummy for later probes);
* :func:`cls_attention` / :func:`query_attention`: what the class token (or one patch) looks
  at, scattered back onto the full patch grid;
* :func:`attention_rollout`: attention propagated through all blocks, after Abnar & Zuidema
  (2020), "Quantifying Attention Flow in Transformers";
* :func:`mean_attention_distance`: how far, in pixels, each head looks on average, the
  per-layer/per-head plot of Dosovitskiy et al. (2021), "An Image is Worth 16x16 Words"
  (ViT), Figure 7.

Convention for masked inputs: in an MAE encoder hidden patches are not tokens, so they
receive no attention.  When a ``mask`` is given, the per-patch maps are scattered back to the full
grid ``[B, N]`` and hidden patches get ``fill`` (``NaN`` by default, so plots leave them
blank and ``nanmax`` / ``nansum`` ignore them; pass ``fill=0.0`` for zeros).  A SimMIM-style
encoder keeps a mask token for every hidden patch, so its maps already cover the grid.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .masking.base import Mask
from .patches import patch_centers
from .utils import module_device

__all__ = [
    "attention_maps",
    "attention_rollout",
    "cls_attention",
    "mean_attention_distance",
    "mean_patch_attention",
    "query_attention",
    "scatter_to_grid",
    "select_heads",
    "token_index",
]

AttentionList = Sequence[torch.Tensor]


@torch.no_grad()
def attention_maps(model, images: torch.Tensor, mask: Mask | None = None) -> list[torch.Tensor]:
    """Attention probabilities of every encoder block.

    Args:
        model: a :class:`~mae_lab.models.MaskedAutoencoder` (anything with
            ``encode(images, mask, return_attention=True)``).
        images: ``[B, C, H, W]`` (or one image ``[C, H, W]``) in [0, 1].
        mask: hide these patches from the encoder first (None = all patches visible).

    Returns:
        A list with one tensor ``[B, heads, T, T]`` per block (on the CPU, float32), where
        ``T = 1 + number of visible patches``.
    """
    if images.ndim == 3:
        images = images.unsqueeze(0)  # [1, C, H, W]
    was_training = model.training
    model.eval()
    try:
        device = module_device(model)
        mask_on_device = mask.to(device) if mask is not None else None
        _, attentions = model.encode(images.to(device), mask_on_device, return_attention=True)
    finally:
        model.train(was_training)
    return [a.detach().float().cpu() for a in attentions]


def _layer(attns: AttentionList | torch.Tensor, layer: int) -> torch.Tensor:
    """One layer's attention ``[B, heads, T, T]`` (or a rollout ``[B, T, T]``) from a list or a tensor."""
    if isinstance(attns, torch.Tensor):
        return attns
    num_layers = len(attns)
    if not -num_layers <= layer < num_layers:
        raise ValueError(
            f"layer {layer} does not exist: this encoder has {num_layers} blocks (0..{num_layers - 1})"
        )
    return attns[layer]


def select_heads(attn: torch.Tensor, head: int | None = None) -> torch.Tensor:
    """Reduce the head dimension: ``[B, heads, T, T]`` -> ``[B, T, T]``.

    ``head=None`` averages the heads; an int picks one head.  A ``[B, T, T]`` input (e.g.
    a rollout) is returned as it is.
    """
    if attn.ndim == 3:
        return attn
    if attn.ndim != 4:
        raise ValueError(f"attention must be [B, heads, T, T] or [B, T, T], got shape {tuple(attn.shape)}")
    if head is None:
        return attn.mean(dim=1)  # [B, T, T]
    num_heads = attn.shape[1]
    if not -num_heads <= int(head) < num_heads:
        raise ValueError(
            f"head {head} does not exist: this layer has {num_heads} heads (0..{num_heads - 1}); "
            "use head=None for their mean"
        )
    return attn[:, int(head)]  # [B, T, T]


def scatter_to_grid(
    values: torch.Tensor, mask: Mask | None = None, fill: float = float("nan")
) -> torch.Tensor:
    """Put one value per visible patch back onto the full patch grid.

    Args:
        values: ``[B, N_vis]``, in the order of ``mask.ids_keep``.
        mask: the mask the encoder saw; None means every patch was visible (values are returned).
        fill: the value given to hidden patches.

    Returns:
        ``[B, N]`` in row-major patch order.
    """
    if mask is None or values.shape[1] == mask.num_patches:
        return values  # every patch was a token (no mask, or SimMIM-style mask tokens)
    batch = values.shape[0]
    ids_keep = mask.ids_keep.to(values.device)
    if ids_keep.shape != values.shape:
        raise ValueError(
            f"{values.shape[1]} token values do not match the mask's {mask.num_visible} visible patches; "
            "pass the same mask that was used to compute the attention"
        )
    full = torch.full((batch, mask.num_patches), fill, dtype=values.dtype, device=values.device)  # [B, N]
    return full.scatter(1, ids_keep, values)


def token_index(patch: int, mask: Mask | None = None, sample: int = 0, num_tokens: int | None = None) -> int:
    """Position in the token sequence (class token = 0) of grid patch ``patch``.

    ``num_tokens`` (T) tells a model that keeps every patch as a token (SimMIM) apart from
    one that drops hidden patches (MAE).  Raises ``ValueError`` when the mask dropped that
    patch (it has no token).
    """
    if mask is None or (num_tokens is not None and num_tokens - 1 == mask.num_patches):
        return 1 + int(patch)
    keep = mask.ids_keep[sample].tolist()
    if int(patch) not in keep:
        raise ValueError(
            f"patch {patch} is hidden by the mask, so it has no token to query; "
            "pick a visible patch or turn masking off"
        )
    return 1 + keep.index(int(patch))


def cls_attention(
    attns: AttentionList | torch.Tensor,
    layer: int = -1,
    head: int | None = None,
    mask: Mask | None = None,
    fill: float = float("nan"),
) -> torch.Tensor:
    """How much the class token attends to each patch.

    Args:
        attns: the list from :func:`attention_maps`, one layer ``[B, heads, T, T]``, or a
            rollout ``[B, T, T]``.
        layer: which block (negative counts from the end); ignored for a single tensor.
        head: one head, or None for the mean over heads.
        mask: the mask the encoder saw, to scatter the values back to the grid.
        fill: value for hidden patches (NaN by default).

    Returns:
        ``[B, N]`` attention weights of the class-token query on the patch keys.
    """
    attn = select_heads(_layer(attns, layer), head)  # [B, T, T]
    return scatter_to_grid(attn[:, 0, 1:], mask, fill)  # [B, N]


def mean_patch_attention(
    attns: AttentionList | torch.Tensor,
    layer: int = -1,
    head: int | None = None,
    mask: Mask | None = None,
    fill: float = float("nan"),
) -> torch.Tensor:
    """How much the average patch token attends to each patch: the column means of the patch rows.

    A probe on mean-pooled features (``pool="mean"``) reads the average of the patch tokens, so
    this is the attention that feeds it. In an MAE it is also the honest map: the pretraining
    loss is computed on patch predictions only, so the class token's own query is never trained
    (MAE, Appendix A.1) and its map says little.

    Args: as in :func:`cls_attention` (``attns`` may also be a rollout ``[B, T, T]``).

    Returns:
        ``[B, N]``: for each key patch, its attention weight averaged over all patch queries.
    """
    attn = select_heads(_layer(attns, layer), head)  # [B, T, T]
    return scatter_to_grid(attn[:, 1:, 1:].mean(dim=1), mask, fill)  # [B, N]


def query_attention(
    attns: AttentionList | torch.Tensor,
    query: int,
    layer: int = -1,
    head: int | None = None,
    mask: Mask | None = None,
    fill: float = float("nan"),
) -> torch.Tensor:
    """How much one patch (the query) attends to each patch.

    Args:
        query: the query's patch index on the full grid (row-major, ``row * w + col``).
        other arguments: as in :func:`cls_attention`.

    Returns:
        ``[B, N]``; the first sample decides the query's token position, so with a mask
        every sample must keep the query visible (true for a batch of one).
    """
    attn = select_heads(_layer(attns, layer), head)  # [B, T, T]
    if mask is None and not 0 <= int(query) < attn.shape[-1] - 1:
        raise ValueError(f"query patch {query} is outside the grid of {attn.shape[-1] - 1} patches")
    row = token_index(query, mask, num_tokens=attn.shape[-1])
    return scatter_to_grid(attn[:, row, 1:], mask, fill)  # [B, N]


def attention_rollout(
    attns: AttentionList,
    discard_ratio: float = 0.0,
    head_fusion: str = "mean",
) -> torch.Tensor:
    """Attention rollout (Abnar & Zuidema, 2020): attention flowed through every block.

    For each block the heads are fused (``mean``, ``max`` or ``min``), optionally the
    weakest ``discard_ratio`` share of each query's weights on patch tokens is set to zero
    (the class-token column is always kept), the identity is added to account for the
    residual connection, rows are renormalised to sum to 1, and the per-block matrices are
    multiplied from the first block to the last: ``R = A_L @ ... @ A_1``.

    Returns:
        ``[B, T, T]``; ``R[:, 0, 1:]`` is the class token's rolled-out attention to the
        patches (feed it to :func:`cls_attention`).
    """
    if not 0.0 <= discard_ratio < 1.0:
        raise ValueError(f"discard_ratio must be in [0, 1), got {discard_ratio}")
    fusions = {
        "mean": lambda a: a.mean(dim=1),
        "max": lambda a: a.amax(dim=1),
        "min": lambda a: a.amin(dim=1),
    }
    if head_fusion not in fusions:
        raise ValueError(f"head_fusion must be one of {sorted(fusions)}, got {head_fusion!r}")
    if len(attns) == 0:
        raise ValueError("attention_rollout needs at least one layer of attention")
    rollout = None
    for attn in attns:
        fused = fusions[head_fusion](attn.float())  # [B, T, T]
        if discard_ratio > 0:
            fused = _discard_weakest(fused, discard_ratio)
        tokens = fused.shape[-1]
        eye = torch.eye(tokens, dtype=fused.dtype, device=fused.device)
        step = fused + eye  # residual connection
        step = step / step.sum(dim=-1, keepdim=True)  # rows sum to 1
        rollout = step if rollout is None else step @ rollout  # [B, T, T]
    return rollout


def _discard_weakest(fused: torch.Tensor, discard_ratio: float) -> torch.Tensor:
    """Zero the smallest ``discard_ratio`` share of each row's weights on patch tokens."""
    patch_part = fused[..., 1:]  # [B, T, N]
    count = int(patch_part.shape[-1] * discard_ratio)
    if count == 0:
        return fused
    weakest = patch_part.topk(count, dim=-1, largest=False).indices  # [B, T, count]
    patch_part = patch_part.scatter(-1, weakest, 0.0)
    return torch.cat([fused[..., :1], patch_part], dim=-1)


def mean_attention_distance(
    attns: AttentionList,
    grid: tuple[int, int],
    patch_size: int,
    mask: Mask | None = None,
) -> torch.Tensor:
    """Mean attention distance per layer and head, in pixels (ViT paper, Figure 7).

    For every query patch, the distance (between patch centres, in pixels) to every key
    patch is weighted by the attention the query pays to it; this is averaged over query
    patches and over the batch.  The class token is left out both as query and as key,
    and each query's remaining weights are renormalised to sum to 1, so the number is a
    true weighted mean distance.  Small values mean local heads (like a convolution),
    large values global ones.

    Args:
        attns: the list from :func:`attention_maps`, one ``[B, heads, T, T]`` per layer.
        grid: ``(h, w)`` patch grid of the image.
        patch_size: pixels per patch side.
        mask: the mask the encoder saw (tokens are then the visible patches only).

    Returns:
        ``[L, heads]`` float tensor of distances in pixels.
    """
    centers = patch_centers(grid, patch_size)  # [N, 2]
    distances = []
    for attn in attns:
        batch, _, tokens, _ = attn.shape
        if mask is None or tokens - 1 == mask.num_patches:
            if tokens - 1 != centers.shape[0]:
                raise ValueError(
                    f"attention has {tokens - 1} patch tokens but grid {tuple(grid)} has "
                    f"{centers.shape[0]} patches; pass the mask used by the encoder"
                )
            pos = centers.unsqueeze(0).expand(batch, -1, -1)  # [B, N, 2]
        else:
            pos = centers[mask.ids_keep.cpu()]  # [B, N_vis, 2]
        pairwise = torch.cdist(pos, pos).to(attn.device)  # [B, n, n]
        weights = attn[:, :, 1:, 1:].float()  # [B, heads, n, n]
        weights = weights / weights.sum(dim=-1, keepdim=True).clamp_min(1e-12)
        per_query = (weights * pairwise.unsqueeze(1)).sum(dim=-1)  # [B, heads, n]
        distances.append(per_query.mean(dim=(0, 2)).cpu())  # [heads]
    return torch.stack(distances)  # [L, heads]
