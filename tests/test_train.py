"""The pretraining engine: config round trip, schedule, callbacks, checkpoints, resume, errors, DDP."""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from mae_lab.train import (
    STATE_FILE,
    LossNotFiniteError,
    PretrainConfig,
    load_run,
    pretrain,
)


def tiny_config(**changes) -> PretrainConfig:
    """mae_micro on 128 digits, batch 32: 4 steps per epoch, well under a second per epoch."""
    settings = {
        "dataset": "digits",
        "model": "mae_micro",
        "epochs": 2,
        "batch_size": 32,
        "limit": 128,
        "lr": 1e-3,
        "warmup_epochs": 0.5,
        "progress": False,
        "log_every": 3,
        "num_preview": 4,
    }
    settings.update(changes)
    return PretrainConfig(**settings)


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    state_a, state_b = a.state_dict(), b.state_dict()
    return state_a.keys() == state_b.keys() and all(torch.equal(state_a[k], state_b[k]) for k in state_a)


class StopAt:
    """Raises KeyboardInterrupt (what Ctrl-C does) after a given step or epoch."""

    def __init__(self, step: int | None = None, epoch: int | None = None):
        self.step, self.epoch = step, epoch

    def on_step_end(self, state):
        if self.step is not None and state.step == self.step:
            raise KeyboardInterrupt

    def on_epoch_end(self, state):
        if self.epoch is not None and state.step == self.epoch * state.steps_per_epoch:
            raise KeyboardInterrupt


# ---------------------------------------------------------------------------------------------
# config and schedule
# ---------------------------------------------------------------------------------------------
def test_config_json_round_trip(tmp_path):
    config = PretrainConfig(
        dataset="photos",
        model="mae_tiny",
        model_overrides={"depth": 2},
        betas=(0.9, 0.99),
        ratio_schedule={"kind": "linear", "start": 0.9, "end": 0.6},
        out_dir=tmp_path,
    )
    assert PretrainConfig.from_json(config.to_json()) == config
    assert PretrainConfig.load(config.save(tmp_path / "c.json")) == config
    assert json.loads(config.to_json())["betas"] == [0.9, 0.99]
    assert config.replace(epochs=3).epochs == 3


def test_config_rejects_unknown_fields_and_bad_values():
    with pytest.raises(ValueError, match="Did you mean 'epochs'"):
        PretrainConfig.from_dict({"epoch": 3})
    with pytest.raises(ValueError, match="mask_ratio"):
        PretrainConfig(mask_ratio=1.0)
    with pytest.raises(ValueError, match="batch_size"):
        PretrainConfig(batch_size=0)


def test_learning_rate_is_the_one_warmup_cosine_schedule_and_the_old_name_warns():
    from mae_lab.schedules import warmup_cosine
    from mae_lab.train import learning_rate

    with pytest.deprecated_call(match="warmup_cosine"):
        assert learning_rate(0.55, 1.0, 0.1, 0.1) == warmup_cosine(0.55, 1.0, 0.1, 0.1)


# ---------------------------------------------------------------------------------------------
# a run
# ---------------------------------------------------------------------------------------------
class Recorder:
    def __init__(self):
        self.calls = []
        self.preview_shape = None

    def on_train_start(self, state):
        self.calls.append("start")
        self.preview_shape = tuple(state.preview_images.shape)

    def on_step_end(self, state):
        self.calls.append("step")
        assert math.isfinite(state.loss) and state.lr >= 0 and state.images_per_sec > 0

    def on_epoch_end(self, state):
        self.calls.append("epoch")

    def on_train_end(self, state):
        self.calls.append("end")


def test_pretrain_logs_checkpoints_and_calls_back(tmp_path):
    recorder = Recorder()
    result = pretrain(tiny_config(out_dir=tmp_path / "run"), callbacks=[recorder])
    assert recorder.calls == ["start"] + ["step"] * 4 + ["epoch"] + ["step"] * 4 + ["epoch", "end"]
    assert recorder.preview_shape == (4, 1, 8, 8)
    assert result.steps == 8 and not result.interrupted and len(result.history) == 8
    assert set(result.history[0]) >= {"step", "epoch", "loss", "lr", "mask_ratio"}
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    run = tmp_path / "run"
    lines = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [line["epoch"] for line in lines] == [1.0, 2.0] and lines[-1]["step"] == 8
    assert PretrainConfig.load(run) == result.config
    reloaded = load_run(run)
    assert same_weights(reloaded, result.model)
    assert reloaded.metadata["step"] == 8
    assert "pretrain" in repr(result).lower() or "PretrainResult" in repr(result)


