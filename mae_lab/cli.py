"""``mae-lab``: pretrain, probe and look at masked autoencoders from a terminal.

    mae-lab pretrain --dataset fashion_mnist --model mae_tiny --epochs 20 --out runs/fm
    mae-lab pretrain --out runs/fm --resume            # continue an interrupted run
    mae-lab probe runs/fm --method knn                 # kNN accuracy vs raw pixels and random init
    mae-lab reconstruct runs/fm --image photo.png --ratio 0.75 --out rec.png
    mae-lab demo                                        # the whole story in ~2 minutes on a CPU

``demo`` is the headless main job: it pretrains a small masked autoencoder (He et al., 2021) on
an offline dataset against a wall-clock budget, probes it with kNN against both baselines, and
writes ``loss_curve.png``, ``reconstruction.png``, ``maskers.png`` (every mask strategy on a bundled
photo) and ``metrics.json`` to ``outputs/demo/``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["DEMO_SETTINGS", "build_parser", "main", "run_demo"]


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def _parse_value(text: str) -> Any:
    """``--set key=value`` values: JSON when it parses (numbers, lists, null, true), else the string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _load_model_and_config(run: str):
    """The model of a run folder (or any name :func:`mae_lab.load_model` knows) and its pretraining config."""
    from .train import PretrainConfig, load_run

    path = Path(run)
    if path.is_dir():
        model = load_run(path)
        config = PretrainConfig.load(path) if (path / "config.json").is_file() else None
        return model, config
    from .hub import load_model
    from .models import OFFICIAL_PRESETS

    model = load_model(run, pretrained=run in OFFICIAL_PRESETS)
    saved = (getattr(model, "metadata", None) or {}).get("pretrain_config")
    return model, PretrainConfig.from_dict(saved) if saved else None


def _dataset_for(model, config, name: str | None, split: str, limit: int | None, seed: int = 0):
    """A dataset whose images fit ``model`` (its size and channels), by name or from the run's config."""
    from .datasets import load_dataset

    options = dict(config.dataset_options) if config is not None else {}
    if name is None:
        if config is None:
            raise SystemExit("error: this model has no pretraining config; pass --dataset NAME")
        name = config.dataset
    elif config is not None and name != config.dataset:
        options = {}
    options["channels"] = model.config.in_chans
    return load_dataset(
        name, split=split, image_size=model.config.img_size, limit=limit, seed=seed, **options
    )


def _read_image(path: str, size: int, channels: int):
    """An image file as ``[1, C, size, size]`` in [0, 1]: shorter side resized, then centre-cropped."""
    import numpy as np
    import torch
    from PIL import Image

    if not Path(path).is_file():
        raise SystemExit(f"error: image {path} not found")
    with Image.open(path) as image:
        image = image.convert("RGB" if channels == 3 else "L")
        width, height = image.size
        factor = size / min(width, height)
        new = (max(size, round(width * factor)), max(size, round(height * factor)))
        image = image.resize(new, Image.BICUBIC)
        left, top = (new[0] - size) // 2, (new[1] - size) // 2
        array = np.asarray(image.crop((left, top, left + size, top + size)), dtype=np.float32) / 255.0
    array = array[..., None] if array.ndim == 2 else array
    return torch.from_numpy(array).permute(2, 0, 1)[None]


