"""Checkpoints: round trips, failures that name the file, loading by name, offline behaviour."""

import ast
import json
import time
from pathlib import Path

import pytest
import torch

import mae_lab
from mae_lab import checkpoints, convert
from mae_lab.models import MaskedAutoencoder, get_preset


def micro(**overrides) -> MaskedAutoencoder:
    return MaskedAutoencoder(get_preset("mae_micro", **overrides), seed=3)


def batch(model, n=2):
    c = model.config
    return torch.rand(n, c.channels, c.image_size, c.image_size, generator=torch.Generator().manual_seed(0))


# ---------------------------------------------------------------------- round trips
def test_round_trip_is_bit_identical(tmp_path):
    model = micro(target="norm_pixels")
    written = checkpoints.save_checkpoint(model, tmp_path / "micro", metadata={"epochs": 3, "loss": torch.tensor(0.25)})
    assert written == tmp_path / "micro.safetensors"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["micro.json", "micro.safetensors"]  # no temp files left
    info = json.loads((tmp_path / "micro.json").read_text())
    assert info["config"]["target"] == "norm_pixels" and info["preset"] == "mae_micro"
    assert info["metadata"] == {"epochs": 3, "loss": 0.25}

    loaded = checkpoints.load_checkpoint(tmp_path / "micro")
    assert loaded.config == model.config
    assert loaded.metadata["epochs"] == 3
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    x = batch(model)
    assert torch.equal(model(x, seed=0).pred, loaded(x, seed=0).pred)
    # the suffixed names work too
    assert checkpoints.load_checkpoint(tmp_path / "micro.safetensors").config == model.config
    assert checkpoints.load_checkpoint(str(tmp_path / "micro.json")).config == model.config


def test_half_precision_checkpoints_are_small_and_load_as_float32(tmp_path):
    model = MaskedAutoencoder(get_preset("mae_tiny", depth=2))
    full = checkpoints.save_checkpoint(model, tmp_path / "full")
    half = checkpoints.save_checkpoint(model, tmp_path / "half", dtype=torch.float16)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    loaded = checkpoints.load_checkpoint(half)
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    assert torch.equal(loaded.encoder.pos_embed, model.encoder.pos_embed)  # positions stay exact
    x = batch(model)
    assert torch.allclose(loaded.features(x), model.features(x), atol=5e-2)
    assert json.loads((tmp_path / "half.json").read_text())["dtype"] == "float16"


def test_saving_replaces_an_existing_checkpoint(tmp_path):
    checkpoints.save_checkpoint(micro(), tmp_path / "m")
    other = MaskedAutoencoder(get_preset("mae_micro"), seed=9)
    checkpoints.save_checkpoint(other, tmp_path / "m")
    loaded = checkpoints.load_checkpoint(tmp_path / "m")
    assert torch.equal(loaded.encoder.cls_token, other.encoder.cls_token)
    assert len(list(tmp_path.iterdir())) == 2


# ---------------------------------------------------------------------- failures name the file
def test_missing_json_names_the_file(tmp_path):
    checkpoints.save_checkpoint(micro(), tmp_path / "m")
    (tmp_path / "m.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"m\.json"):
        checkpoints.load_checkpoint(tmp_path / "m")


def test_missing_weights_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nothing\.safetensors"):
        checkpoints.load_checkpoint(tmp_path / "nothing")


def test_truncated_weights_are_detected(tmp_path):
    path = checkpoints.save_checkpoint(micro(), tmp_path / "m")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"m\.safetensors.*truncated"):
        checkpoints.load_checkpoint(path)
    # even without the size recorded in the JSON, the damaged file is reported with its name
    info = json.loads((tmp_path / "m.json").read_text())
    del info["safetensors_bytes"]
    (tmp_path / "m.json").write_text(json.dumps(info))
    with pytest.raises(ValueError, match=r"m\.safetensors"):
        checkpoints.load_checkpoint(path)


def test_shapes_that_do_not_fit_the_config_are_named(tmp_path):
    checkpoints.save_checkpoint(micro(), tmp_path / "m")
    info = json.loads((tmp_path / "m.json").read_text())
    info["config"]["embed_dim"] = 32
    info["config"]["num_heads"] = 2
    (tmp_path / "m.json").write_text(json.dumps(info))
    with pytest.raises(ValueError, match=r"m\.safetensors.*\[64, 64\] in the file, \[32, 32\] in the config"):
        checkpoints.load_checkpoint(tmp_path / "m")


