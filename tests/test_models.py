"""The masked autoencoder: shapes, masking, loss, attention, reconstruction, presets, SimMIM."""

import json

import pytest
import torch

import mae_lab
from mae_lab.masking import Mask, make_mask
from mae_lab.models import PRESETS, MAEConfig, MaskedAutoencoder, get_preset
from mae_lab.patches import patchify


def micro(**overrides) -> MaskedAutoencoder:
    return MaskedAutoencoder(get_preset("mae_micro", **overrides))


def images_for(model: MaskedAutoencoder, batch: int = 3, seed: int = 0) -> torch.Tensor:
    c = model.config
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(batch, c.channels, c.image_size, c.image_size, generator=gen)


# ---------------------------------------------------------------------- presets and config
def test_small_presets_build_and_run():
    for name in ("mae_micro", "mae_tiny", "mae_small"):
        model = MaskedAutoencoder(get_preset(name))
        x = images_for(model, batch=2)
        out = model(x, ratio=0.75, seed=0)
        n = model.num_patches
        n_vis = n - round(n * 0.75)
        assert out.pred.shape == (2, n, model.target_dim)
        assert out.target.shape == out.pred.shape
        assert out.latent.shape == (2, 1 + n_vis, model.config.embed_dim)
        assert out.mask.hidden.shape == (2, n)
        assert torch.isfinite(out.loss) and out.loss.ndim == 0


def test_preset_shapes_match_the_official_models():
    expected = {
        "mae_base": (224, 16, 768, 12, 12),
        "mae_large": (224, 16, 1024, 24, 16),
        "mae_huge": (224, 14, 1280, 32, 16),
    }
    for name, (img, patch, width, depth, heads) in expected.items():
        c = PRESETS[name]
        assert (c.image_size, c.patch_size, c.embed_dim, c.depth, c.num_heads) == (img, patch, width, depth, heads)
        assert (c.decoder_embed_dim, c.decoder_depth, c.decoder_num_heads) == (512, 8, 16)
        assert c.mlp_ratio == 4.0 and c.norm_eps == 1e-6 and c.preset == name
    assert PRESETS["mae_huge"].grid == (16, 16)
    assert (PRESETS["mae_micro"].image_size, PRESETS["mae_micro"].patch_size, PRESETS["mae_micro"].channels) == (8, 2, 1)
    assert PRESETS["mae_tiny"].image_size == 32 and PRESETS["mae_small"].image_size == 64


def test_get_preset_overrides_and_errors():
    c = get_preset("mae_tiny", image_size=28, channels=1)
    assert c.grid == (7, 7) and c.channels == 1 and c.preset == "mae_tiny"
    assert PRESETS["mae_tiny"].image_size == 32  # the table itself is not changed
    grey_base = get_preset("mae_base", channels=1)
    assert grey_base.pixel_mean is None  # ImageNet statistics do not fit one channel
    with pytest.raises(KeyError, match="mae_tiny"):
        get_preset("mae_tiyn")
    with pytest.raises(ValueError, match="embed_dim"):
        get_preset("mae_tiny", embed_dimm=10)
    with pytest.raises(ValueError, match="divisible by patch size"):
        get_preset("mae_tiny", image_size=30)
    with pytest.raises(ValueError, match="num_heads"):
        get_preset("mae_tiny", num_heads=5)
    with pytest.raises(KeyError, match="norm_pixels"):
        get_preset("mae_tiny", target="norm_pixel")
    with pytest.raises(ValueError, match="design"):
        get_preset("mae_tiny", design="beit")


def test_config_round_trips_through_json():
    c = get_preset("mae_base", target="norm_pixels")
    text = json.dumps(c.to_dict())
    again = MAEConfig.from_dict(json.loads(text))
    assert again == c
    assert again.pixel_mean == (0.485, 0.456, 0.406)
    assert c.num_patches == 196 and c.target_dim == 16 * 16 * 3


