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
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from mae_lab.models import MaskedAutoencoder, get_preset
from mae_lab.train import param_groups

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
    model = MaskedAutoencoder(get_preset(name), seed=0).to(device).train()
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


def markdown(rows: list[dict]) -> str:
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
    rows = run(devices, args.smoke)
    if args.markdown:
        print(markdown(rows))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=2)


if __name__ == "__main__":
    main()
