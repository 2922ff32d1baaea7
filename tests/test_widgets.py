"""The live apps, driven from Python: pictures change, seeds reproduce, errors become messages."""

import base64
import io
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

import mae_lab
from mae_lab import widgets as W
from mae_lab.masking import list_maskers
from mae_lab.models import MaskedAutoencoder, get_preset


def control(app, description):
    return next(c for c in app.controls if c.description == description)


class FakeTimer:
    """A clock and a scheduler the test advances by hand (no event loop needed)."""

    def __init__(self):
        self.now = 100.0
        self.scheduled = []

    def clock(self):
        return self.now

    def schedule(self, delay, callback):
        handle = SimpleNamespace(delay=delay, callback=callback, cancelled=False)
        handle.cancel = lambda: setattr(handle, "cancelled", True)
        self.scheduled.append(handle)
        return handle

    def fire(self):
        handles, self.scheduled = self.scheduled, []
        for handle in handles:
            if not handle.cancelled:
                self.now += handle.delay
                handle.callback()


# ---------------------------------------------------------------- Throttle and cache
def test_throttle_runs_at_once_then_coalesces_into_one_trailing_run():
    calls = []
    timer = FakeTimer()
    throttle = W.Throttle(
        lambda: calls.append(timer.now), interval=0.1, clock=timer.clock, schedule=timer.schedule
    )
    throttle()
    assert len(calls) == 1  # leading edge: immediate
    for _ in range(5):
        throttle()
    assert len(calls) == 1 and len(timer.scheduled) == 1  # merged, one timer
    timer.fire()
    assert len(calls) == 2  # the trailing run draws the final state
    timer.now += 1.0
    throttle()
    assert len(calls) == 3  # quiet period over: immediate again


def test_throttle_without_interval_or_loop_runs_synchronously():
    calls = []
    W.Throttle(lambda: calls.append(1))()
    assert calls == [1]
    throttle = W.Throttle(lambda: calls.append(2), interval=10.0)
    throttle()
    throttle()  # no running event loop here: the default scheduler runs it now
    assert calls == [1, 2, 2]


def test_lru_cache_evicts_the_least_recently_used():
    cache = W.LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1
    cache.put("c", 3)
    assert cache.get("b") is None and cache.get("a") == 1 and len(cache) == 2


# ---------------------------------------------------------------- MaskExplorer
def test_mask_explorer_controls_and_redraw(images):
    app = W.MaskExplorer(images)
    assert [c.description for c in app.controls] == ["strategy", "mask ratio", "seed", "image"]
    assert set(control(app, "strategy").options) == {info.name for info in list_maskers()}
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
    control(app, "strategy").value = "noise"
    color = control(app, "color")
    assert set(color.options) >= {"red", "green", "blue"}
    assert control(app, "mask ratio").value == pytest.approx(0.75)  # the strategy's default ratio
    assert "ColorMAE" in app.mask_controls.idea.value
    green = app.image_bytes
    color.value = "red"
    assert app.image_bytes != green
    control(app, "strategy").value = "block"
    assert control(app, "mask ratio").value == pytest.approx(0.4)
    assert "min_block_patches" in [c.description for c in app.controls]


def test_mask_explorer_guided_strategies_use_patch_contrast(images):
    app = W.MaskExplorer(images)
    control(app, "strategy").value = "attention"
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
    control(app, "strategy").value = "block"
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


def test_static_html_export_shows_the_picture_instead_of_a_dead_widget(images):
    import nbformat
    from nbconvert import HTMLExporter

    app = W.MaskExplorer(images)
    bundle = app._repr_mimebundle_()
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("MaskExplorer(images)")
    cell.outputs = [nbformat.v4.new_output("display_data", data=bundle)]
    notebook.cells = [cell]
    html, _ = HTMLExporter().from_notebook_node(notebook)
    assert f'src="data:image/png;base64,{bundle["image/png"]}"' in html


def test_front_end_drags_are_throttled_and_the_last_value_wins(images):
    app = W.MaskExplorer(images, throttle_s=0.1)
    timer = FakeTimer()
    app.throttle.clock, app.throttle.schedule = timer.clock, timer.schedule
    ratio = control(app, "mask ratio")
    ratio.set_state({"value": 0.3})  # as the browser sends it: drawn at once (leading edge)
    assert app.mask.num_hidden == round(64 * 0.3)
    drawn = app.image_bytes
    for value in (0.4, 0.5, 0.6):
        ratio.set_state({"value": value})
    assert app.image_bytes == drawn and len(timer.scheduled) == 1  # coalesced, nothing stale drawn
    timer.fire()
    assert app.mask.num_hidden == round(64 * 0.6)
    ratio.value = 0.1  # from Python: always synchronous
    assert app.mask.num_hidden == round(64 * 0.1)


