"""``scripts/sync_notebooks.py``: every lab installs mae_lab from the one source in pyproject.toml, and ends
with its self-test collapsed, tagged and announced; the script is idempotent."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def load_script():
    spec = importlib.util.spec_from_file_location("sync_notebooks", REPO / "scripts" / "sync_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sync = load_script()
LABS = sync.labs()


def test_the_install_source_is_read_from_pyproject():
    source = sync.install_source()
    assert source.startswith(("git+https://", "mae_lab"))
    if sys.version_info >= (3, 11):  # the hand parser of Python 3.10 reads the same value
        import tomllib

        assert tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["mae_lab"]["install_source"] == source


def test_the_hand_parser_for_python_310_agrees(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tomllib", None)  # import tomllib now raises ImportError
    assert sync.install_source() == (REPO / "pyproject.toml").read_text().split('install_source = "')[1].split('"')[0]
    bare = tmp_path / "pyproject.toml"
    bare.write_text("[project]\nname = 'x'\n")
    with pytest.raises(KeyError, match="install_source"):
        sync.install_source(bare)


@pytest.mark.parametrize("path", LABS, ids=lambda p: p.stem)
def test_every_lab_is_in_step(path):
    nb = json.loads(path.read_text())
    first = "".join(sync.code_cells(nb)[0]["source"])
    assert "".join(sync.install_block(sync.install_source())) in first, f"{path.name}: install cell out of step"
    assert sync.installed_source(nb) == sync.install_source()
    cells, last = nb["cells"], sync.code_cells(nb)[-1]
    assert last["metadata"]["jupyter"]["source_hidden"] is True and "self-test" in last["metadata"]["tags"]
    before = cells[cells.index(last) - 1]
    assert before["cell_type"] == "markdown" and "".join(before["source"]) == sync.NOTE
    assert sum(sync.is_note(cell) for cell in cells) == 1
    assert sum("self-test" in cell["metadata"].get("tags", []) for cell in cells) == 1
    text = path.read_text()
    assert sync.synced(text, sync.install_source()) == text, f"run python scripts/sync_notebooks.py ({path.name})"


def test_a_new_lab_gets_the_install_cell_and_the_self_test_note(tmp_path):
    new = {
        "cells": [
            {"cell_type": "markdown", "id": "a", "metadata": {}, "source": ["# A new lab"]},
            {"cell_type": "code", "execution_count": None, "id": "b", "metadata": {}, "outputs": [],
             "source": ["import mae_lab"]},
            {"cell_type": "code", "execution_count": None, "id": "c", "metadata": {"tags": ["self-test"]},
             "outputs": [], "source": ["assert True"]},
            {"cell_type": "code", "execution_count": None, "id": "d", "metadata": {}, "outputs": [],
             "source": ["assert 1 + 1 == 2"]},
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    once = sync.synced(json.dumps(new), "git+https://example.org/fork/mae_lab@v1")
    assert sync.synced(once, "git+https://example.org/fork/mae_lab@v1") == once  # idempotent
    nb = json.loads(once)
    assert sync.installed_source(nb) == "git+https://example.org/fork/mae_lab@v1"
    assert "".join(nb["cells"][1]["source"]).endswith("import mae_lab")  # the cell's own code is kept
    assert [cell["id"] for cell in nb["cells"]] == ["a", "b", "c", sync.NOTE_ID, "d"]
    assert "self-test" not in nb["cells"][2]["metadata"].get("tags", [])  # only the last cell is the self-test
    assert nb["cells"][-1]["metadata"] == {"jupyter": {"source_hidden": True}, "tags": ["self-test"]}
    moved = sync.synced(once, "mae_lab==0.3")  # a new source rewrites the line, nothing else
    assert sync.installed_source(json.loads(moved)) == "mae_lab==0.3"
    assert moved.replace("mae_lab==0.3", "git+https://example.org/fork/mae_lab@v1") == once


def test_check_mode_reports_a_stale_lab_and_changes_nothing(tmp_path, capsys):
    stale = tmp_path / "99_stale.ipynb"
    text = LABS[0].read_text().replace(sync.install_source(), "git+https://example.org/old")
    stale.write_text(text)
    assert sync.main(["--check", str(stale)]) == 1
    assert "out of step" in capsys.readouterr().out and stale.read_text() == text
    assert sync.main([str(stale)]) == 0 and stale.read_text() == LABS[0].read_text()
    assert sync.main(["--check", str(stale)]) == 0


@pytest.mark.parametrize("path", LABS, ids=lambda p: p.stem)
def test_what_a_lab_needs_is_something_the_tests_can_check(path):
    sys.path.insert(0, str(REPO / "tests"))
    import needs

    declared = json.loads(path.read_text())["metadata"].get("mae_lab", {}).get("needs", [])
    assert set(declared) <= set(needs.CHECKS), f"{path.name} needs {declared}; known: {sorted(needs.CHECKS)}"


@pytest.mark.parametrize("path", LABS, ids=lambda p: p.stem)
def test_no_markdown_cell_is_a_left_over_template_field(path):
    """A cell such as ``RESULT_TEXT`` or ``{result}`` is a slot someone meant to fill with measured words."""
    for index, cell in enumerate(json.loads(path.read_text())["cells"]):
        text = "".join(cell["source"]).strip()
        if cell["cell_type"] != "markdown":
            continue
        assert not re.fullmatch(r"[A-Z][A-Z0-9_]*|\{[^{}\s]*\}", text), f"{path.name}, cell {index}: {text!r}"
