"""widgets.reconstruction_explorer: the model's reconstruction and loss follow the controls."""

import io

import numpy as np
import pytest
import torch
from fakes import control
from PIL import Image

import mae_lab
from mae_lab import widgets as W
from mae_lab.masking import list_maskers
from mae_lab.models import MaskedAutoencoder, get_preset


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
        control(app, "masker").value = info.name
        assert app.last_error is None, (info.name, app.last_error)
        assert app.output.mask.masker == info.name
    control(app, "masker").value = "attention"
    assert "class-token attention" in app.mask_controls.idea.value


def test_reconstruction_explorer_on_grey_digits():
    from mae_lab.panels import to_hwc

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


@pytest.mark.parametrize(
    ("overrides", "name"),
    [({}, "mean squared error"), ({"design": "simmim"}, "mean absolute error"),
     ({"loss_type": "l1"}, "mean absolute error"), ({"design": "simmim", "loss_type": "mse"}, "mean squared error")],
)
def test_reconstruction_explorer_names_the_models_own_loss(overrides, name):
    model = MaskedAutoencoder(get_preset("mae_micro", **overrides), seed=0)
    digits = mae_lab.sample_images("digits", n=1, image_size=8)
    app = W.ReconstructionExplorer(model, digits)
    assert app.last_error is None
    assert f"({name} on the 12 hidden patches)" in app.loss_readout.value
    other = {"mean squared error", "mean absolute error"} - {name}
    assert other.pop() not in app.loss_readout.value
    with torch.no_grad():
        direct = model(digits, mask=app.output.mask)
    assert app.loss == pytest.approx(float(direct.loss), rel=1e-5)
