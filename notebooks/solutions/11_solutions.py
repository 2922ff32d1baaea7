"""Reference solutions for notebook 11 (beyond images: masked modeling on sequences)."""

import torch


def my_bert_corrupt(ids: torch.Tensor, chosen: torch.Tensor, mask_id: int, vocab_size: int,
                    generator: torch.Generator) -> torch.Tensor:
    """BERT's 80-10-10 corruption of the chosen positions, exact counts per sequence: long ``[B, L]``."""
    corrupted = ids.clone()  # positions not chosen never change
    for row in range(len(ids)):
        positions = chosen[row].nonzero().flatten()  # this sequence's chosen positions
        order = positions[torch.randperm(len(positions), generator=generator)]  # in a random order
        num_mask, num_random = round(0.8 * len(order)), round(0.1 * len(order))
        corrupted[row, order[:num_mask]] = mask_id
        randoms = order[num_mask:num_mask + num_random]
        corrupted[row, randoms] = torch.randint(0, vocab_size, (len(randoms),), generator=generator)  # never [MASK]
    return corrupted  # the last 10 % of the order keep their own token


# With 80-10-10 and a 15 % prediction rate, what share of the input changes: "15", "13.5" or "12"?
# 80 % [MASK] (12 %) + 10 % random (1.5 %); the kept 10 % are predicted but not corrupted.
MLM_CORRUPTION_RATE = "13.5"

# A model trained at 15 % is evaluated with 40 % hidden instead of 15 %: its accuracy goes "up",
# "down" or stays the "same"? Less context for every guess, so it goes down.
MLM_EVAL_RATIO = "down"
