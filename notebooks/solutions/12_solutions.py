"""Reference solutions for notebook 12 (video: tubelets, tube masking and the frame-to-frame leak)."""

import torch


def my_tubelet_patchify(clips: torch.Tensor, t: int, p: int) -> torch.Tensor:
    """``[B, C, T, H, W] -> [B, N, t*p*p*C]``: time-major tokens, values ordered (time, row, column, channel)."""
    b, c, frames, height, width = clips.shape
    x = clips.reshape(b, c, frames // t, t, height // p, p, width // p, p)  # [B, C, T', t, h, p, w, p]
    x = x.permute(0, 2, 4, 6, 3, 5, 7, 1)  # [B, T', h, w, t, p, p, C]
    return x.reshape(b, -1, t * p * p * c)  # [B, N, t*p*p*C]


def my_tube_mask(batch_size: int, grid: tuple, ratio: float, generator: torch.Generator) -> torch.Tensor:
    """bool ``[B, T, h, w]``: per sample, one random spatial mask hiding round(h*w*ratio) positions, in every frame."""
    frames, height, width = grid
    per_frame = round(height * width * ratio)
    noise = torch.rand(batch_size, height * width, generator=generator)  # one number per position
    rank = noise.argsort(dim=1).argsort(dim=1)  # each position's place in a random order
    spatial = (rank < per_frame).reshape(batch_size, 1, height, width)  # [B, 1, h, w]
    return spatial.expand(batch_size, frames, height, width).clone()  # the same in every frame


def my_leak_rate(hidden: torch.Tensor) -> float:
    """Share of hidden patches (``hidden [B, T, h, w]``) visible at the same place one slot earlier or later."""
    visible = ~hidden
    seen = torch.zeros_like(hidden)
    seen[:, :-1] |= visible[:, 1:]  # visible in the next slot
    seen[:, 1:] |= visible[:, :-1]  # visible in the previous slot
    return float((hidden & seen).sum()) / float(hidden.sum())
