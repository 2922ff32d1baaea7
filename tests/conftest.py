"""Shared test set-up: a headless matplotlib backend, few threads, quiet progress bars."""

import os

os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("MAE_LAB_SMOKE", "1")

import matplotlib

matplotlib.use("Agg")

import pytest
import torch

torch.set_num_threads(1)  # small models: one thread avoids OpenMP contention with kernels and browsers


@pytest.fixture
def seed() -> int:
    return 0
