"""``scripts/build_site.py``: the labs as static pages, every live app shown as its still picture."""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import re
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]


def load_script():
    spec = importlib.util.spec_from_file_location("build_site", REPO / "scripts" / "build_site.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


site = load_script()


def png(color: int = 0) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (4, 4), color).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def widget_notebook() -> nbformat.NotebookNode:
    """A run notebook with an app output (widget view + PNG) and a plain widget box (view only)."""
    nb = nbformat.v4.new_notebook()
    view = {"version_major": 2, "version_minor": 0}
    app = nbformat.v4.new_output("display_data", data={
        "application/vnd.jupyter.widget-view+json": {**view, "model_id": "app"},
        "image/png": png(10), "text/plain": "<MaskExplorer: run this notebook live to use its controls>"})
    box = nbformat.v4.new_output("display_data", data={
        "application/vnd.jupyter.widget-view+json": {**view, "model_id": "box"}, "text/plain": "VBox(...)"})
    nb.cells = [nbformat.v4.new_code_cell("app", outputs=[app]), nbformat.v4.new_code_cell("box", outputs=[box])]
    state = {
        "box": {"model_name": "VBoxModel", "state": {"children": ["IPY_MODEL_slider", "IPY_MODEL_image",
                                                                  "IPY_MODEL_hidden", "IPY_MODEL_note"]}},
        "slider": {"model_name": "IntSliderModel", "state": {"value": 3}},
        "image": {"model_name": "ImageModel", "state": {"format": "png"},
                  "buffers": [{"data": png(200), "encoding": "base64", "path": ["value"]}]},
        "hidden": {"model_name": "ImageModel", "state": {"format": "png", "layout": "IPY_MODEL_gone"},
                   "buffers": [{"data": png(99), "encoding": "base64", "path": ["value"]}]},
        "gone": {"model_name": "LayoutModel", "state": {"display": "none"}},
        "note": {"model_name": "HTMLModel", "state": {"value": "<b>196 tokens</b>"}},
    }
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": state}}
    return nb


def test_still_pictures_keep_the_app_png_and_draw_other_widgets_from_their_state():
    nb, resources = site.StillPictures().preprocess(widget_notebook(), {})
    app, box = (cell.outputs[0]["data"] for cell in nb.cells)
    assert "application/vnd.jupyter.widget-view+json" not in app and app["image/png"] == png(10)
    assert "application/vnd.jupyter.widget-view+json" not in box and "text/plain" not in box
    assert png(200) in box["text/html"] and png(99) not in box["text/html"]  # hidden widgets stay hidden
    assert "<b>196 tokens</b>" in box["text/html"] and site.LIVE_NOTE in box["text/html"]
    assert "widgets" not in nb.metadata  # no widget state, no widget JavaScript
    assert resources["still_pictures"] == {"app pictures": 1, "widget states": 1, "without a picture": 0}


def test_a_widget_without_any_picture_says_it_is_live():
    nb = widget_notebook()
    nb.metadata.pop("widgets")
    nb, resources = site.StillPictures().preprocess(nb, {})
    assert nb.cells[1].outputs[0]["data"] == {"text/plain": site.LIVE_NOTE}
    assert resources["still_pictures"]["without a picture"] == 1


@pytest.mark.slow
def test_lab_00_renders_with_every_app_as_a_picture(tmp_path, monkeypatch):
    monkeypatch.setenv("MAE_LAB_SMOKE", "1")
    assert site.main(["--out", str(tmp_path), "--labs", "00", "--timeout", "600"]) == 0
    page = (tmp_path / "00_start_here.html").read_text()
    assert "widget-view+json" not in page and "widget-state+json" not in page  # no empty widget placeholders
    outputs = re.split(r'<div class="jp-OutputArea-child', page)[1:]
    apps = [o for o in outputs if "run this notebook live" in o or "jp-RenderedImage" in o]
    assert len(apps) >= 2  # the two explorers, each as a picture
    assert all('<img ' in output for output in apps)
    record = json.loads((tmp_path / "site.json").read_text())[0]
    assert record["status"] == "ok" and record["pictures"]["app pictures"] >= 2  # both explorers had their PNG
    assert record["pictures"]["without a picture"] == 0
    index = (tmp_path / "index.html").read_text()
    assert 'href="00_start_here.html"' in index and "smoke mode" in index
