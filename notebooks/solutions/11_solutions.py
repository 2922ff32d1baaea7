"""Reference solutions for notebook 10 (beyond images: masked modeling on sequences)."""

import torch


def my_sequence_mask(length: int, ratio: float, generator: torch.Generator) -> torch.Tensor:
    """bool ``[length]``: exactly ``round(length * ratio)`` positions hidden (True), drawn with ``generator``."""
    num_hidden = int(round(length * ratio))
    order = torch.randperm(length, generator=generator)  # a random order of the positions
    hidden = torch.zeros(length, dtype=torch.bool)
    hidden[order[:num_hidden]] = True  # the first num_hidden positions of the random order are hidden
    return hidden


# A model trained at 15 % is evaluated with 40 % hidden instead of 15 %: its accuracy goes "up",
# "down" or stays the "same"? Less context for every guess, so it goes down.
MLM_EVAL_RATIO = "down"