def test_construction_is_seeded_and_leaves_global_rng_alone():
    state = torch.get_rng_state()
    a, b, c = micro(), micro(), MaskedAutoencoder(get_preset("mae_micro"), seed=1)
    assert torch.equal(torch.get_rng_state(), state)
    qkv = "encoder.blocks.0.attn.qkv.weight"
    assert torch.equal(a.state_dict()[qkv], b.state_dict()[qkv])
    assert not torch.equal(a.state_dict()[qkv], c.state_dict()[qkv])
    # official initialisation: zero biases, unit LayerNorms, small tokens
    assert torch.count_nonzero(a.encoder.blocks[0].attn.qkv.bias) == 0
    assert torch.all(a.encoder.norm.weight == 1)
    assert 0 < a.decoder.mask_token.std() < 0.05


def test_summary_and_repr_talk_about_patches_and_params():
    model = mae_lab.load_model("mae_tiny")
    text = repr(model)
    assert "8x8 = 64 patches" in text and "params" in text
    assert "1 + 16 tokens" in model.summary(ratio=0.75)


# ---------------------------------------------------------------------- the forward example
def test_forward_docstring_example_shapes():
    model = mae_lab.load_model("mae_tiny")
    images = torch.rand(8, 3, 32, 32)
    out = model(images, masker="block", ratio=0.6, seed=0)
    assert out.mask.hidden.shape == (8, 64)
    assert (out.mask.hidden.sum(dim=1) == 38).all()
    assert out.latent.shape == (8, 1 + 26, 192)
    assert out.pred.shape == (8, 64, 48) and out.target.shape == (8, 64, 48)
    assert out.loss.ndim == 0
    assert "masker=\"block\", ratio=0.6, seed=0" in type(model).forward.__doc__


def test_forward_accepts_a_ready_mask_and_a_bool_tensor():
    model = micro()
    x = images_for(model)
    mask = make_mask("random", 3, grid=model.grid, ratio=0.5, seed=3)
    out = model(x, mask=mask)
    assert out.mask is not None and torch.equal(out.mask.hidden, mask.hidden)
    out2 = model(x, mask=mask.hidden)
    assert torch.allclose(out.loss, out2.loss, atol=1e-6)
    same = model(x, ratio=0.5, seed=3)
    assert torch.equal(same.mask.hidden, mask.hidden)


def test_wrong_sizes_raise_clear_errors():
    model = micro()
    with pytest.raises(ValueError, match=r"expects 8x8 images, got 16x16"):
        model(torch.rand(2, 1, 16, 16))
    with pytest.raises(ValueError, match="1 channel"):
        model(torch.rand(2, 3, 8, 8))
    with pytest.raises(ValueError, match=r"\[B, N\] = \[2, 16\]"):
        model(torch.rand(2, 1, 8, 8), mask=make_mask("random", 2, grid=(8, 8), ratio=0.5, seed=0))


# ---------------------------------------------------------------------- encoder sees visible tokens only
def test_encoder_keeps_only_visible_patches_and_ignores_hidden_pixels():
    model = micro()
    x = images_for(model, batch=2)
    mask = model.make_mask(2, ratio=0.75, seed=0)
    latent = model.encode(x, mask)
    assert latent.shape == (2, 1 + mask.num_visible, model.config.embed_dim)
    # scribbling over hidden patches changes neither the latent nor the prediction
    p = model.patch_size
    scribbled = x.clone()
    hidden_grid = mask.hidden.reshape(2, *model.grid)
    for b, i, j in hidden_grid.nonzero().tolist():
        scribbled[b, :, i * p:(i + 1) * p, j * p:(j + 1) * p] = torch.rand(1, p, p)
    assert torch.allclose(model.encode(scribbled, mask), latent, atol=1e-6)
    assert torch.allclose(model.decode(model.encode(scribbled, mask), mask), model.decode(latent, mask), atol=1e-6)
    # without a mask every patch is encoded
    assert model.encode(x).shape == (2, 1 + model.num_patches, model.config.embed_dim)


def test_decode_without_mask_predicts_every_patch():
    model = micro()
    x = images_for(model, batch=2)
    pred = model.decode(model.encode(x))
    assert pred.shape == (2, model.num_patches, model.target_dim)
    with pytest.raises(ValueError, match="mask"):
        model.decode(model.encode(x, model.make_mask(2, ratio=0.5, seed=0)))