def _save_figure(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def _reconstruction_figure(model, images, masker: str, ratio: float, seed: int):
    """Original / masked / reconstruction / pasted / per-patch error for each image."""
    import torch

    from . import viz

    model.eval()
    with torch.no_grad():
        out = model(images, masker=masker, ratio=ratio, seed=seed)
        rec = model.reconstruct(images, out)
    return viz.plot_reconstruction(rec, max_images=len(images))


# ---------------------------------------------------------------------------------------------
# commands
# ---------------------------------------------------------------------------------------------
def _cmd_pretrain(args: argparse.Namespace) -> int:
    from .train import PretrainConfig, pretrain

    if args.config:
        config = PretrainConfig.load(args.config)
    elif args.resume and args.out and (Path(args.out) / "config.json").is_file():
        config = PretrainConfig.load(args.out)
    else:
        config = PretrainConfig()
    changes = {
        "dataset": args.dataset,
        "model": args.model,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "base_lr": args.base_lr,
        "lr": args.lr,
        "masker": args.masker,
        "mask_ratio": args.ratio,
        "target": args.target,
        "image_size": args.image_size,
        "limit": args.limit,
        "max_seconds": args.seconds,
        "seed": args.seed,
        "device": args.device,
        "out_dir": args.out,
        "warmup_epochs": args.warmup_epochs,
    }
    changes = {key: value for key, value in changes.items() if value is not None}
    if args.compile:
        changes["compile"] = True
    for item in args.set or ():
        key, _, value = item.partition("=")
        changes[key] = _parse_value(value)
    config = PretrainConfig.from_dict({**config.to_dict(), **changes})
    if config.out_dir is None:
        raise SystemExit("error: pass --out FOLDER (where checkpoints and logs go)")
    result = pretrain(config, resume=args.resume)
    print(result)
    return 0


def _cmd_probe(args: argparse.Namespace) -> int:
    from .probe import probe

    model, config = _load_model_and_config(args.run)
    train_set = _dataset_for(model, config, args.dataset, "train", args.limit)
    test_set = _dataset_for(model, config, args.dataset, "val", args.test_limit)
    result = probe(
        model,
        train_set,
        test_set,
        method=args.method,
        baselines=not args.no_baselines,
        pool=args.pool,
        epochs=args.epochs,
        device=args.device,
    )
    print(result)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result.to_dict(), indent=2))
    return 0


def _cmd_reconstruct(args: argparse.Namespace) -> int:
    from .datasets import sample_images

    model, config = _load_model_and_config(args.run)
    size, channels = model.config.img_size, model.config.in_chans
    if args.image:
        images = _read_image(args.image, size, channels)
    else:
        if config is None:
            raise SystemExit("error: this model has no pretraining config; pass --image FILE")
        options = {**config.dataset_options, "channels": channels}
        images = sample_images(config.dataset, n=4, image_size=size, split="val", seed=args.seed, **options)
    fig = _reconstruction_figure(model, images, args.masker, args.ratio, args.seed)
    path = _save_figure(fig, Path(args.out))
    print(f"wrote {path}")
    return 0


# ---------------------------------------------------------------------------------------------
# the demo
# ---------------------------------------------------------------------------------------------
#: Per dataset: the model (a preset plus overrides) and the recipe the demo trains with. ``epochs`` is a cap:
#: the wall-clock budget usually ends training first, and the schedules then follow the clock.
DEMO_SETTINGS: dict[str, dict[str, Any]] = {
    "fashion_mnist": {
        # 7-px patches: a 4 x 4 grid, so a small encoder runs fast on a CPU
        "model": "mae_micro",
        "model_overrides": {
            "img_size": 28,
            "patch_size": 7,
            "embed_dim": 96,
            "depth": 3,
            "num_heads": 4,
            "decoder_embed_dim": 64,
            "decoder_depth": 1,
            "decoder_num_heads": 4,
        },
        "target": "norm_pixels",  # per-patch normalised pixels: better features in little time (as in MAE)
        "mask_ratio": 0.75,
        "batch_size": 128,  # for a budget of minutes, more (smaller) steps learn more per image seen
        "lr": 1.5e-3,
        "epochs": 20,
        "warmup_epochs": 1,
        "crop_scale": (0.6, 1.0),
        "probe_train": 5000,
        "probe_test": 1000,
    },
    "digits": {
        "model": "mae_micro",
        "model_overrides": {},
        "target": "pixels",
        "mask_ratio": 0.5,
        "batch_size": 128,
        "lr": 1.5e-3,
        "epochs": 300,
        "warmup_epochs": 15,
        "crop_scale": (0.6, 1.0),
        "probe_train": None,
        "probe_test": None,
    },
}


