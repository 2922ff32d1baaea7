"""Numerical parity with the reference implementations (timm, Hugging Face transformers, official MAE).

All offline: the reference models are built with random weights, and their state dicts are
loaded into ours through :func:`mae_lab.convert.convert_state_dict`.
"""

import json

import pytest
import timm
import torch
from transformers import ViTMAEConfig, ViTMAEForPreTraining, ViTMAEModel

from mae_lab import checkpoints, convert
from mae_lab.masking.random_masks import mask_from_noise
from mae_lab.models import MaskedAutoencoder, get_preset
from mae_lab.models.config import IMAGENET_MEAN, IMAGENET_STD

ATOL = 1e-5


def imagenet_normalise(images: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (images - mean) / std


# ---------------------------------------------------------------------- timm
@pytest.fixture(scope="module")
def timm_vit():
    torch.manual_seed(0)
    return timm.create_model("vit_base_patch16_224", pretrained=False).eval()


def test_timm_vit_base_features_match(timm_vit):
    ours = convert.model_from_state_dict(timm_vit.state_dict(), source="timm", encoder_only=True)
    assert ours.config.preset == "mae_base"
    assert (ours.config.embed_dim, ours.config.depth, ours.config.num_heads) == (768, 12, 12)
    # timm's learned positions replaced our sine-cosine table
    assert torch.equal(ours.encoder.pos_embed, timm_vit.pos_embed)
    images = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected_tokens = timm_vit.forward_features(imagenet_normalise(images))  # [2, 197, 768]
        expected = timm_vit.forward_head(expected_tokens, pre_logits=True)  # class token
        tokens, attentions = ours.encode(images, return_attention=True)  # explicit softmax path
        features = ours.features(images)  # scaled_dot_product_attention path
    assert torch.allclose(tokens, expected_tokens, atol=ATOL)
    assert torch.allclose(features, expected, atol=ATOL)
    assert len(attentions) == 12 and attentions[0].shape == (2, 12, 197, 197)


def test_timm_encoder_parameters_are_all_used(timm_vit):
    converted = convert.convert_state_dict(timm_vit.state_dict(), source="timm")
    assert not any(k.startswith(("head", "encoder.head")) for k in converted)
    ours = MaskedAutoencoder(get_preset("mae_base"))
    encoder_keys = {k for k in ours.state_dict() if k.startswith("encoder.")}
    assert set(converted) == encoder_keys


# ---------------------------------------------------------------------- Hugging Face transformers
def small_hf_config(norm_pix_loss: bool = False) -> ViTMAEConfig:
    return ViTMAEConfig(
        image_size=16, patch_size=4, num_channels=3, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=128, decoder_hidden_size=24, decoder_num_hidden_layers=2, decoder_num_attention_heads=2,
        decoder_intermediate_size=96, mask_ratio=0.75, norm_pix_loss=norm_pix_loss,
    )


def hf_num_hidden(num_patches: int, mask_ratio: float) -> int:
    """Transformers keeps ``int(N * (1 - ratio))`` patches and hides the rest."""
    return num_patches - int(num_patches * (1 - mask_ratio))


@pytest.mark.parametrize("norm_pix_loss", [False, True])
def test_transformers_vit_mae_matches_mask_predictions_and_loss(tmp_path, norm_pix_loss):
    torch.manual_seed(0)
    reference = ViTMAEForPreTraining(small_hf_config(norm_pix_loss)).eval()
    reference.save_pretrained(tmp_path)
    ours = checkpoints.load_model(tmp_path, pretrained=True)
    assert ours.config.target == ("norm_pixels" if norm_pix_loss else "pixels")
    assert ours.config.norm_eps == reference.config.layer_norm_eps
    assert ours.config.pixel_mean is None  # no image processor saved: images go in as they are

    gen = torch.Generator().manual_seed(1)
    images = torch.rand(3, 3, 16, 16, generator=gen)
    noise = torch.rand(3, 16, generator=gen)
    mask = mask_from_noise(noise, hf_num_hidden(16, 0.75), grid=ours.grid)
    with torch.no_grad():
        expected = reference(pixel_values=images, noise=noise)
        out = ours(images, mask=mask)
    assert torch.equal(out.mask.hidden, expected.mask.bool())
    assert torch.equal(out.mask.ids_restore, expected.ids_restore)
    assert torch.allclose(out.pred, expected.logits, atol=ATOL)
    assert torch.allclose(out.loss, expected.loss, atol=ATOL)


def test_transformers_encoder_matches_on_visible_tokens(tmp_path):
    torch.manual_seed(2)
    reference = ViTMAEModel(small_hf_config()).eval()
    converted = convert.convert_state_dict(reference.state_dict(), source="transformers")
    config = convert.config_from_transformers(reference.config.to_dict())
    ours = MaskedAutoencoder(config)
    convert.load_weights(ours, converted, source="mae_lab", encoder_only=True)
    images = torch.rand(2, 3, 16, 16)
    noise = torch.rand(2, 16)
    with torch.no_grad():
        expected = reference(pixel_values=images, noise=noise).last_hidden_state  # [2, 1 + 4, 32]
        latent = ours.encode(images, mask_from_noise(noise, 12, grid=(4, 4)))
    assert latent.shape == expected.shape == (2, 5, 32)
    assert torch.allclose(latent, expected, atol=ATOL)


def test_transformers_qkv_are_fused_in_order():
    torch.manual_seed(0)
    reference = ViTMAEForPreTraining(small_hf_config())
    converted = convert.convert_state_dict(reference.state_dict(), source="transformers")
    attention = reference.vit.layers[0].attention if hasattr(reference.vit, "layers") else None
    qkv = converted["encoder.blocks.0.attn.qkv.weight"]
    assert qkv.shape == (96, 32)
    if attention is not None and hasattr(attention, "q_proj"):
        assert torch.equal(qkv[:32], attention.q_proj.weight)
        assert torch.equal(qkv[32:64], attention.k_proj.weight)
        assert torch.equal(qkv[64:], attention.v_proj.weight)


def test_transformers_folder_with_image_processor_normalises_inside(tmp_path):
    torch.manual_seed(0)
    reference = ViTMAEForPreTraining(small_hf_config()).eval()
    reference.save_pretrained(tmp_path)
    (tmp_path / "preprocessor_config.json").write_text(
        json.dumps({"do_normalize": True, "image_mean": list(IMAGENET_MEAN), "image_std": list(IMAGENET_STD)})
    )
    ours = checkpoints.load_model(tmp_path, pretrained=True)
    assert ours.config.pixel_mean == IMAGENET_MEAN
    images = torch.rand(2, 3, 16, 16)
    noise = torch.rand(2, 16)
    with torch.no_grad():
        expected = reference(pixel_values=imagenet_normalise(images), noise=noise)
        out = ours(images, mask=mask_from_noise(noise, 12, grid=(4, 4)))
    assert torch.allclose(out.pred, expected.logits, atol=ATOL)
    assert torch.allclose(out.loss, expected.loss, atol=ATOL)


# ---------------------------------------------------------------------- official MAE checkpoints
def to_official_layout(state_dict):
    """Our keys -> the keys of the official ``models_mae.py`` (the inverse of the documented table)."""
    renames = [("encoder.", ""), ("decoder.embed.", "decoder_embed."), ("decoder.mask_token", "mask_token"),
               ("decoder.pos_embed", "decoder_pos_embed"), ("decoder.blocks.", "decoder_blocks."),
               ("decoder.norm.", "decoder_norm."), ("decoder.pred.", "decoder_pred.")]
    out = {}
    for key, value in state_dict.items():
        for old, new in renames:
            if key.startswith(old):
                out[new + key[len(old):]] = value
                break
    return out


def test_official_pth_checkpoint_loads_and_matches_the_reference(tmp_path):
    """Weights checked against transformers above, written in the official layout, read back as a .pth."""
    torch.manual_seed(3)
    reference = ViTMAEForPreTraining(small_hf_config()).eval()
    via_hf = convert.model_from_state_dict(reference.state_dict(), source="transformers",
                                       config=convert.config_from_transformers(reference.config.to_dict()))
    official = to_official_layout(via_hf.state_dict())
    assert "blocks.0.attn.qkv.weight" in official and "decoder_blocks.1.mlp.fc2.bias" in official
    torch.save({"model": official, "epoch": 799}, tmp_path / "mae_visualize_vit_small.pth")

    loaded = checkpoints.load_model(tmp_path / "mae_visualize_vit_small.pth", pretrained=True,
                                 config=via_hf.config.replace(pixel_mean=None, pixel_std=None))
    assert loaded.metadata["source"] == "official" and loaded.metadata["decoder_loaded"]
    images = torch.rand(2, 3, 16, 16)
    noise = torch.rand(2, 16)
    with torch.no_grad():
        expected = reference(pixel_values=images, noise=noise)
        out = loaded(images, mask=mask_from_noise(noise, 12, grid=(4, 4)))
    assert torch.allclose(out.pred, expected.logits, atol=ATOL)

    # without a config, everything but the head count and the eps is read off the shapes
    inferred = checkpoints.load_model(tmp_path / "mae_visualize_vit_small.pth", pretrained=True)
    assert (inferred.config.embed_dim, inferred.config.depth, inferred.config.patch_size) == (32, 2, 4)
    assert (inferred.config.decoder_embed_dim, inferred.config.decoder_depth) == (24, 2)
    assert inferred.config.pixel_mean == IMAGENET_MEAN  # official models expect ImageNet statistics


def test_official_encoder_only_checkpoint(tmp_path):
    model = MaskedAutoencoder(get_preset("mae_tiny", depth=2, decoder_depth=1))
    encoder_only = {k: v for k, v in to_official_layout(model.state_dict()).items()
                    if not k.startswith(("decoder", "mask_token"))}
    torch.save({"model": encoder_only}, tmp_path / "mae_pretrain_vit_tiny.pth")
    with pytest.raises(ValueError, match="encoder only.*encoder_only=True"):
        checkpoints.load_model(tmp_path / "mae_pretrain_vit_tiny.pth", pretrained=True)
    loaded = checkpoints.load_model(tmp_path / "mae_pretrain_vit_tiny.pth", encoder_only=True, pretrained=True)
    images = torch.rand(2, 3, 32, 32)
    assert loaded.config.pixel_mean == IMAGENET_MEAN  # inferred: normalises like the official models
    with torch.no_grad():
        ours = model.encode(imagenet_normalise(images))
        theirs = loaded.encode(images)
    assert torch.allclose(ours, theirs, atol=ATOL)


def test_official_masking_from_noise_matches_argsort_rule():
    """Same noise, same mask: keep the patches with the smallest noise, in noise order."""
    noise = torch.rand(4, 196, generator=torch.Generator().manual_seed(0))
    mask = mask_from_noise(noise, 147, grid=(14, 14))
    order = torch.argsort(noise, dim=1)
    assert torch.equal(mask.ids_keep, order[:, :49])
    expected_hidden = torch.ones(4, 196, dtype=torch.bool)
    expected_hidden.scatter_(1, order[:, :49], False)
    assert torch.equal(mask.hidden, expected_hidden)
