"""The engine sidecar (ENGINE.json): what it holds, atomic writes, reading it back, version checks."""
from __future__ import annotations

import json

import pytest

from nat_export.runtime.trt_build import (
    Profile,
    make_sidecar,
    precision_plan,
    write_sidecar,
)
from nat_export.onnx_file import read_metadata as read_onnx_metadata
from nat_export.onnx_file import write_atomic as write_bytes_atomic
from nat_export.runtime.trt_engine import (
    TrtError,
    check_engine_version,
    engine_needs_plugin,
    read_sidecar,
    sidecar_path,
)


def sample_sidecar(tmp_path, meta=None, **kw):
    prof = Profile({"pixel_values": ((1, 3, 64, 64), (8, 3, 64, 64), (32, 3, 64, 64))})
    return make_sidecar(
        engine_path=tmp_path / "m.engine", onnx_path=tmp_path / "m.onnx",
        metadata=meta if meta is not None else {"variant": "nat-tiny", "na_mode": "plugin", "labels": ["a", "b"]},
        plan=precision_plan("fp16", "fp32", 11), tensorrt_version="11.4.0.106",
        profiles=[prof], inputs=[{"name": "pixel_values", "dtype": "FLOAT", "shape": [-1, 3, 64, 64]}],
        outputs=[{"name": "logits", "dtype": "FLOAT", "shape": [-1, 1000]}],
        plugin={"library": "libnat_export_trt.so", "version": "1", "namespace": ""},
        gpu={"name": "NVIDIA H100", "compute_capability": "9.0"}, workspace_mb=1024, build_seconds=12.345, **kw,
    )


def test_sidecar_content(tmp_path):
    s = sample_sidecar(tmp_path)
    assert s["format"] == "nat-export.engine" and s["engine"] == "m.engine" and s["onnx"] == "m.onnx"
    assert s["variant"] == "nat-tiny" and s["labels"] == ["a", "b"] and s["na_mode"] == "plugin"
    for missing in ("config", "preprocessing", "contract_version", "dtype"):
        assert missing not in s  # missing metadata is omitted, not null
    assert s["precision"] == "fp16" and s["strongly_typed"] is True and "nat_export.runtime.fp16" in s["precision_mode"]
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


def test_atomic_write_refuses_overwrite(tmp_path):
    p = tmp_path / "x.bin"
    write_bytes_atomic(p, b"one", force=False)
    with pytest.raises(FileExistsError, match="--force"):
        write_bytes_atomic(p, b"two", force=False)
    assert p.read_bytes() == b"one"
    write_bytes_atomic(p, b"two", force=True)
    assert p.read_bytes() == b"two"


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


def test_read_onnx_metadata(micro_onnx):
    import onnx

    meta = read_onnx_metadata(onnx.load(str(micro_onnx), load_external_data=False))
    assert meta["na_mode"] == "portable" and meta["dtype"] == "fp32" and meta["contract_version"] == "1"
    assert meta["labels"][:2] == ["LABEL_0", "LABEL_1"] and isinstance(meta["config"], dict)
    assert meta["preprocessing"]["center_crop"] == [64, 64] and meta["resolution"] == [64, 64]


def test_read_onnx_metadata_partial(na_model):
    meta = read_onnx_metadata(na_model)
    assert meta == {"variant": "na-test", "na_mode": "plugin", "dtype": "fp32"}


def test_plugin_library_is_loaded_once_per_process(tmp_path):
    from nat_export.runtime import trt_engine

    class Registry:
        def __init__(self):
            self.loads, self.all_creators = [], []

        def load_library(self, path):
            self.loads.append(path)
            return object()

    lib = tmp_path / "libnat_export_trt.so"
    lib.write_bytes(b"")
    reg = Registry()
    h1 = trt_engine.load_plugin_library(reg, lib)
    h2 = trt_engine.load_plugin_library(reg, str(lib))
    assert h1 is h2 and len(reg.loads) == 1

    class Failing(Registry):
        def load_library(self, path):
            return None

    with pytest.raises(TrtError, match="could not load the plugin library"):
        trt_engine.load_plugin_library(Failing(), tmp_path / "other.so")
    trt_engine._LOADED_PLUGINS.clear()
