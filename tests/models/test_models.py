"""Reference NAT / DiNAT against HF transformers 4.40.2 goldens, from both checkpoint formats."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
import torch

from nat_export.models import (
    CheckpointError,
    ConfigError,
    NatConfig,
    imagenet_labels,
    load_model,
)

from ..conftest import FIXTURES, MICRO, micro_config_path, micro_io


def _load(name: str, fmt: str):
    if fmt == "hf":
        return load_model(from_pretrained=str(FIXTURES / name / "hf"))
    return load_model(str(micro_config_path(name)), weights=str(FIXTURES / name / "original.pth"))


@pytest.mark.parametrize("fmt", ["hf", "original"])
@pytest.mark.parametrize("name", MICRO)
def test_micro_fixtures_match_hf(name, fmt):
    io = micro_io(name)
    model = _load(name, fmt).model
    for i in range(2):  # input 1 is non-square and small enough that HF pads levels
        x = io[f"input_{i}"]
        with torch.no_grad():
            logits = model(x)
            hidden = model.hidden_states(x)
            feats = model.forward_intermediates(x, intermediates_only=True)
        assert (logits - io[f"logits_{i}"]).abs().max().item() <= 1e-5
        assert len(hidden) == 5
        for s, h in enumerate(hidden):
            assert (h - io[f"hidden_{i}_{s}"]).abs().max().item() <= 1e-5, f"hidden state {s}"
        # backbone features: level outputs before downsampling; the last equals the final hidden state
        assert [f.shape[1] for f in feats] == [model.config.level_dim(j) for j in range(4)]
        assert (feats[-1] - io[f"hidden_{i}_4"]).abs().max().item() <= 1e-5


def test_padding_path_is_exercised():
    cfg = NatConfig.from_json_file(micro_config_path("nat_micro"))
    # input 1 is 160x192: the last level is 5x6, smaller than the 7x7 kernel, so it is padded
    assert micro_io("nat_micro")["hidden_1_4"].shape[-2:] == (5, 6)
    assert cfg.kernel_size == 7


def test_hub_id_loads_offline_from_cache(tmp_path, monkeypatch):
    """A hub id resolves through huggingface_hub's cache with the network off."""
    repo = tmp_path / "hub" / "models--shi-labs--nat-micro-test"
    snap = repo / "snapshots" / ("0" * 40)
    snap.mkdir(parents=True)
    for f in ("config.json", "model.safetensors"):
        shutil.copy(FIXTURES / "nat_micro" / "hf" / f, snap / f)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)
    loaded = load_model(from_pretrained="shi-labs/nat-micro-test")
    assert loaded.source == "hub"
    io = micro_io("nat_micro")
    with torch.no_grad():
        assert (loaded.model(io["input_0"]) - io["logits_0"]).abs().max().item() <= 1e-5


def test_unknown_hub_id_offline_is_a_clear_error(tmp_path, monkeypatch):
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)
    with pytest.raises(CheckpointError, match="cannot get 'shi-labs/not-there'"):
        load_model(from_pretrained="shi-labs/not-there")


def test_key_mismatch_names_the_keys(tmp_path):
    sd = torch.load(FIXTURES / "nat_micro" / "original.pth", weights_only=True)
    del sd["levels.0.blocks.0.attn.rpb"]
    sd["levels.0.blocks.0.attn.extra"] = torch.zeros(1)
    sd["head.weight"] = torch.zeros(3, 128)
    path = tmp_path / "bad.pth"
    torch.save(sd, path)
    with pytest.raises(CheckpointError) as e:
        load_model(str(micro_config_path("nat_micro")), weights=str(path))
    msg = str(e.value)
    assert "missing keys: levels.0.blocks.0.attn.rpb" in msg
    assert "unexpected keys: levels.0.blocks.0.attn.extra" in msg
    assert "head.weight (3, 128) vs model (10, 128)" in msg


def test_wrong_variant_for_checkpoint():
    with pytest.raises(CheckpointError, match="does not match the model architecture"):
        load_model("nat-mini", weights=str(FIXTURES / "nat_micro" / "original.pth"))


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda: load_model("nat-huge"), ConfigError, "unknown model 'nat-huge'; choose one of: nat-mini"),
        (lambda: load_model("nat-tiny", weights="/nonexistent.pth"), CheckpointError, "not found"),
        (
            lambda: load_model(weights=str(FIXTURES / "nat_micro" / "original.pth")),
            ConfigError,
            "--weights needs --model",
        ),
        (lambda: load_model(from_pretrained=str(FIXTURES)), CheckpointError, "has no config.json"),
    ],
)
def test_loading_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_original_checkpoint_wrapped_in_model_key(tmp_path):
    sd = torch.load(FIXTURES / "dinat_micro" / "original.pth", weights_only=True)
    torch.save({"model": sd, "epoch": torch.tensor(3)}, tmp_path / "ckpt.pth")
    loaded = load_model(str(micro_config_path("dinat_micro")), weights=str(tmp_path / "ckpt.pth"))
    io = micro_io("dinat_micro")
    with torch.no_grad():
        assert (loaded.model(io["input_1"]) - io["logits_1"]).abs().max().item() <= 1e-5


def test_imagenet_labels_ship_in_package():
    labels = imagenet_labels()
    assert len(labels) == 1000 and labels[0].startswith("tench") and labels[281] == "tabby, tabby cat"


def test_random_default_model_is_reproducible():
    a, b = load_model(None).model, load_model(None).model
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_import_without_natten():
    code = "import sys; sys.modules['natten'] = None; import nat_export, nat_export.models, nat_export.export, nat_export.cli; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"


def test_timm_style_model_api():
    """forward = forward_head(forward_features); forward_intermediates picks levels, formats and norms."""
    model = _load("dinat_micro", "hf").model.eval()
    x = micro_io("dinat_micro")["input_0"]
    with torch.no_grad():
        final = model.forward_features(x)
        assert final.shape[-1] == model.config.num_features and final.dim() == 4  # NHWC
        assert torch.equal(model.forward_head(final), model(x))
        assert model.forward_head(final, pre_logits=True).shape == (x.shape[0], model.config.num_features)
        all_maps = model.forward_intermediates(x, intermediates_only=True)
        last_two = model.forward_intermediates(x, indices=2, intermediates_only=True)
        picked = model.forward_intermediates(x, indices=[0, -1], output_fmt="NHWC", intermediates_only=True)
        normed_final, normed = model.forward_intermediates(x, norm=True)
    assert len(all_maps) == 4 and [m.shape[1] for m in last_two] == [m.shape[1] for m in all_maps[2:]]
    assert torch.equal(picked[0], all_maps[0].permute(0, 2, 3, 1)) and torch.equal(
        picked[1], all_maps[3].permute(0, 2, 3, 1)
    )
    assert torch.equal(normed_final, final) and torch.allclose(
        normed[3], model.norm(all_maps[3].permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    )
    assert torch.equal(normed[0], all_maps[0])
    with pytest.raises(ValueError, match="out of range"):
        model.forward_intermediates(x, indices=[4])
    with pytest.raises(ValueError, match="output_fmt"):
        model.forward_intermediates(x, output_fmt="NLC")
