"""Reference solutions for notebook 02 (masking strategies)."""

import math

import torch


def my_random_masking(noise: torch.Tensor, ratio: float) -> tuple[torch.Tensor, torch.Tensor]:
    """MAE's argsort masking: ``noise [B, N] -> (ids_keep [B, N_vis], ids_restore [B, N])``."""
    num_patches = noise.shape[1]
    num_keep = num_patches - round(num_patches * ratio)
    ids_shuffle = torch.argsort(noise, dim=1)  # ascending: the smallest noise is kept
    ids_restore = torch.argsort(ids_shuffle, dim=1)  # undoes the shuffle
    ids_keep = ids_shuffle[:, :num_keep]  # [B, N_vis]
    return ids_keep, ids_restore


# At a 75 % ratio, which strategy makes the easiest task: "random", "block" or "grid"?
EASIEST = "grid"


def my_block_mask(grid, num_hidden, generator, min_block_patches=16, min_aspect=0.3):
    """BEiT's block-wise masking for one image, topped up to exactly ``num_hidden``: bool ``[h, w]``."""
    height, width = grid
    hidden = torch.zeros(height, width, dtype=torch.bool)
    log_low, log_high = math.log(min_aspect), math.log(1 / min_aspect)

    def uniform(low, high):  # one uniform number in [low, high), from the generator
        return low + (high - low) * torch.rand(1, generator=generator).item()

    def randint(high):  # one integer in [0, high], from the generator
        return int(torch.randint(0, high + 1, (1,), generator=generator))

    while int(hidden.sum()) < num_hidden:
        remaining = num_hidden - int(hidden.sum())
        for _ in range(10):  # BEiT gives each rectangle 10 tries
            area = uniform(min_block_patches, remaining)
            aspect = math.exp(uniform(log_low, log_high))  # log-uniform: 1/3 as likely as 3
            block_h, block_w = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
            if not (block_h < height and block_w < width):
                continue  # too big for the grid
            top, left = randint(height - block_h), randint(width - block_w)
            new = int((~hidden[top : top + block_h, left : left + block_w]).sum())
            if 0 < new <= remaining:
                hidden[top : top + block_h, left : left + block_w] = True
                break
        else:
            break  # 10 failures in a row: BEiT stops here, possibly a little short
    missing = num_hidden - int(hidden.sum())
    if missing > 0:  # our rule: top up at random among the visible patches, to the exact count
        visible = torch.nonzero(~hidden.reshape(-1)).squeeze(1)
        chosen = visible[torch.randperm(len(visible), generator=generator)[:missing]]
        hidden.reshape(-1)[chosen] = True
    return hidden