def test_target_masker_and_ratio_schedule_come_from_the_config():
    config = tiny_config(
        target="norm_pixels",
        masker="block",
        mask_ratio=0.5,
        ratio_schedule={"kind": "linear", "start": 0.75, "end": 0.25},
    )
    result = pretrain(config)
    assert result.model.config.target == "norm_pixels"
    ratios = [row["mask_ratio"] for row in result.history]
    assert ratios[0] == pytest.approx(0.75) and ratios[-1] == pytest.approx(0.25)
    assert ratios == sorted(ratios, reverse=True)


def test_a_ratio_range_draws_each_steps_ratio_reproducibly():
    config = tiny_config(ratio_range=(0.2, 0.9), epochs=3)
    first, again = pretrain(config), pretrain(config)
    ratios = [row["mask_ratio"] for row in first.history]
    assert all(0.2 <= r <= 0.9 for r in ratios) and len(set(ratios)) == len(ratios)  # a new ratio every step
    assert ratios == [row["mask_ratio"] for row in again.history]  # the same from the same seed
    with pytest.raises(ValueError, match="ratio_range"):
        tiny_config(ratio_range=(0.5, 1.0))
    with pytest.raises(ValueError, match="not both"):
        tiny_config(ratio_range=(0.2, 0.9), ratio_schedule={"kind": "linear", "start": 0.9, "end": 0.5})


@pytest.mark.parametrize("stop", [StopAt(epoch=1), StopAt(step=3)], ids=["at-epoch-end", "mid-epoch"])
def test_interrupted_and_resumed_run_is_bit_identical(tmp_path, stop, capsys):
    straight = pretrain(tiny_config())
    config = tiny_config(out_dir=tmp_path / "run")
    first = pretrain(config, callbacks=[stop])
    assert first.interrupted and first.steps in (3, 4)
    assert "Interrupted at step" in capsys.readouterr().out
    assert (tmp_path / "run" / STATE_FILE).is_file()
    resumed = pretrain(config, resume=True)
    assert resumed.steps == 8 and not resumed.interrupted
    assert same_weights(straight.model, resumed.model)
    assert [row["loss"] for row in resumed.history] == [row["loss"] for row in straight.history]


def test_keyboard_interrupt_without_out_dir_returns_cleanly(capsys):
    result = pretrain(tiny_config(), callbacks=[StopAt(step=2)])
    assert result.interrupted and result.steps == 2 and result.checkpoint is None
    assert "nothing saved" in capsys.readouterr().out


def test_a_callback_can_stop_the_run(tmp_path):
    class Enough:
        def on_step_end(self, state):
            state.stop = state.step >= 5

    result = pretrain(tiny_config(out_dir=tmp_path), callbacks=[Enough()])
    assert result.steps == 5 and not result.interrupted
    assert load_run(tmp_path).metadata["step"] == 5


def test_max_seconds_stops_by_the_clock():
    result = pretrain(tiny_config(epochs=1000, max_seconds=0.5))
    assert 0 < result.steps < 4000
    assert result.seconds < 5


def test_a_cpu_clock_budget_counts_this_process_only():
    import time

    start_cpu, start_wall = time.process_time(), time.perf_counter()
    result = pretrain(tiny_config(epochs=1000, max_seconds=0.5, clock="cpu"))
    assert 0.5 <= result.seconds < 1.5  # the budget it counted, in CPU seconds
    assert time.process_time() - start_cpu >= 0.5
    assert time.perf_counter() - start_wall < 30
    with pytest.raises(ValueError, match="clock must be one of"):
        tiny_config(clock="sundial")


def test_nan_loss_stops_with_the_step_and_a_lower_lr_hint():
    class Poison:
        def on_step_end(self, state):
            if state.step == 2:
                with torch.no_grad():
                    for param in state.model.parameters():
                        param.fill_(float("nan"))

    with pytest.raises(LossNotFiniteError, match=r"step 3 .*lower the learning rate"):
        pretrain(tiny_config(), callbacks=[Poison()])


