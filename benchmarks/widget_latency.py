"""How fast do the live apps answer?  From a control's value change to new PNG bytes ready.

Each app is driven from Python (setting ``control.value`` redraws before it returns), with
values that miss the memo cache, so every measurement is real work: a new mask, a model
forward pass, composing the panel and encoding the PNG.  Goals on a 2-core CPU:

* MaskExplorer: p50 <= 20 ms;
* ReconstructionExplorer with the shipped ``mae_tiny_photos`` (64 px): p50 <= 50 ms and p95 <= 100 ms;
* ReconstructionExplorer with ``mae_base`` (224 px): p50 <= 400 ms.

Run:  python benchmarks/widget_latency.py [--threads 2] [--repeats 60] [--quick]
Prints a markdown table with p50 / p95 and pass / fail.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class Case:
    app: str
    model: str
    image: str
    control: str
    build: Callable[[], object]
    drive: Callable[[object, int], None]  # set one control to the i-th value
    repeats: int
    goal_p50_ms: float | None = None
    goal_p95_ms: float | None = None
    threads: int | None = None  # torch CPU threads for this case (None: the --threads value)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def measure(case: Case, warmup: int = 3) -> tuple[list[float], list[float], int]:
    """Wall and CPU latencies in ms of ``repeats`` value changes, and how many gave new image bytes.

    CPU time (all threads of this process) tells the work apart from waiting for a busy machine.
    """
    app = case.build()
    for i in range(warmup):
        case.drive(app, 10_000 + i)
    latencies, cpu_times, changes = [], [], 0
    for i in range(case.repeats):
        before = app.image_bytes
        start, cpu_start = time.perf_counter(), time.process_time()
        case.drive(app, i)
        latencies.append((time.perf_counter() - start) * 1000)
        cpu_times.append((time.process_time() - cpu_start) * 1000)
        changes += app.image_bytes != before
        if app.last_error:
            raise RuntimeError(f"{case.app} showed an error: {app.last_error}")
    return latencies, cpu_times, changes


def load_tiny():
    """The shipped small model when there is one, otherwise a fresh ``mae_tiny`` (same compute)."""
    import mae_lab
    from mae_lab.models import MaskedAutoencoder, get_preset

    try:
        return mae_lab.load_model("mae_tiny_photos", pretrained=True), "mae_tiny_photos (shipped)"
    except Exception:
        return MaskedAutoencoder(get_preset("mae_tiny"), seed=0), "mae_tiny (random init)"


def build_cases(repeats: int, quick: bool) -> list[Case]:
    import mae_lab
    from mae_lab.models import MaskedAutoencoder, get_preset
    from mae_lab.widgets import AttentionExplorer, MaskExplorer, ReconstructionExplorer

    tiny, tiny_name = load_tiny()
    small = mae_lab.sample_images("photos", n=4, image_size=tiny.config.image_size)
    large = mae_lab.sample_images("photos", n=2, image_size=224)
    ratios = np.linspace(0.05, 0.95, 19)

    def set_seed(app, i):
        app.mask_controls.seed.value = 1000 + i

    def set_ratio(app, i):
        controls = app.mask_controls
        with app.hold_redraw():  # one redraw for ratio + a fresh seed, so no cache hit
            controls.seed.value = 5000 + i
            controls.ratio.value = float(ratios[i % len(ratios)])

    def set_strategy(app, i):
        controls = app.mask_controls
        names = ["random", "block", "grid", "noise", "simmim", "center", "frame", "attention"]
        with app.hold_redraw():
            controls.seed.value = 9000 + i
            controls.masker.value = names[i % len(names)]

    def set_layer(app, i):
        app.layer.value = i % (app.layer.max + 1)
        app.head.value = (i // (app.layer.max + 1)) % len(app.head.options) - 1

    cases = [
        Case("MaskExplorer", "-", f"{tiny.config.image_size} px", "ratio", lambda: MaskExplorer(small), set_ratio, repeats, 20),
        Case(
            "MaskExplorer", "-", f"{tiny.config.image_size} px", "masker", lambda: MaskExplorer(small), set_strategy, repeats, 20
        ),
        Case("MaskExplorer", "-", "224 px", "ratio", lambda: MaskExplorer(large), set_ratio, repeats, 20),
        Case(
            "ReconstructionExplorer",
            tiny_name,
            f"{tiny.config.image_size} px",
            "ratio",
            lambda: ReconstructionExplorer(tiny, small),
            set_ratio,
            repeats,
            50,
            100,
        ),
        Case(
            "ReconstructionExplorer",
            tiny_name,
            f"{tiny.config.image_size} px",
            "seed",
            lambda: ReconstructionExplorer(tiny, small),
            set_seed,
            repeats,
            50,
            100,
        ),
        Case(
            "AttentionExplorer",
            tiny_name,
            f"{tiny.config.image_size} px",
            "layer/head",
            lambda: AttentionExplorer(tiny, small),
            set_layer,
            repeats,
        ),
    ]
    base_repeats = max(5, repeats // 4) if not quick else 5
    base = MaskedAutoencoder(get_preset("mae_base"), seed=0)
    for threads in (None, 1):
        cases.append(
            Case(
                "ReconstructionExplorer",
                "mae_base (random init)",
                "224 px",
                "ratio",
                lambda: ReconstructionExplorer(base, large),
                set_ratio,
                base_repeats,
                400,
                threads=threads,
            )
        )
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (the goals assume 2 cores)")
    parser.add_argument("--repeats", type=int, default=60, help="value changes per case")
    parser.add_argument("--quick", action="store_true", help="few repeats, for a smoke run")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    repeats = 10 if args.quick else args.repeats

    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    print(
        f"widget latency on {platform.processor() or platform.machine()} ({os.cpu_count()} CPUs{load}), "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU\n"
    )
    print("| app | model | image | control | threads | n | p50 ms | p95 ms | CPU p50 ms | goal | result |")
    print("| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |")
    failures = 0
    for case in build_cases(repeats, args.quick):
        torch.set_num_threads(case.threads or args.threads)
        latencies, cpu_times, changes = measure(case)
        threads = torch.get_num_threads()
        torch.set_num_threads(args.threads)
        p50, p95 = statistics.median(latencies), percentile(latencies, 95)
        goals, ok = [], True
        if case.goal_p50_ms is not None:
            goals.append(f"p50 ≤ {case.goal_p50_ms:g}")
            ok &= p50 <= case.goal_p50_ms
        if case.goal_p95_ms is not None:
            goals.append(f"p95 ≤ {case.goal_p95_ms:g}")
            ok &= p95 <= case.goal_p95_ms
        result = ("pass" if ok else "FAIL") if goals else "info"
        failures += result == "FAIL"
        note = "" if changes == len(latencies) else f" ({changes}/{len(latencies)} changed)"
        print(
            f"| {case.app} | {case.model} | {case.image} | {case.control} | {threads} | {len(latencies)} | "
            f"{p50:.1f} | "
            f"{p95:.1f} | {statistics.median(cpu_times):.1f} | {', '.join(goals) or '-'} | {result}{note} |",
            flush=True,
        )
    print(f"\n{'all goals met' if failures == 0 else f'{failures} case(s) missed their goal'}")


if __name__ == "__main__":
    main()
