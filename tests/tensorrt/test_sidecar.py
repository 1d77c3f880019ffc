"""The engine sidecar (ENGINE.json): what it holds, atomic writes, reading it back, version checks."""

from __future__ import annotations

import json

import pytest

from nat_export.onnx.metadata import ModelDescription
from nat_export.tensorrt.env import TrtError
from nat_export.tensorrt.precision import precision_plan
from nat_export.tensorrt.profiles import Profile
from nat_export.tensorrt.sidecar import (
    check_engine_version,
    engine_needs_plugin,
    make_sidecar,
    read_sidecar,
    sidecar_description,
    sidecar_path,
    write_sidecar,
)


def sample_sidecar(tmp_path, meta=None, **kw):
    prof = Profile({"pixel_values": ((1, 3, 64, 64), (8, 3, 64, 64), (32, 3, 64, 64))})
    return make_sidecar(
        engine_path=tmp_path / "m.engine",
        onnx_path=tmp_path / "m.onnx",
        description=ModelDescription.from_json(
            meta if meta is not None else {"variant": "nat-tiny", "na_mode": "plugin", "labels": ["a", "b"]}
        ),
        plan=precision_plan("fp16", "fp32", 11),
        tensorrt_version="11.4.0.106",
        profiles=[prof],
        inputs=[{"name": "pixel_values", "dtype": "FLOAT", "shape": [-1, 3, 64, 64]}],
        outputs=[{"name": "logits", "dtype": "FLOAT", "shape": [-1, 1000]}],
        plugin={"library": "libnat_export_trt.so", "version": "1", "namespace": ""},
        gpu={"name": "NVIDIA H100", "compute_capability": "9.0"},
        workspace_mb=1024,
        build_seconds=12.345,
        **kw,
    )


def test_sidecar_content(tmp_path):
    s = sample_sidecar(tmp_path)
    assert s["format"] == "nat-export.engine" and s["engine"] == "m.engine" and s["onnx"] == "m.onnx"
    assert s["variant"] == "nat-tiny" and s["labels"] == ["a", "b"] and s["na_mode"] == "plugin"
    for missing in ("config", "preprocessing", "contract_version", "dtype"):
        assert missing not in s  # missing metadata is omitted, not null
    assert s["precision"] == "fp16" and s["strongly_typed"] is True and "nat_export.onnx.fp16" in s["precision_mode"]
    assert s["tensorrt_version"] == "11.4.0.106" and s["gpu"]["name"] == "NVIDIA H100"
    assert s["profiles"] == [{"pixel_values": {"min": [1, 3, 64, 64], "opt": [8, 3, 64, 64], "max": [32, 3, 64, 64]}}]
    assert s["inputs"][0]["name"] == "pixel_values" and s["outputs"][0]["name"] == "logits"
    assert s["plugin"]["version"] == "1" and s["build_seconds"] == 12.35
    json.dumps(s)  # serializable


def test_write_and_read_sidecar(tmp_path):
    engine = tmp_path / "m.engine"
    s = sample_sidecar(tmp_path)
    path = write_sidecar(engine, s)
    assert path == sidecar_path(engine) == tmp_path / "m.engine.json"
    assert read_sidecar(engine) == s
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind
    assert read_sidecar(tmp_path / "other.engine") is None


def test_unreadable_sidecar(tmp_path):
    engine = tmp_path / "m.engine"
    sidecar_path(engine).write_text("{not json")
    with pytest.raises(TrtError, match="not readable JSON"):
        read_sidecar(engine)


def test_version_check(tmp_path):
    side = {"tensorrt_version": "10.9.0.34"}
    check_engine_version(side, "10.9.0.34", "m.engine")
    check_engine_version(None, "11.0", "m.engine")
    check_engine_version({"tensorrt_version": "10.9.0.34", "version_compatible": True}, "11.4.0", "m.engine")
    with pytest.raises(TrtError, match=r"built by TensorRT 10\.9\.0\.34, but this is TensorRT 11\.4\.0.*--force"):
        check_engine_version(side, "11.4.0", "m.engine")


def test_engine_needs_plugin():
    assert engine_needs_plugin(None) is None
    assert engine_needs_plugin({"na_mode": "portable", "plugin": None}) is False
    assert engine_needs_plugin({"na_mode": "plugin"}) is True
    assert engine_needs_plugin({"plugin": {"library": "x"}}) is True


def test_sidecar_round_trips_the_model_description(tmp_path):
    meta = {
        "variant": "nat-tiny",
        "na_mode": "plugin",
        "dtype": "fp32",
        "resolution": [64, 48],
        "preprocessing": {"center_crop": [64, 48], "resize_shorter_side": 55},
        "labels": ["a", "b"],
    }
    s = sample_sidecar(tmp_path, meta)
    write_sidecar(tmp_path / "m.engine", s)
    desc = sidecar_description(read_sidecar(tmp_path / "m.engine"))
    assert desc.resolution == (64, 48) and desc.labels == ["a", "b"] and desc.na_mode == "plugin"
    assert desc.preprocessing.center_crop == (64, 48) and desc.preprocessing.resize_shorter_side == 55


def test_sidecar_with_invalid_model_fields(tmp_path):
    engine = tmp_path / "m.engine"
    sidecar_path(engine).write_text(json.dumps({"format": "nat-export.engine", "labels": "not a list"}))
    with pytest.raises(TrtError, match="labels is not a list of strings"):
        read_sidecar(engine)
    sidecar_path(engine).write_text("[1, 2]")
    with pytest.raises(TrtError, match="not a JSON object"):
        read_sidecar(engine)