# ---------------------------------------------------------------------- loss
def test_loss_is_mse_on_hidden_patches_only():
    model = micro()
    x = images_for(model)
    out = model(x, ratio=0.75, seed=1)
    hidden = out.mask.hidden
    per_patch = ((out.pred - out.target) ** 2).mean(dim=-1)
    assert torch.allclose(out.loss, per_patch[hidden].mean(), atol=1e-6)
    # changing predictions of visible patches does not change the loss
    pred = out.pred.detach().clone()
    pred[~hidden] += 10.0
    assert torch.allclose(model.loss(out.target, pred, out.mask), out.loss.detach(), atol=1e-6)
    pred[hidden] = out.target[hidden]
    assert model.loss(out.target, pred, out.mask).item() == 0.0


def test_loss_with_nothing_hidden_averages_all_patches():
    model = micro()
    x = images_for(model)
    out = model(x, ratio=0.0, seed=0)
    assert out.mask.num_hidden == 0
    per_patch = ((out.pred - out.target) ** 2).mean(dim=-1)
    assert torch.allclose(out.loss, per_patch.mean(), atol=1e-6)
    assert out.latent.shape[1] == 1 + model.num_patches


def test_backward_reaches_encoder_and_decoder_and_training_lowers_the_loss():
    model = micro()
    x = images_for(model, batch=4)
    mask = model.make_mask(4, ratio=0.5, seed=0)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = None
    for step in range(8):
        out = model(x, mask=mask)
        opt.zero_grad()
        out.loss.backward()
        if step == 0:
            first = out.loss.item()
            assert model.encoder.blocks[0].attn.qkv.weight.grad.abs().sum() > 0
            assert model.decoder.pred.weight.grad.abs().sum() > 0
            assert model.encoder.cls_token.grad is not None
        opt.step()
    assert out.loss.item() < 0.5 * first


# ---------------------------------------------------------------------- attention
def test_attention_probabilities_and_fast_path_agree():
    model = MaskedAutoencoder(get_preset("mae_tiny", depth=2))
    x = images_for(model, batch=2)
    mask = model.make_mask(2, ratio=0.75, seed=0)
    fast = model.encode(x, mask)
    slow, attentions = model.encode(x, mask, return_attention=True)
    assert torch.allclose(fast, slow, atol=1e-5)
    tokens = 1 + mask.num_visible
    assert len(attentions) == 2
    for probs in attentions:
        assert probs.shape == (2, model.config.num_heads, tokens, tokens)
        assert torch.allclose(probs.sum(dim=-1), torch.ones(2, model.config.num_heads, tokens), atol=1e-5)
        assert (probs >= 0).all()
    maps = model.attention_maps(x)
    assert len(maps) == 2 and maps[0].shape == (2, model.config.num_heads, 65, 65)
    out = model(x, mask=mask, return_attention=True)
    assert len(out.attentions) == 2 and torch.allclose(out.latent, fast, atol=1e-5)


def test_attention_block_matches_a_hand_computed_softmax():
    from mae_lab.models.vit import Attention

    torch.manual_seed(0)
    attn = Attention(16, num_heads=2)
    x = torch.randn(2, 5, 16)
    out_fast, none = attn(x)
    out_slow, probs = attn(x, return_attention=True)
    assert none is None
    q, k, _ = attn.qkv(x).reshape(2, 5, 3, 2, 8).permute(2, 0, 3, 1, 4)
    expected = torch.softmax(q @ k.transpose(-2, -1) / 8**0.5, dim=-1)
    assert torch.allclose(probs, expected, atol=1e-6)
    assert torch.allclose(out_fast, out_slow, atol=1e-6)


# ---------------------------------------------------------------------- features and reconstruction
def test_features_pooling():
    model = micro()
    x = images_for(model)
    cls = model.features(x)
    mean = model.features(x, pool="mean")
    latent = model.encode(x)
    assert cls.shape == mean.shape == (3, model.config.embed_dim)
    assert torch.allclose(cls, latent[:, 0]) and torch.allclose(mean, latent[:, 1:].mean(1))
    with pytest.raises(ValueError, match="pool"):
        model.features(x, pool="max")


