"""The course as a static site: run every lab and write ``outputs/site/NN_*.html`` and ``index.html`` (a
maintainer tool; ``make site`` runs it in smoke mode, ``SMOKE=0 make site`` at full size).

    python scripts/build_site.py [--out outputs/site] [--labs 00 04] [--timeout 1800]

Live widgets need a kernel; a static page has none. So every widget output becomes its still picture:

* the apps of ``mae_lab.widgets`` put a PNG of their current picture next to the widget view in their
  output (see ``LiveApp._repr_mimebundle_``): :class:`StillPictures` keeps that PNG and drops the view;
* any other widget (a slider next to an ``ipywidgets.Image``, say) is drawn from the widget state the run
  recorded: its pictures and text, in order, as plain HTML;

and the recorded widget state itself is dropped, so the page loads no widget JavaScript and works offline.
A lab whose metadata says ``{"mae_lab": {"needs": ["fashion_mnist"]}}`` is skipped, with the reason in the
index, on a machine without that dataset.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import sys
import time
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter
from nbconvert.preprocessors import CellExecutionError, ExecutePreprocessor, Preprocessor

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
LIVE_NOTE = "(live controls: run the notebook to use them)"


class StillPictures(Preprocessor):
    """Replace every widget output by a still picture: the app's own PNG, or one drawn from the widget state."""

    def preprocess(self, nb, resources):
        self.states = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
        self.replaced = {"app pictures": 0, "widget states": 0, "without a picture": 0}
        nb, resources = super().preprocess(nb, resources)
        nb.metadata.pop("widgets", None)  # no widget JavaScript, no state: the page works offline
        resources.setdefault("still_pictures", {}).update(self.replaced)
        return nb, resources

    def preprocess_cell(self, cell, resources, index):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW not in data:
                continue
            view = data.pop(WIDGET_VIEW)
            if "image/png" in data:  # an app of mae_lab.widgets: its current picture is already here
                self.replaced["app pictures"] += 1
                continue
            pieces = self._render(view.get("model_id", ""), set())
            if pieces:
                still = "".join(pieces) + f"<p><small>{LIVE_NOTE}</small></p>"
                data["text/html"] = f'<div class="mae-lab-still">{still}</div>'
                data.pop("text/plain", None)  # e.g. "VBox(children=...)"
                self.replaced["widget states"] += 1
            else:
                data["text/plain"] = LIVE_NOTE
                self.replaced["without a picture"] += 1
        return cell, resources

    # ------------------------------------------------------------------ widget state -> HTML
    def _hidden(self, state: dict) -> bool:
        layout = self.states.get(str(state.get("layout", "")).removeprefix("IPY_MODEL_"), {}).get("state", {})
        return layout.get("display") == "none" or layout.get("visibility") == "hidden"

    def _render(self, model_id: str, seen: set) -> list[str]:
        """The pictures and texts of widget ``model_id`` and its children, in order (controls are left out)."""
        if model_id in seen or model_id not in self.states:
            return []
        seen.add(model_id)
        entry = self.states[model_id]
        state, name = entry.get("state", {}), entry.get("model_name", "")
        if self._hidden(state):
            return []
        if name == "ImageModel":
            png = next((b["data"] for b in entry.get("buffers", []) if b.get("path") == ["value"]), None)
            if png is None and isinstance(state.get("value"), str):
                png = state["value"]
            if not png:
                return []
            kind = state.get("format", "png")
            return [f'<img src="data:image/{kind};base64,{png}" alt="a still picture of a live widget">']
        if name in ("HTMLModel", "HTMLMathModel"):
            return [f"<div>{state['value']}</div>"] if state.get("value") else []
        if name == "LabelModel":
            return [f"<div>{html.escape(state['value'])}</div>"] if state.get("value") else []
        if name == "OutputModel":
            return [self._output_html(o) for o in state.get("outputs", [])]
        pieces = []
        for child in state.get("children", []):
            pieces += self._render(str(child).removeprefix("IPY_MODEL_"), seen)
        return pieces

    @staticmethod
    def _output_html(output: dict) -> str:
        data = output.get("data", {})
        if "image/png" in data:
            return f'<img src="data:image/png;base64,{data["image/png"]}" alt="">'
        if "text/html" in data:
            return "".join(data["text/html"])
        text = output.get("text") or "".join(data.get("text/plain", ""))
        return f"<pre>{html.escape(''.join(text))}</pre>" if text else ""


