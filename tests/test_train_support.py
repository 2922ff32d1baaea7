"""The run folder under faults: one writer at a time, a writer killed with SIGKILL (even mid-save), a full
disk, a tampered training state. Every case ends with a clear message or a run that resumes bit-identically."""

from __future__ import annotations

import errno
import io
import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from mae_lab.cli import main
from mae_lab.train import STATE_FILE, CheckpointWriteError, PretrainConfig, load_run, pretrain
from mae_lab.train_support import LOCK_FILE, LOG_FILE, RunFolder, RunLockedError

TINY = ["--dataset", "digits", "--model", "mae_micro", "--batch-size", "32", "--limit", "128", "--lr", "1e-3",
        "--warmup-epochs", "0.5", "--set", "num_preview=4", "--set", "progress=false", "--set", "log_every=3"]

#: A writer in another process: trains slowly (a pause per step) and writes its files slowly (in four
#: pieces with pauses), so that the test can catch it while it holds the lock and in the middle of a save.
WRITER = textwrap.dedent(
    """
    import io, sys, time
    import torch
    torch.set_num_threads(1)
    from mae_lab.train import PretrainConfig, pretrain

    real_save = torch.save

    def slow_save(obj, target, *args, **kwargs):
        buffer = io.BytesIO()
        real_save(obj, buffer, *args, **kwargs)
        data = buffer.getvalue()
        with open(target, "wb") as handle:
            for k in range(4):
                handle.write(data[k * len(data) // 4 : (k + 1) * len(data) // 4])
                handle.flush()
                time.sleep(0.15)

    torch.save = slow_save

    class Slow:
        def on_step_end(self, state):
            time.sleep(0.05)

    pretrain(PretrainConfig.load(sys.argv[1]), callbacks=[Slow()])
    """
)


