"""mae_lab: an interactive, notebook-first teaching toolkit for masked modeling.

Start here::

    import mae_lab
    model = mae_lab.load_model("mae_tiny_photos", pretrained=True)   # a shipped model
    images = mae_lab.sample_images("photos", n=4, image_size=32)      # [4, 3, 32, 32]
    out = model(images, masker="block", ratio=0.6, seed=0)            # loss, pred, mask, ...

The sub-modules, from the bottom up: ``patches`` → ``masking`` → ``targets`` → ``models``
→ ``hub`` / ``datasets`` → ``train`` / ``probe`` → ``attention`` → ``panels`` / ``viz`` → ``widgets``.
"""

from __future__ import annotations

__version__ = "0.1.0"

from . import utils  # noqa: F401  (notebooks call mae_lab.utils.smoke_mode())
from .masking import Mask, list_maskers, make_mask
from .patches import patchify, unpatchify


def load_model(name: str, pretrained: bool = False, **overrides):
    """A model by name: a preset (``"mae_tiny"``), a shipped checkpoint (``"mae_tiny_photos"``) or a path.

    See :func:`mae_lab.hub.load_model` for details.
    """
    from .hub import load_model as _load_model

    return _load_model(name, pretrained=pretrained, **overrides)


def load_dataset(name: str, split: str = "train", **kwargs):
    """A dataset by name (``"digits"``, ``"photos"``, ``"fashion_mnist"``, ...); see :mod:`mae_lab.datasets`."""
    from .datasets import load_dataset as _load_dataset

    return _load_dataset(name, split=split, **kwargs)


def sample_images(name: str = "photos", n: int = 8, **kwargs):
    """A small batch of images ``[n, C, H, W]`` in [0, 1]; see :func:`mae_lab.datasets.sample_images`."""
    from .datasets import sample_images as _sample_images

    return _sample_images(name, n=n, **kwargs)


__all__ = [
    "Mask",
    "__version__",
    "list_maskers",
    "load_dataset",
    "load_model",
    "make_mask",
    "patchify",
    "sample_images",
    "unpatchify",
]