def missing_needs(nb) -> list[str]:
    """What the lab needs that this machine lacks (only datasets are checked)."""
    from mae_lab.data import dataset_available, list_datasets

    needs = nb.metadata.get("mae_lab", {}).get("needs", [])
    return [need for need in needs if need in list_datasets() and not dataset_available(need)]


def title_of(nb, path: Path) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return path.stem


def build_lab(path: Path, out: Path, timeout: int) -> dict:
    """Run one lab and write its page; returns what happened (for the index)."""
    nb = nbformat.read(path, as_version=4)
    record = {"lab": path.stem, "title": title_of(nb, path), "page": f"{path.stem}.html"}
    missing = missing_needs(nb)
    if missing:
        record.update(status="skipped", reason=f"needs {', '.join(missing)}: apt-get install dataset-fashion-mnist, "
                                              "or `mae-lab download fashion_mnist`")
        return record
    start = time.perf_counter()
    try:
        ExecutePreprocessor(timeout=timeout, kernel_name="python3", store_widget_state=True).preprocess(
            nb, {"metadata": {"path": str(path.parent)}})
        status = "ok"
    except CellExecutionError as error:
        status = f"failed: {str(error).strip().splitlines()[-1][:200]}"
    record["seconds"] = round(time.perf_counter() - start, 1)
    nb, resources = StillPictures().preprocess(nb, {})
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    (out / record["page"]).write_text(body, encoding="utf-8")
    record.update(status=status, pictures=resources["still_pictures"])
    return record


def write_index(records: list[dict], out: Path, smoke: bool) -> Path:
    rows = []
    for r in records:
        name = html.escape(r["title"] if r["title"][:2].isdigit() else f"{r['lab'][:2]} · {r['title']}")
        link = f'<a href="{r["page"]}">{name}</a>' if r["status"] != "skipped" else name
        note = {"ok": f"{r.get('seconds', 0):.0f} s"}.get(r["status"], html.escape(r.get("reason", r["status"])))
        rows.append(f"<tr><td>{link}</td><td>{note}</td></tr>")
    mode = "smoke mode (small data, few steps)" if smoke else "full size"
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>mae_lab — the course</title>
<style>body{{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem}}
td{{padding:.3rem .8rem;border-bottom:1px solid #ddd}}</style></head><body>
<h1>mae_lab — the course</h1>
<p>Every lab, run top to bottom in {mode} on {time.strftime('%Y-%m-%d')}. The live apps are shown as still
pictures; open the notebooks in JupyterLab (<code>make lab</code>) to move their sliders.</p>
<table>{''.join(rows)}</table></body></html>
"""
    path = out / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "outputs" / "site")
    parser.add_argument("--labs", nargs="*", help="lab numbers (default: all), e.g. 00 04")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds one cell may run")
    args = parser.parse_args(argv)
    labs = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if args.labs:
        labs = [p for p in labs if p.name[:2] in set(args.labs)]
    args.out.mkdir(parents=True, exist_ok=True)
    smoke = os.environ.get("MAE_LAB_SMOKE", "0").lower() not in ("", "0", "false", "no")
    records = []
    for path in labs:
        print(f"{path.name} ...", end=" ", flush=True)
        record = build_lab(path, args.out, args.timeout)
        records.append(record)
        print(record["status"], f"({record.get('seconds', 0):.0f} s)" if "seconds" in record else record.get("reason", ""))
    (args.out / "site.json").write_text(json.dumps(records, indent=1) + "\n")
    print(f"wrote {write_index(records, args.out, smoke)}")
    return 0 if all(r["status"] in ("ok", "skipped") for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())