@pytest.fixture(autouse=True)
def one_thread():
    """The writer in another process trains on one thread; so must this process, for bit-identical weights
    (another test may have left torch on more threads)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_config(**changes) -> PretrainConfig:
    """mae_micro on 128 digits, batch 32: 4 steps per epoch (the same run as ``mae-lab pretrain TINY``)."""
    settings = {"dataset": "digits", "model": "mae_micro", "epochs": 2, "batch_size": 32, "limit": 128, "lr": 1e-3,
                "warmup_epochs": 0.5, "progress": False, "log_every": 3, "num_preview": 4}
    settings.update(changes)
    return PretrainConfig(**settings)


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    state_a, state_b = a.state_dict(), b.state_dict()
    return state_a.keys() == state_b.keys() and all(torch.equal(state_a[k], state_b[k]) for k in state_a)


def wait_for(condition, timeout: float, what: str, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the writer exited ({process.returncode}) before {what}: "
                                 f"{process.stderr.read().decode()[-2000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def log_lines(run: Path) -> int:
    path = run / LOG_FILE
    return len(path.read_text().splitlines()) if path.is_file() else 0


def temporaries(run: Path) -> list[Path]:
    return sorted(run.glob(".*.tmp"))


# ---------------------------------------------------------------------------------------------
# one writer per folder; SIGKILL mid-save; the lock of a killed writer; bit-identical resume
# ---------------------------------------------------------------------------------------------
def test_second_writer_refused_then_a_writer_killed_mid_save_resumes_bit_identically(tmp_path, capsys):
    config = tiny_config(epochs=5, out_dir=str(tmp_path / "run"))
    run = Path(config.out_dir)
    config.save(tmp_path / "config.json")
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    writer = subprocess.Popen([sys.executable, str(script), str(tmp_path / "config.json")], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: f"pid {writer.pid} " in ((run / LOCK_FILE).read_text() if (run / LOCK_FILE).exists()
                                                  else ""), 120, "the writer to take the lock", writer)
        # 1. a second writer (the same command in a terminal) is refused at once, naming the holder
        start = time.monotonic()
        assert main(["pretrain", *TINY, "--epochs", "5", "--out", str(run)]) == 2
        refused_in = time.monotonic() - start
        err = capsys.readouterr().err
        assert f"pid {writer.pid}" in err and "another out_dir" in err and "Wait for it to finish" in err
        assert refused_in < 5, f"refusing took {refused_in:.1f} s"
        with pytest.raises(RunLockedError, match=f"pid {writer.pid}"):
            pretrain(config, resume=True)
        # 2. kill -9 in the middle of writing the second epoch's checkpoint (its temporary file exists)
        wait_for(lambda: log_lines(run) >= 2 and any(p.name.startswith(f".{STATE_FILE}.") for p in temporaries(run)),
                 120, "a checkpoint write after epoch 2", writer)
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(timeout=30)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait(timeout=30)
    assert writer.returncode == -signal.SIGKILL
    assert temporaries(run), "the kill should have left the half-written temporary file"
    assert f"pid {writer.pid}" in (run / LOCK_FILE).read_text()  # the dead writer's note is still there
    saved = torch.load(run / STATE_FILE, weights_only=True)  # the previous checkpoint is whole
    assert saved["step"] == 4 and len(saved["epoch_log"]) == 1
    # 3. the stale lock is taken over; the run continues from step 4 and ends where a straight run ends
    resumed = pretrain(config, resume=True)
    straight = pretrain(tiny_config(epochs=5))
    assert resumed.steps == 20 and same_weights(resumed.model, straight.model)
    assert [row["loss"] for row in resumed.history] == [row["loss"] for row in straight.history]
    assert temporaries(run) == []  # the dead writer's temporary file is gone
    log = [json.loads(line) for line in (run / LOG_FILE).read_text().splitlines()]
    assert [row["step"] for row in log] == [4, 8, 12, 16, 20]  # each epoch once, no half line
    assert [row["loss"] for row in log] == [row["loss"] for row in straight.epoch_log]
    assert same_weights(load_run(run), straight.model)
    assert (run / LOCK_FILE).read_text() == ""  # released


def test_the_lock_is_released_when_a_run_fails(tmp_path):
    class Boom:
        def on_step_end(self, state):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        pretrain(tiny_config(out_dir=tmp_path), callbacks=[Boom()])
    with RunFolder(tmp_path):  # taken at once
        pass


def test_a_lock_held_in_this_process_refuses_a_second_writer(tmp_path):
    with RunFolder(tmp_path), pytest.raises(RunLockedError, match=f"pid {os.getpid()} .*another out_dir"):
        pretrain(tiny_config(out_dir=tmp_path))


# ---------------------------------------------------------------------------------------------
# a full disk during a checkpoint write
# ---------------------------------------------------------------------------------------------
def disk_full_after(writes_allowed: int, monkeypatch) -> list[int]:
    """Make ``torch.save`` fail like a full disk (half a file written, then ENOSPC) after some saves."""
    real_save, calls = torch.save, []

    def save(obj, target, *args, **kwargs):
        calls.append(1)
        if len(calls) <= writes_allowed:
            return real_save(obj, target, *args, **kwargs)
        buffer = io.BytesIO()
        real_save(obj, buffer, *args, **kwargs)
        Path(target).write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", save)
    return calls


def test_a_full_disk_keeps_the_previous_checkpoint_and_says_so(tmp_path, monkeypatch):
    run = tmp_path / "run"
    config = tiny_config(epochs=3, out_dir=str(run))
    disk_full_after(1, monkeypatch)  # epoch 1's checkpoint is written, epoch 2's hits a full disk
    with pytest.raises(CheckpointWriteError) as info:
        pretrain(config)
    message = str(info.value)
    assert info.value.errno == errno.ENOSPC and isinstance(info.value, OSError)
    assert "no space left on device while saving train_state.pt" in message
    assert f"the previous checkpoint in {run} is intact" in message and "step 4" in message
    assert "resume=True" in message
    assert temporaries(run) == []  # the half-written temporary file was removed
    assert torch.load(run / STATE_FILE, weights_only=True)["step"] == 4  # intact
    assert load_run(run).metadata["step"] == 4
    monkeypatch.undo()  # space again: the run continues, and ends as a straight run does
    resumed = pretrain(config, resume=True)
    assert same_weights(resumed.model, pretrain(tiny_config(epochs=3)).model)


def test_a_full_disk_in_the_cli_is_one_error_line(tmp_path, monkeypatch, capsys):
    disk_full_after(0, monkeypatch)
    assert main(["pretrain", *TINY, "--epochs", "1", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no space left on device while saving train_state.pt")
    assert "no checkpoint of this run was saved yet" in err and "Traceback" not in err


def test_a_full_disk_while_writing_the_model_file(tmp_path, monkeypatch):
    from mae_lab import checkpoints

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoints, "save_file", no_space)
    with pytest.raises(CheckpointWriteError, match=r"while saving checkpoint.safetensors .*intact \(train_state.pt, "
                                                    r"step 4\)"):
        pretrain(tiny_config(out_dir=str(tmp_path)))


# ---------------------------------------------------------------------------------------------
# the files a run reads back
# ---------------------------------------------------------------------------------------------
def test_resume_rewrites_the_log_from_the_checkpoint(tmp_path):
    config = tiny_config(epochs=3, out_dir=str(tmp_path))
    first = pretrain(config, callbacks=[_StopAtStep(5)])
    assert first.interrupted
    with (tmp_path / LOG_FILE).open("a") as handle:  # a line of an epoch that was never checkpointed, cut short
        handle.write('{"epoch": 2.0, "step": 8, "lo')
    (tmp_path / ".train_state.pt.abc123.tmp").write_bytes(b"half a file")
    resumed = pretrain(config, resume=True)
    log = [json.loads(line) for line in (tmp_path / LOG_FILE).read_text().splitlines()]
    assert [row["step"] for row in log] == [4, 8, 12] and resumed.steps == 12
    assert temporaries(tmp_path) == []


class _StopAtStep:
    def __init__(self, step):
        self.step = step

    def on_step_end(self, state):
        if state.step == self.step:
            raise KeyboardInterrupt


class _RunsCode:
    """What a malicious pickle does: unpickling it calls ``os.system`` (here: creates a marker file)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_train_state_with_code_in_it_is_refused_before_the_code_runs(tmp_path):
    pretrain(tiny_config(epochs=1, out_dir=str(tmp_path)))
    marker = tmp_path / "pwned"
    saved = torch.load(tmp_path / STATE_FILE, weights_only=True)
    saved["history"] = [_RunsCode(marker)]
    with open(tmp_path / STATE_FILE, "wb") as handle:
        pickle.dump(saved, handle, protocol=2)  # plain pickle: torch.load(weights_only=False) would run the code
    with pytest.raises(ValueError, match="not a mae_lab training state.*nothing in it was run"):
        pretrain(tiny_config(epochs=2, out_dir=str(tmp_path)), resume=True)
    assert not marker.exists()
    torch.save({"step": 3}, tmp_path / STATE_FILE)  # loads, but is not ours
    with pytest.raises(ValueError, match="lacks"):
        pretrain(tiny_config(epochs=2, out_dir=str(tmp_path)), resume=True)
