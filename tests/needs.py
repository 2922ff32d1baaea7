"""What a test or a lab needs from the machine, in one place: is it here, and how to get it.

A test asks with ``@pytest.mark.needs("fashion_mnist")`` (see ``tests/conftest.py``); a notebook with its
metadata ``{"mae_lab": {"needs": ["fashion_mnist"]}}`` (see ``notebooks/conftest.py``). When something is
missing the test is skipped with a reason that names the fix — except under ``CI=true``, where the skip
becomes a failure: CI installs everything, so it can never go green by skipping.

To see the skips on a machine that has everything, hide things with the switches the code honours:
``MAE_LAB_SYSTEM_DATA=0 MAE_LAB_DATA=<empty folder>`` hides Fashion-MNIST, ``MAE_LAB_CHROMIUM=/nonexistent``
hides Chromium.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest

DEFAULT_CHROMIUM = "/usr/bin/chromium"
FASHION_MNIST_FIX = "apt-get install dataset-fashion-mnist, or `mae-lab download fashion_mnist`"
CHROMIUM_FIX = "apt-get install chromium"


def chromium_path() -> Path | None:
    """The Chromium the browser test drives: ``$MAE_LAB_CHROMIUM``, else /usr/bin/chromium, else on the PATH."""
    chosen = os.environ.get("MAE_LAB_CHROMIUM")
    candidates = [chosen] if chosen else [DEFAULT_CHROMIUM, shutil.which("chromium"), shutil.which("chromium-browser")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    return None


def _fashion_mnist() -> str | None:
    from mae_lab.data import dataset_available

    if dataset_available("fashion_mnist"):
        return None
    return f"Fashion-MNIST is not on this machine: {FASHION_MNIST_FIX}"


def _chromium() -> str | None:
    if chromium_path() is None:
        where = os.environ.get("MAE_LAB_CHROMIUM") or DEFAULT_CHROMIUM
        return f"no Chromium at {where}: {CHROMIUM_FIX} (or point MAE_LAB_CHROMIUM at one)"
    if importlib.util.find_spec("playwright") is None:
        return "the Python package playwright is missing: pip install -e .[test] (make test does)"
    return None


#: name -> a check returning None when the thing is here, else why not and the fix
CHECKS = {"fashion_mnist": _fashion_mnist, "chromium": _chromium}


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def missing(name: str) -> str | None:
    if name not in CHECKS:
        raise KeyError(f"unknown need {name!r}; known: {', '.join(CHECKS)}")
    return CHECKS[name]()


def require(*names: str) -> None:
    """Skip the running test (fail it under ``CI=true``) when one of ``names`` is missing."""
    for name in names:
        reason = missing(name)
        if reason is not None:
            if in_ci():
                pytest.fail(f"CI=true, so a missing requirement fails instead of skipping: {reason}", pytrace=False)
            pytest.skip(reason)
