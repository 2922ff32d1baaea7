"""The plumbing of :mod:`mae_lab.train`, kept out of the loop so that the loop reads in one screen.

* :class:`Distributed` — joining and leaving the process group that ``torchrun`` describes;
* :func:`pick_device`, :func:`wrap_model` — where the model runs, and how (DDP, ``torch.compile``);
* :class:`LossWindow` — losses kept on the device and read back a few steps at a time, NaN check;
* :class:`RunFolder` — a run's files: its lock (one writer per folder), ``config.json``, ``log.jsonl``,
  the resumable ``train_state.pt`` and the model checkpoint, all written atomically.
"""

from __future__ import annotations

import errno
import json
import math
import os
import socket
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .checkpoints import RUN_MODEL_FILE, save_checkpoint
from .utils import as_device, atomic_write

__all__ = [
    "CONFIG_FILE",
    "LOCK_FILE",
    "LOG_FILE",
    "STATE_FILE",
    "CheckpointWriteError",
    "Distributed",
    "LossNotFiniteError",
    "LossWindow",
    "RunFolder",
    "RunLockedError",
    "call_hook",
    "pick_device",
    "wrap_model",
]

STATE_FILE = "train_state.pt"  # everything needed to resume (model, optimizer, step, clock, history)
CONFIG_FILE = "config.json"
LOG_FILE = "log.jsonl"  # one line per epoch
LOCK_FILE = ".lock"  # held by the one process that writes the folder


class LossNotFiniteError(RuntimeError):
    """The loss became NaN or infinite; the message names the step and what to change."""


class RunLockedError(RuntimeError):
    """Another process is writing the run folder; the message names it and how to proceed."""


class CheckpointWriteError(OSError):
    """A run's files could not be written (a full disk, a lost drive); the message says which file, that the
    last complete checkpoint is intact, and how to continue. ``errno`` is the operating system's code."""


def call_hook(callbacks: list, hook: str, state: Any) -> None:
    """Call ``callback.<hook>(state)`` on every callback that has it."""
    for callback in callbacks:
        method = getattr(callback, hook, None)
        if method is not None:
            method(state)


