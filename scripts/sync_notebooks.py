"""Keep the parts every lab shares in step (a maintainer tool; run it after adding or editing a lab).

    python scripts/sync_notebooks.py            # rewrite the notebooks that are out of step
    python scripts/sync_notebooks.py --check    # only report them (exit status 1 if any)

What it rewrites, and nothing else:

* the install cell (the first code cell): on Colab it runs ``%pip install -q <source>``, with the source
  read from ``pyproject.toml`` (``[tool.mae_lab] install_source``) — the one place to change it;
* the last code cell (the self-test the automatic tests rely on): collapsed (``source_hidden``), tagged
  ``self-test``, with a one-line markdown note before it.

Notebook JSON is written the way Jupyter writes it (``json.dumps(nb, indent=1, ensure_ascii=False,
sort_keys=True)`` and a newline), so diffs stay small; running the script twice changes nothing.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"

SELF_TEST_TAG = "self-test"
NOTE_TAG = "self-test-note"
NOTE_ID = "self-test-note"
NOTE = "The last cell checks the facts this notebook relies on; the automatic tests run it."
INSTALL_LINE = re.compile(r'^(\s*)get_ipython\(\)\.run_line_magic\("pip", "install -q ([^"]*)"\)\s*$')


def install_source(pyproject: Path = REPO / "pyproject.toml") -> str:
    """``[tool.mae_lab] install_source`` of ``pyproject.toml`` (what ``%pip install`` fetches on Colab)."""
    text = pyproject.read_text()
    try:
        import tomllib
    except ImportError:  # Python 3.10: read the one key by hand
        section = re.search(r"^\[tool\.mae_lab\]\s*$(.*?)(?=^\[|\Z)", text, re.MULTILINE | re.DOTALL)
        value = re.search(r'^install_source\s*=\s*"([^"]+)"', section.group(1), re.MULTILINE) if section else None
        if value is None:
            raise KeyError(f"{pyproject} has no [tool.mae_lab] install_source") from None
        return value.group(1)
    try:
        return tomllib.loads(text)["tool"]["mae_lab"]["install_source"]
    except KeyError:
        raise KeyError(f"{pyproject} has no [tool.mae_lab] install_source") from None


def install_block(source: str) -> list[str]:
    """The lines that install mae_lab on Colab (the start of every lab's first code cell)."""
    return [
        "import sys\n",
        'if "google.colab" in sys.modules:  # Colab: install mae_lab first\n',
        f'    get_ipython().run_line_magic("pip", "install -q {source}")\n',
    ]


def lines_of(cell: dict) -> list[str]:
    source = cell["source"]
    return source.splitlines(keepends=True) if isinstance(source, str) else list(source)


def labs() -> list[Path]:
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def code_cells(nb: dict) -> list[dict]:
    return [cell for cell in nb["cells"] if cell["cell_type"] == "code"]


# ---------------------------------------------------------------------------------------------
# the install cell
# ---------------------------------------------------------------------------------------------
def installed_source(nb: dict) -> str | None:
    """The source the notebook's install cell installs, or None when it has no install line."""
    for line in lines_of(code_cells(nb)[0]):
        match = INSTALL_LINE.match(line)
        if match:
            return match.group(2)
    return None


def sync_install_cell(nb: dict, source: str) -> None:
    """Point the install line at ``source``; add the install block when the first code cell lacks it."""
    cell = code_cells(nb)[0]
    lines = lines_of(cell)
    for number, line in enumerate(lines):
        match = INSTALL_LINE.match(line)
        if match:
            ending = "\n" if line.endswith("\n") else ""
            lines[number] = f'{match.group(1)}get_ipython().run_line_magic("pip", "install -q {source}"){ending}'
            break
    else:
        lines = install_block(source) + lines
    cell["source"] = lines


# ---------------------------------------------------------------------------------------------
# the self-test cell
# ---------------------------------------------------------------------------------------------
def is_note(cell: dict) -> bool:
    return cell["cell_type"] == "markdown" and NOTE_TAG in cell.get("metadata", {}).get("tags", [])


def note_cell(ids: set[str]) -> dict:
    cell_id = NOTE_ID if NOTE_ID not in ids else f"{NOTE_ID}-{len(ids)}"
    return {"cell_type": "markdown", "id": cell_id, "metadata": {"tags": [NOTE_TAG]}, "source": [NOTE]}


def _set_self_test(cell: dict, on: bool) -> None:
    metadata = cell.setdefault("metadata", {})
    tags = [tag for tag in metadata.get("tags", []) if tag != SELF_TEST_TAG]
    jupyter = {k: v for k, v in metadata.get("jupyter", {}).items() if k != "source_hidden"}
    if on:
        tags.append(SELF_TEST_TAG)
        jupyter["source_hidden"] = True
    for key, value in (("tags", tags), ("jupyter", jupyter)):
        if value:
            metadata[key] = value
        else:
            metadata.pop(key, None)


def sync_self_test(nb: dict) -> None:
    """Collapse and tag the last code cell; put the one-line note right before it (and nowhere else)."""
    cells = nb["cells"]
    last = code_cells(nb)[-1]
    for cell in code_cells(nb):
        _set_self_test(cell, cell is last)
    notes = [cell for cell in cells if is_note(cell)]
    note = notes[0] if notes else note_cell({c.get("id", "") for c in cells})
    note["source"] = [NOTE]
    cells[:] = [cell for cell in cells if not is_note(cell)]
    cells.insert(cells.index(last), note)


# ---------------------------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------------------------
def dumps(nb: dict) -> str:
    return json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n"  # as Jupyter saves it


def synced(text: str, source: str) -> str:
    """The notebook JSON ``text`` with its shared parts in step."""
    nb = json.loads(text)
    sync_install_cell(nb, source)
    sync_self_test(nb)
    return dumps(nb)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebooks/NN_*.ipynb")
    parser.add_argument("--check", action="store_true", help="only list the notebooks out of step")
    args = parser.parse_args(argv)
    source = install_source()
    stale = []
    for path in args.notebooks or labs():
        text = path.read_text()
        new = synced(text, source)
        if new != text:
            stale.append(path)
            if not args.check:
                path.write_text(new)
    verb = "out of step" if args.check else "rewritten"
    for path in stale:
        print(f"{verb}: {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
    if not stale:
        print("every notebook is in step")
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
