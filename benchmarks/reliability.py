"""Does mae_lab survive faults?  Kills, full disks, slider storms, bad inputs and untrusted files.

Five experiments, each counted in one row of the table this script prints:

* **kill -9** — a CPU pretraining run (digits, ``mae_micro``, ``checkpoint_every=1``) in a child process
  is killed with SIGKILL at random moments, some while a checkpoint is being written (the child writes
  its files slowly, as a slow disk would, and the kill comes when a ``.tmp`` file appears). After every
  kill the run folder is inspected (every file under its final name must load; the last complete
  checkpoint's step never goes back) and the run is resumed, again in a child that may be killed; the
  last resume runs to the end, whose weights must equal an uninterrupted run's, bit for bit.
* **full disk** — ``torch.save`` (or the safetensors writer) fails with ENOSPC at a random checkpoint:
  the error must say so and that the previous checkpoint is intact, which must be true; after "freeing
  space" the run resumes to the uninterrupted run's weights.
* **slider storms** — every control of MaskExplorer, ReconstructionExplorer and AttentionExplorer gets
  random values as fast as Python can send them, through the browser's path (throttled redraws on a
  running event loop); no exception, and the final picture must equal a fresh app's picture of the
  final state.
* **bad inputs** — hypothesis draws bad arguments for ``make_mask``, the model, ``load_dataset``,
  ``load_model``, ``probe``, ``PretrainConfig`` and the CLI: only ValueError / KeyError /
  FileNotFoundError / TypeError may come out, each naming the bad value (or its argument).
* **untrusted files** — pickles that would run code, tampered safetensors headers, checkpoint JSON with
  absurd sizes, a malicious ``train_state.pt``: each must be refused before any code runs or any weight
  is allocated.

"Bytes lost" counts the bytes of checkpoint files that could not be read back under their final name
after a fault (the goal is 0); temporary files a kill leaves behind are counted apart (a resume removes
them).

Run:  python benchmarks/reliability.py [--quick] [--kills 21] [--storm 200] [--examples 150] [--markdown]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import io
import json
import os
import pickle
import platform
import random
import signal
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
ALLOWED = (ValueError, KeyError, FileNotFoundError, TypeError)


@dataclass
class Row:
    """One line of the table."""

    fault: str
    trials: int = 0
    faults: int = 0
    inputs: int = 0
    recovered: int = 0
    bytes_lost: int = 0
    failures: list[str] = field(default_factory=list)
    notes: str = ""

    @property
    def ok(self) -> bool:
        return not self.failures and self.bytes_lost == 0


# =============================================================================================
# kill -9 during pretraining
# =============================================================================================
def run_child(config_path: str, slow: float, resume: bool) -> None:
    """What the child process does: pretrain, writing checkpoints slowly when ``slow`` > 0 (a slow disk)."""
    from safetensors.torch import save as safetensors_bytes

    from mae_lab import checkpoints
    from mae_lab.train import PretrainConfig, pretrain

    def write_slowly(data: bytes, target) -> None:  # four pieces, a pause after each
        with open(target, "wb") as handle:
            for k in range(4):
                handle.write(data[k * len(data) // 4 : (k + 1) * len(data) // 4])
                handle.flush()
                time.sleep(slow / 4)

    if slow > 0:
        real_save = torch.save

        def slow_save(obj, target, *args, **kwargs):
            buffer = io.BytesIO()
            real_save(obj, buffer, *args, **kwargs)
            write_slowly(buffer.getvalue(), target)

        torch.save = slow_save
        checkpoints.save_file = lambda tensors, target, metadata=None: write_slowly(
            safetensors_bytes(tensors, metadata=metadata), target)

    class Pause:  # a slower machine: more moments to be killed at
        def on_step_end(self, state):
            time.sleep(STEP_PAUSE)

    pretrain(PretrainConfig.load(config_path), callbacks=[Pause()], resume=resume)


#: seconds each training step of a killed child is made to last longer, so a random moment falls inside it
STEP_PAUSE = 0.05


class Child:
    """A training run in another process: forked from this one where the OS allows it (no second start-up of
    torch), else a fresh interpreter."""

    def __init__(self, config_path: Path, slow: float, resume: bool):
        self.returncode: int | None = None
        self.error = ""
        if hasattr(os, "fork") and sys.platform.startswith("linux"):
            self.process = None
            self.pid = os.fork()
            if self.pid == 0:  # the child
                status = 1
                try:
                    run_child(str(config_path), slow, resume)
                    status = 0
                except BaseException:  # noqa: BLE001 - report and leave without running the parent's cleanup
                    import traceback

                    traceback.print_exc()
                finally:
                    os._exit(status)
        else:
            code = ("import sys, torch; torch.set_num_threads(1); sys.path.insert(0, sys.argv[4]); "
                    "import reliability; reliability.run_child(sys.argv[1], float(sys.argv[2]), sys.argv[3] == '1')")
            env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1",
                   "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
            self.process = subprocess.Popen([sys.executable, "-c", code, str(config_path), str(slow),
                                             "1" if resume else "0", str(Path(__file__).parent)], env=env)
            self.pid = self.process.pid

    def poll(self) -> int | None:
        if self.returncode is None:
            if self.process is not None:
                self.returncode = self.process.poll()
            else:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
                if pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while self.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)


def steps_per_epoch(config) -> int:
    """Steps in one epoch of a run (the last, incomplete batch is dropped)."""
    return config.limit // config.batch_size


def kill_config(out_dir: Path, epochs: int):
    from mae_lab.train import PretrainConfig

    return PretrainConfig(dataset="digits", model="mae_micro", epochs=epochs, batch_size=32, limit=256, lr=1e-3,
                          warmup_epochs=0.5, progress=False, log_every=4, num_preview=2, checkpoint_every=1,
                          out_dir=str(out_dir))


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def inspect_run(run: Path) -> tuple[int | None, list[str], int, int]:
    """(step of the complete train_state.pt or None, unreadable files, their bytes, temporary bytes)."""
    from mae_lab.checkpoints import load_model
    from mae_lab.train_support import CONFIG_FILE, LOG_FILE, STATE_FILE

    bad, bad_bytes, step = [], 0, None
    state = run / STATE_FILE
    if state.exists():
        try:
            saved = torch.load(state, map_location="cpu", weights_only=True)
            step = int(saved["step"])
            if not all(torch.isfinite(t).all() for t in saved["model"].values() if t.is_floating_point()):
                raise ValueError("weights are not finite")
        except Exception as error:  # noqa: BLE001 - any failure to read is a corrupt file
            bad.append(f"{STATE_FILE}: {type(error).__name__}: {error}")
            bad_bytes += state.stat().st_size
    if (run / "checkpoint.json").exists() or (run / "checkpoint.safetensors").exists():
        try:
            load_model(run)
        except Exception as error:  # noqa: BLE001
            bad.append(f"checkpoint: {type(error).__name__}: {error}")
            bad_bytes += sum(p.stat().st_size for p in run.glob("checkpoint.*"))
    if (run / CONFIG_FILE).exists():
        try:
            json.loads((run / CONFIG_FILE).read_text())
        except ValueError as error:
            bad.append(f"{CONFIG_FILE}: {error}")
            bad_bytes += (run / CONFIG_FILE).stat().st_size
    if (run / LOG_FILE).exists():  # every complete line parses (a cut last line is rewritten on resume)
        for line in (run / LOG_FILE).read_text().splitlines(keepends=True):
            if line.endswith("\n"):
                try:
                    json.loads(line)
                except ValueError:
                    bad.append(f"{LOG_FILE}: a complete line does not parse")
                    bad_bytes += len(line)
    temporary = sum(p.stat().st_size for p in run.glob(".*.tmp"))
    return step, bad, bad_bytes, temporary


class StepCounter:
    """Records the first step a run trains (a resumed run starts after its checkpoint)."""

    first_step: int | None = None

    def on_step_end(self, state) -> None:
        if self.first_step is None:
            self.first_step = state.step


def kill_trials(kills: int, chains: int, epochs: int, seed: int, workdir: Path, log=print) -> Row:
    """``kills`` SIGKILLs spread over ``chains`` runs; each run is resumed after every kill, then finished."""
    from mae_lab.train import pretrain
    from mae_lab.train_support import LOCK_FILE

    row = Row("kill -9 during pretraining")
    rng = random.Random(seed)
    reference = pretrain(kill_config(workdir / "reference", epochs).replace(out_dir=None)).model.state_dict()
    per_chain = [kills // chains + (1 if c < kills % chains else 0) for c in range(chains)]
    temporary_bytes = 0
    for chain, count in enumerate(per_chain):
        run = workdir / f"run{chain}"
        config = kill_config(run, epochs)
        config.save(workdir / f"config{chain}.json")
        last_step = None
        for k in range(count):
            during_write = (row.trials % 2) == 1  # every other kill waits for a checkpoint write
            resume = (run / "train_state.pt").exists()
            child = Child(workdir / f"config{chain}.json", 0.3 if during_write else 0.0, resume)
            remaining = config.epochs * steps_per_epoch(config) - (last_step or 0)  # steps left to train
            moment = _wait_and_kill(child, run, LOCK_FILE, during_write, rng, horizon=0.9 * STEP_PAUSE * remaining)
            row.trials += 1
            row.faults += moment != "finished"
            step, bad, bad_bytes, temporary = inspect_run(run)
            temporary_bytes += temporary
            row.bytes_lost += bad_bytes
            row.failures += [f"chain {chain} kill {k} ({moment}): {b}" for b in bad]
            if last_step is not None and (step is None or step < last_step):
                row.failures.append(f"chain {chain} kill {k}: the last complete checkpoint went back "
                                    f"from step {last_step} to {step}")
            last_step = step if step is not None else last_step
            log(f"  chain {chain} kill {k}: {moment:>26}; complete checkpoint at step {step}, "
                f"{len(bad)} unreadable file(s), {temporary} temporary bytes left")
        # the last resume runs to the end in this process: it must start at the last complete checkpoint
        counter = StepCounter()
        result = pretrain(config, callbacks=[counter], resume=(run / "train_state.pt").exists())
        weights = result.model.state_dict()
        finite = all(torch.isfinite(t).all() for t in weights.values() if t.is_floating_point())
        total = config.epochs * steps_per_epoch(config)
        expected_first = (last_step or 0) + 1 if (last_step or 0) < total else None  # None: it had finished
        continued = counter.first_step == expected_first and result.steps == total
        if finite and continued and same_weights(weights, reference) and not list(run.glob(".*.tmp")):
            row.recovered += count  # every kill of this run was followed by a resume that continued it
        else:
            row.failures.append(f"chain {chain}: the resumed run differs from the uninterrupted one (finite={finite}, "
                                f"resumed at step {counter.first_step} after checkpoint {last_step})")
    row.notes = (f"{chains} runs of {epochs} epochs; half the kills while a checkpoint is written; "
                 f"{temporary_bytes:,} temporary bytes left by kills, removed on resume")
    return row


def _wait_and_kill(child: Child, run: Path, lock_file: str, during_write: bool, rng: random.Random,
                   horizon: float = 3.0) -> str:
    """Kill ``child`` at a random moment of its training (within ``horizon`` seconds of taking the run's lock,
    about as long as its remaining steps take), or in the middle of a checkpoint write."""
    deadline = time.monotonic() + 300
    lock = run / lock_file
    while time.monotonic() < deadline:  # wait until it holds the lock (it trains from then on)
        if child.poll() is not None:
            raise RuntimeError(f"the training child exited early (status {child.returncode})")
        if lock.exists() and f"pid {child.pid} " in lock.read_text():
            break
        time.sleep(0.01)
    if during_write:  # the temporary file of train_state.pt or of the model checkpoint
        while child.poll() is None and not [p for p in run.glob(".*.tmp") if not p.name.startswith(".config")]:
            time.sleep(0.002)
        time.sleep(rng.uniform(0.0, 0.25))  # somewhere inside the (slow) write
        moment = "during a checkpoint write"
    else:  # from loading the data to the last step
        time.sleep(rng.uniform(0.0, max(horizon, 0.05)))
        moment = "at a random moment"
    if child.poll() is not None:
        return "finished"
    child.kill()
    return moment


# =============================================================================================
# a full disk during a checkpoint write
# =============================================================================================
def full_disk_at(write, failing_call: int):
    """``write`` (``torch.save`` or safetensors' ``save_file``) whose ``failing_call``-th call (from 1; 0 =
    never) writes a thousand bytes and then fails as a full disk does (ENOSPC)."""
    calls = {"count": 0}

    def wrapped(obj, target, *args, **kwargs):
        calls["count"] += 1
        if calls["count"] == failing_call:
            Path(target).write_bytes(b"\0" * 1000)  # part of a file, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return write(obj, target, *args, **kwargs)

    return wrapped


def disk_full_trials(trials: int, seed: int, workdir: Path, log=print) -> Row:
    from mae_lab import checkpoints
    from mae_lab.train import CheckpointWriteError, pretrain

    row = Row("disk full while saving")
    rng = random.Random(seed)
    epochs = 3
    reference = pretrain(kill_config(workdir / "ref", epochs).replace(out_dir=None)).model.state_dict()
    real_torch_save, real_save_file = torch.save, checkpoints.save_file
    for trial in range(trials):
        run = workdir / f"full{trial}"
        config = kill_config(run, epochs)
        fail_at = rng.randint(1, epochs)  # which save (1 = after epoch 1) hits the full disk
        which = rng.choice(["train_state.pt", "checkpoint.safetensors"])
        torch.save = full_disk_at(real_torch_save, fail_at if which == "train_state.pt" else 0)
        checkpoints.save_file = full_disk_at(real_save_file, fail_at if which == "checkpoint.safetensors" else 0)
        saved_epochs = fail_at - 1 if which == "train_state.pt" else fail_at
        message, expected_step = "", saved_epochs * steps_per_epoch(config)
        try:
            pretrain(config)
            row.failures.append(f"trial {trial}: no error although the disk was full")
        except CheckpointWriteError as error:
            message = str(error)
        finally:
            torch.save, checkpoints.save_file = real_torch_save, real_save_file
        row.trials += 1
        row.faults += 1
        step, bad, bad_bytes, _ = inspect_run(run)
        row.bytes_lost += bad_bytes
        row.failures += [f"trial {trial}: {b}" for b in bad]
        says = "no space left on device while saving" in message and (
            "is intact" in message or "no checkpoint of this run was saved yet" in message)
        if not says:
            row.failures.append(f"trial {trial}: the message does not say what happened: {message!r}")
        if (step or 0) != expected_step or list(run.glob(".*.tmp")):
            row.failures.append(f"trial {trial}: the previous checkpoint is at step {step}, expected "
                                f"{expected_step} (or a temporary file was left)")
        result = pretrain(config, resume=(run / "train_state.pt").exists())  # space again
        if same_weights(result.model.state_dict(), reference):
            row.recovered += 1
        else:
            row.failures.append(f"trial {trial}: the resumed run differs from the uninterrupted one")
        log(f"  trial {trial}: ENOSPC writing {which} at save {fail_at}; intact step {step}; "
            f"resumed {'bit-identically' if row.recovered == trial + 1 else 'WRONGLY'}")
    row.notes = "ENOSPC injected into torch.save or the safetensors writer at a random save"
    return row


# =============================================================================================
# slider storms
# =============================================================================================
def random_value(widget, rng: random.Random):
    """A random value for ``widget`` and the state the browser would send to set it."""
    import ipywidgets as widgets

    if isinstance(widget, widgets.widgets.widget_selection._Selection):
        index = rng.randrange(len(widget.options))
        return widget._options_values[index], {"index": index}
    if isinstance(widget, widgets.Checkbox):
        value = rng.random() < 0.5
    elif isinstance(widget, (widgets.FloatSlider,)):
        steps = round((widget.max - widget.min) / widget.step)
        value = round(widget.min + widget.step * rng.randint(0, steps), 10)
    elif isinstance(widget, widgets.IntSlider):
        value = rng.randint(widget.min, widget.max)
    elif isinstance(widget, widgets.IntText):
        value = rng.choice([rng.randint(0, 50), rng.randint(-5, 5), 10**rng.randint(1, 12)])
    elif isinstance(widget, widgets.FloatText):
        value = rng.choice([rng.uniform(-1, 2), 0.0, 1e9])
    elif isinstance(widget, widgets.Text):
        value = rng.choice(["None", "(0.3, 3.3)", "3", "0.5", "garbage(", ""])
    else:
        raise TypeError(f"no random values for {type(widget).__name__}")
    return value, {"value": value}


def build_apps() -> dict[str, callable]:
    """The three apps on small inputs, each as a function that builds a fresh one (same arguments)."""
    import mae_lab
    from mae_lab.models import MaskedAutoencoder, get_preset
    from mae_lab.widgets import AttentionExplorer, MaskExplorer, ReconstructionExplorer

    photos = mae_lab.sample_images("photos", n=3, image_size=32)
    digits = mae_lab.sample_images("digits", n=3)
    model = MaskedAutoencoder(get_preset("mae_micro"), seed=0).eval()
    return {
        "MaskExplorer": lambda: MaskExplorer(photos, throttle_s=0.02),
        "ReconstructionExplorer": lambda: ReconstructionExplorer(model, digits, throttle_s=0.02),
        "AttentionExplorer": lambda: AttentionExplorer(model, digits, throttle_s=0.02),
    }


def final_values(app) -> list[tuple[object, object]]:
    return [(control, control.value) for control in app.controls]


def apply_state(fresh, values: list) -> None:
    """Set ``fresh``'s controls to ``values`` (read from another app of the same kind), masker first."""
    by_description = {}
    for control, value in values:
        by_description.setdefault(control.description, value)
    with fresh.hold_redraw():
        masker = fresh.mask_controls.masker
        masker.value = by_description["masker"]
        for control in fresh.controls:
            if control is not masker and control.description in by_description:
                control.value = by_description[control.description]


