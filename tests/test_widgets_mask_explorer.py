"""widgets.mask_explorer: pictures change, seeds reproduce, options become controls, errors become messages."""

import base64

import pytest
import torch
from fakes import control

from mae_lab import widgets as W
from mae_lab.masking import list_maskers


def test_mask_explorer_controls_and_redraw(images):
    app = W.MaskExplorer(images)
    assert [c.description for c in app.controls] == ["masker", "mask ratio", "seed", "image"]
    assert set(control(app, "masker").options) == {info.name for info in list_maskers()}
    first = app.image_bytes
    assert first[:8] == b"\x89PNG\r\n\x1a\n"
    assert "48 hidden / 16 visible" in app.status.value
    control(app, "mask ratio").value = 0.5
    assert app.image_bytes != first  # redrawn before the assignment returned
    assert "32 hidden / 32 visible" in app.status.value and app.mask.num_hidden == 32
    control(app, "image").value = 2
    assert app.mask_controls.image.value == 2 and "random" in app.mask_controls.idea.value


def test_mask_explorer_same_seed_restores_the_same_picture(images):
    app = W.MaskExplorer(images)
    seed = control(app, "seed")
    seed.value = 1
    one = app.image_bytes
    seed.value = 2
    assert app.image_bytes != one
    app.cache.clear()  # recomputed, not merely looked up
    seed.value = 1
    assert app.image_bytes == one


def test_mask_explorer_strategy_options_become_controls(images):
    app = W.MaskExplorer(images)
    control(app, "masker").value = "noise"
    color = control(app, "color")
    assert set(color.options) >= {"red", "green", "blue"}
    assert control(app, "mask ratio").value == pytest.approx(0.75)  # the strategy's default ratio
    assert "ColorMAE" in app.mask_controls.idea.value
    green = app.image_bytes
    color.value = "red"
    assert app.image_bytes != green
    control(app, "masker").value = "block"
    assert control(app, "mask ratio").value == pytest.approx(0.4)
    assert "min_block_patches" in [c.description for c in app.controls]


def test_mask_explorer_guided_strategies_use_patch_contrast(images):
    app = W.MaskExplorer(images)
    control(app, "masker").value = "attention"
    assert app.last_error is None
    assert "contrast" in app.mask_controls.idea.value
    scores = app.scores[0]
    top = set(scores.argsort(descending=True)[: app.mask.num_hidden].tolist())
    assert set(torch.nonzero(app.mask.hidden[0]).flatten().tolist()) == top


def test_mask_explorer_shows_a_readable_message_for_a_ratio_with_no_visible_patch(images):
    app = W.MaskExplorer(images, patch_size=16)  # a 2x2 grid
    before = app.image_bytes
    control(app, "mask ratio").value = 0.9  # hides all 4 patches
    assert "none visible" in app.message.value and "Cannot draw" in app.message.value
    assert "Traceback" not in app.message.value
    assert app.image_bytes == before
    control(app, "mask ratio").value = 0.5
    assert app.message.value == "" and app.last_error is None


def test_mask_explorer_reports_an_option_that_is_not_a_literal(images):
    app = W.MaskExplorer(images)
    control(app, "masker").value = "block"
    max_aspect = control(app, "max_aspect")
    max_aspect.value = "banana"
    assert "max_aspect" in app.message.value and "literal" in app.message.value
    max_aspect.value = "None"
    assert app.message.value == ""


def test_mask_explorer_static_render_has_a_png(images):
    app = W.MaskExplorer(images)
    bundle = app._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert base64.b64decode(bundle["image/png"]) == app.image_bytes
    assert "MaskExplorer" in bundle["text/plain"]
