"""`nat-export validate` with bad input: one line naming the fix, exit 1, nothing written (tests/cli/conftest.py)."""

from __future__ import annotations

import pytest

CASES = [
    # the ONNX file
    (["{tmp}/missing.onnx"], "not found"),
    (["{dir}"], "not a file"),
    (["{tmp}/text.onnx"], "not a readable ONNX model"),
    (["{tmp}/empty.onnx"], "ONNX"),
    (["{tmp}/cut.onnx"], "not a readable ONNX model"),
    (["{img}"], "not a readable ONNX model"),
    # options
    (["{onnx}", "--samples", "0"], "--samples"),
    (["{onnx}", "--samples", "-1"], "--samples"),
    (["{onnx}", "--batch", "0"], "--batch"),
    (["{onnx}", "--atol", "-1"], "--atol"),
    (["{onnx}", "--atol", "nan"], "--atol"),
    (["{onnx}", "--rtol", "inf"], "--rtol"),
    (["{onnx}", "--images", "{tmp}/missing"], "images"),
    (["{onnx}", "--images", "{dir}"], "no images"),
    (["{onnx}", "--images", "{img}"], "not a folder"),
    (["{onnx}", "--engine", "{onnx}"], "--engine takes a TensorRT engine"),
    (["{onnx}", "--engine", "{tmp}/missing.engine"], "not found"),
    (["{onnx}", "--ort-op-library", "{tmp}/missing.so"], "--ort-op-library"),
    (["{onnx}", "--plugin", "{tmp}/missing.so"], "--plugin is the TensorRT plugin for --engine"),
    (["{onnx}", "--model", "{tmp}/cfg_zero_heads.json"], "num_heads"),
    (["{onnx}", "--ema"], "--ema"),
    # the report
    (["{onnx}", "--json", "{onnx}"], "also an input file"),
    (["{onnx}", "--json", "{onnx}", "--force"], "also an input file"),
    (["{onnx}", "--json", "{out}"], "exists; pass --force"),
    (["{onnx}", "--json", "{dir}"], "folder"),
    (["{onnx}", "--json", "{tmp}/model.txt/r.json"], "is not a folder"),
    (["{onnx}", "--resolution", "16"], "too small"),
    (["{onnx}", "--resolution", "96"], "takes inputs"),
    (["{onnx}", "--resolution", "64", "--images", "{dir}"], "--images replaces them"),
]


@pytest.mark.parametrize("argv, words", CASES, ids=[f"{i}" for i in range(len(CASES))])
def test_bad_input_is_one_clear_line(bad, argv, words):
    bad("validate", argv, words)


def _tampered(micro_onnx, path, **fields):
    import onnx

    from nat_export.onnx.metadata import ModelDescription

    m = onnx.load(str(micro_onnx))
    desc = ModelDescription.read(m)
    for k, v in fields.items():
        setattr(desc, k, v)
    desc.write(m)
    onnx.save(m, str(path))
    return path


@pytest.mark.parametrize(
    "fields, words",
    [
        ({"dtype": "fp16"}, "nat_export.dtype says fp16 but the graph's weights are fp32"),
        ({"na_mode": "plugin"}, "says plugin but the graph has no NA"),
        ({"labels": ["a"] * 5}, "5 labels for the graph's 10 classes"),
        ({"config": {"num_classes": 7}}, "7 classes, the graph has 10"),
        ({"config": {"model_type": "nat", "num_heads": [0, 1, 1, 1]}}, "not a valid NAT/DiNAT config"),
        ({"resolution": [100000, 100000]}, "nat_export.resolution says [100000, 100000] but the graph takes [64, 64]"),
        ({"source": {}}, "records no source model"),
        ({"source": {"model": "nat-gigantic"}}, "cannot be rebuilt"),
        ({"source": {"from_pretrained": "someone/evil-model"}}, "--from-pretrained"),
    ],
)
def test_metadata_that_contradicts_the_graph(bad, micro_onnx, tmp_path, fields, words):
    path = _tampered(micro_onnx, tmp_path / "tampered.onnx", **fields)
    bad("validate", [path], words)


def test_a_file_without_nat_export_metadata(bad, micro_onnx, tmp_path):
    import onnx

    m = onnx.load(str(micro_onnx))
    del m.metadata_props[:]
    onnx.save(m, str(tmp_path / "foreign.onnx"))
    bad("validate", [tmp_path / "foreign.onnx"], "--model/--from-pretrained/--weights")


def test_json_onto_a_from_pretrained_file(bad, files, micro_onnx, tmp_path):
    import shutil

    hf = tmp_path / "hf"
    shutil.copytree(files["hf"], hf)
    bad("validate", [micro_onnx, "--from-pretrained", hf, "--json", hf / "config.json", "--force"], "also an input")


def test_fixed_batch_file_with_another_batch(bad, micro_loaded, tmp_path):
    from nat_export.export import ExportOptions, export_onnx

    path = tmp_path / "b2.onnx"
    export_onnx(micro_loaded, path, ExportOptions(resolution=(64, 64), portable=True, batch=2))
    bad("validate", [path, "--batch", "4"], "fixed batch of 2")


def test_unwritable_report_folder(bad, micro_onnx, tmp_path, monkeypatch):
    import os

    ro = tmp_path / "ro"
    ro.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(ro) else real(p, mode))
    line = bad("validate", [micro_onnx, "--json", ro / "r.json"], "not writable")
    assert str(ro / "r.json") in line and ".tmp" not in line