async def _storm(app, rounds: int, rng: random.Random, errors: list) -> dict[str, int]:
    """``rounds`` times, every control on show gets a random value, in a random order, as browser messages."""
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: errors.append(str(context.get("exception") or context)))
    sent: dict[str, int] = {}
    for _ in range(rounds):
        controls = list(app.controls)  # the masker's own options change with the masker
        rng.shuffle(controls)
        for widget in controls:
            if widget not in app.controls:
                continue  # an option of a masker no longer selected
            _, state = random_value(widget, rng)
            try:
                widget.set_state(state)  # what a message from the browser does: a throttled redraw
            except Exception as error:  # noqa: BLE001 - counted as a failure
                errors.append(f"{type(error).__name__}: {error}")
            sent[widget.description] = sent.get(widget.description, 0) + 1
            if rng.random() < 0.1:
                await asyncio.sleep(rng.choice([0, 0, 0.005, 0.03]))  # let some timers fire in between
    await asyncio.sleep(0.1)  # the trailing redraw fires
    app.throttle.flush()
    return sent


def slider_storms(changes_per_widget: int, seed: int, log=print) -> Row:
    row = Row("slider storms")
    rng = random.Random(seed)
    for name, build in build_apps().items():
        app = build()
        errors: list[str] = []
        start = time.perf_counter()
        sent = asyncio.run(_storm(app, changes_per_widget, rng, errors))
        seconds = time.perf_counter() - start
        fresh = build()
        apply_state(fresh, final_values(app))
        row.trials += 1
        row.inputs += sum(sent.values())
        options = {w.description for ws in app.mask_controls._option_widgets.values() for w in ws.values()}
        fewest = min(count for control, count in sent.items() if control not in options)
        row.failures += [f"{name}: {e}" for e in errors[:5]]
        same = (app.last_error == fresh.last_error) and (
            app.last_error is not None or (app.image_bytes == fresh.image_bytes and app.status.value == fresh.status.value))
        if same:
            row.recovered += 1
        else:
            row.failures.append(f"{name}: the final picture differs from a fresh app's picture of the final state "
                                f"(errors: {app.last_error!r} / {fresh.last_error!r})")
        log(f"  {name}: {sum(sent.values())} changes over {len(sent)} controls ({fewest} or more on each main "
            f"control) in {seconds:.1f} s, "
            f"{len(errors)} exceptions, final picture {'matches' if same else 'DIFFERS'}"
            f"{' (final state is an error: ' + app.last_error[:60] + ')' if app.last_error else ''}")
    row.notes = (f"{changes_per_widget} rounds in which every control on show gets a random value, sent as "
                 "browser messages (throttled redraws on a running event loop)")
    return row


