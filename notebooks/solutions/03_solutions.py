"""Reference solutions for notebook 03 (inside the MAE)."""

import torch

import mae_lab


def my_decoder_input(latent, ids_restore, mask_token, pos_embed):
    """What MAE's decoder blocks read: ``[B, 1 + N_vis, D] -> [B, 1 + N, D]``, in image order, positions added."""
    cls, visible = latent[:, :1], latent[:, 1:]  # [B, 1, D], [B, N_vis, D]
    batch, num_visible, dim = visible.shape
    num_hidden = ids_restore.shape[1] - num_visible
    tokens = torch.cat([visible, mask_token.expand(batch, num_hidden, dim)], dim=1)  # [B, N, D]: visible first
    index = ids_restore.unsqueeze(-1).expand(-1, -1, dim)  # [B, N, D]: one index per token, repeated over D
    tokens = torch.gather(tokens, dim=1, index=index)  # un-shuffled: token i is patch i
    return torch.cat([cls, tokens], dim=1) + pos_embed  # [B, 1 + N, D]


def my_norm_pix_loss(images, pred, hidden, patch_size):
    """MAE's loss with per-patch normalised pixels as the target, averaged over the hidden patches."""
    target = mae_lab.patchify(images, patch_size)  # [B, N, p*p*C]
    mean = target.mean(dim=-1, keepdim=True)  # [B, N, 1]
    var = target.var(dim=-1, keepdim=True)  # [B, N, 1], unbiased as in MAE's code
    target = (target - mean) / (var + 1e-6) ** 0.5
    per_patch = ((pred - target) ** 2).mean(dim=-1)  # [B, N]: one error per patch
    hidden = hidden.float()
    return (per_patch * hidden).sum() / hidden.sum()


# At 75 % masking, how much of the full-image work does the encoder do: "quarter", "half" or "same"?
ENCODER_COST = "quarter"
