"""`nat-export bench` with bad input: one line naming the fix, exit 1, nothing written (tests/cli/conftest.py)."""

from __future__ import annotations

import pytest

CASES = [
    ([], "ENGINE|ONNX or --torch"),
    (["{onnx}", "--torch"], "one of them"),
    # the target
    (["{img}"], "neither an .onnx file nor a TensorRT engine"),
    (["{tmp}/text.onnx"], "not a readable ONNX model"),
    (["{tmp}/empty.onnx"], "ONNX"),
    (["{tmp}/missing.onnx"], "not found"),
    (["{dir}"], "not a file"),
    (["{tmp}/fake.engine", "--fp16"], "fixed when it is built"),
    # values
    (["{onnx}", "--batch-sizes", "0"], "--batch-sizes"),
    (["{onnx}", "--batch-sizes", "1,x"], "--batch-sizes"),
    (["{onnx}", "--batch-sizes", ","], "--batch-sizes"),
    (["{onnx}", "--batch-sizes", "-1"], "--batch-sizes"),
    (["{onnx}", "--iterations", "0"], "--iterations"),
    (["{onnx}", "--warmup", "-1"], "--warmup"),
    (["{onnx}", "--threads", "0"], "--threads"),
    # flags that do not apply to the target
    (["{onnx}", "--bf16"], "--bf16"),
    (["{onnx}", "--fp16"], "--fp16"),
    (["{onnx}", "--model", "nat-mini"], "go with --torch"),
    (["{onnx}", "--host-io"], "--host-io do not apply to an .onnx file"),
    (["{onnx}", "--no-cuda-graphs"], "do not apply to an .onnx file"),
    (["{onnx}", "--resolution", "96"], "takes 64x64 inputs, not 96x96"),
    (["{onnx}", "--resolution", "16"], "too small"),
    (["{onnx}", "--device", "cpu"], "--device do not apply"),
    (["{onnx}", "--cache-dir", "{dir}"], "--cache-dir"),
    (["--torch", "--model", "nat-mini", "--resolution", "10"], "too small"),
    (["--torch", "--model", "nat-mini", "--no-cuda-graphs"], "do not apply to --torch"),
    (["--torch", "--model", "nat-mini", "--provider", "tensorrt"], "do not apply to --torch"),
    (["--torch", "--model", "{tmp}/cfg_zero_heads.json"], "num_heads"),
    (["--torch", "--model", "nat-mini", "--batch-sizes", "100000"], "--no-memory-check"),  # the notes follow it
    (["{onnx}", "--threads", "100000"], "CPUs"),
    # the report
    (["{onnx}", "--json", "{onnx}"], "also an input file"),
    (["{onnx}", "--json", "{out}"], "exists; pass --force"),
    (["{onnx}", "--json", "{dir}"], "folder"),
    (["{onnx}", "--out-features", "stage1"], "go with --torch"),
    (["{onnx}", "--backbone"], "go with --torch"),
    (["--torch", "--model", "nat-mini", "--out-features", "res2"], "unknown stages ['res2']"),
]


@pytest.mark.parametrize("argv, words", CASES, ids=[f"{i}" for i in range(len(CASES))])
def test_bad_input_is_one_clear_line(bad, argv, words):
    bad("bench", argv, words)


def test_cuda_device_without_a_gpu(bad):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is usable here")
    bad("bench", ["--torch", "--model", "nat-mini", "--device", "cuda"], "--device cuda")


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--batch", "1", "--batch-sizes", "2"], "--batch 1 and --batch-sizes 2 disagree"),
        (["--batch-sizes", "2", "--batch", "1"], "--batch 1 and --batch-sizes 2 disagree"),
        (["--dtype", "fp32", "--fp16"], "--dtype fp32 and --fp16 disagree"),
    ],
)
def test_deprecated_flag_that_contradicts_the_new_one(bad, argv, words):
    bad("bench", ["{onnx}", *argv], words)


def test_deprecated_flag_that_agrees_with_the_new_one_runs(run_cli, micro_onnx):
    code, _, err = run_cli(
        "bench", micro_onnx, "--batch", "1", "--batch-sizes", "1", "--iterations", "1", "--warmup", "0"
    )
    assert code == 0 and err.count("--batch is deprecated") == 1
