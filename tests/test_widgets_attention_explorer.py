"""widgets.attention_explorer: layer, head, query and masking controls change the attention shown."""

import pytest
import torch

from mae_lab import widgets as W


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
    assert app.mode.value == "mean of patches"  # MAE's loss never trains the class token: not the default
    app.layer.value = 2
    app.head.value = 0
    attns = A.attention_maps(tiny, images[:1])
    assert torch.allclose(app.weights, A.mean_patch_attention(attns, layer=2, head=0)[0], atol=1e-6)
    app.mode.value = "class token"
    assert torch.allclose(app.weights, A.cls_attention(attns, layer=2, head=0)[0], atol=1e-6)
    assert "not trained" in app.status.value
    app.mode.value = "rollout"
    rollout = A.attention_rollout(attns)
    assert torch.allclose(app.weights, A.mean_patch_attention(rollout)[0], atol=1e-6)


def test_attention_explorer_starts_in_the_mode_asked_for(images, tiny):
    assert W.AttentionExplorer(tiny, images, mode="class token").mode.value == "class token"
    with pytest.raises(ValueError, match="mean of patches"):
        W.AttentionExplorer(tiny, images, mode="cls")


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


def test_attention_explorer_heads_panel_follows_layer_and_mask_not_the_head(images, tiny):
    from mae_lab import attention as A

    app = W.AttentionExplorer(tiny, images)
    first = app.heads_view.value
    app.head.value = 1  # the panel shows every head: choosing one does not change it
    assert app.heads_view.value == first
    app.layer.value = 0
    assert app.heads_view.value != first
    app.mode.value = "rollout"
    unmasked = app.weights.clone()
    assert torch.allclose(unmasked, A.mean_patch_attention(A.attention_rollout(A.attention_maps(tiny, images[:1])))[0],
                          atol=1e-6)
    app.masked.value = True  # a masked forward pass has its own rollout, never the unmasked one from the cache
    assert app.weights.shape == unmasked.shape and not torch.allclose(app.weights, unmasked, equal_nan=True)
