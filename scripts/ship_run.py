"""Ship a finished ``mae-lab pretrain`` run as one of the models in ``data/checkpoints`` (a maintainer tool).

    python scripts/ship_run.py runs/mae_tiny_fmnist mae_tiny_fmnist --command "mae-lab pretrain ..."

Writes ``data/checkpoints/<name>.safetensors`` (fp16) and ``<name>.json``, whose metadata records the
exact command that trained the model, its seed, steps, wall-clock seconds, data and final loss, plus a
kNN probe on the dataset's test split against raw pixels and the same encoder at random init (and any
extra measurements passed with ``--metrics file.json``); then rewrites ``MANIFEST.sha256``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from mae_lab.checkpoints import load_model, save_checkpoint, write_manifest
from mae_lab.data import load_dataset
from mae_lab.paths import checkpoints_dir
from mae_lab.probe import probe


def ship_run(run_dir: str | Path, name: str, command: str, folder: str | Path | None = None,
             probe_limit: int | None = None, extra: dict | None = None, dtype: torch.dtype = torch.float16) -> Path:
    """Copy the model of ``run_dir`` into ``folder`` (default ``data/checkpoints``) with its record."""
    model = load_model(Path(run_dir))
    trained = dict(model.metadata or {})
    config = trained.get("pretrain_config", {})
    epoch_log = trained.get("epoch_log", [])
    options = {**config.get("dataset_options", {}), "image_size": model.config.image_size,
               "channels": model.config.channels}
    train_set = load_dataset(config["dataset"], split="train", limit=probe_limit, **options)
    test_set = load_dataset(config["dataset"], split="test", **options)
    knn = probe(model, train_set, test_set, method="knn", baselines=True)
    metadata = {
        "name": name,
        "command": command,
        "seed": config.get("seed"),
        "epochs": trained.get("epoch"),
        "steps": trained.get("step"),
        "train_seconds": epoch_log[-1].get("elapsed") if epoch_log else None,
        "dataset": config.get("dataset"),
        "data": {"dataset": config.get("dataset"), **options},
        "final_loss": trained.get("loss"),
        "probe": {"knn": knn.to_dict(), **(extra or {})},
        "pretrain_config": config,
    }
    folder = Path(folder) if folder is not None else checkpoints_dir()
    model.metadata = metadata
    path = save_checkpoint(model, folder / name, metadata=metadata, dtype=dtype)
    write_manifest(folder)
    print(f"shipped {name}: kNN {100 * knn.accuracy:.1f} % (random init {100 * knn.baselines['random_init']:.1f} %, "
          f"raw pixels {100 * knn.baselines['raw_pixels']:.1f} %) -> {path}")
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("name")
    parser.add_argument("--command", required=True, help="the command line that trained the run (recorded)")
    parser.add_argument("--folder", help="default: data/checkpoints")
    parser.add_argument("--probe-limit", type=int, help="training images for the kNN probe (default: all)")
    parser.add_argument("--metrics", help="a JSON file of further measurements to record under 'probe'")
    args = parser.parse_args(argv)
    extra = json.loads(Path(args.metrics).read_text()) if args.metrics else None
    ship_run(args.run_dir, args.name, args.command, args.folder, args.probe_limit, extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())
