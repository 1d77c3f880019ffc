"""`nat-export onnx` with bad input: one line naming the fix, exit 1, nothing written (tests/cli/conftest.py)."""

from __future__ import annotations

import pytest

CASES = [
    # outputs
    (["{dir}"], "is a folder"),
    (["{dir}/"], "names a folder"),
    (["{tmp}/newdir/"], "names a folder"),
    (["{out}"], "exists; pass --force"),
    (["{tmp}/m.onnx", "--json", "{tmp}/m.onnx"], "also an input file"),
    (["{tmp}/m.onnx", "--json", "{out}", "--model", "nat-mini"], "exists; pass --force"),
    (["{tmp}/m.onnx", "--json", "{dir}", "--model", "nat-mini"], "is a folder"),
    (["{tmp}/m.onnx", "--model", "nat-mini", "--no-validate", "--json", "{tmp}/r.json"], "which --no-validate skips"),
    (["{tmp}/weights.txt", "--model", "nat-mini", "--weights", "{tmp}/weights.txt", "--force"], "also an input"),
    (["{tmp}/cfg_even_kernel.json", "--model", "{tmp}/cfg_even_kernel.json", "--force"], "also an input"),
    (["{tmp}/model.txt/m.onnx", "--model", "nat-mini"], "is not a folder"),
    # the model
    (["{tmp}/m.onnx", "--model", "no-such-variant"], "no-such-variant"),
    (["{tmp}/m.onnx", "--model", "{tmp}/missing.json"], "missing.json"),
    (["{tmp}/m.onnx", "--model", "{dir}"], "folder"),
    (["{tmp}/m.onnx", "--model", "{tmp}/cfg_zero_heads.json"], "num_heads"),
    (["{tmp}/m.onnx", "--model", "{tmp}/cfg_even_kernel.json"], "kernel_size"),
    (["{tmp}/m.onnx", "--model", "{tmp}/cfg_not_json.json"], "JSON"),
    (["{tmp}/m.onnx", "--model", "{tmp}/cfg_list.json"], "cfg_list.json"),
    (["{tmp}/m.onnx", "--model", "{tmp}/cfg_zero_dilation.json"], "dilations"),
    (["{tmp}/m.onnx", "--model", "{tmp}/cfg_string_depths.json"], "depths"),
    (["{tmp}/m.onnx", "--model", "{tmp}/cfg_unknown_type.json"], "swin"),
    (["{tmp}/m.onnx", "--model", "nat-mini", "--weights", "{tmp}/weights.txt"], "weights"),
    (["{tmp}/m.onnx", "--model", "nat-mini", "--weights", "{tmp}/empty.pth"], "empty.pth"),
    (["{tmp}/m.onnx", "--weights", "{tmp}/missing.pth", "--model", "nat-mini"], "not found"),
    (["{tmp}/m.onnx", "--weights", "{hf}/model.safetensors"], "--weights needs --model"),
    (["{tmp}/m.onnx", "--from-pretrained", "{hf}", "--weights", "{tmp}/weights.txt"], "not both"),
    (["{tmp}/m.onnx", "--from-pretrained", "{tmp}/empty_hf"], "config.json"),
    (["{tmp}/m.onnx", "--from-pretrained", "{tmp}/weights.txt"], "not a checkpoint folder"),
    (["{tmp}/m.onnx", "--ema"], "--ema"),
    # values
    (["{tmp}/m.onnx", "--resolution", "0"], "resolution"),
    (["{tmp}/m.onnx", "--resolution", "16"], "too small"),
    (["{tmp}/m.onnx", "--resolution", "axb"], "resolution"),
    (["{tmp}/m.onnx", "--resolution", "64x64x3"], "resolution"),
    (["{tmp}/m.onnx", "--resolution", "-64"], "resolution"),
    (["{tmp}/m.onnx", "--batch", "0"], "--batch"),
    (["{tmp}/m.onnx", "--batch", "-1"], "--batch"),
    (["{tmp}/m.onnx", "--batch", "x"], "--batch"),
    (["{tmp}/m.onnx", "--batch", "2", "--dynamic-batch"], "--dynamic-batch"),
    (["{tmp}/m.onnx", "--opset", "17"], "--opset"),
    (["{tmp}/m.onnx", "--opset", "99"], "--opset"),
    (["{tmp}/m.onnx", "--opset", "-1"], "--opset"),
    (["{tmp}/m.onnx", "--samples", "0"], "--samples"),
    (["{tmp}/m.onnx", "--samples", "-3"], "--samples"),
    (["{tmp}/m.onnx", "--preprocess", "crop_pct=9"], "crop_pct"),
    (["{tmp}/m.onnx", "--preprocess", "crop_pct=0"], "crop_pct"),
    (["{tmp}/m.onnx", "--preprocess", "crop_pct=nan"], "crop_pct"),
    (["{tmp}/m.onnx", "--preprocess", "nonsense"], "KEY=VALUE"),
    (["{tmp}/m.onnx", "--preprocess", "mean=x"], "not a number"),
    (["{tmp}/m.onnx", "--preprocess", "interpolation=foo"], "interpolation"),
    (["{tmp}/m.onnx", "--model", "nat-mini", "--preprocess", "mean=1,2"], "2 mean / 3 std values"),
    (["{tmp}/m.onnx", "--model", "nat-mini", "--portable", "--plugin-namespace", "x"], "no NA node"),
    (["{tmp}/m.onnx", "--model", "nat-mini", "--plugin-namespace", "a b;c"], "letters, digits"),
    (["{tmp}/m.onnx", "--fp16", "--bf16"], "--bf16"),
    (["{tmp}/m.onnx", "--dtype", "int8"], "--dtype"),
    # a library validation needs is checked before the export, not after it
    (
        ["{tmp}/m.onnx", "--model", "nat-mini", "--resolution", "64", "--ort-op-library", "{tmp}/missing.so"],
        "missing.so",
    ),
    # backbones
    (["{tmp}/m.onnx", "--model", "nat-mini", "--out-features", "stage9"], "unknown stages ['stage9']"),
    (["{tmp}/m.onnx", "--model", "nat-mini", "--out-features", "stem"], "'stem', the embedding output"),
    (["{tmp}/m.onnx", "--model", "nat-mini", "--out-features", "stage3,stage1"], "in stage order"),
    (["{tmp}/m.onnx", "--model", "nat-mini", "--out-features", ","], "names no stage"),
    (["{tmp}/m.onnx", "--model", "nat-mini", "--dynamic-resolution", "--resolution", "5000"], "up to 4096"),
]


