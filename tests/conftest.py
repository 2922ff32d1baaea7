"""Shared test set-up: a headless matplotlib backend, few threads, quiet progress bars, and the ``needs``
marker: ``@pytest.mark.needs("fashion_mnist")`` skips a test (fails it under ``CI=true``) when the machine
lacks what it needs, with the fix in the reason (see ``tests/needs.py``)."""

import os

os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("MAE_LAB_SMOKE", "1")

import matplotlib

matplotlib.use("Agg")

import needs
import pytest
import torch

torch.set_num_threads(1)  # small models: one thread avoids OpenMP contention with kernels and browsers


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker in item.iter_markers("needs"):
        needs.require(*marker.args)


@pytest.fixture
def seed() -> int:
    return 0


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    """Three bundled photo crops ``[3, 3, 32, 32]`` in [0, 1]."""
    import mae_lab

    return mae_lab.sample_images("photos", n=3, image_size=32)


@pytest.fixture(scope="module")
def tiny():
    """A randomly initialised ``mae_tiny`` in eval mode (seed 0)."""
    from mae_lab.models import MaskedAutoencoder, get_preset

    return MaskedAutoencoder(get_preset("mae_tiny"), seed=0).eval()