def test_huge_learning_rate_is_caught():
    with pytest.raises(LossNotFiniteError, match="learning rate"):
        pretrain(tiny_config(lr=1e30, warmup_epochs=0, epochs=3, log_every=1))


# ---------------------------------------------------------------------------------------------
# bad inputs
# ---------------------------------------------------------------------------------------------
def test_resume_needs_a_checkpoint_and_the_same_model(tmp_path):
    with pytest.raises(FileNotFoundError, match="resume=True"):
        pretrain(tiny_config(out_dir=tmp_path / "none"), resume=True)
    with pytest.raises(ValueError, match="out_dir"):
        pretrain(tiny_config(), resume=True)
    pretrain(tiny_config(out_dir=tmp_path / "run", epochs=1))
    wider = tiny_config(out_dir=tmp_path / "run", model_overrides={"embed_dim": 32})
    with pytest.raises(ValueError, match="embed_dim"):
        pretrain(wider, resume=True)
    other_batch = tiny_config(out_dir=tmp_path / "run", batch_size=16)
    with pytest.raises(ValueError, match="batch_size"):
        pretrain(other_batch, resume=True)


def test_image_size_must_fit_the_patch_size():
    with pytest.raises(ValueError, match="multiple of mae_micro's patch size 2"):
        pretrain(tiny_config(image_size=9))
    with pytest.raises(KeyError, match="dataset"):
        pretrain(tiny_config(dataset="digitz"))


# ---------------------------------------------------------------------------------------------
# torchrun: two processes on the CPU with gloo
# ---------------------------------------------------------------------------------------------
DDP_SCRIPT = textwrap.dedent(
    """
    import hashlib, os, sys
    from pathlib import Path
    import torch
    torch.set_num_threads(1)
    from mae_lab.train import PretrainConfig, pretrain

    config = PretrainConfig.load(sys.argv[1])
    result = pretrain(config)
    digest = hashlib.sha256()
    for name, tensor in sorted(result.model.state_dict().items()):
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    rank = int(os.environ["RANK"])
    Path(sys.argv[2], f"rank{rank}.txt").write_text(f"{digest.hexdigest()} {result.steps}")
    """
)


def test_torchrun_two_cpu_processes_agree(tmp_path):
    script = tmp_path / "ddp_run.py"
    script.write_text(DDP_SCRIPT)
    # max_seconds (never reached) makes the ranks share rank 0's clock every step, as a real budget would
    config = tiny_config(epochs=1, limit=64, batch_size=8, max_seconds=600, out_dir=str(tmp_path / "run"))
    config.save(tmp_path / "config.json")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(script),
        str(tmp_path / "config.json"),
        str(tmp_path),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rank0, rank1 = (Path(tmp_path, f"rank{r}.txt").read_text().split() for r in range(2))
    assert rank0 == rank1  # identical weights on both processes
    assert rank0[1] == "4"  # 64 images / 2 processes / batch 8
    saved = load_run(tmp_path / "run")  # written by rank 0 only
    digest = hashlib.sha256()
    for name, tensor in sorted(saved.state_dict().items()):
        digest.update(tensor.contiguous().numpy().tobytes())
    assert digest.hexdigest() == rank0[0]


def test_cpu_bf16_trains_in_bfloat16_autocast_and_stays_finite(monkeypatch):
    real_autocast, enabled = torch.autocast, []

    def recording_autocast(device_type, *args, **kwargs):
        enabled.append((device_type, kwargs.get("dtype"), kwargs.get("enabled", True)))
        return real_autocast(device_type, *args, **kwargs)

    monkeypatch.setattr(torch, "autocast", recording_autocast)
    config = PretrainConfig(dataset="digits", model="mae_micro", epochs=1, batch_size=64, limit=256, device="cpu",
                            cpu_bf16=True, progress=False)
    result = pretrain(config)
    assert math.isfinite(result.final_loss) and result.steps == 4
    assert enabled and all(call == ("cpu", torch.bfloat16, True) for call in enabled)
    assert PretrainConfig.from_dict(config.to_dict()).cpu_bf16 is True