def test_weights_from_another_config_raise_a_clear_error():
    tiny = MaskedAutoencoder(get_preset("mae_tiny", depth=1, decoder_depth=1))
    other = MaskedAutoencoder(get_preset("mae_tiny", depth=1, decoder_depth=1, image_size=16))
    with pytest.raises(ValueError, match=r"encoder\.pos_embed: \[1, 65, 192\] in the file, \[1, 17, 192\]"):
        convert.load_weights(other, tiny.state_dict(), source="mae_lab")


def test_damaged_json_is_reported(tmp_path):
    checkpoints.save_checkpoint(micro(), tmp_path / "m")
    (tmp_path / "m.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"m\.json"):
        checkpoints.load_checkpoint(tmp_path / "m")


# ---------------------------------------------------------------------- names -> models
def test_load_model_builds_presets_with_overrides():
    model = mae_lab.load_model("mae_tiny", image_size=28, channels=1)
    assert isinstance(model, MaskedAutoencoder)
    assert model.grid == (7, 7) and model.config.channels == 1
    with pytest.raises(KeyError, match="mae_tiny"):
        mae_lab.load_model("mae_tinny")


def test_load_model_finds_shipped_checkpoints_and_paths(tmp_path, monkeypatch):
    monkeypatch.setenv("MAE_LAB_SHIPPED_DATA", str(tmp_path))
    model = micro()
    checkpoints.save_checkpoint(model, tmp_path / "checkpoints" / "mae_micro_digits", metadata={"dataset": "digits"})
    assert checkpoints.list_shipped() == ["mae_micro_digits"]
    shipped = mae_lab.load_model("mae_micro_digits", pretrained=True)
    assert shipped.metadata["dataset"] == "digits"
    assert torch.equal(shipped.encoder.cls_token, model.encoder.cls_token)
    by_path = mae_lab.load_model(tmp_path / "checkpoints" / "mae_micro_digits")
    assert by_path.config == model.config
    with pytest.raises(KeyError, match="mae_micro_digits"):
        mae_lab.load_model("mae_micro_digit")
    with pytest.raises(ValueError, match="only apply to presets"):
        mae_lab.load_model("mae_micro_digits", image_size=16)


def test_small_presets_have_no_official_weights():
    with pytest.raises(ValueError, match="no official weights"):
        checkpoints.load_model("mae_tiny", pretrained=True)


def test_official_weights_fail_fast_offline_with_instructions(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("MAE_LAB_SHIPPED_DATA", str(tmp_path))
    start = time.perf_counter()
    with pytest.raises(FileNotFoundError) as info:
        mae_lab.load_model("mae_base", pretrained=True)
    assert time.perf_counter() - start < 10
    message = str(info.value)
    assert "facebook/vit-mae-base" in message
    assert "mae_visualize_vit_base.pth" in message
    assert str(tmp_path / "checkpoints") in message


def test_official_weights_are_picked_up_from_the_checkpoint_folder(monkeypatch, tmp_path):
    """A file dropped into data/checkpoints is used instead of the network."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("MAE_LAB_SHIPPED_DATA", str(tmp_path))
    model = micro()
    official = {k[len("encoder."):]: v for k, v in model.state_dict().items() if k.startswith("encoder.")}
    (tmp_path / "checkpoints").mkdir()
    torch.save({"model": official}, tmp_path / "checkpoints" / "mae_pretrain_vit_base.pth")
    loaded = checkpoints.load_model("mae_base", pretrained=True)  # encoder-only file: the encoder is loaded
    assert loaded.config.embed_dim == 64 and loaded.metadata["decoder_loaded"] is False
    assert torch.equal(loaded.encoder.blocks[1].mlp.fc2.weight, model.encoder.blocks[1].mlp.fc2.weight)


# ---------------------------------------------------------------------- safety
def test_every_torch_load_uses_weights_only():
    package = Path(mae_lab.__file__).parent
    calls = 0
    for source in package.rglob("*.py"):
        tree = ast.parse(source.read_text(), filename=str(source))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr == "load" and getattr(func.value, "id", None) == "torch":
                calls += 1
                flags = {kw.arg: kw.value for kw in node.keywords}
                assert "weights_only" in flags, f"{source}:{node.lineno} calls torch.load without weights_only=True"
                value = flags["weights_only"]
                assert isinstance(value, ast.Constant) and value.value is True, f"{source}:{node.lineno}"
        for lineno, line in enumerate(source.read_text().splitlines(), start=1):
            if "torch.load(" in line:  # plain grep as well, for calls the AST walk would miss
                assert "weights_only=True" in line, f"{source}:{lineno}: {line.strip()}"
    assert calls >= 1  # the official .pth reader


def test_pickled_checkpoints_with_code_are_refused(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("this must never run",))

    path = tmp_path / "evil.pth"
    torch.save({"model": Payload()}, path)
    with pytest.raises(ValueError, match="weights_only=True"):
        checkpoints.load_model(path, pretrained=True)
