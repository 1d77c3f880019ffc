"""TensorRT + GPU: build small engines from the exported micro model and compare them with PyTorch.

Skipped (with the reason) where the full TensorRT package or a CUDA GPU is missing.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

trt = pytest.importorskip("tensorrt", reason="needs the full TensorRT Python package (builder + ONNX parser)")
torch = pytest.importorskip("torch")

pytestmark = [
    pytest.mark.tensorrt,
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU and a CUDA build of PyTorch"),
]

RES = 64


def reference(loaded, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return loaded.model.eval().float()(torch.from_numpy(x)).numpy()


def build(onnx_path, engine_path, **kw):
    from nat_export.tensorrt import BuildOptions, build_engine

    return build_engine(onnx_path, engine_path, BuildOptions(min_shapes="1", opt_shapes="4", max_shapes="8", **kw))


@pytest.fixture(scope="module")
def fp32_engine(micro_onnx, tmp_path_factory):
    out = tmp_path_factory.mktemp("engines") / "micro.engine"
    return build(micro_onnx, out, timing_cache=out.with_suffix(".cache")), out


def test_fp32_engine_matches_pytorch(fp32_engine, micro_loaded):
    from nat_export.tensorrt import TrtEngine

    result, path = fp32_engine
    eng = TrtEngine(path)
    assert eng.input_names == ["pixel_values"] and eng.output_names == ["logits"]
    assert (eng.min_batch, eng.opt_batch, eng.max_batch) == (1, 4, 8)
    for batch in (1, 5, 11):  # 11 > max: split into chunks
        x = np.random.default_rng(batch).standard_normal((batch, 3, RES, RES)).astype(np.float32)
        out = eng({"pixel_values": x})["logits"]
        ref = reference(micro_loaded, x)
        assert out.shape == ref.shape
        np.testing.assert_allclose(out, ref, atol=1e-4, rtol=1e-4)
    assert eng.uses_cuda_graph(5) is not None
    if eng.uses_cuda_graph(5) is False:
        warnings.warn(f"CUDA graph capture failed: {eng.graph_errors}", stacklevel=1)
    xd = torch.randn(4, 3, RES, RES, device="cuda")
    dev = eng.run_device({"pixel_values": xd})["logits"]
    np.testing.assert_allclose(dev.cpu().numpy(), reference(micro_loaded, xd.cpu().numpy()), atol=1e-4, rtol=1e-4)


def test_sidecar_and_timing_cache(fp32_engine):
    from nat_export.tensorrt import read_sidecar

    result, path = fp32_engine
    side = read_sidecar(path)
    assert side == result.info
    assert side["precision"] == "fp32" and side["tensorrt_version"] == trt.__version__
    assert side["na_mode"] == "portable" and side["labels"][0] == "LABEL_0" and side["gpu"]["name"]
    assert side["profiles"][0]["pixel_values"]["max"] == [8, 3, RES, RES]
    assert path.with_suffix(".cache").is_file()


def test_fp16_engine(micro_onnx, micro_loaded, tmp_path):
    from nat_export.tensorrt import TrtEngine

    result = build(micro_onnx, tmp_path / "m16.engine", precision="fp16", save_onnx=tmp_path / "m16.onnx")
    assert result.info["precision"] == "fp16"
    if int(trt.__version__.split(".")[0]) >= 11:
        assert (tmp_path / "m16.onnx").is_file() and result.info["strongly_typed"]
    eng = TrtEngine(tmp_path / "m16.engine")
    x = np.random.default_rng(0).standard_normal((8, 3, RES, RES)).astype(np.float32)
    out = eng({"pixel_values": x})["logits"]
    ref = reference(micro_loaded, x)
    assert np.abs(out - ref).max() < 2e-2 * max(1.0, np.abs(ref).max())
    assert (out.argmax(1) == ref.argmax(1)).mean() >= 0.99


def test_plugin_engine(micro_loaded, tmp_path):
    from nat_export.export import ExportOptions, export_onnx
    from nat_export.native import PluginNotFoundError, find_library
    from nat_export.tensorrt import TrtEngine

    try:
        find_library("trt")
    except PluginNotFoundError as e:
        pytest.skip(f"plugin library not built: {e}")
    onnx_path = tmp_path / "micro_na.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_onnx(micro_loaded, onnx_path, ExportOptions(resolution=(RES, RES)))
    result = build(onnx_path, tmp_path / "na.engine")
    assert result.info["plugin"] and result.info["na_mode"] == "plugin"
    eng = TrtEngine(tmp_path / "na.engine")
    x = np.random.default_rng(0).standard_normal((3, 3, RES, RES)).astype(np.float32)
    np.testing.assert_allclose(eng({"pixel_values": x})["logits"], reference(micro_loaded, x), atol=1e-4, rtol=1e-4)


def test_cli_trt_bench_infer(run_cli, micro_onnx, image_file, tmp_path):
    engine = tmp_path / "cli.engine"
    code, out, err = run_cli("trt", micro_onnx, "-o", engine, "--max", "8", "--opt", "2", "--json", "-")
    assert code == 0, err
    assert json.loads(out)["engine"] == "cli.engine"
    code, _, err = run_cli("trt", micro_onnx, "-o", engine)
    assert code != 0 and "--force" in err
    code, out, err = run_cli("bench", engine, "--batch-sizes", "1,8", "--iterations", "5", "--warmup", "2")
    assert code == 0, err
    code, out, err = run_cli("bench", engine, "--batch-sizes", "16")
    assert code == 1 and "outside the engine's profile" in err
    code, out, err = run_cli("infer", engine, image_file, "--json", "-")
    assert code == 0, err
    assert json.loads(out)[0]["top"][0]["label"].startswith("LABEL_")


def test_cli_trt_exports_first(run_cli, tmp_path):
    from pathlib import Path

    hf = Path(__file__).resolve().parents[1] / "fixtures" / "nat_micro" / "hf"
    engine = tmp_path / "exp.engine"
    code, _, err = run_cli(
        "trt", "-o", engine, "--from-pretrained", hf, "--resolution", RES, "--portable", "--batch", "2"
    )
    assert code == 0, err
    assert engine.is_file() and (tmp_path / "exp.onnx").is_file() and (tmp_path / "exp.engine.json").is_file()
