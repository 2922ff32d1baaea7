"""Which small-MAE recipe buys the most probe accuracy per CPU-minute on Fashion-MNIST?

Each trial pretrains one recipe for a fixed wall-clock budget with ``mae_lab.train.pretrain`` and then
probes the encoder on the **full** Fashion-MNIST split (60,000 train / 10,000 test images) with the
project's kNN (k = 20, cosine, T = 0.07) and linear probe (BatchNorm without affine + linear, as in MAE).
Raw pixels and the same encoder at random init are probed the same way, so every row carries its
baselines. Rows are appended to a JSON-lines file, so a sweep can be stopped and continued.

    python benchmarks/recipe_search.py --grid screen --budget 120 --threads 1 --out runs/recipes.jsonl
    python benchmarks/recipe_search.py --trial '{"model_overrides": {"depth": 4}}' --budget 600
    python benchmarks/recipe_search.py --table runs/recipes.jsonl          # the markdown table

Every trial starts from ``BASE`` (the demo's recipe) and changes a few settings.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from pathlib import Path

import torch

from mae_lab.checkpoints import save_checkpoint
from mae_lab.data import load_dataset
from mae_lab.probe import extract_features, knn_probe, linear_probe, raw_pixel_features
from mae_lab.train import PretrainConfig, build_model, pretrain

#: The starting recipe: 7-px patches (a 4x4 grid, 16 tokens), 3 blocks of width 96, one 64-wide decoder block.
BASE: dict = {
    "dataset": "fashion_mnist",
    "model": "mae_micro",
    "image_size": 28,
    "model_overrides": {
        "patch_size": 7, "embed_dim": 96, "depth": 3, "num_heads": 4,
        "decoder_embed_dim": 64, "decoder_depth": 1, "decoder_num_heads": 4,
    },
    "target": "norm_pixels",
    "mask_ratio": 0.75,
    "batch_size": 128,
    "lr": 1.5e-3,
    "epochs": 1000,
    "warmup_epochs": 1,
    "crop_scale": [0.6, 1.0],
}

#: Named sweeps: each entry is (label, changes to BASE).
GRIDS: dict[str, list[tuple[str, dict]]] = {
    "screen": [
        ("base", {}),
        ("ratio 0.6", {"mask_ratio": 0.6}),
        ("ratio 0.9", {"mask_ratio": 0.9}),
        ("pixels target", {"target": "pixels"}),
        ("crop 0.2-1", {"crop_scale": [0.2, 1.0]}),
        ("crop 0.35-1", {"crop_scale": [0.35, 1.0]}),
        ("no augmentation", {"augment": False}),
        ("batch 64", {"batch_size": 64, "lr": 1e-3}),
        ("batch 256", {"batch_size": 256, "lr": 2e-3}),
        ("lr 3e-3", {"lr": 3e-3}),
        ("lr 7.5e-4", {"lr": 7.5e-4}),
        ("width 128", {"model_overrides": {"embed_dim": 128}}),
        ("width 192", {"model_overrides": {"embed_dim": 192, "num_heads": 6}}),
        ("depth 6", {"model_overrides": {"depth": 6}}),
        ("decoder 128x1", {"model_overrides": {"decoder_embed_dim": 128}}),
        ("decoder 64x2", {"model_overrides": {"decoder_depth": 2}}),
        ("decoder 32x1", {"model_overrides": {"decoder_embed_dim": 32, "decoder_num_heads": 2}}),
        ("patch 4 (49 tokens)", {"model_overrides": {"patch_size": 4}}),
    ],
}


#: Lab 08's grid: each mask strategy at each ratio, the rest of the shipped recipe (no augmentation) fixed.
#: Block masking's smallest rectangle is 2 patches: BEiT's 16 would cover the whole 4x4 grid.
GRIDS["ablation"] = [
    (f"{masker} {ratio:.2f}", {"masker": masker, "mask_ratio": ratio, "augment": False,
                               "masker_options": {"min_block_patches": 2} if masker == "block" else {}})
    for masker in ("random", "block", "grid") for ratio in (0.25, 0.5, 0.75, 0.9)
]


def merge(base: dict, changes: dict) -> dict:
    """``base`` with ``changes`` applied (``model_overrides`` merged key by key)."""
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if key == "model_overrides":
            out["model_overrides"].update(value)
        else:
            out[key] = value
    return out


def probe_all(encoder, train, test, linear_epochs: int, knn_only: bool = False) -> dict:
    """kNN and linear-probe accuracy (in %) of mean-pooled and class-token features (``knn_only``: mean-pooled kNN)."""
    if knn_only:
        return {"knn_mean": 100 * knn_probe(*extract_features(encoder, train, batch_size=1024),
                                            *extract_features(encoder, test, batch_size=1024))}
    scores = {}
    for pool in ("mean", "cls"):
        train_f = extract_features(encoder, train, pool=pool, batch_size=1024)
        test_f = extract_features(encoder, test, pool=pool, batch_size=1024)
        scores[f"knn_{pool}"] = 100 * knn_probe(*train_f, *test_f)
        scores[f"linear_{pool}"] = 100 * linear_probe(*train_f, *test_f, epochs=linear_epochs)
    return scores


def pixel_baseline(train, test, cache: Path, linear_epochs: int) -> dict:
    """Raw-pixel kNN and linear probe on the same split (computed once, then read from ``cache``)."""
    if cache.is_file():
        return json.loads(cache.read_text())
    train_f, test_f = raw_pixel_features(train), raw_pixel_features(test)
    scores = {"knn": 100 * knn_probe(*train_f, *test_f),
              "linear": 100 * linear_probe(*train_f, *test_f, epochs=linear_epochs)}
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(scores))
    return scores


_RANDOM_INIT: dict[str, dict] = {}


def random_init_scores(config: PretrainConfig, train, test, linear_epochs: int, knn_only: bool = False) -> dict:
    """The probes of the same architecture at random init (once per architecture and seed)."""
    key = json.dumps([config.model, config.model_overrides, config.seed, knn_only], sort_keys=True)
    if key not in _RANDOM_INIT:
        _RANDOM_INIT[key] = probe_all(build_model(config, 28, 1), train, test, linear_epochs, knn_only)
    return _RANDOM_INIT[key]


def run_trial(label: str, recipe: dict, budget: float, threads: int, train, test, linear_epochs: int,
              clock: str = "wall", save: Path | None = None, knn_only: bool = False) -> dict:
    torch.set_num_threads(threads)
    config = PretrainConfig.from_dict({**PretrainConfig().to_dict(), **recipe, "max_seconds": budget,
                                       "clock": clock, "progress": False, "device": "cpu"})
    start = time.perf_counter()
    result = pretrain(config)
    train_seconds = time.perf_counter() - start
    if save is not None:  # keep the encoder, e.g. to study fine-tuning on it
        save_checkpoint(result.model, save / label.replace(" ", "_").replace("/", "-"),
                        metadata={"pretrain_config": config.to_dict(), "step": result.steps})
    pretrained = probe_all(result.model, train, test, linear_epochs, knn_only)
    random_init = random_init_scores(config, train, test, linear_epochs, knn_only)
    return {
        "label": label, "budget_s": budget, "clock": clock, "threads": threads, "steps": result.steps,
        "images_seen": result.steps * config.batch_size, "train_seconds": round(train_seconds, 1),
        "final_loss": result.final_loss, "pretrained": pretrained, "random_init": random_init,
        "recipe": recipe, "load_average": os.getloadavg()[0],
    }


def _pct(scores: dict, key: str) -> str:
    return f"{scores[key]:.1f}" if key in scores else "–"


def table(rows: list[dict], pixels: dict | None) -> str:
    lines = ["| recipe | budget | threads | steps | kNN mean / cls | linear mean / cls | random init kNN / linear |",
             "| --- | ---: | ---: | ---: | --- | --- | --- |"]
    for row in rows:
        p, r = row["pretrained"], row["random_init"]
        lines.append(
            f"| {row['label']} | {row['budget_s']:.0f} {'CPU-s' if row.get('clock') == 'cpu' else 's wall'} | "
            f"{row['threads']} | {row['steps']:,} | "
            f"{p['knn_mean']:.1f} / {_pct(p, 'knn_cls')} | {_pct(p, 'linear_mean')} / {_pct(p, 'linear_cls')} | "
            f"{r['knn_mean']:.1f} / {_pct(r, 'linear_mean')} |"
        )
    if pixels:
        lines.append(f"\nRaw pixels on the same split: kNN {pixels['knn']:.1f} %, linear {pixels['linear']:.1f} %.")
    return "\n".join(lines)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def read_results(results: Path) -> tuple[list[dict], dict | None]:
    """A results file's rows (one JSON per line) and the raw-pixel baseline cached next to it (or None)."""
    rows = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    pixels_file = results.with_name("pixel_baseline.json")
    return rows, json.loads(pixels_file.read_text()) if pixels_file.is_file() else None


