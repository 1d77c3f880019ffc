"""Error paths of trt / infer / bench: one clear line, a non-zero exit, no traceback, and no
TensorRT Runtime or Builder constructed (that would crash a machine without a GPU)."""

from __future__ import annotations

import importlib.util

import pytest

from nat_export.tensorrt import TrtEngine, TrtError
from nat_export.tensorrt import env as trt_env


def one_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert lines, "no error message"
    assert "Traceback" not in err
    return lines[-1]


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed here")
def test_trt_without_tensorrt(run_cli, micro_onnx, tmp_path):
    code, _, err = run_cli("trt", micro_onnx, "-o", tmp_path / "m.engine")
    assert code != 0
    assert "TensorRT is not installed" in one_line(err) and "pip install" in err
    assert not (tmp_path / "m.engine").exists()


def test_trt_reports_missing_tensorrt_cleanly(run_cli, micro_onnx, tmp_path, monkeypatch):
    def missing(allow_lean=False):
        raise TrtError("TensorRT is not installed (no Python module 'tensorrt'); install it")

    monkeypatch.setattr(trt_env, "import_tensorrt", missing)
    code, _, err = run_cli("trt", micro_onnx, "-o", tmp_path / "m.engine")
    assert code != 0 and "TensorRT is not installed" in one_line(err)


def test_trt_without_gpu_never_constructs_a_builder(run_cli, micro_onnx, tmp_path, monkeypatch, fake_trt):
    monkeypatch.setattr(trt_env, "import_tensorrt", lambda allow_lean=False: fake_trt())
    monkeypatch.setattr(trt_env, "cuda_device_count", lambda: 0)
    code, _, err = run_cli("trt", micro_onnx, "-o", tmp_path / "m.engine")
    assert code != 0 and "needs an NVIDIA GPU" in one_line(err)


def test_trt_missing_plugin_library(run_cli, na_onnx, tmp_path, no_plugins):
    code, _, err = run_cli("trt", na_onnx, "-o", tmp_path / "na.engine", "--plugin", tmp_path / "nope.so")
    assert code != 0
    line = one_line(err)
    assert "TensorRT plugin library not found" in line and "nope.so" in line
    code, _, err = run_cli("trt", na_onnx, "-o", tmp_path / "na.engine")
    assert code != 0 and "build-plugins" in one_line(err)


def test_trt_existing_output_needs_force(run_cli, micro_onnx, tmp_path):
    out = tmp_path / "m.engine"
    out.write_bytes(b"old")
    code, _, err = run_cli("trt", micro_onnx, "-o", out)
    assert code != 0 and "exists; pass --force" in one_line(err)
    assert out.read_bytes() == b"old"


def test_trt_missing_onnx(run_cli, tmp_path):
    code, _, err = run_cli("trt", tmp_path / "none.onnx")
    assert code != 0 and "not found" in one_line(err)


def test_trt_profile_error_is_one_line(run_cli, micro_onnx, tmp_path):
    code, _, err = run_cli("trt", micro_onnx, "-o", tmp_path / "m.engine", "--min", "8", "--max", "4")
    assert code == 1 and "min <= opt <= max" in one_line(err)


def test_trt_onnx_and_model_args_conflict(run_cli, micro_onnx):
    code, _, err = run_cli("trt", micro_onnx, "--model", "nat-mini")
    assert code == 1 and "not both" in one_line(err)


def test_engine_from_another_tensorrt_version(run_cli, tmp_path, image_file, monkeypatch, fake_trt):
    """The sidecar's version is checked before any Runtime exists (fake TensorRT: constructing one fails)."""
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"not really an engine")
    (tmp_path / "m.engine.json").write_text('{"tensorrt_version": "10.9.0.34", "na_mode": "portable"}')
    monkeypatch.setattr(trt_env, "import_tensorrt", lambda allow_lean=False: fake_trt("11.4.0.106"))
    code, _, err = run_cli("infer", engine, image_file)
    line = one_line(err)
    assert code != 0 and "built by TensorRT 10.9.0.34" in line and "11.4.0.106" in line and "--force" in line


def test_engine_without_gpu(tmp_path, monkeypatch, fake_trt):
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"x")
    monkeypatch.setattr(trt_env, "import_tensorrt", lambda allow_lean=False: fake_trt())
    monkeypatch.setattr(trt_env, "cuda_device_count", lambda: 0)
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is usable here")
    with pytest.raises(TrtError, match="needs an NVIDIA GPU"):
        TrtEngine(engine)


def test_missing_engine(run_cli, tmp_path, image_file):
    code, _, err = run_cli("infer", tmp_path / "none.engine", image_file)
    assert code != 0 and "not found" in one_line(err)
    with pytest.raises(FileNotFoundError, match="nat-export trt"):
        TrtEngine(tmp_path / "none.engine")


def test_infer_custom_op_graph_without_ort_library(run_cli, na_onnx, image_file, no_plugins):
    code, _, err = run_cli("infer", na_onnx, image_file)
    assert code != 0 and "custom-op library" in one_line(err)


def test_bench_needs_one_target(run_cli, micro_onnx):
    code, _, err = run_cli("bench")
    assert code == 1 and "--torch" in one_line(err)
    code, _, err = run_cli("bench", micro_onnx, "--torch")
    assert code == 1


def test_bench_bad_batches(run_cli, micro_onnx):
    code, _, err = run_cli("bench", micro_onnx, "--batch", "1,x")
    assert code == 1 and "comma-separated" in one_line(err)


def test_ort_tensorrt_provider_missing(run_cli, micro_onnx, image_file):
    import onnxruntime as ort

    if "TensorrtExecutionProvider" in ort.get_available_providers():
        pytest.skip("this ONNX Runtime has the TensorRT EP")
    code, _, err = run_cli("infer", micro_onnx, image_file, "--provider", "tensorrt")
    assert code != 0 and "no TensorRT execution provider" in one_line(err)


@pytest.mark.parametrize("command", ["trt", "infer", "bench"])
def test_help_has_examples(command, capsys):
    from nat_export.cli import main

    with pytest.raises(SystemExit) as e:
        main([command, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and f"nat-export {command}" in out
