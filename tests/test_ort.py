"""Provider options for ONNX Runtime's TensorRT execution provider."""

from __future__ import annotations

from nat_export.ort import tensorrt_ep_providers


def test_providers_with_plugin_and_cache(tmp_path):
    provs = tensorrt_ep_providers("/x/libnat_export_trt_autoreg.so", fp16=True, engine_cache_dir=tmp_path / "c")
    assert [p[0] for p in provs] == ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    opts = provs[0][1]
    assert opts["trt_extra_plugin_lib_paths"] == "/x/libnat_export_trt_autoreg.so"
    assert opts["trt_fp16_enable"] is True
    assert opts["trt_engine_cache_enable"] is True and opts["trt_engine_cache_path"] == str(tmp_path / "c")
    assert (tmp_path / "c").is_dir()


def test_providers_minimal_and_profile():
    opts = tensorrt_ep_providers(
        None,
        fp16=False,
        engine_cache_dir=None,
        profile={"pixel_values": {"min": [1, 3, 224, 224], "opt": [8, 3, 224, 224], "max": [32, 3, 224, 224]}},
    )[0][1]
    assert "trt_extra_plugin_lib_paths" not in opts and "trt_engine_cache_enable" not in opts
    assert opts["trt_fp16_enable"] is False
    assert opts["trt_profile_opt_shapes"] == "pixel_values:8x3x224x224"
