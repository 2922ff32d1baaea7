"""Every script in ``benchmarks/`` runs end to end with its smallest settings and prints its table.

These are smoke runs, not measurements: nothing here asserts a speed.  Where a script always
includes ``mae_base``, the preset is shrunk to one encoder and one decoder block (same 224 px
input and widths, so every code path runs) to keep the whole file within about a minute.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import sys
from pathlib import Path

import pytest

import mae_lab
import mae_lab.models
from mae_lab.masking import list_maskers
from mae_lab.models import get_preset

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_script(name: str):
    """Import ``benchmarks/<name>.py`` as a module (the folder is not a package)."""
    module_name = f"benchmark_{name}"
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # dataclasses look their module up while being defined
        spec.loader.exec_module(module)
    return sys.modules[module_name]


def one_block(name: str, **overrides):
    """A preset with a single encoder and decoder block: the same code paths in a fraction of the time."""
    return get_preset(name, **{"depth": 1, "decoder_depth": 1, **overrides})


def table_rows(text: str) -> list[list[str]]:
    """The cells of every markdown table row in ``text`` (header included, separator rows dropped)."""
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("|") and not re.fullmatch(r"\|[\s:\-|]+\|", line):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def run_main(module, argv: list[str], monkeypatch) -> None:
    """Call ``module.main()`` with ``argv`` as the command line (for scripts whose main reads sys.argv)."""
    monkeypatch.setattr(sys, "argv", [module.__file__, *argv])
    module.main()


def test_benchmark_folder_has_the_documented_scripts():
    scripts = {p.stem for p in BENCHMARKS.glob("*.py")}
    documented = {"masking_speed", "model_speed", "widget_latency", "train_step", "train_throughput", "probe_quality"}
    assert documented <= scripts
    readme = (BENCHMARKS / "README.md").read_text()
    assert all(f"{name}.py" in readme for name in scripts), "every benchmark script is described in the README"


def test_masking_speed(capsys):
    module = load_script("masking_speed")
    module.main(["--batch-size", "8", "--repeats", "1", "--frames", "2", "--side", "6", "--markdown"])
    rows = table_rows(capsys.readouterr().out)
    assert rows[0] == ["masker", "grid", "ratio", "median ms", "min ms", "goal", "pass"]
    strategies = {row[0].split()[0] for row in rows[1:]}
    assert strategies == {info.name for info in list_maskers()}
    assert all(len(row) == 7 for row in rows)


def test_model_speed(capsys, monkeypatch):
    module = load_script("model_speed")
    run_main(module, ["--device", "cpu", "--preset", "mae_tiny", "--batch", "2", "--repeats", "1", "--warmup", "0",
                      "--markdown"], monkeypatch)  # fmt: skip
    out = capsys.readouterr().out
    rows = table_rows(out)
    assert rows[0][:2] == ["mask ratio", "visible tokens"] and len(rows[0]) == 6
    assert [row[0] for row in rows[1:]] == ["0.00", "0.50", "0.75", "0.90"]
    assert [row[1] for row in rows[1:]] == ["1 + 64", "1 + 32", "1 + 16", "1 + 6"]
    assert "encoder step at 75 % masking" in out


def test_train_throughput(capsys, monkeypatch):
    module = load_script("train_throughput")
    monkeypatch.setattr(module, "get_preset", one_block)
    run_main(module, ["--device", "cpu", "--smoke", "--markdown"], monkeypatch)
    rows = table_rows(capsys.readouterr().out)
    assert rows[0] == ["model", "device", "precision", "batch", "images/s"]
    assert [row[0] for row in rows[1:]] == ["mae_tiny", "mae_base"]
    assert all(float(row[4]) > 0 for row in rows[1:])


def test_train_step(capsys):
    module = load_script("train_step")
    rows = module.main(["--device", "cpu", "--shape", "tiny", "--batch", "4", "--warmup", "0", "--rounds", "1",
                        "--steps", "1", "--markdown"])  # fmt: skip
    out = capsys.readouterr().out
    table = table_rows(out)
    assert table[0] == module.HEADER
    names = [row[0] for row in table[1:]]
    assert names[0] == "mae_lab" and names == [row["implementation"] for row in rows]
    assert set(names) == {"mae_lab", "transformers", "timm blocks"}  # both peers are installed in the test env
    assert table[1][2] == "1.00x"  # mae_lab against itself
    assert len({row["params"] for row in rows}) == 1  # the same model in three implementations
    assert "mae_lab with its weights" in out and "fastest peer" in out


def test_train_step_names_a_missing_peer(capsys, monkeypatch):
    module = load_script("train_step")
    real_import = module.importlib.import_module

    def no_transformers(name, *args):
        if name == "transformers":
            raise ImportError("No module named 'transformers'")
        return real_import(name, *args)

    monkeypatch.setattr(module.importlib, "import_module", no_transformers)
    rows = module.main(["--device", "cpu", "--shape", "tiny", "--batch", "2", "--warmup", "0", "--rounds", "1",
                        "--steps", "1"])  # fmt: skip
    out = capsys.readouterr().out
    assert "transformers: skipped" in out and "pip install -e .[bench]" in out
    assert [row["implementation"] for row in rows] == ["mae_lab", "timm blocks"]


def test_train_step_peers_match_with_imagenet_normalisation():
    """mae_base normalises inside the model; the peers must get the same images to agree."""
    module = load_script("train_step")
    config = one_block("mae_base")
    contenders, skipped = module.build_contenders(config, seed=0)
    assert skipped == []
    lines = module.check_same_math(config, contenders, seed=0)  # raises if any check fails
    assert sum("mae_lab with its weights" in line for line in lines) == 2


def test_train_step_flops_count():
    module = load_script("train_step")
    base = get_preset("mae_base")
    flops = module.flops_per_image(base)
    # about 6 x (encoder params on 50 tokens + decoder params on 197 tokens): ~57 GFLOP for ViT-B/16 MAE
    assert 50e9 < flops < 65e9
    assert module.flops_per_image(base, ratio=0.0) > 2 * flops  # the encoder then sees every patch


def test_widget_latency(capsys, monkeypatch):
    module = load_script("widget_latency")
    monkeypatch.setattr(mae_lab.models, "get_preset", one_block)  # widget_latency imports it when it runs
    monkeypatch.setattr(module, "measure", functools.partial(module.measure, warmup=1))
    sample_images = mae_lab.sample_images

    def few_crops(name="photos", n=8, **kw):
        """Cut only the crops needed instead of the whole validation set of 224-px photo crops."""
        return sample_images(name, n=n, num_crops=max(n, 8), **kw)

    monkeypatch.setattr(mae_lab, "sample_images", few_crops)
    run_main(module, ["--repeats", "2", "--threads", "2"], monkeypatch)
    rows = table_rows(capsys.readouterr().out)
    header, body = rows[0], rows[1:]
    assert header[:4] == ["app", "model", "image", "control"]
    assert {"n", "p50 ms", "p95 ms", "goal", "result"} <= set(header)
    assert all(len(row) == len(header) for row in body)
    apps = [row[0] for row in body]
    assert apps.count("MaskExplorer") == 3 and apps.count("AttentionExplorer") == 1
    assert apps.count("ReconstructionExplorer") >= 3  # mae_tiny (ratio, seed) and mae_base
    p50 = header.index("p50 ms")
    assert all(float(row[p50]) > 0 for row in body)


@pytest.mark.needs("fashion_mnist")
def test_probe_quality(capsys, monkeypatch):
    module = load_script("probe_quality")
    smoke_settings = module.settings

    def smaller(smoke: bool, minutes: float, device: str) -> dict:
        """The script's smoke plan with fewer images, so feature extraction takes seconds."""
        plan = smoke_settings(smoke, minutes, device)
        return {**plan, "config": plan["config"].replace(limit=256, batch_size=32), "train": 200, "test": 100}

    monkeypatch.setattr(module, "settings", smaller)
    monkeypatch.setattr(mae_lab.models, "get_preset", one_block)  # the trainer imports it when it runs
    run_main(module, ["--smoke", "--minutes", "0.01", "--device", "cpu", "--methods", "knn"], monkeypatch)
    out = capsys.readouterr().out
    assert re.search(r"pretrained \d+ steps", out)
    assert "200 train / 100 test images (smoke)" in out
    knn_row = next(line.split() for line in out.splitlines() if line.startswith("knn "))
    assert len(knn_row) == 6 and all(cell.endswith("%") for cell in knn_row[1:4])