# =============================================================================================
# bad inputs (hypothesis)
# =============================================================================================
def names_the_problem(error: BaseException, *names: str, value: object = None) -> bool:
    """Whether the message mentions the argument's name, or the bad value itself."""
    message = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
    candidates = [n for n in names if n] + [repr(value)[:24], str(value)[:24]]
    return len(message) >= 20 and any(c and c in message for c in candidates)


def fuzz(examples: int, seed: int, log=print) -> Row:
    """Every public entry point with one bad argument at a time; counts inputs and crashes."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    row = Row("bad inputs (hypothesis)")
    problems: list[str] = []
    counts = {"inputs": 0}
    weird = st.one_of(
        st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=8), st.lists(st.integers(-3, 40), max_size=4).map(tuple), st.just(torch.tensor([1.0])),
        st.just(torch.zeros(2, 3)), st.just([]), st.just({}), st.just(object()), st.just("/nonexistent/x.pth"),
    )

    def attempt(where: str, call, names: tuple[str, ...], value) -> None:
        counts["inputs"] += 1
        try:
            call()
        except ALLOWED as error:
            if not names_the_problem(error, *names, value=value):
                problems.append(f"{where}: {type(error).__name__} does not name {names[0]!r}: {error}")
        except Exception as error:  # noqa: BLE001 - the crash we look for
            problems.append(f"{where}: {type(error).__name__}: {str(error)[:200]} (value {value!r:.80})")

    def test_of(run):  # hypothesis refuses a test function with default arguments, so bind ``run`` here
        def test(case):
            run(case, attempt)

        return test

    for target in ENTRY_POINTS:
        strategy, run = target(st, weird)
        runner = settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                          suppress_health_check=list(HealthCheck))(given(strategy)(test_of(run)))
        runner()
    row.trials = len(ENTRY_POINTS)
    row.inputs = counts["inputs"]
    row.failures = problems
    row.recovered = row.trials if not problems else row.trials - len({p.split(":")[0] for p in problems})
    log(f"  {row.inputs} inputs over {row.trials} entry points, {len(problems)} problems")
    row.notes = "make_mask, model(...), load_dataset, load_model, probe, PretrainConfig, the CLI"
    return row


def _fuzz_make_mask(st, weird):
    from mae_lab.masking import list_maskers, make_mask

    infos = {info.name: info for info in list_maskers()}
    arguments = ["masker", "batch_size", "grid", "ratio", "seed", "option"]
    strategy = st.tuples(st.sampled_from(sorted(infos)), st.sampled_from(arguments), weird, st.integers(0, 10))

    def run(case, attempt):
        name, which, value, pick = case
        info = infos[name]
        args = {"masker": name, "batch_size": 2, "grid": (4, 4) if info.grid_dims == 2 else (2, 4, 4), "ratio": None,
                "seed": 0}
        options = {"scores": torch.rand(2, 16)} if info.needs_scores else {}
        if which == "option":
            keys = sorted(info.options) + (["scores"] if info.needs_scores else [])
            if not keys:
                return
            which = keys[pick % len(keys)]
            options[which] = value
        else:
            args[which] = value
        attempt(f"make_mask({name}, {which}=...)", lambda: make_mask(**args, **options), (which,), value)
    return strategy, run


def _fuzz_model(st, weird):
    from mae_lab.models import MaskedAutoencoder, get_preset

    model = MaskedAutoencoder(get_preset("mae_micro"), seed=0).eval()
    images = st.one_of(
        weird,
        st.tuples(st.integers(0, 3), st.integers(0, 4), st.integers(0, 12), st.integers(0, 12)).map(
            lambda shape: torch.rand(*shape)),
        st.sampled_from([torch.rand(2, 1, 8, 8).double(), (torch.rand(2, 1, 8, 8) * 255).to(torch.uint8),
                         torch.rand(2, 1, 8, 8) > 0.5, torch.rand(2, 1, 8, 8).numpy()]),
    )
    strategy = st.one_of(st.tuples(st.just("images"), images),
                         st.tuples(st.sampled_from(["masker", "ratio", "seed", "mask", "return_attention"]), weird))

    def run(case, attempt):
        which, value = case
        args = {"images": torch.rand(2, 1, 8, 8), "masker": "random", "ratio": 0.5, "seed": 0, which: value}

        def call():
            with torch.no_grad():
                model(args.pop("images"), **args)
        attempt(f"model({which}=...)", call, (which,), value)
    return strategy, run


def _fuzz_load_dataset(st, weird):
    from PIL import Image

    from mae_lab.data import load_dataset

    tree = Path(tempfile.mkdtemp(prefix="mae_lab_folder_"))  # a tiny ImageFolder tree for "folder"
    for label in ("a", "b"):
        (tree / label).mkdir()
        for k in range(3):
            Image.new("RGB", (12, 12), (40 * k, 80, 120)).save(tree / label / f"{k}.png")
    arguments = ["name", "split", "image_size", "root", "seed", "limit", "channels", "resize", "zoom", "colour"]
    strategy = st.tuples(st.sampled_from(["digits", "photos", "fashion_mnist", "folder"]), st.sampled_from(arguments),
                         weird)

    def run(case, attempt):
        name, which, value = case
        if which in ("image_size", "limit") and isinstance(value, int) and value > 256:
            return  # a big valid size is not a bad input, only a slow one
        if which == "zoom" and name != "photos":
            return
        args = {"name": name, "split": "test", "limit": 16, "download": False}
        if name == "folder":
            args["root"] = str(tree)
        elif name == "fashion_mnist" and which != "name":
            return  # it may be missing on this machine: a FileNotFoundError that names no argument
        args[which] = value
        attempt(f"load_dataset({name}, {which}=...)", lambda: load_dataset(args.pop("name"), **args), (which,), value)
    return strategy, run


def _fuzz_load_model(st, weird):
    from mae_lab.checkpoints import load_model

    arguments = ["name_or_path", "pretrained", "device", "image_size", "channels", "depth", "embed_dim", "patch_size",
                 "num_heads", "target", "colour"]
    strategy = st.tuples(st.sampled_from(arguments), weird.filter(lambda v: not (isinstance(v, int) and abs(v) > 64)))

    def run(case, attempt):
        which, value = case
        args = {"name_or_path": "mae_micro", which: value}
        attempt(f"load_model({which}=...)", lambda: load_model(args.pop("name_or_path"), **args), (which,), value)
    return strategy, run


def _fuzz_probe(st, weird):
    from mae_lab.data import load_dataset
    from mae_lab.models import MaskedAutoencoder, get_preset
    from mae_lab.probe import probe

    model = MaskedAutoencoder(get_preset("mae_micro"), seed=0).eval()
    train, test = load_dataset("digits", "train", limit=40), load_dataset("digits", "test", limit=20)
    arguments = ["model", "train_set", "test_set", "method", "baselines", "pool", "k", "temperature", "epochs",
                 "batch_size", "seed", "device"]
    strategy = st.tuples(st.sampled_from(arguments), weird)

    def run(case, attempt):
        which, value = case
        if which in ("epochs", "batch_size", "k") and isinstance(value, int) and value > 50:
            return
        args = {"model": model, "train_set": train, "test_set": test, "method": "knn", "baselines": False,
                which: value}
        if which == "epochs":
            args["method"] = "linear"
        attempt(f"probe({which}=...)", lambda: probe(**args), (which,), value)
    return strategy, run


def _fuzz_config(st, weird):
    import dataclasses

    from mae_lab.train import PretrainConfig

    names = [f.name for f in dataclasses.fields(PretrainConfig)]
    strategy = st.tuples(st.sampled_from(names), weird)

    def run(case, attempt):
        which, value = case
        attempt(f"PretrainConfig({which}=...)", lambda: PretrainConfig(**{which: value}), (which,), value)
    return strategy, run


def _fuzz_cli(st, weird):
    import mae_lab.demo
    import mae_lab.probe
    import mae_lab.train
    from mae_lab.cli import main

    tokens = st.sampled_from(["pretrain", "probe", "reconstruct", "--dataset", "--model", "--epochs",
                              "--ratio", "--masker", "--set", "--out", "--resume", "--limit", "--image", "--method",
                              "digits", "mae_micro", "nope", "-1", "0", "1e9", "nan", "x=1", "epochs=-1", "lr=nan",
                              "/nonexistent", "--seconds", "--batch-size", "--seed", "--device", "cuda:9", "--root",
                              "fashion_mnist", "mae_micro_digits", "--help"])
    strategy = st.lists(st.one_of(tokens, st.text(max_size=6)), min_size=1, max_size=7)

    def refuse(*args, **kwargs):  # the heavy work itself is not what is fuzzed here
        raise ValueError("(stub) the arguments were accepted")

    def run(argv, attempt):
        if "download" in argv:  # the network is not fuzzed (tests/test_data_download.py plays its failures)
            return
        saved = (mae_lab.train.pretrain, mae_lab.probe.probe, mae_lab.demo.run_demo, mae_lab.demo.save_figure)
        mae_lab.train.pretrain = mae_lab.probe.probe = mae_lab.demo.run_demo = mae_lab.demo.save_figure = refuse
        try:
            def call():
                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                    status = main(list(argv))
                if status not in (0, 2):
                    raise AssertionError(f"exit status {status}")
            attempt(f"mae-lab {' '.join(argv)[:40]}", call, ("",), None)
        finally:
            mae_lab.train.pretrain, mae_lab.probe.probe, mae_lab.demo.run_demo, mae_lab.demo.save_figure = saved
    return strategy, run


ENTRY_POINTS = [_fuzz_make_mask, _fuzz_model, _fuzz_load_dataset, _fuzz_load_model, _fuzz_probe, _fuzz_config,
                _fuzz_cli]


# =============================================================================================
# untrusted files
# =============================================================================================
class RunsCode:
    """Unpickling this runs ``touch <marker>``: what a malicious checkpoint does."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@contextlib.contextmanager