# ---------------------------------------------------------------- ReconstructionExplorer
def test_reconstruction_explorer_redraws_and_reports_the_loss(images, tiny):
    app = W.ReconstructionExplorer(tiny, images)
    first = app.image_bytes
    assert "loss" in app.loss_readout.value and f"{app.loss:.5f}" in app.loss_readout.value
    mask = app.output.mask
    with torch.no_grad():
        direct = tiny(images[:1], mask=mask)
    assert app.loss == pytest.approx(float(direct.loss), rel=1e-5)
    control(app, "mask ratio").value = 0.5
    assert app.image_bytes != first and app.output.mask.num_hidden == 32
    assert app.reconstruction.pasted.shape == (1, 3, 32, 32)


def test_reconstruction_explorer_same_seed_restores_the_same_picture(images, tiny):
    app = W.ReconstructionExplorer(tiny, images)
    seed = control(app, "seed")
    seed.value = 3
    three, loss = app.image_bytes, app.loss
    seed.value = 4
    assert app.image_bytes != three
    app.cache.clear()
    seed.value = 3
    assert app.image_bytes == three and app.loss == pytest.approx(loss)


def test_reconstruction_explorer_every_strategy_draws_or_explains(images, tiny):
    app = W.ReconstructionExplorer(tiny, images)
    for info in list_maskers():
        control(app, "strategy").value = info.name
        assert app.last_error is None, (info.name, app.last_error)
        assert app.output.mask.strategy == info.name
    control(app, "strategy").value = "attention"
    assert "class-token attention" in app.mask_controls.idea.value


def test_reconstruction_explorer_on_grey_digits():
    from mae_lab.viz import to_hwc

    digits = mae_lab.sample_images("digits", n=2, image_size=8)  # [2, 1, 8, 8]
    micro = MaskedAutoencoder(get_preset("mae_micro"), seed=0)
    app = W.ReconstructionExplorer(micro, digits)
    assert app.last_error is None and "12 hidden / 4 visible" in app.status.value
    picture = np.asarray(Image.open(io.BytesIO(app.image_bytes)).convert("RGB")).astype(int)
    images_part = picture[:, : 4 * 160 + 3 * 4]  # four image panels of 8 px x 20, then the error map
    assert np.array_equal(images_part[..., 0], images_part[..., 1])  # grey stays grey
    error_part = picture[20:, 4 * 164 :]
    assert np.abs(error_part[..., 0] - error_part[..., 2]).max() > 0  # the error map is in colour
    assert to_hwc(digits[0]).shape == (8, 8, 3)


def test_reconstruction_explorer_rejects_images_of_the_wrong_size(tiny):
    with pytest.raises(ValueError, match="expects images"):
        W.ReconstructionExplorer(tiny, torch.rand(2, 3, 64, 64))


# ---------------------------------------------------------------- AttentionExplorer
def test_attention_explorer_controls_change_the_picture(images, tiny):
    app = W.AttentionExplorer(tiny, images)
    names = [c.description for c in app.controls]
    assert names[:6] == ["show", "layer", "head", "query row", "query col", "apply a mask"]
    pictures = {app.image_bytes}
    app.layer.value = 0
    pictures.add(app.image_bytes)
    app.head.value = 1
    pictures.add(app.image_bytes)
    app.mode.value = "query patch"
    pictures.add(app.image_bytes)
    app.query_col.value = 0
    pictures.add(app.image_bytes)
    app.mode.value = "rollout"
    pictures.add(app.image_bytes)
    assert len(pictures) == 6 and app.last_error is None
    assert app.heads_view.layout.display == "none"


def test_attention_explorer_weights_match_the_attention_module(images, tiny):
    from mae_lab import attention as A

    app = W.AttentionExplorer(tiny, images)
    app.layer.value = 2
    app.head.value = 0
    expected = A.cls_attention(A.attention_maps(tiny, images[:1]), layer=2, head=0)[0]
    assert torch.allclose(app.weights, expected, atol=1e-6)


def test_attention_explorer_masking_and_a_hidden_query(images, tiny):
    app = W.AttentionExplorer(tiny, images)
    app.masked.value = True
    assert torch.isnan(app.weights).sum().item() == 48  # 75 % of 64 patches get no attention
    assert "48/64 patches hidden" in app.status.value
    mask = app.cache.get(("masked",) + app.mask_controls.key())[1]
    hidden = int(torch.nonzero(mask.hidden[0])[0])
    app.mode.value = "query patch"
    with app.hold_redraw():
        app.query_row.value, app.query_col.value = divmod(hidden, 8)
    assert "hidden by the mask" in app.message.value


