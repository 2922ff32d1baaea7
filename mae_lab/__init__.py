"""mae_lab: an interactive, notebook-first teaching toolkit for masked modeling.

Start here::

    import mae_lab
    model = mae_lab.load_model("mae_tiny_photos", pretrained=True)   # a shipped model
    images = mae_lab.sample_images("photos", n=4, image_size=32)      # [4, 3, 32, 32]
    out = model(images, masker="block", ratio=0.6, seed=0)            # loss, pred, mask, ...

The package is built in layers (:data:`LAYERS`, bottom first). A module imports only from its own
layer or the layers below it — also inside functions — so data flows one way::

    utils → patches, masking → models → checkpoints, data → train → probe → viz → widgets → demo → cli

To read the idea in code, follow ``patches.py`` → ``masking/random_masks.py`` → ``models/vit.py`` →
``models/mae.py`` → ``train.py`` → ``probe.py``; everything else is tooling around those six files.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.2.0"

#: The layers of the package, bottom first. A module may import from its own layer and the ones before
#: it, never from a later one (``tests/test_layers.py`` reads this list and enforces it).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("utils", "paths"),  # devices, seeds and random streams, "did you mean", atomic writes, the network
    ("patches", "schedules", "targets", "masking", "inpainting"),  # tokens, what to hide and predict, baselines
    ("models",),  # the ViT encoder and the masked autoencoder
    ("attention", "convert"),  # reading attention; official / timm / Hugging Face weights
    ("checkpoints", "data", "datasets", "hub"),  # our files and the one model resolver; datasets
    ("train_support", "train"),  # the pretraining loop and its plumbing
    ("finetune", "probe"),  # kNN, linear probe, fine-tuning, label efficiency
    ("panels", "viz"),  # fast pictures for live apps; matplotlib figures
    ("widgets", "exercises", "sequences", "video", "points", "graphs", "feature_targets", "tokens",
     "learned_masks", "multimodal"),  # live apps, self-checks, other modalities and families
    ("demo",),  # the headless main job
    ("cli",),  # the ``mae-lab`` command
)

#: Top-level names and the module each comes from (imported on first use, so ``import mae_lab`` is quick).
_PUBLIC = {
    "Mask": "masking",
    "list_maskers": "masking",
    "make_mask": "masking",
    "patchify": "patches",
    "unpatchify": "patches",
    "load_model": "checkpoints",
    "load_dataset": "data",
    "sample_images": "data",
}

__all__ = ["LAYERS", "__version__", *sorted(_PUBLIC)]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(f"mae_lab.{_PUBLIC[name]}"), name)
    if any(name in layer for layer in LAYERS):
        return importlib.import_module(f"mae_lab.{name}")  # mae_lab.viz, mae_lab.utils, ...
    raise AttributeError(f"module 'mae_lab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC, *(name for layer in LAYERS for name in layer)})
