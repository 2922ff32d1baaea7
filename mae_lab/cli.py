"""``mae-lab``: pretrain, probe and look at masked autoencoders from a terminal (argument parsing only).

    mae-lab pretrain --dataset fashion_mnist --model mae_tiny --epochs 20 --out runs/fm
    mae-lab pretrain --out runs/fm --resume            # continue an interrupted run
    mae-lab probe runs/fm --method knn                 # kNN accuracy vs raw pixels and random init
    mae-lab reconstruct runs/fm --image photo.png --ratio 0.75 --out rec.png
    mae-lab download fashion_mnist                     # fetch a dataset (online), checked
    mae-lab demo                                        # the whole story in a few minutes on a CPU

Each command parses its flags and calls the library: :func:`mae_lab.train.pretrain`,
:func:`mae_lab.probe.probe`, :func:`mae_lab.demo.run_demo` and the helpers in :mod:`mae_lab.demo`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .train_support import CheckpointWriteError, LossNotFiniteError, RunLockedError

__all__ = ["build_parser", "main"]

#: Datasets ``mae-lab download`` can fetch.
DOWNLOADABLE = ("fashion_mnist", "cifar10", "stl10")


def _parse_value(text: str) -> Any:
    """``--set key=value`` values: JSON when it parses (numbers, lists, null, true), else the string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


# ---------------------------------------------------------------------------------------------
# commands
# ---------------------------------------------------------------------------------------------
def _cmd_pretrain(args: argparse.Namespace) -> int:
    from .train import CONFIG_FILE, PretrainConfig, pretrain

    if args.config:
        config = PretrainConfig.load(args.config)
    elif args.resume and args.out and (Path(args.out) / CONFIG_FILE).is_file():
        config = PretrainConfig.load(args.out)
    else:
        config = PretrainConfig()
    changes = {
        "dataset": args.dataset, "model": args.model, "epochs": args.epochs, "batch_size": args.batch_size,
        "base_lr": args.base_lr, "lr": args.lr, "masker": args.masker, "mask_ratio": args.ratio,
        "target": args.target, "image_size": args.image_size, "limit": args.limit, "max_seconds": args.seconds,
        "seed": args.seed, "device": args.device, "out_dir": args.out, "warmup_epochs": args.warmup_epochs,
    }
    changes = {key: value for key, value in changes.items() if value is not None}
    if args.compile:
        changes["compile"] = True
    for item in args.set or ():
        key, _, value = item.partition("=")
        changes[key] = _parse_value(value)
    config = PretrainConfig.from_dict({**config.to_dict(), **changes})
    if config.out_dir is None:
        raise ValueError("pass --out FOLDER (where checkpoints and logs go)")
    print(pretrain(config, resume=args.resume))
    return 0


def _cmd_probe(args: argparse.Namespace) -> int:
    from .checkpoints import load_model
    from .demo import dataset_for_model
    from .probe import probe

    model = load_model(args.run, pretrained=True)
    train_set = dataset_for_model(model, args.dataset, "train", args.limit)
    test_set = dataset_for_model(model, args.dataset, "test", args.test_limit)
    result = probe(model, train_set, test_set, method=args.method, baselines=not args.no_baselines,
                   pool=args.pool, epochs=args.epochs, device=args.device)
    print(result)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result.to_dict(), indent=2))
    return 0


def _cmd_reconstruct(args: argparse.Namespace) -> int:
    from .checkpoints import load_model
    from .data import read_image_file
    from .demo import dataset_for_model, reconstruction_figure, save_figure

    model = load_model(args.run, pretrained=True)
    if args.image:
        if not Path(args.image).is_file():
            raise FileNotFoundError(f"image {args.image} not found")
        images = read_image_file(args.image, model.config.image_size, model.config.channels)[None].float() / 255
    else:
        images = dataset_for_model(model, None, "test", limit=4, seed=args.seed).tensors()[0]
    path = save_figure(reconstruction_figure(model, images, args.masker, args.ratio, args.seed), args.out)
    print(f"wrote {path}")
    return 0


def _cmd_download(args: argparse.Namespace) -> int:
    from .data import download_fashion_mnist, load_dataset

    if args.dataset == "fashion_mnist":
        folder = download_fashion_mnist(args.root, progress=True)
    else:
        for split in ("train", "test"):
            load_dataset(args.dataset, split, root=args.root, download=True)
        folder = args.root or "$MAE_LAB_DATA or data/"
    print(f"{args.dataset} is ready in {folder}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(out=args.out, seconds=args.seconds, dataset=args.dataset, seed=args.seed, device=args.device,
             threads=args.threads or None)
    return 0


# ---------------------------------------------------------------------------------------------
# the parser
# ---------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mae-lab", description="Masked autoencoders: pretrain, probe, look.")
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
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="any PretrainConfig field (JSON value)")
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
    p.add_argument("--image", help="an image file (default: 4 test images of the run's dataset)")
    p.add_argument("--ratio", type=float, default=0.75)
    p.add_argument("--masker", default="random")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="reconstruction.png", help="PNG file to write")
    p.set_defaults(handler=_cmd_reconstruct)

    p = commands.add_parser("download", help="fetch a dataset when online (checked against its checksums)")
    p.add_argument("dataset", choices=DOWNLOADABLE)
    p.add_argument("--root", help="where to put it (default: $MAE_LAB_DATA, else the repository's data/)")
    p.set_defaults(handler=_cmd_download)

    p = commands.add_parser("demo", help="pretrain, probe and draw, offline, in a few minutes")
    p.add_argument("--out", default="outputs/demo")
    p.add_argument("--seconds", type=float, default=90.0, help="pretraining budget in seconds")
    p.add_argument("--dataset", default="auto", help="auto (fashion_mnist if present, else digits) or a name")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=1, help="CPU threads for torch (0: torch's default)")
    p.set_defaults(handler=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mae-lab`` console script: returns the exit status, never raises for bad input.

    Bad flags print argparse's usage and ``error: ...`` (status 2); a bad value or a failure the library
    explains (a missing file, a locked run folder, a full disk, a NaN loss) prints ``error: <the message>``
    (status 2); ``--help`` prints the help (status 0).
    """
    import matplotlib

    matplotlib.use("Agg")
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as stop:  # argparse has printed the usage and the error (or the help)
        return stop.code if isinstance(stop.code, int) else 2
    try:
        return int(args.handler(args) or 0)
    except (ValueError, KeyError, TypeError, FileNotFoundError, LossNotFiniteError, RunLockedError,
            CheckpointWriteError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
