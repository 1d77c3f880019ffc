"""`nat-export trt` with bad input: one line naming the fix, exit 1, nothing written (tests/cli/conftest.py).
Every case is refused before TensorRT is imported, so they run on machines without it."""

from __future__ import annotations

import pytest

CASES = [
    # the ONNX file
    (["{tmp}/missing.onnx"], "not found"),
    (["{tmp}/text.onnx"], "not a readable ONNX model"),
    (["{tmp}/empty.onnx"], "ONNX"),
    (["{dir}"], "not a file"),
    (["{onnx}", "--model", "nat-mini"], "not both"),
    # outputs
    (["{onnx}", "-o", "{onnx}"], "also an input"),
    (["{onnx}", "-o", "{onnx}", "--force"], "also an input"),
    (["{onnx}", "-o", "{dir}"], "folder"),
    (["{onnx}", "-o", "{out}"], "exists; pass --force"),
    (["{onnx}", "-o", "{tmp}/model.txt/m.engine"], "is not a folder"),
    (["{onnx}", "--json", "{onnx}"], "also an input file"),
    (["{onnx}", "--json", "{out}"], "exists; pass --force"),
    # the profile
    (["{onnx}", "--batch", "0"], "--batch"),
    (["{onnx}", "--batch", "-2"], "--batch"),
    (["{onnx}", "--min", "8", "--max", "2"], "min <= opt <= max"),
    (["{onnx}", "--min", "1x3", "--max", "2x3"], "dims"),
    (["{onnx}", "--batch", "2", "--max", "4"], "not both"),
    (["{onnx}", "--min", "4"], "--min needs --max"),
    (["{onnx}", "--max", "a"], "not N"),
    (["{onnx}", "--max", "0"], "positive"),
    (["{onnx}", "--max", "other:8"], "names input 'other'"),
    (["{onnx}", "--max", "8x3x128x128"], "fixes it to 64"),
    # the timing cache is read and rewritten: never an input or another output
    (["{onnx}", "--timing-cache", "{onnx}"], "--timing-cache"),
    (["{onnx}", "-o", "{tmp}/m.engine", "--timing-cache", "{tmp}/m.engine"], "--timing-cache"),
    (["{onnx}", "--timing-cache", "{dir}"], "--timing-cache"),
    (["{onnx}", "--backbone"], "MODEL.onnx is already exported"),
    (["{onnx}", "--dynamic-resolution", "--out-features", "stage1"], "MODEL.onnx is already exported"),
]


@pytest.mark.parametrize("argv, words", CASES, ids=[f"{i}" for i in range(len(CASES))])
def test_bad_input_is_one_clear_line(bad, argv, words):
    bad("trt", argv, words)


def test_an_existing_sidecar_needs_force(bad, tmp_path):
    (tmp_path / "m.engine.json").write_text("{}")
    bad("trt", ["{onnx}", "-o", tmp_path / "m.engine"], "sidecar) exists; pass --force")