# ---------------------------------------------------------------------------------------------
# devices and data parallelism
# ---------------------------------------------------------------------------------------------
@dataclass
class Distributed:
    """This process's place under ``torchrun`` (rank 0 of 1 when run alone)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_group: bool = False

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def join(cls, device_name: str) -> Distributed:
        """Join the process group of ``RANK``/``WORLD_SIZE`` (gloo on CPU, nccl on CUDA), if there is one."""
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        if world_size <= 1:
            return cls()
        import torch.distributed as dist

        owns = False
        if not dist.is_initialized():
            cuda = device_name.startswith("cuda") or (device_name == "auto" and torch.cuda.is_available())
            backend = "nccl" if cuda else "gloo"
            dist.init_process_group(backend=backend)
            owns = True
        return cls(int(os.environ["RANK"]), world_size, int(os.environ.get("LOCAL_RANK", "0")), owns)

    def barrier(self) -> None:
        if self.enabled:
            import torch.distributed as dist

            dist.barrier()

    def leave(self) -> None:
        if self.owns_group:
            import torch.distributed as dist

            dist.destroy_process_group()

    def share_clock_and_stop(self, state: Any, device: torch.device) -> None:
        """Adopt rank 0's clock and stop flag, so every rank uses the same learning rate (it follows the
        clock under a time budget) and all ranks stop after the same step."""
        import torch.distributed as dist

        shared = torch.tensor([state.elapsed, float(state.stop)], dtype=torch.float64, device=device)
        dist.broadcast(shared, src=0)
        state.elapsed, state.stop = float(shared[0]), bool(shared[1] > 0)


def pick_device(name: str, ddp: Distributed) -> torch.device:
    """``"auto"`` -> the best device here; under torchrun each process takes its own GPU."""
    device = as_device(name)
    if device.type == "cuda" and device.index is None and ddp.enabled:
        device = torch.device("cuda", ddp.local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device


def wrap_model(model: nn.Module, ddp: Distributed, device: torch.device, compile: bool = False):
    """What the loop calls: the model, in DistributedDataParallel under torchrun, compiled if asked."""
    forward = model
    if ddp.enabled:
        from torch.nn.parallel import DistributedDataParallel

        forward = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    return torch.compile(forward) if compile else forward


# ---------------------------------------------------------------------------------------------
# losses: read back a window at a time (one host sync), stop on NaN
# ---------------------------------------------------------------------------------------------
class LossWindow:
    """The losses of the last few steps, kept on the device until :meth:`flush` reads them together."""

    def __init__(self, first_step: int):
        self.first_step = first_step
        self.losses: list[torch.Tensor] = []  # 0-d tensors, still on the device
        self.settings: list[tuple[float, float]] = []  # (lr, mask ratio) of each step
        self.clock = time.perf_counter()

    def __len__(self) -> int:
        return len(self.losses)

    def add(self, loss: torch.Tensor, lr: float, mask_ratio: float) -> None:
        self.losses.append(loss)
        self.settings.append((lr, mask_ratio))

    def flush(self, state: Any, epoch: int, images_per_step: int, lr_hint: str) -> list[float]:
        """Append the window's steps to ``state.history`` and start a new window.

        Raises :class:`LossNotFiniteError` at the first NaN/inf loss, naming its step and ``lr_hint``.
        """
        if not self.losses:
            return []
        values = torch.stack(self.losses).float().cpu().tolist()
        for offset, value in enumerate(values):
            if not math.isfinite(value):
                step = self.first_step + offset + 1  # steps count from 1, as in the history
                raise LossNotFiniteError(
                    f"the loss became {value} at step {step} (epoch {(step - 1) // state.steps_per_epoch}, "
                    f"lr {self.settings[offset][0]:.3g}); lower the learning rate (e.g. {lr_hint}), or set "
                    "clip_grad=1.0, and start again"
                )
        state.images_per_sec = len(values) * images_per_step / max(time.perf_counter() - self.clock, 1e-9)
        for offset, (value, (lr, ratio)) in enumerate(zip(values, self.settings)):
            state.history.append({"step": self.first_step + offset + 1, "epoch": epoch, "loss": value,
                                  "lr": lr, "mask_ratio": ratio})
        state.loss = values[-1]
        self.__init__(state.step)
        return values


# ---------------------------------------------------------------------------------------------
# the run folder
# ---------------------------------------------------------------------------------------------
class RunFolder:
    """The files of one run, written by one process at a time (rank 0 under torchrun).

    ``with RunFolder(path) as run:`` takes the folder's lock; a second writer — another notebook, a
    terminal, a second ``--resume`` — is refused at once with :class:`RunLockedError` naming the
    process that holds it. The lock is an OS lock on ``.lock``: it goes with its process, so the lock
    of a killed run is taken over safely by the next one.
    """

    def __init__(self, path: str | os.PathLike, writer: bool = True):
        self.path = Path(path)
        self.writer = writer
        self.saved_step: int | None = None  # the step of the last complete train_state.pt of this run
        self._lock_handle = None

    # ------------------------------------------------------------------ the lock
    def __enter__(self) -> RunFolder:
        if self.writer:
            self.path.mkdir(parents=True, exist_ok=True)
            self._lock_handle = _acquire_lock(self.path / LOCK_FILE)
            self._remove_temporaries()
        return self

    def _remove_temporaries(self) -> None:
        """Delete the temporary files of a writer that was killed mid-save (``atomic_write``'s
        ``.<name>.*.tmp``); they were never renamed into place, so nothing reads them. Safe: we hold the lock."""
        for tmp in self.path.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)

    def __exit__(self, *exc_info: object) -> None:
        if self._lock_handle is not None:
            _release_lock(self._lock_handle)
            self._lock_handle = None

    # ------------------------------------------------------------------ starting and resuming
    def start(self, config_dict: dict, resume: bool, epoch_log: list | None = None) -> None:
        """Write ``config.json``; a fresh run in a used folder warns and starts a fresh ``log.jsonl``.

        On resume, ``log.jsonl`` is rewritten from the checkpoint's ``epoch_log``: the lines a killed run
        wrote after its last checkpoint (or half of one) go, and the epochs it replays are logged once.
        """
        if not self.writer:
            return
        if not resume and (self.path / STATE_FILE).exists():
            warnings.warn(f"{self.path} already holds a run; it will be overwritten (pass resume=True to continue "
                          "it)", stacklevel=3)
        with self._reporting(CONFIG_FILE):
            atomic_write(self.path / CONFIG_FILE, json.dumps(config_dict, indent=2))
            if resume:
                atomic_write(self.path / LOG_FILE, "".join(json.dumps(r) + "\n" for r in epoch_log or []))
            else:
                (self.path / LOG_FILE).unlink(missing_ok=True)

    def load_state(self) -> dict:
        """The contents of ``train_state.pt`` (read with ``weights_only=True``: no code can run from it)."""
        path = self.path / STATE_FILE
        if not path.is_file():
            raise FileNotFoundError(f"resume=True but {path} does not exist; start without resume, or point "
                                    "out_dir at a run folder written by pretrain()")
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # noqa: BLE001 - a damaged or tampered file, whatever torch says about it
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise ValueError(f"{path} is damaged or not a mae_lab training state, and was not loaded "
                             f"({type(error).__name__}: {first_line[:300]}); nothing in it was run. Start the run "
                             "again without resume, or resume from a copy you trust") from None
        needed = ("step", "steps_per_epoch", "elapsed", "model", "optimizer", "config", "model_config", "history",
                  "epoch_log")
        if not isinstance(saved, dict) or any(key not in saved for key in needed):
            raise ValueError(f"{path} is not a mae_lab training state (it lacks "
                             f"{[k for k in needed if not isinstance(saved, dict) or k not in saved]}); start the "
                             "run again without resume")
        self.saved_step = int(saved["step"])
        return saved

    # ------------------------------------------------------------------ writing
    def append_log(self, record: dict) -> None:
        if self.writer:
            with self._reporting(LOG_FILE), (self.path / LOG_FILE).open("a") as handle:
                handle.write(json.dumps(record) + "\n")

    def save(self, state: Any) -> Path | None:
        """Write ``train_state.pt`` (to resume) and then the model checkpoint, each atomically."""
        if not self.writer:
            return None
        payload = {
            "format": 1,
            "step": state.step,
            "steps_per_epoch": state.steps_per_epoch,
            "elapsed": state.elapsed,
            "model": {k: v.detach().cpu() for k, v in state.model.state_dict().items()},
            "optimizer": state.optimizer.state_dict(),
            "config": state.config.to_dict(),
            "model_config": state.model.config.to_dict(),
            "history": state.history,
            "epoch_log": state.epoch_log,
        }
        with self._reporting(STATE_FILE):
            atomic_write(self.path / STATE_FILE, lambda tmp: torch.save(payload, tmp))
        self.saved_step = state.step
        metadata = {"step": state.step, "epoch": state.step / max(state.steps_per_epoch, 1), "loss": state.loss,
                    "pretrain_config": state.config.to_dict(), "epoch_log": state.epoch_log}
        with self._reporting(f"{RUN_MODEL_FILE}.safetensors"):
            return save_checkpoint(state.model, self.path / RUN_MODEL_FILE, metadata=metadata)

    @contextmanager
    def _reporting(self, name: str):
        """Turn an ``OSError`` while writing ``name`` into a :class:`CheckpointWriteError` that says what happened,
        what is intact (every file is written atomically, so the previous one is) and how to continue."""
        try:
            yield
        except OSError as error:
            if isinstance(error, CheckpointWriteError):
                raise
            what = ("no space left on device" if error.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1))
                    else f"{type(error).__name__}: {error.strerror or error}")
            if self.saved_step is not None:
                intact = (f"the previous checkpoint in {self.path} is intact (train_state.pt, step "
                          f"{self.saved_step}); free some space, then continue with pretrain(config, resume=True) "
                          f"(mae-lab pretrain --resume --out {self.path})")
            elif (self.path / STATE_FILE).is_file():
                intact = (f"the previous checkpoint in {self.path} is intact; free some space and run again "
                          "(resume=True continues it)")
            else:
                intact = f"no checkpoint of this run was saved yet in {self.path}; free some space and start again"
            failure = CheckpointWriteError(f"{what} while saving {name} in {self.path}: {intact}")
            failure.errno = error.errno
            raise failure from error


def check_resume_matches(saved: dict, config_dict: dict, model_config: dict, steps_per_epoch: int) -> None:
    """Refuse to resume into a different model or a different data stream (``ValueError`` saying which)."""
    before = saved["model_config"]
    changed = sorted(k for k in set(model_config) | set(before) if model_config.get(k) != before.get(k))
    if changed:
        details = ", ".join(f"{k}: {before.get(k)!r} -> {model_config.get(k)!r}" for k in changed)
        raise ValueError(f"cannot resume: the checkpoint's model differs from this config's ({details}); use the "
                         "same settings or a new out_dir")
    for key in ("dataset", "batch_size", "seed", "limit", "image_size"):
        if saved["config"].get(key) != config_dict.get(key):
            raise ValueError(f"cannot resume: {key} was {saved['config'].get(key)!r} and is now "
                             f"{config_dict.get(key)!r}; resuming needs the same data stream, so keep it or start "
                             "a new out_dir")
    if saved["steps_per_epoch"] != steps_per_epoch:
        raise ValueError(f"cannot resume: an epoch had {saved['steps_per_epoch']} steps and now has "
                         f"{steps_per_epoch}; keep the dataset options, limit and batch size of the original run")


def _acquire_lock(path: Path):
    """Lock ``path`` for this process or raise :class:`RunLockedError` naming the holder."""
    handle = open(path, "a+")  # noqa: SIM115 - kept open while the lock is held
    try:
        _os_lock(handle)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise RunLockedError(
            f"{path.parent} is being written by {holder}; two runs in one folder would overwrite each other's "
            "checkpoints. Wait for it to finish (or stop it), or pass another out_dir (--out)."
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
    handle.flush()
    return handle


def _os_lock(handle) -> None:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        return
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


def _release_lock(handle) -> None:
    try:
        handle.seek(0)
        handle.truncate()
    finally:
        handle.close()  # closing the file releases the OS lock
