"""Training throughput: images per second of full pretraining steps.

One step is what :func:`mae_lab.train.pretrain` does per batch: draw a random 75 % mask, forward
(encoder on the visible patches, decoder on all of them), backward, AdamW update. Measured for
``mae_tiny`` (32 px, 64 patches) and ``mae_base`` (ViT-B/16 MAE shapes, 224 px, 196 patches), on
the CPU and, when there is one, the GPU — there in fp32, in bf16 autocast, and with
``torch.compile`` (tiny ViTs are launch-bound on a GPU, so compiling matters more than FLOPs).

Each number is the best of a few timed windows after warm-up steps (the best window is the one
least disturbed by other programs on a shared machine).

    python benchmarks/train_throughput.py                  # every available device
    python benchmarks/train_throughput.py --device cpu
    python benchmarks/train_throughput.py --smoke          # a few steps, to check it runs
    python benchmarks/train_throughput.py --markdown       # a table for RESULTS.md
    python benchmarks/train_throughput.py --levers --markdown   # CPU levers: threads, batch, bf16, compile

``--levers`` asks what a 2-core laptop can do to train faster: for the shipped Fashion-MNIST body
(``fmnist``: 28 px, 7-px patches, 3 blocks of width 96) and ``mae_tiny``, images/s and images/s per
core with 1 and 2 threads, batch 64 / 128 / 256, bf16 autocast on the CPU, and ``torch.compile``
(inductor), all in one run so the ratios compare like with like.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from mae_lab.models import MaskedAutoencoder, get_preset
from mae_lab.train import param_groups

#: the body of the shipped ``mae_tiny_fmnist`` (the recipe search's winner per CPU-minute)
FMNIST_BODY = {"image_size": 28, "channels": 1, "patch_size": 7, "embed_dim": 96, "depth": 3, "num_heads": 4,
               "decoder_embed_dim": 64, "decoder_depth": 1, "decoder_num_heads": 4, "target": "norm_pixels"}


def model_config(name: str):
    """A preset by name, or ``"fmnist"`` for the shipped Fashion-MNIST body."""
    return get_preset("mae_micro", **FMNIST_BODY) if name == "fmnist" else get_preset(name)


#: batch size per (model, device type)
BATCH = {
    ("mae_tiny", "cpu"): 256,
    ("mae_base", "cpu"): 8,
    ("mae_tiny", "cuda"): 1024,
    ("mae_base", "cuda"): 128,
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(
    name: str,
    device: torch.device,
    batch_size: int,
    steps: int,
    windows: int,
    warmup: int,
    amp: bool = False,
    compile_model: bool = False,
) -> float:
    """Best images/s over ``windows`` windows of ``steps`` training steps each."""
    model = MaskedAutoencoder(model_config(name), seed=0).to(device).train()
    optimizer = torch.optim.AdamW(param_groups(model, 0.05), lr=1.5e-4, betas=(0.9, 0.95))
    forward = torch.compile(model) if compile_model else model
    size, channels = model.config.image_size, model.config.channels
    images = torch.rand(batch_size, channels, size, size, generator=torch.Generator().manual_seed(0)).to(
        device
    )
    generator = torch.Generator().manual_seed(0)

    def step() -> None:
        mask = model.make_mask(batch_size, "random", ratio=0.75, generator=generator).to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            loss = forward(images, mask=mask).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(warmup):
        step()
    _sync(device)
    best = 0.0
    for _ in range(windows):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        _sync(device)
        best = max(best, steps * batch_size / (time.perf_counter() - start))
    return best


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"


def run(devices: list[torch.device], smoke: bool) -> list[dict]:
    rows = []
    for device in devices:
        variants = [("fp32", False, False)]
        if device.type == "cuda" and not smoke:
            variants += [("bf16", True, False), ("bf16 + compile", True, True)]
        for name in ("mae_tiny", "mae_base"):
            batch = BATCH[(name, device.type)]
            if smoke:
                batch = min(batch, 32 if name == "mae_tiny" else 2)
            steps, windows, warmup = (
                (2, 1, 1) if smoke else ((2, 2, 1) if device.type == "cpu" else (20, 3, 5))
            )
            for label, amp, compile_model in variants:
                rate = measure(name, device, batch, steps, windows, warmup, amp, compile_model)
                rows.append(
                    {
                        "model": name,
                        "device": device_name(device),
                        "precision": label,
                        "batch": batch,
                        "images_per_sec": round(rate, 1),
                    }
                )
                print(
                    f"{name:9s} {device.type:4s} {label:15s} batch {batch:5d}: {rate:10.1f} images/s",
                    flush=True,
                )
    return rows


def levers(smoke: bool) -> list[dict]:
    """CPU only: threads x batch x (fp32, bf16 autocast, compile) for the two small bodies."""
    device = torch.device("cpu")
    steps, windows, warmup = (2, 1, 1) if smoke else (10, 3, 3)
    rows = []
    for name in ("fmnist", "mae_tiny"):
        for threads in (1, 2):
            torch.set_num_threads(threads)
            for batch in ((32,) if smoke else (64, 128, 256)):
                variants = [("fp32", False, False), ("bf16 autocast", True, False)]
                if batch == (32 if smoke else 128):
                    variants.append(("fp32 + compile", False, True))
                for label, amp, compile_model in variants:
                    rate = measure(name, device, batch, steps, windows, warmup, amp, compile_model)
                    rows.append({"model": name, "device": device_name(device), "precision": label, "batch": batch,
                                 "threads": threads, "images_per_sec": round(rate, 1),
                                 "images_per_sec_per_core": round(rate / threads, 1)})
                    print(f"{name:9s} {threads} thread(s) {label:15s} batch {batch:4d}: {rate:8.1f} images/s "
                          f"({rate / threads:.1f} per core)", flush=True)
    return rows


def markdown(rows: list[dict]) -> str:
    if rows and "threads" in rows[0]:
        lines = ["| model | threads | precision | batch | images/s | per core |", "| --- | ---: | --- | ---: | ---: | ---: |"]
        lines += [f"| {r['model']} | {r['threads']} | {r['precision']} | {r['batch']} | {r['images_per_sec']:.1f} | "
                  f"{r['images_per_sec_per_core']:.1f} |" for r in rows]
        return "\n".join(lines)
    lines = ["| model | device | precision | batch | images/s |", "| --- | --- | --- | ---: | ---: |"]
    lines += [
        f"| {r['model']} | {r['device']} | {r['precision']} | {r['batch']} | {r['images_per_sec']:.1f} |"
        for r in rows
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda", "all"), default="all")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    parser.add_argument("--smoke", action="store_true", help="tiny batches and one window")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--levers", action="store_true", help="CPU: threads, batch, bf16 autocast, compile")
    parser.add_argument("--json", help="write the rows to this file")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = []
    if args.device in ("cpu", "all"):
        devices.append(torch.device("cpu"))
    if args.device in ("cuda", "all") and torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device here; use --device cpu")
    rows = levers(args.smoke) if args.levers else run(devices, args.smoke)
    if args.markdown:
        print(markdown(rows))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=2)


if __name__ == "__main__":
    main()