def test_attention_explorer_click_a_patch_to_query_it(images, tiny):
    app = W.AttentionExplorer(tiny, images)
    assert len(app.patch_buttons) == 64
    before = app.image_bytes
    app.patch_buttons[10].click()  # what a click in the browser does
    assert app.mode.value == "query patch" and app.query == 10
    assert (app.query_row.value, app.query_col.value) == (1, 2)
    assert app.image_bytes != before
    assert app.patch_buttons[10].style.button_color == "cyan"
    app.pick(63)
    assert app.query == 63 and app.patch_buttons[10].style.button_color is None
    app.pick(64)
    assert "outside" in app.message.value and app.query == 63
    with app.hold_redraw():
        app.masked.value = True
        app.mode.value = "class token"
    mask = app.cache.get(("masked",) + app.mask_controls.key())[1]
    grey = [b.style.button_color == "#888888" for b in app.patch_buttons]
    assert grey == mask.hidden[0].tolist()  # hidden patches are greyed in the picker


# ---------------------------------------------------------------- TrainingMonitor
def fake_state(model, images, step, loss, history, lr=1e-3, epoch=0):
    return SimpleNamespace(
        step=step,
        epoch=epoch,
        total_steps=20,
        loss=loss,
        lr=lr,
        images_per_sec=100.0,
        model=model,
        preview_images=images,
        history=history,
        config=SimpleNamespace(mask_ratio=0.75, masker="block", masker_options={}),
    )


def test_training_monitor_updates_in_place(images):
    model = MaskedAutoencoder(get_preset("mae_tiny"), seed=0)
    history = []  # the engine's list, shared with the monitor
    monitor = W.TrainingMonitor(num_preview=2, plot_every_s=0.0)
    assert monitor.controls == []
    monitor.on_train_start(fake_state(model, images, 0, None, history))
    assert monitor.recon_view.value and 0 in monitor.snapshots
    figure = monitor._figure
    loss_pictures = set()
    for step in range(1, 6):
        history.append({"step": step, "epoch": 0, "loss": 1.0 / step, "lr": 1e-3})
        monitor.on_step_end(fake_state(model, images, step, 1.0 / step, history))
        loss_pictures.add(bytes(monitor.loss_view.value))
    assert len(loss_pictures) == 5 and monitor._figure is figure  # same figure, new data
    assert np.allclose(figure.axes[0].lines[0].get_ydata(), [1.0 / s for s in range(1, 6)])
    assert "step 5/20" in monitor.status.value and "loss 0.2000" in monitor.status.value
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01)
    before = bytes(monitor.recon_view.value)
    monitor.on_epoch_end(fake_state(model, images, 5, 0.2, history))
    assert bytes(monitor.recon_view.value) != before and set(monitor.snapshots) == {0, 5}
    assert monitor.snapshots[5].shape == (2, 3, 32, 32)
    assert model.training  # restored after drawing
    monitor.on_train_end(fake_state(model, images, 5, 0.2, history))
    assert "finished" in monitor.status.value and monitor.message.value == ""


def test_training_monitor_with_pretrain():
    from mae_lab import train

    config = train.PretrainConfig(
        dataset="digits",
        model="mae_micro",
        epochs=2,
        limit=128,
        batch_size=32,
        device="cpu",
        progress=False,
        out_dir=None,
        num_preview=3,
        amp=False,
    )
    monitor = W.TrainingMonitor(plot_every_s=0.0)
    result = train.pretrain(config, callbacks=[monitor])
    steps = len(result.history)
    assert steps > 0 and monitor.history is result.history
    assert np.allclose(monitor._figure.axes[0].lines[0].get_ydata(), [h["loss"] for h in result.history])
    assert len(monitor.snapshots) >= 2 and 0 in monitor.snapshots
    assert "finished" in monitor.status.value and monitor.message.value == ""


def test_training_monitor_throttles_the_loss_plot(images):
    timer = FakeTimer()
    monitor = W.TrainingMonitor(plot_every_s=1.0, clock=timer.clock)
    state = SimpleNamespace(step=0, epoch=0, loss=1.0, lr=0.1, history=[])
    monitor.on_train_start(state)
    drawn = bytes(monitor.loss_view.value)
    for step in range(1, 4):
        monitor.on_step_end(SimpleNamespace(step=step, epoch=0, loss=1.0 / step, lr=0.1))
    assert bytes(monitor.loss_view.value) == drawn and len(monitor.history) == 3
    timer.now += 2.0
    monitor.on_step_end(SimpleNamespace(step=4, epoch=0, loss=0.2, lr=0.1))
    assert bytes(monitor.loss_view.value) != drawn
