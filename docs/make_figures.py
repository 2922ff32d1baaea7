"""Draw the README's pictures from the shipped data: ``python docs/make_figures.py``."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import mae_lab  # noqa: E402
from mae_lab import viz  # noqa: E402

HERE = Path(__file__).resolve().parent


def main() -> None:
    photo = mae_lab.sample_images("photos", n=1, image_size=224, zoom=1.0, crop_scale=(0.6, 1.0), num_crops=4)[0]
    gallery = viz.mask_gallery(photo, ratio=0.75, seed=0, patch_size=16, columns=5)
    gallery.savefig(HERE / "maskers.png", dpi=72, bbox_inches="tight")

    model = mae_lab.load_model("mae_tiny_photos", pretrained=True)
    images = mae_lab.sample_images("photos", n=3, image_size=model.config.image_size, seed=3)
    out = model(images, masker="random", ratio=0.75, seed=0)
    figure = viz.plot_reconstruction(model.reconstruct(images, out), max_images=3)
    figure.savefig(HERE / "reconstruction.png", dpi=72, bbox_inches="tight")


if __name__ == "__main__":
    main()
