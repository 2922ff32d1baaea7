"""Small helpers shared across the package."""

from __future__ import annotations

import sys

import torch

__all__ = ["default_device", "in_colab", "smoke_mode"]


def default_device() -> torch.device:
    """``cuda`` if available, else ``mps``, else ``cpu``."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def in_colab() -> bool:
    """True inside Google Colab."""
    return "google.colab" in sys.modules


def smoke_mode() -> bool:
    """True when ``MAE_LAB_SMOKE=1``: notebooks and demos shrink data and epochs."""
    import os

    return os.environ.get("MAE_LAB_SMOKE", "0").lower() not in ("", "0", "false", "no")
