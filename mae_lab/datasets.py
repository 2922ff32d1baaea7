"""Deprecated: ``mae_lab.datasets`` is now the package :mod:`mae_lab.data` (same names).

Every public name still works for one release, with a ``DeprecationWarning``.
"""

from __future__ import annotations

from typing import Any

from .utils import deprecated_alias


def __getattr__(name: str) -> Any:
    from . import data

    if name.startswith("_") or not hasattr(data, name):
        raise AttributeError(f"module 'mae_lab.datasets' has no attribute {name!r} (see mae_lab.data)")
    deprecated_alias(f"mae_lab.datasets.{name}", f"mae_lab.data.{name}")
    return getattr(data, name)
