"""Does encoding only the visible patches pay off?

Times one training step (forward + backward) of ``mae_base`` (ViT-B/16 encoder, 8-block
decoder, 224 px, 196 patches) at mask ratios 0, 0.5, 0.75 and 0.9, two ways:

* **whole model** — ``model(images, mask=mask).loss.backward()``: encoder on the visible
  tokens, decoder on all 196 tokens, loss on the hidden patches;
* **encoder only** — ``model.encode(images, mask)`` and a backward pass through it.

Each time is the best of a few repeats after a warm-up step (the minimum is the least
disturbed by other programs on a shared machine), reported next to its ratio-0 time.  MAE's claim: at 75 % masking the encoder handles a quarter of the tokens, so
its step should cost at most 40 % of the unmasked one (attention is quadratic in the tokens,
the MLPs linear, and fixed overheads keep it above 25 %).

    python benchmarks/model_speed.py                    # CPU (and the GPU when there is one)
    python benchmarks/model_speed.py --device cuda --batch 64
    python benchmarks/model_speed.py --markdown         # markdown table for RESULTS.md
    python benchmarks/model_speed.py --threads 1        # steadier on a busy, shared CPU
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import time

import torch

from mae_lab.models import MaskedAutoencoder, get_preset

RATIOS = (0.0, 0.5, 0.75, 0.9)
ENCODER_GOAL = 0.40  # encoder step at 75 % masking / encoder step at 0 %


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def autocast(device: torch.device, amp: bool):
    if amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def whole_step(model: MaskedAutoencoder, images: torch.Tensor, mask, amp: bool) -> None:
    with autocast(images.device, amp):
        loss = model(images, mask=mask).loss
    loss.backward()


def encoder_step(model: MaskedAutoencoder, images: torch.Tensor, mask, amp: bool) -> None:
    with autocast(images.device, amp):
        latent = model.encode(images, mask)  # [B, 1 + N_vis, D]
    latent.float().square().mean().backward()


def time_step(step, model, images, mask, repeats: int, warmup: int, amp: bool) -> list[float]:
    """Milliseconds of ``repeats`` calls to ``step`` after ``warmup`` untimed ones."""
    times = []
    for call in range(warmup + repeats):
        model.zero_grad(set_to_none=True)
        synchronize(images.device)
        start = time.perf_counter()
        step(model, images, mask, amp)
        synchronize(images.device)
        if call >= warmup:
            times.append((time.perf_counter() - start) * 1000.0)
    return times


def run(device: torch.device, preset: str, batch: int, repeats: int, warmup: int, amp: bool) -> list[dict]:
    model = MaskedAutoencoder(get_preset(preset)).to(device).train()
    c = model.config
    images = torch.rand(batch, c.channels, c.image_size, c.image_size, generator=torch.Generator().manual_seed(0))
    images = images.to(device)
    rows = []
    for ratio in RATIOS:
        mask = model.make_mask(batch, "random", ratio=ratio, seed=0).to(device)
        whole = min(time_step(whole_step, model, images, mask, repeats, warmup, amp))
        encoder = min(time_step(encoder_step, model, images, mask, repeats, warmup, amp))
        rows.append({"ratio": ratio, "visible": mask.num_visible, "whole_ms": whole, "encoder_ms": encoder})
    for row in rows:
        row["whole_rel"] = row["whole_ms"] / rows[0]["whole_ms"]
        row["encoder_rel"] = row["encoder_ms"] / rows[0]["encoder_ms"]
    return rows


def describe(device: torch.device, preset: str, batch: int, repeats: int, amp: bool) -> str:
    if device.type == "cuda":
        where = torch.cuda.get_device_name(device)
    else:
        threads = torch.get_num_threads()
        where = f"CPU ({platform.processor() or platform.machine()}, {threads} thread{'s' if threads != 1 else ''})"
    precision = "bf16 autocast" if amp and device.type == "cuda" else "fp32"
    return (f"{preset}, batch {batch}, {precision}, best of {repeats} after warm-up, {where}, "
            f"torch {torch.__version__}")


def table(rows: list[dict], markdown: bool) -> str:
    header = ["mask ratio", "visible tokens", "whole step (ms)", "vs ratio 0", "encoder step (ms)", "vs ratio 0"]
    lines = []
    body = [
        [f"{r['ratio']:.2f}", f"1 + {r['visible']}", f"{r['whole_ms']:.1f}", f"{r['whole_rel']:.0%}",
         f"{r['encoder_ms']:.1f}", f"{r['encoder_rel']:.0%}"]
        for r in rows
    ]
    if markdown:
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join(" ---: " for _ in header) + "|")
        lines += ["| " + " | ".join(cells) + " |" for cells in body]
    else:
        widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(header)]
        lines.append("  ".join(h.rjust(w) for h, w in zip(header, widths)))
        lines += ["  ".join(c.rjust(w) for c, w in zip(cells, widths)) for cells in body]
    return "\n".join(lines)


def verdict(rows: list[dict]) -> str:
    at_75 = next(r for r in rows if r["ratio"] == 0.75)
    ok = at_75["encoder_rel"] <= ENCODER_GOAL
    return (f"encoder step at 75 % masking = {at_75['encoder_rel']:.0%} of ratio 0 "
            f"(goal <= {ENCODER_GOAL:.0%}: {'met' if ok else 'NOT met'}); "
            f"whole step = {at_75['whole_rel']:.0%} of ratio 0")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto (CPU, then the GPU if present)")
    parser.add_argument("--preset", default="mae_base")
    parser.add_argument("--batch", type=int, default=None, help="default: 4 on CPU, 64 on GPU")
    parser.add_argument("--repeats", type=int, default=None, help="default: 3 on CPU, 10 on GPU")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--amp", action="store_true", help="bf16 autocast on the GPU")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's choice)")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    if args.device == "auto":
        devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    else:
        devices = [torch.device(args.device)]
    for device in devices:
        on_gpu = device.type == "cuda"
        batch = args.batch or (64 if on_gpu else 4)
        repeats = args.repeats or (10 if on_gpu else 3)
        warmup = max(args.warmup, 3) if on_gpu else args.warmup
        rows = run(device, args.preset, batch, repeats, warmup, args.amp)
        title = describe(device, args.preset, batch, repeats, args.amp)
        print(f"### {title}\n" if args.markdown else title)
        print(table(rows, args.markdown))
        print(("\n" if args.markdown else "") + verdict(rows) + "\n")


if __name__ == "__main__":
    main()
