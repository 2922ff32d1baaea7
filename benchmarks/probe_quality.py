"""What does a small MAE learn on Fashion-MNIST? kNN, linear probe and fine-tune, with baselines.

Pretrains ``mae_tiny`` (28 px, 4-px patches: a 7 x 7 grid, 1 channel, per-patch normalised pixel
targets, 75 % random masking) for a fixed wall-clock budget, then probes the encoder three ways,
each next to the same probe on raw pixels and on the same encoder at random initialisation.

Goals on one GPU (10 minutes of pretraining): kNN >= 88 %, linear probe >= 89 %, fine-tune >= 94 %.
For reference, raw-pixel kNN is about 85.5 % and logistic regression about 84 %.

    python benchmarks/probe_quality.py                 # full run (meant for a GPU)
    python benchmarks/probe_quality.py --smoke --threads 1   # a CPU check: subsets, seconds of training
    python benchmarks/probe_quality.py --minutes 10 --json results.json
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from mae_lab.data import load_dataset
from mae_lab.probe import probe
from mae_lab.train import PretrainConfig, pretrain
from mae_lab.utils import default_device

GOALS = {"knn": 0.88, "linear": 0.89, "finetune": 0.94}


def settings(smoke: bool, minutes: float, device: str) -> dict:
    """The pretraining config and probe sizes for a full or a smoke run."""
    config = PretrainConfig(
        dataset="fashion_mnist",
        image_size=28,
        model="mae_tiny",
        target="norm_pixels",
        mask_ratio=0.75,
        epochs=400,
        max_seconds=minutes * 60,
        batch_size=512,
        base_lr=1e-3,
        warmup_epochs=20,
        min_lr=1e-5,
        crop_scale=(0.35, 1.0),
        device=device,
        amp=True,
        compile=device.startswith("cuda"),
        num_preview=0,
        out_dir="runs/probe_quality",
        log_every=50,
    )
    sizes = {"train": None, "test": None, "linear_epochs": 90, "finetune_epochs": 30}
    if smoke:
        config = config.replace(
            limit=2048,
            batch_size=128,
            epochs=4,
            warmup_epochs=1,
            compile=False,
            max_seconds=minutes * 60,
            out_dir=None,
        )
        sizes = {"train": 1000, "test": 250, "linear_epochs": 10, "finetune_epochs": 1}
    return {"config": config, **sizes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="CPU-sized run: subsets and a short budget")
    parser.add_argument(
        "--minutes", type=float, default=None, help="pretraining budget (default 10, smoke 0.5)"
    )
    parser.add_argument("--device", default=None, help="default: cuda when available")
    parser.add_argument("--methods", default="knn,linear,finetune")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's)")
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device or default_device().type
    minutes = args.minutes if args.minutes is not None else (0.5 if args.smoke else 10.0)
    plan = settings(args.smoke, minutes, device)
    config = plan["config"]

    start = time.perf_counter()
    result = pretrain(config)
    pretrain_minutes = result.seconds / 60
    print(
        f"pretrained {result.steps} steps ({result.steps * config.batch_size} images) in "
        f"{pretrain_minutes:.1f} min on {device}; final loss {result.final_loss:.4f}"
    )

    train = load_dataset("fashion_mnist", "train", image_size=28, limit=plan["train"])
    test = load_dataset("fashion_mnist", "test", image_size=28, limit=plan["test"])
    rows = []
    for method in args.methods.split(","):
        epochs = {"knn": None, "linear": plan["linear_epochs"], "finetune": plan["finetune_epochs"]}[method]
        outcome = probe(result.model, train, test, method=method, epochs=epochs, pool="mean", device=device)
        print(outcome, f"   [{outcome.seconds / 60:.1f} min]", flush=True)
        rows.append(outcome.to_dict())

    total = (time.perf_counter() - start) / 60
    print()
    print(
        f"Fashion-MNIST, mae_tiny, {device}, {train.__len__()} train / {len(test)} test images"
        f"{' (smoke)' if args.smoke else ''}"
    )
    print(
        f"{'method':10s} {'pretrained':>10s} {'random init':>12s} {'raw pixels':>11s} "
        f"{'gap':>7s} {'goal':>6s}"
    )
    for row in rows:
        base = row["baselines"]
        print(
            f"{row['method']:10s} {100 * row['accuracy']:9.1f}% {100 * base['random_init']:11.1f}% "
            f"{100 * base['raw_pixels']:10.1f}% {row['gap_over_random_init']:+6.1f} "
            f"{100 * GOALS[row['method']]:5.0f}%"
        )
    print(f"pretraining {pretrain_minutes:.1f} min, total {total:.1f} min")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(
                {
                    "device": device,
                    "smoke": args.smoke,
                    "pretrain_minutes": pretrain_minutes,
                    "pretrain_steps": result.steps,
                    "total_minutes": total,
                    "probes": rows,
                    "config": config.to_dict(),
                },
                handle,
                indent=2,
            )


if __name__ == "__main__":
    main()
