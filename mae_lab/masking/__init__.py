"""Mask strategies ("maskers"): which patches to hide, and why it matters.

>>> from mae_lab.masking import make_mask, list_maskers
>>> mask = make_mask("random", batch_size=8, grid=(14, 14), ratio=0.75, seed=0)
>>> mask.hidden.shape, mask.num_visible
(torch.Size([8, 196]), 49)
"""

from .base import Mask, check_ratio, invert_permutation, make_generator, num_hidden_for, select_top
from .registry import MaskerInfo, get_masker, list_maskers, make_mask, register

# Importing a strategy module registers it (order = order in list_maskers()).
# isort: off
from . import random_masks  # noqa: F401  random, grid, center, frame
from . import block  # noqa: F401  block (BEiT), simmim
from . import noise  # noqa: F401  noise (ColorMAE)
from . import guided  # noqa: F401  attention (AttMask), hard (HPM)
from . import tube  # noqa: F401  tube (VideoMAE)
from . import frames  # noqa: F401  frame_random (the frame-wise video baseline)
# isort: on
from ..schedules import RatioSchedule, make_schedule  # re-exported: masking knobs change over training
from .for_images import mask_for_image, patch_saliency

__all__ = [
    "Mask",
    "MaskerInfo",
    "RatioSchedule",
    "check_ratio",
    "get_masker",
    "invert_permutation",
    "list_maskers",
    "make_generator",
    "make_mask",
    "make_schedule",
    "mask_for_image",
    "num_hidden_for",
    "patch_saliency",
    "register",
    "select_top",
]
