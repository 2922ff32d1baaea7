"""Reference solutions for notebook 07 (attention)."""

import torch


def rollout(attentions):
    """Attention rollout (Abnar & Zuidema, 2020): a list of ``[heads, T, T]`` (first layer first) -> ``[T, T]``."""
    tokens = attentions[0].shape[-1]
    result = torch.eye(tokens)
    for attn in attentions:
        step = attn.mean(dim=0) + torch.eye(tokens)  # average the heads, add the residual path
        step = step / step.sum(dim=-1, keepdim=True)  # rows sum to 1 again
        result = step @ result  # later layers multiply on the left
    return result


def attention_distance(attn, centers):
    """Mean attention distance per head, in pixels: ``[heads, T, T], [N, 2] -> [heads]`` (ViT, Figure 7)."""
    weights = attn[:, 1:, 1:]  # [heads, N, N]: patches only, the class token left out
    weights = weights / weights.sum(dim=-1, keepdim=True)  # each query's weights sum to 1 again
    distance = torch.cdist(centers, centers)  # [N, N] pixels between patch centres
    return (weights * distance).sum(dim=-1).mean(dim=-1)  # [heads]: over keys, then over queries


# In deep layers, whose heads look more locally: a "masked" image model, a "supervised" ViT, or the "same"?
# Xie et al. (2023, "Revealing the Dark Secrets of Masked Image Modeling", Fig. 1): the masked one.
LOCAL_DEEP = "masked"
