"""`nat-export infer` with bad input: one line naming the fix, exit 1, nothing written (tests/cli/conftest.py)."""

from __future__ import annotations

import pytest

CASES = [
    # images
    (["{onnx}", "{tmp}/missing.png"], "not found"),
    (["{onnx}", "{tmp}/bad.png"], "cannot read image"),
    (["{onnx}", "{tmp}/empty.png"], "cannot read image"),
    (["{onnx}", "{tmp}/text.jpg"], "cannot read image"),
    (["{onnx}", "{dir}"], "folder"),
    (["{onnx}", "{img}", "{tmp}/missing.png"], "not found"),
    # the model file
    (["{img}", "{onnx}"], "neither an .onnx file nor a TensorRT engine"),
    (["{tmp}/text.onnx", "{img}"], "not a readable ONNX model"),
    (["{tmp}/empty.onnx", "{img}"], "ONNX"),
    (["{tmp}/cut.onnx", "{img}"], "not a readable ONNX model"),
    (["{tmp}/missing.onnx", "{img}"], "not found"),
    (["{dir}", "{img}"], "not a file"),
    (["{tmp}/fake.engine", "{img}"], "TensorRT"),
    # options
    (["{onnx}", "{img}", "--top", "0"], "--top"),
    (["{onnx}", "{img}", "--top", "-1"], "--top"),
    (["{onnx}", "{img}", "--threads", "0"], "--threads"),
    (["{onnx}", "{img}", "--threads", "-1"], "must be >= 1"),
    (["{onnx}", "{img}", "--threads", "x"], "--threads"),
    (["{onnx}", "{img}", "--threads", "100000"], "CPUs"),
    (["{onnx}", "{img}", "--provider", "foo"], "--provider"),
    (["{onnx}", "{img}", "--preprocess", "mean=x"], "--preprocess"),
    (["{onnx}", "{img}", "--preprocess", "crop_pct=0"], "crop_pct"),
    (["{onnx}", "{img}", "--preprocess", "mean=1,2"], "mean"),
    (["{onnx}", "{img}", "--ort-op-library", "{tmp}/missing.so"], "--ort-op-library"),
    (["{onnx}", "{img}", "--plugin", "{tmp}/a.so", "--ort-op-library", "{tmp}/b.so"], "disagree"),
    # outputs
    (["{onnx}", "{img}", "--save-input", "{img}"], "input files"),
    (["{onnx}", "{img}", "--save-input", "{onnx}", "--force"], "input files"),
    (["{onnx}", "{img}", "--save-input", "{out}"], "exists; pass --force"),
    (["{onnx}", "{img}", "--save-input", "{dir}"], "folder"),
    (["{onnx}", "{img}", "--json", "{img}"], "also an input file"),
    (["{onnx}", "{img}", "--json", "{onnx}", "--force"], "also an input file"),
    (["{onnx}", "{img}", "--json", "{out}"], "exists; pass --force"),
    (["{onnx}", "{img}", "--save-input", "{tmp}/r.bin", "--json", "{tmp}/r.bin"], "also an input file"),
]


@pytest.mark.parametrize("argv, words", CASES, ids=[f"{i}" for i in range(len(CASES))])
def test_bad_input_is_one_clear_line(bad, argv, words):
    bad("infer", argv, words)


def test_32_bit_image_of_unknown_range(bad, tmp_path):
    import numpy as np
    from PIL import Image

    Image.fromarray(np.full((64, 64), 1 << 30, np.int32)).save(tmp_path / "int32.tiff")
    bad("infer", ["{onnx}", tmp_path / "int32.tiff"], "values outside 0..65535")


def test_recorded_resolution_that_contradicts_the_graph(bad, micro_onnx, tmp_path):
    import onnx

    from nat_export.onnx.metadata import ModelDescription

    m = onnx.load(str(micro_onnx))
    desc = ModelDescription.read(m)
    desc.resolution = [100000, 100000]
    desc.write(m)
    onnx.save(m, str(tmp_path / "tampered.onnx"))
    bad("infer", [tmp_path / "tampered.onnx", "{img}"], "nat_export.resolution says")


def test_tensorrt_provider_without_the_ep(bad):
    import onnxruntime as ort

    if "TensorrtExecutionProvider" in ort.get_available_providers():
        pytest.skip("this ONNX Runtime has the TensorRT EP")
    bad("infer", ["{onnx}", "{img}", "--provider", "tensorrt"], "no TensorRT execution provider")


def test_deprecated_plugin_for_onnx_still_names_the_missing_library(bad):
    line = bad("infer", ["{onnx}", "{img}", "--plugin", "{tmp}/missing.so"], "--ort-op-library", warnings=1)
    assert "ONNX Runtime custom-op library not found" in line


def test_wrong_label_count_is_a_warning_not_an_error(run_cli, micro_onnx, image_file, tmp_path):
    import onnx

    from nat_export.onnx.metadata import ModelDescription

    m = onnx.load(str(micro_onnx))
    desc = ModelDescription.read(m)
    desc.labels = ["a", "b"]
    desc.write(m)
    path = tmp_path / "tampered.onnx"
    onnx.save(m, str(path))
    code, out, err = run_cli("infer", path, image_file)
    assert code == 0 and "2 labels for 10 classes" in err and "class " in out
