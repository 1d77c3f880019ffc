"""One dynamic-resolution graph per model, custom-op (ONNX Runtime + the NA op library) and portable, matches
HF 4.40.2 at every golden input, odd sizes and padded levels included: backbones (HF, OneFormer, mmdet layout)
and the micro classifiers."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch

from nat_export.export import ExportOptions, export_onnx
from nat_export.export.portable import expand_na_nodes
from nat_export.models import NatConfig, load_model
from nat_export.models.loading import hf_to_original, read_checkpoint
from nat_export.onnx.metadata import ModelDescription
from nat_export.ort import make_session

from ..conftest import FIXTURES, micro_io, micro_meta


def _sessions(path, ort_lib):
    """The custom-op graph with the op library, and the same graph expanded to standard ops."""
    portable = expand_na_nodes(onnx.load(str(path)))
    assert not any(n.domain == "trt.plugins" for n in portable.graph.node)
    return {"op": make_session(path, custom_op_library=ort_lib), "portable": make_session(portable)}


def _export(loaded, path, resolution):
    result = export_onnx(loaded, path, ExportOptions(dynamic_resolution=True, resolution=resolution))
    dims = result.model.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param for d in dims] == ["batch", "", "height", "width"]
    return result


def _check(sessions, name, outputs):
    io, meta = micro_io(name), micro_meta(name)
    for i, shape in enumerate(meta["inputs"]):
        x = io[f"input_{i}"].numpy()
        for kind, session in sessions.items():
            got = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"pixel_values": x})))
            assert list(got) == outputs
            for j, out in enumerate(outputs):
                ref = io[f"features_{i}_{j}"].numpy()
                assert got[out].shape == ref.shape, (kind, i, out)
                assert np.abs(got[out] - ref).max() <= 1e-4, (kind, name, shape, out)


@pytest.mark.parametrize("name", ["dinat_backbone_micro", "nat_backbone_micro", "oneformer_dinat_micro"])
def test_one_dynamic_backbone_graph_matches_hf_at_every_size(tmp_path, ort_lib, name):
    loaded = load_model(from_pretrained=str(FIXTURES / name / "hf"))
    cfg = loaded.model.config
    out = tmp_path / f"{name}.onnx"
    result = _export(loaded, out, (224, 224))
    assert [o.name for o in result.model.graph.output] == list(cfg.out_features)
    meta = ModelDescription.read(result.model)
    assert meta.feature_maps == [
        {"name": s, "channels": cfg.level_dim(i), "stride": 4 * 2**i} for s, i in zip(cfg.out_features, cfg.out_indices)
    ]
    assert meta.labels is None and meta.config["out_features"] == list(cfg.out_features)
    _check(_sessions(out, ort_lib), name, list(cfg.out_features))


def test_mmdet_layout_exports_to_one_graph_matching_hf(tmp_path, ort_lib):
    name = "nat_backbone_micro"
    sd = hf_to_original(read_checkpoint(FIXTURES / name / "hf" / "model.safetensors")[0])
    ckpt = tmp_path / "mask_rcnn_nat_micro.pth"
    torch.save({"meta": {"epoch": 36}, "state_dict": {f"backbone.{k}": v for k, v in sd.items()}}, ckpt)
    cfg = NatConfig.from_json_file(FIXTURES / name / "hf" / "config.json").to_dict()
    cfg["out_features"] = None
    config = tmp_path / "config.json"
    config.write_text(json.dumps(cfg))
    loaded = load_model(str(config), weights=str(ckpt), backbone=True)
    out = tmp_path / "mmdet.onnx"
    _export(loaded, out, (160, 224))
    _check(_sessions(out, ort_lib), name, ["stage2", "stage4"])


@pytest.mark.parametrize("name", ["nat_micro", "dinat_micro"])
def test_one_dynamic_classifier_graph_matches_hf_padded_and_not(tmp_path, ort_lib, name):
    loaded = load_model(from_pretrained=str(FIXTURES / name / "hf"))
    out = tmp_path / f"{name}.onnx"
    _export(loaded, out, (224, 224))
    io, meta = micro_io(name), micro_meta(name)
    for kind, session in _sessions(out, ort_lib).items():
        for i, shape in enumerate(meta["inputs"]):  # input 1 pads levels (HF's padding path)
            logits = session.run(None, {"pixel_values": io[f"input_{i}"].numpy()})[0]
            assert np.abs(logits - io[f"logits_{i}"].numpy()).max() <= 1e-4, (kind, name, shape)
        for hw in ((32, 32), (33, 97)):  # the smallest input, and sizes far below kernel x dilation x stride
            x = torch.randn(1, 3, *hw)
            with torch.no_grad():
                ref = loaded.model(x).numpy()
            got = session.run(None, {"pixel_values": x.numpy()})[0]
            assert np.abs(got - ref).max() <= 1e-4, (kind, name, hw)
