"""Config reading identical to HF transformers 4.40.2 (NatConfig / DinatConfig defaults), and invalid configs
refused with one ConfigError line before any work; fuzzed with hypothesis."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nat_export.models import NAT, ConfigError, NatConfig, load_model, variant_config
from nat_export.models.config import DINAT_DEFAULT_DILATIONS

from ..conftest import FIXTURES

CASE = FIXTURES / "cases" / "dinat_config_defaults"


def test_dinat_config_without_dilations_takes_hf_default_schedule():
    """../shared/cases/dinat-config-defaults: hf_minimal leaves dilations out; HF fills in [[1,8,1],...]."""
    io = torch.load(CASE / "io.pt", weights_only=True)
    loaded = load_model(from_pretrained=str(CASE / "hf_minimal"))
    assert loaded.model.config.dilations == DINAT_DEFAULT_DILATIONS
    with torch.no_grad():
        logits = loaded.model(io["x"][:1])  # one of the two inputs: the reference op is slow at 224 on a CPU
    assert (logits - io["ref"][:1]).abs().max().item() <= 1e-5  # was 0.388 with dilation 1 everywhere
    full = NatConfig.from_json_file(CASE / "hf_full" / "config.json")
    assert full == loaded.model.config


def test_config_with_only_model_type_is_dinat_mini():
    """config_defaults_only.json ({"model_type": "dinat", num_labels 10}) builds what DinatConfig() builds."""
    cfg = NatConfig.from_json_file(CASE / "config_defaults_only.json")
    mini = variant_config("dinat-mini")
    assert cfg.with_(num_classes=1000, labels=None) == mini.with_(labels=None)
    assert cfg.num_classes == 10 and cfg.labels == tuple(f"LABEL_{i}" for i in range(10))
    assert cfg.layer_scale is None and cfg.layer_norm_eps == 1e-5 and cfg.mlp_ratio == 3.0


@pytest.mark.parametrize(
    "hf,expected",
    [
        ({"model_type": "nat"}, dict(kind="nat", embed_dim=64, depths=(3, 4, 6, 5), dilations=None, num_classes=2)),
        ({"model_type": "nat", "dilations": [[2]]}, dict(dilations=None)),  # NatConfig has no dilations
        ({"model_type": "dinat", "num_labels": 0}, dict(num_classes=0, labels=None)),
        ({"model_type": "dinat", "architectures": ["DinatBackbone"]}, dict(num_classes=0)),
        ({"model_type": "dinat", "id2label": {"1": "b", "0": "a"}, "num_labels": 7}, dict(labels=("a", "b"))),
        ({"model_type": "dinat", "layer_scale_init_value": 1e-5}, dict(layer_scale=1e-5)),
        ({"model_type": "dinat", "dilations": None}, dict(dilations=DINAT_DEFAULT_DILATIONS)),
        ({"model_type": "nat", "num_channels": 1, "kernel_size": 5}, dict(in_chans=1, kernel_size=5)),
    ],
)
def test_hf_defaults(hf, expected):
    cfg = NatConfig.from_hf(hf)
    for key, value in expected.items():
        assert getattr(cfg, key) == value, key


INVALID = [  # (config.json content, words the one error line must hold)
    ({"model_type": "swin"}, "model_type 'swin'"),
    ({}, "model_type null"),
    ({"model_type": "nat", "embed_dim": 0}, "embed_dim must be an integer >= 2"),
    ({"model_type": "nat", "embed_dim": -64}, "embed_dim"),
    ({"model_type": "nat", "embed_dim": "64"}, "embed_dim must be an integer"),
    ({"model_type": "nat", "depths": [3, 0, 6, 5]}, "depths must be a non-empty list of integers >= 1"),
    ({"model_type": "nat", "depths": []}, "depths"),
    ({"model_type": "nat", "num_heads": [2, 4, 8, 0]}, "num_heads"),
    ({"model_type": "nat", "num_heads": [3, 4, 8, 16]}, "not divisible by its 3 heads"),
    ({"model_type": "nat", "num_heads": [2, 4, 8]}, "differ in length"),
    ({"model_type": "nat", "kernel_size": 6}, "kernel_size must be an odd integer >= 3"),
    ({"model_type": "nat", "kernel_size": 1}, "kernel_size"),
    ({"model_type": "nat", "kernel_size": -7}, "kernel_size"),
    ({"model_type": "dinat", "dilations": [[1, 8, 1], [1, 4, 1, 4], [1, 0, 1, 2, 1, 2], [1] * 5]}, "integers >= 1"),
    ({"model_type": "dinat", "dilations": [[1, 8], [1, 4, 1, 4], [1, 2] * 3, [1] * 5]}, "one value per layer"),
    ({"model_type": "dinat", "dilations": [[1, 8, 1], [1, 4, 1, 4], [1, 2] * 3]}, "one value per layer"),
    ({"model_type": "dinat", "dilations": "8/4/2"}, "dilations must be a list"),
    ({"model_type": "dinat", "depths": [2, 2, 2, 2]}, "dilations are missing and depths [2, 2, 2, 2] differ"),
    ({"model_type": "nat", "mlp_ratio": 0}, "mlp_ratio"),
    ({"model_type": "nat", "num_channels": 0}, "num_channels"),
    ({"model_type": "nat", "num_labels": -1}, "num_labels"),
    ({"model_type": "nat", "id2label": {"0": "a", "2": "c"}}, "id2label must name classes 0..1"),
    ({"model_type": "nat", "patch_size": 8}, "patch_size must be 4"),
    ({"model_type": "nat", "hidden_act": "relu"}, "hidden_act 'relu' is not supported"),
    ({"model_type": "nat", "qkv_bias": "yes"}, "qkv_bias"),
    ({"model_type": "nat", "layer_norm_eps": -1}, "layer_norm_eps"),
    ({"kind": "nat", "embed_dim": 64, "depthz": [1]}, "unknown keys depthz"),
    ({"kind": "vit"}, "kind must be 'nat' or 'dinat'"),
]


@pytest.mark.parametrize("hf,words", INVALID, ids=[w for _, w in INVALID])
def test_invalid_config_is_one_line(tmp_path, hf, words):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(hf))
    with pytest.raises(ConfigError) as e:
        load_model(str(path))
    msg = str(e.value)
    assert words in msg and "\n" not in msg and str(path) in msg and "; " in msg, msg


@pytest.mark.parametrize("text", ["{not json", "", "[1, 2]", '"nat"'])
def test_non_json_config_is_one_line(tmp_path, text):
    path = tmp_path / "config.json"
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        NatConfig.from_json_file(path)
    assert "\n" not in str(e.value) and str(path) in str(e.value)


def test_cli_refuses_invalid_config_before_any_work(run_cli, tmp_path):
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"model_type": "dinat", "kernel_size": 4}))
    out = tmp_path / "x.onnx"
    code, stdout, err = run_cli("onnx", out, "--model", cfg)
    assert code == 1 and not out.exists()
    assert err.count("\n") == 1 and err.startswith("nat-export onnx: error: ") and "kernel_size" in err, err


# ----------------------------------------------------------------------------- fuzzing


@st.composite
def hf_configs(draw):
    """Config dicts around the valid space: mostly small valid values (so that many models are built and run),
    with missing fields (HF defaults), wrong types and out-of-range values mixed in."""

    def pick(valid, invalid, absent=0.15):
        """A valid value most of the time, else an invalid one, else the key left out (None here)."""
        r = draw(st.floats(0, 1))
        if r < absent:
            return None
        return draw(st.sampled_from(valid)) if r < 0.94 else draw(st.sampled_from(invalid))

    levels = draw(st.integers(1, 4))
    fields = {
        "model_type": pick(["nat", "dinat"], ["swin", None, 3], absent=0),
        "embed_dim": pick([8, 16], [-1, 0, 1, 2.5, "8", True], absent=0.05),
        "depths": pick([[1] * levels, [2] + [1] * (levels - 1)], [[0] * levels, [], [1.5], "1,1"], absent=0.05),
        "num_heads": pick([[1] * levels, [2] * levels], [[0] * levels, [3] * levels, [1] * (levels + 1)], absent=0.05),
        "kernel_size": pick([3, 5, 7], [-1, 0, 1, 2, 4, 7.0]),
        "mlp_ratio": pick([0.5, 1, 2.0], [0, -1, 0.01, "2"]),
        "num_channels": pick([1, 2, 3], [0, -3, 1.0]),
        "num_labels": pick([0, 1, 5], [-1, "5"]),
        "layer_scale_init_value": pick([0.0, 1e-5], [-1.0, "x"]),
        "layer_norm_eps": pick([1e-5, 1e-6], [0, -1, float("inf")]),
        "patch_size": pick([4], [2, [4, 4]]),
        "qkv_bias": pick([True, False], [1, "true"]),
        "architectures": pick([["DinatForImageClassification"], ["NatBackbone"]], ["Nat", [1]]),
    }
    cfg = {k: v for k, v in fields.items() if v is not None}
    depths = cfg.get("depths")
    if isinstance(depths, list) and all(isinstance(d, int) and d > 0 for d in depths):
        per_layer = [[draw(st.sampled_from([1, 1, 2, 3])) for _ in range(d)] for d in depths]
        dil = pick([per_layer], [[[0] * d for d in depths], [[1]] * (len(depths) + 1), "2"], absent=0.1)
        if dil is not None:
            cfg["dilations"] = dil
    return cfg


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hf_configs())
def test_fuzzed_configs_build_a_running_model_or_raise_one_line(cfg):
    try:
        config = NatConfig.from_hf(cfg)
    except ConfigError as e:
        assert "\n" not in str(e) and "; " in str(e), str(e)
        return
    with torch.device("meta"):
        params = sum(p.numel() for p in NAT(config).parameters())
    if params > 3_000_000:  # HF defaults (dinat-mini size, 20M): built on meta, not run, to keep the fuzzing fast
        return
    model = NAT(config).eval()
    x = torch.randn(1, config.in_chans, 32, 32)
    with torch.no_grad():
        out = model(x)
    if config.is_backbone:  # HF's default out_features: the last stage
        assert config.out_features == (config.stage_names[-1],) and len(out) == 1
        side = -(-32 // config.level_stride(config.num_levels - 1))
        assert out[0].shape == (1, config.num_features, side, side) and torch.isfinite(out[0]).all()
        return
    assert out.shape == (1, config.num_classes) if config.num_classes else out.shape == (1, config.num_features)
    assert torch.isfinite(out).all()