@pytest.mark.parametrize("argv, words", CASES, ids=[f"{i}" for i in range(len(CASES))])
def test_bad_input_is_one_clear_line(bad, argv, words):
    bad("onnx", argv, words)


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--dtype", "fp32", "--fp16"], "--dtype fp32 and --fp16 disagree"),
        (["--fp16", "--dtype", "fp32"], "--dtype fp32 and --fp16 disagree"),
        (["--dtype", "fp16", "--bf16"], "--dtype fp16 and --bf16 disagree"),
    ],
)
def test_deprecated_dtype_that_contradicts_the_new_flag(bad, argv, words):
    bad("onnx", ["{tmp}/m.onnx", "--model", "nat-mini", *argv], words)


def test_deprecated_dtype_that_agrees_with_the_new_flag_warns():
    from nat_export.cli.main import build_parser

    assert build_parser().parse_args(["onnx", "m.onnx", "--dtype", "fp16", "--fp16"]).precision == "fp16"


def test_outputs_that_are_not_regular_files_or_are_inputs(bad, files, tmp_path):
    import os
    import shutil

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    bad("onnx", [fifo, "--model", "nat-mini", "--force"], "not a regular file")
    hf = tmp_path / "hf"
    shutil.copytree(files["hf"], hf)
    for out in (hf / "model.safetensors", hf / "config.json"):
        bad("onnx", [out, "--from-pretrained", hf, "--resolution", "64", "--force"], "also an input")
    bad(
        "onnx", [tmp_path / "m.onnx", "--from-pretrained", hf, "--json", hf / "config.json", "--force"], "also an input"
    )


def test_nan_weights(bad, files, tmp_path):
    import shutil

    import torch
    from safetensors.torch import load_file, save_file

    hf = tmp_path / "hf"
    shutil.copytree(files["hf"], hf)
    weights = load_file(str(hf / "model.safetensors"))
    first = next(iter(weights))
    weights[first] = torch.full_like(weights[first], float("nan"))
    save_file(weights, str(hf / "model.safetensors"))
    bad(
        "onnx", [tmp_path / "n.onnx", "--from-pretrained", hf, "--resolution", "64", "--no-validate"], "NaN or infinite"
    )


def test_a_kernel_whose_bias_cannot_fit_is_refused_before_allocating(bad, tmp_path, monkeypatch):
    """kernel_size 4097: each layer's relative positional bias is heads x 8193 x 8193 (tens of GiB in all)."""
    import nat_export.models.memory as memory

    monkeypatch.setattr(memory, "available_bytes", lambda: 8 << 30)
    (tmp_path / "k.json").write_text('{"model_type": "nat", "kernel_size": 4097}')
    bad("onnx", [tmp_path / "m.onnx", "--model", tmp_path / "k.json"], "parameters alone need")


def test_unwritable_output_folder_is_refused_before_any_work(bad, tmp_path, monkeypatch):
    import os

    ro = tmp_path / "ro"
    ro.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(ro) else real(p, mode))
    bad("onnx", [ro / "m.onnx", "--model", "nat-mini"], "not writable")
