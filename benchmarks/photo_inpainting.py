"""How well does a photo MAE fill hidden patches, against guesses that need no learning?

For each mask ratio, hides random patches of held-out photo crops (the test photos never appear in
training) and scores the hidden pixels (mean squared error, pixels in [0, 1]) of: the model's
reconstruction, the mean colour of the visible pixels (the best constant guess), and scikit-image's
biharmonic inpainting (a strong classical guess). Lower is better.

    python benchmarks/photo_inpainting.py mae_tiny_photos
    python benchmarks/photo_inpainting.py runs/photos --ratios 0.1,0.25,0.5,0.75,0.9 --images 64 --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

import mae_lab
from mae_lab.inpainting import biharmonic, hidden_patch_error, mean_of_visible


def compare(model, images: torch.Tensor, ratios: list[float], seed: int = 0, with_biharmonic: bool = True) -> list[dict]:
    """One row per ratio: the hidden-patch error of the model and of each baseline."""
    model.eval()
    rows = []
    for ratio in ratios:
        mask = model.make_mask(len(images), "random", ratio=ratio, seed=seed)
        with torch.no_grad():
            start = time.perf_counter()
            pasted = model.reconstruct(images, mask=mask).pasted  # visible pixels kept, hidden ones predicted
            model_ms = 1000 * (time.perf_counter() - start) / len(images)
        row = {"ratio": ratio, "model": hidden_patch_error(pasted, images, mask, model.patch_size),
               "mean_of_visible": hidden_patch_error(mean_of_visible(images, mask, model.patch_size), images, mask,
                                                     model.patch_size),
               "model_ms_per_image": model_ms}
        if with_biharmonic:
            filled = biharmonic(images, mask, model.patch_size)
            row["biharmonic"] = hidden_patch_error(filled, images, mask, model.patch_size)
        rows.append(row)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default="mae_tiny_photos", help="a shipped name, run folder or file")
    parser.add_argument("--ratios", default="0.1,0.25,0.5,0.75,0.9")
    parser.add_argument("--images", type=int, default=64, help="held-out photo crops to score")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-biharmonic", action="store_true", help="skip the (slower) biharmonic baseline")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    model = mae_lab.load_model(args.model, pretrained=True)
    images = mae_lab.sample_images("photos", n=args.images, image_size=model.config.image_size, seed=args.seed)
    rows = compare(model, images, [float(r) for r in args.ratios.split(",")], args.seed, not args.no_biharmonic)
    columns = ["model", "mean_of_visible"] + ([] if args.no_biharmonic else ["biharmonic"])
    print(f"{args.model}: hidden-patch MSE on {len(images)} held-out {model.config.image_size}-px photo crops")
    print("| ratio | " + " | ".join(columns) + " | model beats mean-of-visible |")
    print("| ---: | " + " | ".join("---:" for _ in columns) + " | :---: |")
    for row in rows:
        wins = "yes" if row["model"] < row["mean_of_visible"] else "NO"
        print(f"| {row['ratio']:.2f} | " + " | ".join(f"{row[c]:.4f}" for c in columns) + f" | {wins} |")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"model": args.model, "images": len(images), "rows": rows}, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