@pytest.mark.parametrize("target", ["pixels", "norm_pixels"])
def test_perfect_prediction_reconstructs_the_image(target):
    model = MaskedAutoencoder(get_preset("mae_micro", channels=3, target=target,
                                         pixel_mean=(0.5, 0.4, 0.3), pixel_std=(0.2, 0.3, 0.25)))
    x = images_for(model, batch=2)
    out = model(x, ratio=0.5, seed=0)
    out.pred = out.target.clone()  # an oracle decoder
    rec = model.reconstruct(x, out)
    assert rec.reconstruction.shape == x.shape
    assert torch.allclose(rec.reconstruction, x, atol=1e-4)
    assert torch.allclose(rec.pasted, x, atol=1e-4)
    assert torch.allclose(rec.patch_error, torch.zeros(2, model.num_patches))


def test_reconstruction_pastes_visible_patches_and_greys_hidden_ones():
    model = micro()
    x = images_for(model, batch=2)
    rec = model.reconstruct(x, ratio=0.75, seed=0)
    hidden = rec.mask.hidden.unsqueeze(-1)  # [B, N, 1]
    pasted, original = patchify(rec.pasted, 2), patchify(x, 2)
    assert torch.equal(torch.where(hidden, 0, pasted), torch.where(hidden, 0, original))
    masked = patchify(rec.masked_input, 2)
    assert torch.all(masked[hidden.expand_as(masked)] == 0.5)
    assert rec.patch_error.shape == (2, model.num_patches)
    assert rec.reconstruction.min() >= 0 and rec.reconstruction.max() <= 1


def test_non_pixel_target_has_no_image_reconstruction():
    model = micro(target="hog")
    x = images_for(model, batch=2)
    out = model(x, ratio=0.5, seed=0)
    assert out.pred.shape[-1] == model.target_dim == 9  # 2-px patches: one cell, one channel
    rec = model.reconstruct(x, out)
    assert rec.reconstruction is None and rec.pasted is None
    assert rec.patch_error.shape == (2, model.num_patches)


# ---------------------------------------------------------------------- SimMIM
def test_simmim_encoder_sees_all_tokens_with_mask_tokens():
    model = micro(design="simmim")
    assert model.config.resolved_loss_type == "l1"
    x = images_for(model, batch=2)
    mask = model.make_mask(2, ratio=0.5, seed=0)
    out = model(x, mask=mask)
    assert out.latent.shape == (2, 1 + model.num_patches, model.config.embed_dim)
    assert out.pred.shape == (2, model.num_patches, model.target_dim)
    # hidden pixels are replaced by the mask token, so changing them changes nothing
    scribbled = torch.where(mask.hidden.reshape(2, 1, 4, 1, 4, 1).expand(2, 1, 4, 2, 4, 2).reshape(2, 1, 8, 8),
                            torch.rand_like(x), x)
    assert torch.allclose(model(scribbled, mask=mask).pred, out.pred, atol=1e-6)
    # the loss is the L1 error on hidden patches only
    per_patch = (out.pred - out.target).abs().mean(dim=-1)
    assert torch.allclose(out.loss, per_patch[mask.hidden].mean(), atol=1e-6)
    pred = out.pred.detach().clone()
    pred[~mask.hidden] = 100.0
    assert torch.allclose(model.loss(out.target, pred, mask), out.loss.detach(), atol=1e-6)


def test_simmim_trains_one_step():
    model = micro(design="simmim")
    x = images_for(model, batch=4)
    mask = model.make_mask(4, ratio=0.5, seed=0)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    before = model.mask_token.detach().clone()
    loss0 = model(x, mask=mask).loss
    opt.zero_grad()
    loss0.backward()
    assert model.mask_token.grad.abs().sum() > 0
    opt.step()
    assert not torch.equal(model.mask_token, before)
    assert model(x, mask=mask).loss < loss0


def test_mask_objects_are_moved_and_kept():
    model = micro()
    x = images_for(model, batch=2)
    out = model(x, ratio=0.5, seed=0)
    assert isinstance(out.mask, Mask) and out.mask.grid == model.grid


