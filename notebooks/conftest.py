"""The labs under nbval: a lab whose metadata says ``{"mae_lab": {"needs": ["fashion_mnist"]}}`` is skipped,
with the fix in the reason, on a machine that lacks it (and fails under ``CI=true``); see ``tests/needs.py``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import needs


def notebook_needs(item: pytest.Item) -> list[str]:
    nb = getattr(item.parent, "nb", None)  # nbval's notebook file collector holds the parsed notebook
    if nb is None:
        return []
    return list(nb.metadata.get("mae_lab", {}).get("needs", []))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before the notebook's kernel starts: skip (or fail) every cell of a lab whose needs are missing."""
    needs.require(*notebook_needs(item))
