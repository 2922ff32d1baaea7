"""Where mae_lab finds the files it ships (``data/``) and writes its outputs."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["checkpoints_dir", "data_dir", "outputs_dir", "repo_root"]


def repo_root() -> Path:
    """The folder that holds ``mae_lab/`` (a checkout or an editable install)."""
    return Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """The shipped ``data/`` folder (override with ``$MAE_LAB_SHIPPED_DATA``)."""
    override = os.environ.get("MAE_LAB_SHIPPED_DATA")
    return Path(override) if override else repo_root() / "data"


def checkpoints_dir() -> Path:
    """``data/checkpoints``: the small models mae_lab trained itself and ships."""
    return data_dir() / "checkpoints"


def outputs_dir() -> Path:
    """``outputs/`` in the current folder, where headless jobs write figures and metrics."""
    return Path(os.environ.get("MAE_LAB_OUTPUTS", "outputs"))
