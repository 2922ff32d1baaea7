"""The ``mae-lab`` command line: pretrain, probe, reconstruct and a short demo, in-process."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from PIL import Image

from mae_lab.cli import build_parser, main

TINY = ["--dataset", "digits", "--model", "mae_micro", "--batch-size", "32", "--limit", "128", "--lr", "1e-3"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    assert main(["pretrain", *TINY, "--epochs", "1", "--out", str(out), "--set", "num_preview=2"]) == 0
    return out


def test_pretrain_writes_a_run_and_resume_continues_it(run_dir, capsys):
    assert (run_dir / "checkpoint.safetensors").is_file() and (run_dir / "log.jsonl").is_file()
    config = json.loads((run_dir / "config.json").read_text())
    assert config["dataset"] == "digits" and config["limit"] == 128 and config["num_preview"] == 2
    assert main(["pretrain", "--out", str(run_dir), "--resume", "--epochs", "2"]) == 0
    assert "8 steps" in capsys.readouterr().out
    assert len((run_dir / "log.jsonl").read_text().splitlines()) == 2


def test_probe_prints_the_table_and_writes_json(run_dir, tmp_path, capsys):
    out = tmp_path / "probe.json"
    assert (
        main(
            [
                "probe",
                str(run_dir),
                "--method",
                "knn",
                "--limit",
                "200",
                "--test-limit",
                "50",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "pretrained" in text and "random init" in text and "raw pixels" in text
    result = json.loads(out.read_text())
    assert result["num_train"] == 200 and result["num_test"] == 50


def test_reconstruct_from_an_image_file_and_from_the_dataset(run_dir, tmp_path):
    image = tmp_path / "photo.png"
    Image.new("RGB", (20, 12), (120, 60, 200)).save(image)
    figure = tmp_path / "rec.png"
    assert (
        main(["reconstruct", str(run_dir), "--image", str(image), "--ratio", "0.5", "--out", str(figure)])
        == 0
    )
    assert Image.open(figure).size[0] > 100
    second = tmp_path / "rec2.png"
    assert main(["reconstruct", str(run_dir), "--masker", "block", "--out", str(second)]) == 0
    assert second.is_file()


def test_bad_inputs_give_an_error_line_not_a_traceback(tmp_path, capsys):
    assert main(["pretrain", "--dataset", "digitz", "--out", str(tmp_path / "x")]) == 2
    assert "Did you mean 'digits'" in capsys.readouterr().err
    assert main(["probe", str(tmp_path / "missing_run")]) == 2
    with pytest.raises(SystemExit):
        build_parser().parse_args(["probe", "x", "--method", "svm"])


def test_demo_writes_figures_and_metrics(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--seconds", "2", "--dataset", "digits"]) == 0
    for name in ("loss_curve.png", "label_efficiency.png", "reconstruction.png", "maskers.png", "metrics.json"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["dataset"] == "digits" and metrics["pretrain"]["steps"] > 0
    for block in ("knn", "finetune"):  # the same shape: accuracy and the two baselines
        assert set(metrics[block]["baselines"]) == {"raw_pixels", "random_init"}
        assert 0 <= metrics[block]["accuracy"] <= 1 and metrics[block]["labels_per_class"] == 20
    assert metrics["label_efficiency"]["labels_per_class"] == [5, 20]
    assert isinstance(metrics["pretrained_beats_random_init"], bool)
    printed = capsys.readouterr().out
    assert "kNN with 20 labels per class" in printed and "same ViT from scratch" in printed


def test_console_script_module_entry_point():
    command = [sys.executable, "-m", "mae_lab.cli", "--help"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0 and "pretrain" in done.stdout and "demo" in done.stdout