def _demo_dataset(requested: str | None) -> str:
    """``fashion_mnist`` when its files are on this machine, else the always-offline ``digits``."""
    if requested is not None and requested != "auto":
        return requested
    from .datasets import load_dataset

    try:
        load_dataset("fashion_mnist", split="val", download=False, limit=1)
        return "fashion_mnist"
    except FileNotFoundError:
        return "digits"


def run_demo(
    out: str | Path = "outputs/demo",
    seconds: float = 120.0,
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
    import torch

    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _run_demo(Path(out), seconds, dataset, seed, device, progress)
    finally:
        torch.set_num_threads(previous)


def _run_demo(out: Path, seconds: float, dataset: str | None, seed: int, device: str, progress: bool) -> dict:
    from . import viz
    from .datasets import load_dataset, sample_images
    from .probe import probe
    from .train import STATE_FILE, PretrainConfig, pretrain

    start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    (out / "run" / STATE_FILE).unlink(missing_ok=True)  # each demo is a fresh run
    name = _demo_dataset(dataset)
    settings = DEMO_SETTINGS.get(name, DEMO_SETTINGS["digits"])
    config = PretrainConfig(
        dataset=name,
        model=settings["model"],
        model_overrides=dict(settings["model_overrides"]),
        epochs=settings["epochs"],
        max_seconds=float(seconds),
        batch_size=settings["batch_size"],
        lr=settings["lr"],
        warmup_epochs=settings["warmup_epochs"],
        mask_ratio=settings["mask_ratio"],
        target=settings["target"],
        crop_scale=settings["crop_scale"],
        seed=seed,
        device=device,
        out_dir=str(out / "run"),
        checkpoint_every=10_000,
        progress=progress,
        num_preview=4,
    )
    print(f"mae-lab demo: pretraining {config.model} on {name} for {seconds:.0f} s ...")
    result = pretrain(config)
    model = result.model
    size, channels = model.config.img_size, model.config.in_chans
    train_set = load_dataset(name, "train", image_size=size, channels=channels, limit=settings["probe_train"])
    test_set = load_dataset(name, "val", image_size=size, channels=channels, limit=settings["probe_test"])
    print(f"probing with kNN on {len(train_set)} train / {len(test_set)} test images ...")
    knn = probe(model, train_set, test_set, method="knn", baselines=True, pool="mean", seed=seed)

    fig = viz.plot_training(result.history, log_loss=True, title=f"pretraining {config.model} on {name}")
    _save_figure(fig, out / "loss_curve.png")
    images = load_dataset(name, "val", image_size=size, channels=channels, limit=4, seed=seed).tensors()[0]
    _save_figure(
        _reconstruction_figure(model, images, "random", config.mask_ratio, seed), out / "reconstruction.png"
    )
    photo = sample_images("photos", n=1, image_size=224, zoom=1.0, crop_scale=(0.6, 1.0), num_crops=4)[0]
    _save_figure(viz.mask_gallery(photo, ratio=0.75, seed=seed, patch_size=16, columns=5), out / "maskers.png")

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
        "knn": knn.to_dict(),
        "pretrained_beats_random_init": knn.accuracy > knn.baselines["random_init"],
        "total_seconds": round(time.perf_counter() - start, 2),
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(_demo_summary(metrics, out))
    return metrics


def _demo_summary(metrics: dict[str, Any], out: Path) -> str:
    knn = metrics["knn"]
    pre, rnd, raw = knn["accuracy"], knn["baselines"]["random_init"], knn["baselines"]["raw_pixels"]
    verdict = "beats" if metrics["pretrained_beats_random_init"] else "does NOT beat"
    loss = metrics["pretrain"]["final_loss"]
    loss_text = f"{loss:.4f}" if loss is not None else "n/a"
    return "\n".join(
        [
            "",
            (
                f"mae-lab demo on {metrics['dataset']} — {metrics['pretrain']['steps']} pretraining steps in "
                f"{metrics['pretrain']['seconds']:.0f} s (final loss {loss_text})"
            ),
            f"  kNN accuracy (k=20, cosine, {knn['num_train']} train / {knn['num_test']} test images):",
            f"    pretrained encoder  {100 * pre:5.1f} %",
            (
                f"    random-init encoder {100 * rnd:5.1f} %   -> pretraining {verdict} random init "
                f"({100 * (pre - rnd):+.1f} points)"
            ),
            f"    raw pixels          {100 * raw:5.1f} %",
            f"  wrote {out / 'loss_curve.png'}, {out / 'reconstruction.png'}, {out / 'maskers.png'}, "
            f"{out / 'metrics.json'}",
            f"  total {metrics['total_seconds']:.0f} s",
        ]
    )


def _cmd_demo(args: argparse.Namespace) -> int:
    run_demo(
        out=args.out,
        seconds=args.seconds,
        dataset=args.dataset,
        seed=args.seed,
        device=args.device,
        threads=args.threads or None,
    )
    return 0


# ---------------------------------------------------------------------------------------------
# the parser
# ---------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mae-lab", description="Masked autoencoders: pretrain, probe, look."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("pretrain", help="pretrain a masked autoencoder")
    p.add_argument("--config", help="a PretrainConfig JSON file (flags below override it)")
    p.add_argument("--dataset", help="digits, photos, fashion_mnist, cifar10, stl10 or folder")
    p.add_argument("--model", help="a preset: mae_micro, mae_tiny, mae_small, mae_base, ...")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int, help="per process")
    p.add_argument("--base-lr", type=float, help="lr = base_lr * batch / 256")
    p.add_argument("--lr", type=float, help="absolute learning rate (overrides --base-lr)")
    p.add_argument("--warmup-epochs", type=float)
    p.add_argument("--masker", help="a mask strategy (see mae_lab.list_maskers())")
    p.add_argument("--ratio", type=float, help="mask ratio")
    p.add_argument("--target", help="pixels, norm_pixels, hog, ...")
    p.add_argument("--image-size", type=int)
    p.add_argument("--limit", type=int, help="train on a random subset of this many images")
    p.add_argument("--seconds", type=float, help="stop after this many seconds of training")
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="auto, cpu, cuda, ...")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="any PretrainConfig field (JSON value)"
    )
    p.add_argument("--out", help="run folder (checkpoints, log.jsonl, config.json)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.set_defaults(handler=_cmd_pretrain)

    p = commands.add_parser("probe", help="measure what an encoder learned")
    p.add_argument("run", help="a run folder, a shipped model name or a checkpoint path")
    p.add_argument("--method", choices=("knn", "linear", "finetune"), default="knn")
    p.add_argument("--dataset", help="default: the dataset the run was trained on")
    p.add_argument("--limit", type=int, help="train images to use")
    p.add_argument("--test-limit", type=int, help="test images to use")
    p.add_argument("--pool", choices=("cls", "mean"), default="mean")
    p.add_argument("--epochs", type=int, help="linear probe / fine-tune epochs")
    p.add_argument("--no-baselines", action="store_true", help="skip raw pixels and random init")
    p.add_argument("--device")
    p.add_argument("--json", help="also write the result to this JSON file")
    p.set_defaults(handler=_cmd_probe)

    p = commands.add_parser("reconstruct", help="draw what a model reconstructs from a masked image")
    p.add_argument("run", help="a run folder, a shipped model name or a checkpoint path")
    p.add_argument("--image", help="an image file (default: 4 validation images of the run's dataset)")
    p.add_argument("--ratio", type=float, default=0.75)
    p.add_argument("--masker", default="random")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="reconstruction.png", help="PNG file to write")
    p.set_defaults(handler=_cmd_reconstruct)

    p = commands.add_parser("demo", help="pretrain, probe and draw, offline, in about two minutes")
    p.add_argument("--out", default="outputs/demo")
    p.add_argument("--seconds", type=float, default=120.0, help="pretraining budget in seconds")
    p.add_argument("--dataset", default="auto", help="auto (fashion_mnist if present, else digits) or a name")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=1, help="CPU threads for torch (0: torch's default)")
    p.set_defaults(handler=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mae-lab`` console script."""
    import matplotlib

    matplotlib.use("Agg")
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except (ValueError, KeyError, FileNotFoundError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