# ---------------------------------------------------------------------- MFM (masked frequency modeling)
def test_mfm_encoder_sees_every_token_of_the_filtered_image_and_no_mask_token():
    from mae_lab.frequency import FrequencyMask, frequency_corrupt, frequency_loss

    model = micro(design="mfm", frequency_radius=2.0)
    assert not hasattr(model, "mask_token") and model.config.resolved_frequency_radius == 2.0
    x = images_for(model, batch=2)
    mask = model.make_mask(2, "low_pass")
    assert isinstance(mask, FrequencyMask) and mask.removed.shape == (2, 8, 8) and mask.filters == ("low_pass",) * 2
    out = model(x, mask=mask)
    assert out.latent.shape == (2, 1 + model.num_patches, model.config.embed_dim)
    assert out.pred.shape == out.target.shape == (2, model.num_patches, 4)
    # the encoder reads the low-pass image: changing what the filter removes changes nothing
    blurry = frequency_corrupt(x, "low_pass", 2.0)[0]
    assert torch.allclose(model(blurry, mask=mask).latent, out.latent, atol=1e-5)
    # the loss is the frequency distance on the removed frequencies, between the images
    image_pred = mae_lab.unpatchify(out.pred, 2, model.grid, 1)
    assert torch.allclose(out.loss, frequency_loss(image_pred, x, mask.removed), atol=1e-6)
    # features and attention read the clean image, every token
    assert model.features(x).shape == (2, model.config.embed_dim)
    assert model.attention_maps(x)[0].shape[-1] == 1 + model.num_patches


def test_mfm_masks_follow_the_masker_and_reject_patch_options():
    model = micro(design="mfm")
    assert model.config.resolved_frequency_radius == 2.0  # 16 of 224 px scaled to 8 px, floored at 2
    drawn = model.make_mask(64, seed=0)  # "random": low- or high-pass per image
    assert 16 < sum(f == "low_pass" for f in drawn.filters) < 48
    assert model.make_mask(4, seed=0).filters == model.make_mask(4, seed=0).filters
    assert model.make_mask(2, "high_pass", radius=3).radius == 3
    with pytest.raises(ValueError, match="radius"):
        model.make_mask(2, "low_pass", cell_size=2)
    with pytest.raises(ValueError, match="low_pass"):
        model.make_mask(2, "block")
    with pytest.raises(ValueError, match="FrequencyMask"):
        model(images_for(model, batch=2), mask=make_mask("random", 2, grid=(4, 4), ratio=0.5, seed=0))
    with pytest.raises(ValueError, match="'pixels'"):
        get_preset("mae_micro", design="mfm", target="hog")
    with pytest.raises(ValueError, match="positive"):
        get_preset("mae_micro", design="mfm", frequency_radius=0)
    assert "no patch hidden" in repr(model) and "loss=frequency" in repr(model)


def test_mfm_trains_reconstructs_and_round_trips_through_a_checkpoint(tmp_path):
    from mae_lab import checkpoints

    model = micro(design="mfm")
    x = images_for(model, batch=4)
    mask = model.make_mask(4, seed=1)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(5):
        loss = model(x, mask=mask).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0]
    out = model(x, mask=mask)
    rec = model.reconstruct(x, out)
    assert rec.masked_input.shape == rec.reconstruction.shape == rec.pasted.shape == x.shape
    from mae_lab.frequency import apply_frequency_mask

    assert torch.allclose(rec.masked_input, apply_frequency_mask(x, mask.removed).clamp(0, 1), atol=1e-6)
    # pasted keeps the image's own frequencies where the filter kept them and takes the prediction's where it
    # removed them: a prediction that is right only in the removed band pastes back the whole image
    oracle = model(x, mask=mask)
    band_only = apply_frequency_mask(x, ~mask.removed) + apply_frequency_mask(torch.rand_like(x), mask.removed)
    oracle.pred = mae_lab.patchify(band_only, 2)  # right in the removed band, noise elsewhere
    assert torch.allclose(model.reconstruct(x, oracle).pasted, x, atol=1e-5)
    checkpoints.save_checkpoint(model, tmp_path / "mfm")
    loaded = checkpoints.load_checkpoint(tmp_path / "mfm")
    assert loaded.config.design == "mfm"
    assert torch.allclose(loaded(x, mask=mask).loss, out.loss, atol=1e-6)


def test_the_old_fft_target_name_is_renamed_in_configs():
    with pytest.warns(DeprecationWarning, match="fft_amplitude"):
        config = get_preset("mae_micro", target="fft")
    assert config.target == "fft_amplitude"
    saved = {**config.to_dict(), "target": "fft"}  # a checkpoint written before the rename: no warning
    assert MAEConfig.from_dict(saved).target == "fft_amplitude"
