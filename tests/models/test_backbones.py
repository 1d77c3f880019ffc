"""Backbones: HF NatBackbone / DinatBackbone and OneFormer checkpoints, the SHI-Labs mmdet / mmseg / detectron2
layouts, classifiers as backbones, and out_features, against the HF 4.40.2 goldens (eager PyTorch)."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from nat_export.models import CheckpointError, ConfigError, NatConfig, load_model
from nat_export.models.loading import hf_to_original, read_checkpoint

from ..conftest import FIXTURES, micro_io, micro_meta

BACKBONES = ("dinat_backbone_micro", "nat_backbone_micro", "oneformer_dinat_micro")


def _check_goldens(model, name: str, stages=None) -> None:
    io, meta = micro_io(name), micro_meta(name)
    want = [meta["out_features"].index(s) for s in (stages or meta["out_features"])]
    for i, shape in enumerate(meta["inputs"]):
        x = io[f"input_{i}"]
        assert list(x.shape) == shape
        with torch.no_grad():
            maps = model(x)
        assert len(maps) == len(want)
        for got, j in zip(maps, want):
            ref = io[f"features_{i}_{j}"]
            assert got.shape == ref.shape
            assert (got - ref).abs().max() <= 1e-4, (name, i, j)


@pytest.mark.parametrize("name", BACKBONES)
def test_hf_backbone_checkpoints_match_hf(name):
    loaded = load_model(from_pretrained=str(FIXTURES / name / "hf"))
    cfg = loaded.model.config
    assert cfg.is_backbone and cfg.num_classes == 0
    assert list(cfg.out_features) == micro_meta(name)["out_features"]
    assert loaded.spec["out_features"] == list(cfg.out_features)
    _check_goldens(loaded.model, name)


def test_oneformer_loads_only_its_backbone_and_says_so():
    loaded = load_model(from_pretrained=str(FIXTURES / "oneformer_dinat_micro" / "hf"))
    cfg = loaded.model.config
    assert cfg.kernel_size == 11 and cfg.dilations == ((1, 4), (1, 2), (1, 1, 1), (1, 1))
    text = " ".join(loaded.notes)
    assert "OneFormerForUniversalSegmentation" in text and "backbone only" in text
    assert "model.pixel_level_module.encoder." in text and "not exported" in text


def test_out_features_override_picks_stages():
    loaded = load_model(
        from_pretrained=str(FIXTURES / "dinat_backbone_micro" / "hf"), out_features=["stage2", "stage4"]
    )
    assert loaded.model.config.out_features == ("stage2", "stage4")
    assert not hasattr(loaded.model, "norm0") and not hasattr(loaded.model, "norm2")
    _check_goldens(loaded.model, "dinat_backbone_micro", ["stage2", "stage4"])
    assert any("left out the output norms of stage1, stage3" in n for n in loaded.notes)


def _original_backbone(name: str) -> dict:
    sd, _ = read_checkpoint(FIXTURES / name / "hf" / "model.safetensors")
    return hf_to_original(sd)


def _plain_config(tmp_path, name: str):
    """The architecture as a classifier-style config (what a detection user passes as --model)."""
    cfg = NatConfig.from_json_file(FIXTURES / name / "hf" / "config.json").to_dict()
    cfg["out_features"] = None
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    return path


def _layouts(sd: dict) -> dict[str, dict]:
    """The same backbone as each framework saves it, with tensors of other modules beside it."""
    backbone = {f"backbone.{k}": v for k, v in sd.items()}
    return {
        # mmdet / mmseg: mmcv's save_checkpoint writes {"meta": ..., "state_dict": ..., "optimizer": ...}
        "mmdet": {
            "meta": {"mmdet_version": "2.28.2", "epoch": 36},
            "state_dict": {**backbone, "neck.lateral_convs.0.conv.weight": torch.randn(8, 4, 1, 1)},
        },
        "mmseg": {
            "meta": {"mmseg_version": "0.30.0", "iter": 160000},
            "state_dict": {**backbone, "decode_head.conv_seg.weight": torch.randn(150, 8, 1, 1)},
        },
        # detectron2's Checkpointer writes {"model": ..., "iteration": ...}
        "detectron2": {
            "model": {**backbone, "sem_seg_head.predictor.query_embed.weight": torch.randn(4, 8)},
            "iteration": 90000,
        },
    }


@pytest.mark.parametrize("layout", ["mmdet", "mmseg", "detectron2"])
def test_framework_layouts_load_the_same_backbone(tmp_path, layout):
    name = "dinat_backbone_micro"
    hf = load_model(from_pretrained=str(FIXTURES / name / "hf")).model
    path = tmp_path / f"{layout}.pth"
    torch.save(_layouts(_original_backbone(name))[layout], path)
    loaded = load_model(str(_plain_config(tmp_path, name)), weights=str(path))
    assert loaded.model.config.out_features == ("stage1", "stage2", "stage3", "stage4")
    own, ref = loaded.model.state_dict(), hf.state_dict()
    assert own.keys() == ref.keys()
    assert all(torch.equal(own[k], ref[k]) for k in ref)
    text = " ".join(loaded.notes)
    assert "under 'backbone.'" in text and "the other 1 " in text and "the weights are a backbone" in text
    _check_goldens(loaded.model, name)


def test_framework_layout_with_some_outputs_gets_those_stages(tmp_path):
    sd = _original_backbone("nat_backbone_micro")  # norms for stage2 and stage4 (levels 1 and 3)
    path = tmp_path / "mmseg.pth"
    torch.save(_layouts(sd)["mmseg"], path)
    loaded = load_model(str(_plain_config(tmp_path, "nat_backbone_micro")), weights=str(path), backbone=True)
    assert loaded.model.config.out_features == ("stage2", "stage4")
    _check_goldens(loaded.model, "nat_backbone_micro")


def test_classifier_as_backbone_uses_new_norms_as_hf_does():
    name = "nat_micro"
    loaded = load_model(from_pretrained=str(FIXTURES / name / "hf"), backbone=True)
    cfg = loaded.model.config
    assert cfg.out_features == ("stage1", "stage2", "stage3", "stage4") and cfg.num_classes == 0
    assert any("new LayerNorms (weight 1, bias 0)" in n for n in loaded.notes)
    assert any("dropped the classifier's head" in n for n in loaded.notes)
    io = micro_io(name)
    for i, _ in enumerate(micro_meta(name)["inputs"]):
        with torch.no_grad():
            stage4 = loaded.model(io[f"input_{i}"])[-1]
        last = io[f"hidden_{i}_4"]  # the last level is not downsampled: its output before == after
        ref = F.layer_norm(last.permute(0, 2, 3, 1), (last.shape[1],)).permute(0, 3, 1, 2)
        assert (stage4 - ref).abs().max() <= 1e-4


def test_backbone_without_weights_is_seeded_and_recorded():
    a = load_model("dinat-mini", backbone=True)
    b = load_model("dinat-mini", out_features=["stage3"])
    assert a.model.config.out_features == ("stage1", "stage2", "stage3", "stage4")
    assert b.model.config.out_features == ("stage3",) and b.spec["out_features"] == ["stage3"]
    assert torch.equal(a.model.levels[0].blocks[0].attn.qkv.weight, b.model.levels[0].blocks[0].attn.qkv.weight)


def _hf(**kw) -> dict:
    base = json.loads((FIXTURES / "dinat_backbone_micro" / "hf" / "config.json").read_text())
    base.update(kw)
    return {k: v for k, v in base.items() if v is not None}


@pytest.mark.parametrize(
    "hf,want",
    [
        (_hf(out_features=None, out_indices=[2, 4]), ("stage2", "stage4")),
        (_hf(out_features=["stage3"], out_indices=None), ("stage3",)),
        (_hf(out_features=None, out_indices=None), ("stage4",)),  # HF's default: the last stage
        (_hf(out_features=None, out_indices=[-1]), ("stage4",)),
    ],
)
def test_hf_out_features_align_as_hf(hf, want):
    assert NatConfig.from_hf(hf).out_features == want


@pytest.mark.parametrize(
    "hf,match",
    [
        (_hf(out_features=["stem", "stage1"], out_indices=None), "'stem', the embedding output, is not exported"),
        (_hf(out_features=["stage3", "stage1"], out_indices=None), "in stage order"),
        (_hf(out_features=["stage5"], out_indices=None), r"unknown stages \['stage5'\]"),
        (_hf(out_features=["stage1"], out_indices=[2]), "name different stages"),
        (_hf(out_indices=[9], out_features=None), "out_indices must be a list of indices"),
        ({"model_type": "oneformer", "backbone_config": {"model_type": "swin"}}, "NAT/DiNAT backbones only"),
    ],
)
def test_bad_backbone_configs_are_one_line(hf, match):
    with pytest.raises(ConfigError, match=match) as e:
        NatConfig.from_hf(hf)
    assert "\n" not in str(e.value) and "; " in str(e.value)


def test_bad_out_features_argument_names_the_stages():
    with pytest.raises(ConfigError, match=r"--out-features: .*unknown stages \['res2'\]; use stage1, stage2"):
        load_model("nat-mini", out_features=["res2"])


def _mmcv_meta(cfg: NatConfig, **overrides) -> dict:
    """``meta`` as mmcv saves it: the training config as Python text (``cfg.pretty_text``)."""
    bb = {
        "type": "DiNAT",
        "embed_dim": cfg.embed_dim,
        "mlp_ratio": cfg.mlp_ratio,
        "depths": list(cfg.depths),
        "num_heads": list(cfg.num_heads),
        "drop_path_rate": 0.2,
        "kernel_size": cfg.kernel_size,
        "dilations": [list(d) for d in cfg.dilations],
        "layer_scale": cfg.layer_scale,
        **overrides,
    }
    body = ", ".join(f"{k}={v!r}" for k, v in bb.items())
    text = (
        f"model = dict(\n    type='MaskRCNN',\n    backbone=dict({body}, norm_layer=nn.LayerNorm),\n"
        "    neck=dict(type='FPN', in_channels=[32, 64, 128, 256]))\noptimizer = dict(type='AdamW', lr=0.0001)\n"
    )
    return {"mmdet_version": "2.28.2", "config": text, "epoch": 36}


def test_mmdet_checkpoint_records_its_backbone_and_needs_no_model(tmp_path):
    name = "dinat_backbone_micro"
    hf = load_model(from_pretrained=str(FIXTURES / name / "hf"))
    cfg = hf.model.config
    ckpt = _layouts(_original_backbone(name))["mmdet"]
    ckpt["meta"] = _mmcv_meta(cfg, out_indices=(1, 3))
    path = tmp_path / "mask_rcnn_dinat_micro.pth"
    torch.save(ckpt, path)
    loaded = load_model(weights=str(path))
    assert loaded.model.config.dilations == cfg.dilations and loaded.model.config.kernel_size == 5
    assert loaded.model.config.out_features == ("stage2", "stage4")
    assert any("records in its meta['config']" in n for n in loaded.notes)
    assert loaded.spec == {"weights": str(path.resolve()), "out_features": ["stage2", "stage4"]}
    _check_goldens(loaded.model, name, ["stage2", "stage4"])
    # a --model whose dilations differ: the tensors fit, the outputs would not
    wrong = json.loads((FIXTURES / name / "hf" / "config.json").read_text())
    wrong["dilations"] = [[1, 1], [1, 1, 1], [1, 1, 1, 1], [1, 1]]
    (tmp_path / "wrong.json").write_text(json.dumps(wrong))
    with pytest.raises(CheckpointError, match=r"records its backbone in meta\['config'\] \(dilations"):
        load_model(str(tmp_path / "wrong.json"), weights=str(path))
    ckpt["meta"] = _mmcv_meta(cfg, type="DiNAT_s")
    torch.save(ckpt, path)
    with pytest.raises(ConfigError, match="backbone is 'DiNAT_s', not NAT or DiNAT"):
        load_model(weights=str(path))