def export(results: Path, target: Path, command: str) -> None:
    """One compact JSON per sweep: every row's recipe changes and probe accuracies, with the baselines."""
    rows, pixels = read_results(results)
    payload = {
        "made_by": command,
        "probe": "full Fashion-MNIST split (60,000 train / 10,000 test), mean-pooled features",
        "raw_pixels": pixels,
        "rows": [{"label": r["label"], "masker": r["recipe"].get("masker", "random"),
                  "mask_ratio": r["recipe"].get("mask_ratio"), "budget_s": r["budget_s"],
                  "clock": r.get("clock", "wall"), "steps": r["steps"],
                  "knn": round(r["pretrained"]["knn_mean"], 2), "linear": _round(r["pretrained"].get("linear_mean")),
                  "random_init_knn": round(r["random_init"]["knn_mean"], 2),
                  "random_init_linear": _round(r["random_init"].get("linear_mean"))} for r in rows],
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(payload, indent=1) + "\n")
    print(f"wrote {target} ({len(rows)} rows)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", choices=sorted(GRIDS), help="a named sweep")
    parser.add_argument("--trial", action="append", default=[], help="JSON changes to BASE (repeatable)")
    parser.add_argument("--label", action="append", default=[], help="a label for each --trial")
    parser.add_argument("--only", help="comma-separated labels of the grid to run")
    parser.add_argument("--budget", type=float, default=120.0, help="pretraining seconds per trial")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="what --budget counts: wall-clock seconds, or CPU seconds of the process "
                             "(unaffected by other programs on the machine)")
    parser.add_argument("--linear-epochs", type=int, default=30)
    parser.add_argument("--knn-only", action="store_true", help="probe with mean-pooled kNN only (quicker)")
    parser.add_argument("--out", default="runs/recipes.jsonl")
    parser.add_argument("--save", help="a folder to keep each trial's model in (checkpoint per label)")
    parser.add_argument("--table", help="print the markdown table of a results file and exit")
    parser.add_argument("--export", nargs=2, metavar=("RESULTS", "JSON"),
                        help="write a results file as the compact JSON a lab draws (e.g. data/ablation_grid.json)")
    args = parser.parse_args(argv)
    if args.table:
        print(table(*read_results(Path(args.table))))
        return 0
    if args.export:
        export(Path(args.export[0]), Path(args.export[1]), " ".join(sys.argv))
        return 0
    trials = list(GRIDS[args.grid]) if args.grid else []
    if args.only:
        wanted = {label.strip() for label in args.only.split(",")}
        trials = [t for t in trials if t[0] in wanted]
    for index, text in enumerate(args.trial):
        label = args.label[index] if index < len(args.label) else text
        trials.append((label, json.loads(text)))
    if not trials:
        parser.error("give --grid or --trial")
    torch.set_num_threads(args.threads)
    train = load_dataset("fashion_mnist", "train")
    test = load_dataset("fashion_mnist", "test")
    out = Path(args.out)
    pixels = pixel_baseline(train, test, out.with_name("pixel_baseline.json"), args.linear_epochs)
    print(f"raw pixels: kNN {pixels['knn']:.1f} %, linear {pixels['linear']:.1f} %", flush=True)
    for label, changes in trials:
        row = run_trial(label, merge(BASE, changes), args.budget, args.threads, train, test, args.linear_epochs,
                        args.clock, Path(args.save) if args.save else None, args.knn_only)
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("a") as handle:
            handle.write(json.dumps(row) + "\n")
        p = row["pretrained"]
        print(f"{label:28s} steps {row['steps']:6d}  kNN {p['knn_mean']:.1f}/{_pct(p, 'knn_cls')}  "
              f"linear {_pct(p, 'linear_mean')}/{_pct(p, 'linear_cls')}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
