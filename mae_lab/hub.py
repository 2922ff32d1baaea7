"""Deprecated: ``mae_lab.hub`` was split into :mod:`mae_lab.checkpoints` and :mod:`mae_lab.convert`.

Every name still works for one release, with a ``DeprecationWarning`` naming its new home.
"""

from __future__ import annotations

import importlib
from typing import Any

from .utils import deprecated_alias

_NEW_HOME = {
    **dict.fromkeys(
        ["CHECKPOINT_FORMAT", "MANIFEST_NAME", "list_shipped", "load_checkpoint", "load_model", "load_pretrained",
         "save_checkpoint", "verify_manifest", "write_manifest"], "checkpoints"),
    **dict.fromkeys(
        ["HF_REPOS", "OFFICIAL_URL", "SOURCES", "WeightsUnavailableError", "config_from_transformers",
         "convert_state_dict", "detect_source", "infer_config", "load_weights", "model_from_state_dict",
         "read_torch_state_dict"], "convert"),
}


def __getattr__(name: str) -> Any:
    if name not in _NEW_HOME:
        raise AttributeError(f"module 'mae_lab.hub' has no attribute {name!r}")
    module = _NEW_HOME[name]
    deprecated_alias(f"mae_lab.hub.{name}", f"mae_lab.{module}.{name}")
    return getattr(importlib.import_module(f"mae_lab.{module}"), name)