def no_weights_allocated():
    """Fail if a model is built on a real device or tensors are read from a file inside the block."""
    from mae_lab import checkpoints

    built, real_model, real_load = [], checkpoints.MaskedAutoencoder, checkpoints.load_file

    class Spy(real_model):
        def __init__(self, *args, **kwargs):
            if torch.empty(0).device.type != "meta":
                built.append("a model was built")
            super().__init__(*args, **kwargs)

    def read(*args, **kwargs):
        built.append("the tensors were read")
        return real_load(*args, **kwargs)

    checkpoints.MaskedAutoencoder, checkpoints.load_file = Spy, read
    try:
        yield built
    finally:
        checkpoints.MaskedAutoencoder, checkpoints.load_file = real_model, real_load


def untrusted_files(workdir: Path, log=print) -> Row:
    """Each file must be refused (a ValueError/FileNotFoundError/KeyError) before code runs or weights are made."""
    from mae_lab.checkpoints import load_checkpoint, load_model, save_checkpoint
    from mae_lab.convert import read_torch_state_dict
    from mae_lab.data import read_cifar_batch
    from mae_lab.models import MaskedAutoencoder, get_preset
    from mae_lab.train_support import RunFolder

    row = Row("untrusted files")
    marker = workdir / "code-ran"
    good = MaskedAutoencoder(get_preset("mae_micro"), seed=0)
    base = workdir / "good"
    save_checkpoint(good, base)
    info = json.loads(base.with_suffix(".json").read_text())
    cases = []

    def pickled(name: str, payload) -> Path:
        path = workdir / name
        torch.save(payload, path)
        return path

    evil_pth = pickled("evil.pth", {"model": {"w": RunsCode(marker)}})
    cases.append(("pickle that runs code, read_torch_state_dict", lambda: read_torch_state_dict(evil_pth)))
    cases.append(("pickle that runs code, load_model(.pth)", lambda: load_model(evil_pth)))
    plain = workdir / "plain.pth"
    plain.write_bytes(pickle.dumps({"model": RunsCode(marker)}, protocol=2))
    cases.append(("plain pickle that runs code, load_model(.pth)", lambda: load_model(plain)))
    cifar = workdir / "data_batch_1"
    cifar.write_bytes(pickle.dumps({"data": RunsCode(marker)}, protocol=2))
    cases.append(("CIFAR-10 batch that runs code", lambda: read_cifar_batch(cifar)))
    run = workdir / "run"
    run.mkdir()
    (run / "train_state.pt").write_bytes(pickle.dumps({"step": 1, "model": RunsCode(marker)}, protocol=2))
    cases.append(("train_state.pt that runs code (resume)", lambda: RunFolder(run).load_state()))

    weights = base.with_suffix(".safetensors").read_bytes()
    (header_size,) = struct.unpack("<Q", weights[:8])
    header = json.loads(weights[8:8 + header_size])

    def tampered(name: str, data: bytes, config_changes: dict | None = None) -> Path:
        path = workdir / name
        path.with_suffix(".safetensors").write_bytes(data)
        meta = {**info, "safetensors_bytes": len(data), "config": {**info["config"], **(config_changes or {})}}
        path.with_suffix(".json").write_text(json.dumps(meta))
        return path

    def with_header(new_header: dict) -> bytes:
        raw = json.dumps(new_header).encode()
        return struct.pack("<Q", len(raw)) + raw + weights[8 + header_size:]

    first = next(k for k in header if k != "__metadata__")
    huge = {**header, first: {**header[first], "shape": [10**9, 10**9]}}
    outside = {**header, first: {**header[first], "data_offsets": [0, 10**12]}}
    cases += [
        ("safetensors header length beyond the file", lambda: load_checkpoint(
            tampered("len", struct.pack("<Q", 10**15) + weights[8:]))),
        ("safetensors header that is not JSON", lambda: load_checkpoint(
            tampered("notjson", struct.pack("<Q", 20) + b"{not json at all!!!}" + weights[28:]))),
        ("safetensors tensor of 10^18 values", lambda: load_checkpoint(tampered("huge", with_header(huge)))),
        ("safetensors offsets outside the file", lambda: load_checkpoint(tampered("outside", with_header(outside)))),
    ]
    for field_name, value in (("embed_dim", 10**9), ("depth", 10**6), ("image_size", 10**9), ("patch_size", 0),
                              ("num_heads", -1), ("decoder_embed_dim", 10**9), ("channels", 10**6)):
        cases.append((f"checkpoint JSON with {field_name}={value}",
                      lambda f=field_name, v=value: load_checkpoint(tampered(f"absurd_{f}", weights, {f: v}))))
    big = workdir / "big"
    big.with_suffix(".safetensors").write_bytes(weights)
    with open(big.with_suffix(".json"), "w") as handle:
        handle.write('{"config": {}, "pad": "' + "x" * (17 * 2**20) + '"}')
    cases.append(("checkpoint JSON of 17 MB", lambda: load_checkpoint(big)))

    for name, load in cases:
        row.trials += 1
        row.inputs += 1
        start = time.perf_counter()
        with no_weights_allocated() as allocated:
            try:
                load()
                row.failures.append(f"{name}: accepted")
                verdict = "ACCEPTED"
            except (ValueError, FileNotFoundError, KeyError) as error:
                verdict = f"refused ({type(error).__name__}: {str(error)[:90]})"
            except Exception as error:  # noqa: BLE001
                row.failures.append(f"{name}: {type(error).__name__}: {error}")
                verdict = f"CRASHED ({type(error).__name__})"
        seconds = time.perf_counter() - start
        if marker.exists():
            row.failures.append(f"{name}: the file's code ran")
            marker.unlink()
        if allocated and not name.startswith("safetensors offsets"):
            row.failures.append(f"{name}: {allocated[0]} before the file was refused")
        if not row.failures or not row.failures[-1].startswith(name):
            row.recovered += 1
        log(f"  {name}: {verdict} in {seconds * 1000:.0f} ms")
    row.faults = row.trials
    row.notes = "refused before any code ran or any weight was allocated"
    return row


