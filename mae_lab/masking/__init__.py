"""Mask strategies ("maskers"): which patches to hide, and why it matters.

>>> from mae_lab.masking import make_mask, list_maskers
>>> mask = make_mask("random", batch_size=8, grid=(14, 14), ratio=0.75, seed=0)
>>> mask.hidden.shape, mask.num_visible
(torch.Size([8, 196]), 49)
"""

from .base import Mask, check_ratio, make_generator, num_hidden_for, select_top
from .registry import MaskerInfo, get_masker, list_maskers, make_mask, register

# Importing a strategy module registers it (order = order in list_maskers()).
from . import random_masks  # noqa: F401,E402  random, grid, center, frame
from . import block  # noqa: F401,E402  block (BEiT), simmim
from . import noise  # noqa: F401,E402  noise (ColorMAE)
from . import guided  # noqa: F401,E402  attention (AttMask), hard (HPM)
from . import tube  # noqa: F401,E402  tube (VideoMAE)
from .schedules import RatioSchedule, make_schedule  # noqa: E402

__all__ = [
    "Mask",
    "MaskerInfo",
    "make_mask",
    "list_maskers",
    "get_masker",
    "register",
    "check_ratio",
    "num_hidden_for",
    "make_generator",
    "select_top",
    "RatioSchedule",
    "make_schedule",
]
