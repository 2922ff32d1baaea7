"""How long does each mask strategy take for one training batch?

Times ``make_mask`` for a batch of 256 on a 14 x 14 patch grid (a ViT-B/16 at 224 px) on the
CPU -- where masks are always drawn -- and reports the median over repeats.  Guided
strategies get random scores; ``tube`` runs on a (T, 14, 14) grid with T = 8 (16 video
frames with a temporal patch size of 2, as in VideoMAE), which has 8 times more patches.

Goals: ``random`` under 5 ms, no strategy over 50 ms.

    python benchmarks/masking_speed.py              # a plain table
    python benchmarks/masking_speed.py --markdown   # a markdown table for RESULTS.md
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from mae_lab.masking import get_masker, list_maskers, make_mask

RANDOM_GOAL_MS = 5.0
ANY_GOAL_MS = 50.0

# Strategies timed more than once, with the option that changes their cost.
VARIANTS = {
    "noise": [{"color": "green"}, {"color": "red"}, {"color": "blue"}, {"color": "purple"}],
    "attention": [{"mode": "high"}, {"mode": "hint"}],
}


def time_strategy(name: str, options: dict, batch_size: int, grid: tuple[int, ...], repeats: int,
                  warmup: int = 3) -> list[float]:
    """Wall-clock milliseconds of ``repeats`` calls to ``make_mask`` (after ``warmup`` untimed calls)."""
    if get_masker(name).needs_scores:
        num_patches = 1
        for side in grid:
            num_patches *= side
        options = {**options, "scores": torch.rand(batch_size, num_patches, generator=torch.Generator().manual_seed(0))}
    times = []
    for call in range(warmup + repeats):
        start = time.perf_counter()
        make_mask(name, batch_size, grid=grid, seed=call, **options)
        elapsed = (time.perf_counter() - start) * 1000.0
        if call >= warmup:
            times.append(elapsed)
    return times


def run(batch_size: int, side: int, frames: int, repeats: int) -> list[dict]:
    rows = []
    for info in list_maskers():
        grid = (frames, side, side) if info.grid_dims == 3 else (side, side)
        for options in VARIANTS.get(info.name, [{}]):
            times = time_strategy(info.name, options, batch_size, grid, repeats)
            median = statistics.median(times)
            goal = RANDOM_GOAL_MS if info.name == "random" else ANY_GOAL_MS
            label = info.name + "".join(f" {key}={value}" for key, value in options.items())
            rows.append({
                "masker": label,
                "grid": "x".join(str(g) for g in grid),
                "ratio": info.default_ratio,
                "median_ms": median,
                "min_ms": min(times),
                "goal_ms": goal,
                "ok": median < goal,
            })
    return rows


def format_table(rows: list[dict], markdown: bool) -> str:
    header = ["masker", "grid", "ratio", "median ms", "min ms", "goal", "pass"]
    lines = [[r["masker"], r["grid"], f"{r['ratio']:g}", f"{r['median_ms']:.2f}", f"{r['min_ms']:.2f}",
              f"< {r['goal_ms']:g} ms", "pass" if r["ok"] else "FAIL"] for r in rows]
    if markdown:
        out = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
        out += ["| " + " | ".join(line) + " |" for line in lines]
        return "\n".join(out)
    widths = [max(len(str(x)) for x in column) for column in zip(header, *lines)]
    return "\n".join("  ".join(str(x).ljust(w) for x, w in zip(line, widths)) for line in [header, *lines])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--side", type=int, default=14, help="patches per side (14 = 224 px / 16 px)")
    parser.add_argument("--frames", type=int, default=8, help="temporal slots T for the tube grid")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    rows = run(args.batch_size, args.side, args.frames, args.repeats)
    print(f"make_mask, batch {args.batch_size}, CPU ({platform.processor() or platform.machine()}), "
          f"{args.threads} thread(s), torch {torch.__version__}, median of {args.repeats}\n")
    print(format_table(rows, args.markdown))
    failed = [r["masker"] for r in rows if not r["ok"]]
    print(f"\n{'all strategies meet their goals' if not failed else 'too slow: ' + ', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