# =============================================================================================
# the table
# =============================================================================================
def table(rows: list[Row]) -> str:
    lines = ["| fault | trials | faults injected | inputs tried | runs recovered | bytes lost | problems |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        recovered = f"{r.recovered} / {r.trials}"
        lines.append(f"| {r.fault} | {r.trials} | {r.faults or '—'} | {r.inputs or '—'} | {recovered} | "
                     f"{r.bytes_lost} | {len(r.failures)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few trials of each kind (for the tests)")
    parser.add_argument("--kills", type=int, default=22, help="SIGKILLs of pretraining runs")
    parser.add_argument("--chains", type=int, default=6, help="runs the kills are spread over")
    parser.add_argument("--full-disk", type=int, default=8, help="full-disk trials")
    parser.add_argument("--storm", type=int, default=200, help="random changes per control of each app")
    parser.add_argument("--examples", type=int, default=150, help="hypothesis examples per entry point")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", nargs="*", choices=["kill", "disk", "storm", "fuzz", "files"])
    parser.add_argument("--markdown", action="store_true", help="print only the table")
    args = parser.parse_args(argv)
    if args.quick:
        args.kills, args.chains, args.full_disk, args.storm, args.examples = 2, 1, 2, 8, 15
    torch.set_num_threads(1)
    os.environ.setdefault("TQDM_DISABLE", "1")
    import warnings

    warnings.filterwarnings("ignore", message=".*already holds a run.*")
    log = (lambda *a, **k: None) if args.markdown else print
    wanted = set(args.only or ["kill", "disk", "storm", "fuzz", "files"])
    rows, start = [], time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mae_lab_reliability_") as tmp:
        work = Path(tmp)
        for key, title, run in (
            ("kill", "kill -9", lambda: kill_trials(args.kills, args.chains, 4, args.seed, work / "kill", log)),
            ("disk", "full disk", lambda: disk_full_trials(args.full_disk, args.seed, work / "disk", log)),
            ("storm", "slider storms", lambda: slider_storms(args.storm, args.seed, log)),
            ("fuzz", "bad inputs", lambda: fuzz(args.examples, args.seed, log)),
            ("files", "untrusted files", lambda: untrusted_files(work / "files", log)),
        ):
            if key not in wanted:
                continue
            (work / key).mkdir(parents=True, exist_ok=True)
            log(f"{title}:")
            t0 = time.perf_counter()
            rows.append(run())
            log(f"  ({time.perf_counter() - t0:.0f} s)")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    if not args.markdown:
        print(f"\n{platform.machine()}, {os.cpu_count()} CPUs, load average {load:.1f}, torch {torch.__version__}, "
              f"{time.perf_counter() - start:.0f} s in all\n")
    print(table(rows))
    for r in rows:
        if r.notes and not args.markdown:
            print(f"* {r.fault}: {r.notes}")
        for failure in r.failures[:10]:
            print(f"  FAILED {r.fault}: {failure}")
    return 0 if all(r.ok for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
