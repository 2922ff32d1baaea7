"""Faults survived: the fast versions of ``benchmarks/reliability.py`` (the full, measured runs are there).

* slider storms on every control of the three explorers: no exception, and the final picture equals a
  fresh app's picture of the final state;
* bad inputs drawn by hypothesis for every public entry point: only ValueError / KeyError /
  FileNotFoundError / TypeError, each naming the bad value or its argument;
* untrusted files: refused before any code in them runs or any weight is allocated;
* a full disk during a checkpoint write: the previous checkpoint survives, the message says so.

Killing a training run with SIGKILL (also in the middle of a checkpoint write) is tested in
``tests/test_train_support.py``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "reliability.py"


def load_script():
    if "benchmark_reliability" not in sys.modules:
        spec = importlib.util.spec_from_file_location("benchmark_reliability", SCRIPT)
        module = importlib.util.module_from_spec(spec)
        sys.modules["benchmark_reliability"] = module  # dataclasses look their module up while being defined
        spec.loader.exec_module(module)
    return sys.modules["benchmark_reliability"]


reliability = load_script()


def quiet(*args, **kwargs):
    pass


def assert_row_ok(row) -> None:
    assert row.failures == [], "\n".join(row.failures[:10])
    assert row.bytes_lost == 0 and row.recovered == row.trials


def test_slider_storms_end_on_the_picture_of_the_final_state():
    row = reliability.slider_storms(changes_per_widget=10, seed=1, log=quiet)
    assert row.trials == 3 and row.inputs >= 10 * (4 + 4 + 10)  # every main control of each app, 10 times
    assert_row_ok(row)


def test_a_storm_that_ends_in_an_error_state_shows_the_same_error_as_a_fresh_app():
    import mae_lab
    from mae_lab.widgets import MaskExplorer

    images = mae_lab.sample_images("digits", n=2)  # 8 x 8 pixels: a 4 x 4 grid when patches are 2 px
    app = MaskExplorer(images, patch_size=2, throttle_s=0.01)
    app.controls[1].value = 0.99  # hides all 16 patches: an error shown in the app
    assert app.last_error and "leaves none visible" in app.last_error
    fresh = MaskExplorer(images, patch_size=2)
    reliability.apply_state(fresh, reliability.final_values(app))
    assert fresh.last_error == app.last_error


def test_bad_inputs_raise_documented_errors_that_name_the_value():
    row = reliability.fuzz(examples=12, seed=0, log=quiet)
    assert row.trials == len(reliability.ENTRY_POINTS) and row.inputs >= 8 * row.trials  # a few draws are skipped
    assert_row_ok(row)


def test_untrusted_files_are_refused_before_code_runs_or_memory_is_allocated(tmp_path):
    row = reliability.untrusted_files(tmp_path, log=quiet)
    assert row.trials >= 15
    assert_row_ok(row)
    assert not (tmp_path / "code-ran").exists()


def test_a_full_disk_at_any_checkpoint_keeps_the_previous_one(tmp_path):
    row = reliability.disk_full_trials(trials=2, seed=3, workdir=tmp_path, log=quiet)
    assert_row_ok(row)


def test_the_script_prints_its_table(capsys):
    assert reliability.main(["--quick", "--only", "files", "--markdown"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("| fault | trials | faults injected | inputs tried | runs recovered | bytes lost |")
    assert "| untrusted files |" in out


@pytest.mark.parametrize("value", [None, "", 2.5, float("nan"), -1, True, [1, 2]])
def test_whole_number_names_the_argument_and_the_value(value):
    from mae_lab.utils import whole_number

    with pytest.raises(ValueError, match=r"batch_size must be (a whole number|at least 1), got "):
        whole_number(value, "batch_size", minimum=1)
