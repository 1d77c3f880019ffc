"""Bad input, command by command: one line `nat-export CMD: error: <problem>; <fix>`, a non-zero exit, no
traceback, and no input or existing output changed (issue: every bad input gets one clear line)."""

from __future__ import annotations

import hashlib

import pytest

from ..conftest import FIXTURES

HF = FIXTURES / "nat_micro" / "hf"


def _digest(paths):
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths if p.is_file()}


@pytest.fixture
def files(tmp_path, micro_onnx, image_file):
    """Named inputs for the cases: the model, an image, junk files, a folder, an existing output."""
    f = {"onnx": micro_onnx, "img": image_file, "dir": tmp_path / "folder", "out": tmp_path / "exists.json"}
    f["dir"].mkdir()
    f["out"].write_text("{}")
    (tmp_path / "text.onnx").write_text("not a model")
    (tmp_path / "empty.onnx").write_bytes(b"")
    (tmp_path / "cut.onnx").write_bytes(micro_onnx.read_bytes()[:2000])
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    (tmp_path / "cfg_zero_heads.json").write_text('{"model_type": "nat", "num_heads": [0, 2, 2, 4]}')
    (tmp_path / "cfg_even_kernel.json").write_text('{"model_type": "dinat", "kernel_size": 4}')
    (tmp_path / "cfg_not_json.json").write_text("{depths: [1, 2")
    (tmp_path / "weights.txt").write_text("hello")
    f["tmp"] = tmp_path
    return f


CASES = {
    "onnx": [
        (["{dir}"], 2, "is a folder"),
        (["{out}"], 2, "exists; pass --force"),
        (["{tmp}/m.onnx", "--model", "no-such-variant"], 2, "no-such-variant"),
        (["{tmp}/m.onnx", "--model", "{tmp}/cfg_zero_heads.json"], 2, "num_heads"),
        (["{tmp}/m.onnx", "--model", "{tmp}/cfg_even_kernel.json"], 2, "kernel_size"),
        (["{tmp}/m.onnx", "--model", "{tmp}/cfg_not_json.json"], 2, "JSON"),
        (["{tmp}/m.onnx", "--model", "nat-mini", "--weights", "{tmp}/weights.txt"], 2, "weights"),
        (["{tmp}/m.onnx", "--weights", "{tmp}/missing.pth", "--model", "nat-mini"], 2, "not found"),
        (["{tmp}/m.onnx", "--resolution", "0"], 2, "resolution"),
        (["{tmp}/m.onnx", "--resolution", "16"], 2, "too small"),
        (["{tmp}/m.onnx", "--resolution", "axb"], 2, "resolution"),
        (["{tmp}/m.onnx", "--batch", "0"], 2, "--batch"),
        (["{tmp}/m.onnx", "--opset", "17"], 2, "--opset"),
        (["{tmp}/m.onnx", "--opset", "99"], 2, "--opset"),
        (["{tmp}/m.onnx", "--samples", "0"], 2, "--samples"),
        (["{tmp}/m.onnx", "--preprocess", "crop_pct=9"], 2, "crop_pct"),
        (["{tmp}/m.onnx", "--preprocess", "nonsense"], 2, "KEY=VALUE"),
        (["{tmp}/m.onnx", "--json", "{tmp}/m.onnx"], 2, "also an input file"),
        (["{tmp}/m.onnx", "--from-pretrained", HF, "--weights", "{tmp}/weights.txt"], 2, "not both"),
    ],
    "validate": [
        (["{tmp}/missing.onnx"], 2, "not found"),
        (["{dir}"], 2, "not a file"),
        (["{tmp}/text.onnx"], 2, "not a readable ONNX model"),
        (["{tmp}/empty.onnx"], 2, "ONNX"),
        (["{tmp}/cut.onnx"], 2, "not a readable ONNX model"),
        (["{onnx}", "--samples", "0"], 2, "--samples"),
        (["{onnx}", "--batch", "0"], 2, "--batch"),
        (["{onnx}", "--atol", "-1"], 2, "--atol"),
        (["{onnx}", "--rtol", "inf"], 2, "--rtol"),
        (["{onnx}", "--images", "{tmp}/missing"], 2, "images"),
        (["{onnx}", "--images", "{dir}"], 2, "no images"),
        (["{onnx}", "--engine", "{onnx}"], 2, "--engine takes a TensorRT engine"),
        (["{onnx}", "--json", "{onnx}"], 2, "also an input file"),
        (["{onnx}", "--json", "{out}"], 2, "exists; pass --force"),
        (["{onnx}", "--json", "{dir}"], 2, "folder"),
        (["{onnx}", "--ort-op-library", "{tmp}/missing.so"], 2, "--ort-op-library"),
    ],
    "bench": [
        ([], 2, "ENGINE|ONNX or --torch"),
        (["{onnx}", "--torch"], 2, "one of them"),
        (["{onnx}", "--batch-sizes", "0"], 2, "--batch-sizes"),
        (["{onnx}", "--batch-sizes", "1,x"], 2, "--batch-sizes"),
        (["{onnx}", "--iterations", "0"], 2, "--iterations"),
        (["{onnx}", "--warmup", "-1"], 2, "--warmup"),
        (["{onnx}", "--bf16"], 2, "--bf16"),
        (["{onnx}", "--model", "nat-mini"], 2, "go with --torch"),
        (["{img}"], 2, "neither an .onnx file nor a TensorRT engine"),
        (["{tmp}/text.onnx"], 2, "not a readable ONNX model"),
        (["{onnx}", "--json", "{onnx}"], 2, "also an input file"),
        (["--torch", "--model", "nat-mini", "--device", "cuda"], None, "--device cuda"),
    ],
    "infer": [
        (["{onnx}", "{tmp}/missing.png"], 2, "not found"),
        (["{onnx}", "{tmp}/bad.png"], 2, "cannot read image"),
        (["{onnx}", "{img}", "--top", "0"], 2, "--top"),
        (["{img}", "{onnx}"], 2, "neither an .onnx file nor a TensorRT engine"),
        (["{tmp}/text.onnx", "{img}"], 2, "not a readable ONNX model"),
        (["{onnx}", "{img}", "--save-input", "{img}"], 2, "input files"),
        (["{onnx}", "{img}", "--save-input", "{out}"], 2, "exists; pass --force"),
        (["{onnx}", "{img}", "--json", "{img}"], 2, "also an input file"),
        (["{onnx}", "{img}", "--preprocess", "mean=x"], 2, "--preprocess"),
        (["{onnx}", "{img}", "--provider", "tensorrt"], None, "TensorRT"),
    ],
    "trt": [
        (["{tmp}/missing.onnx"], None, "not found"),
        (["{onnx}", "-o", "{onnx}"], 2, "also an input"),
        (["{onnx}", "--model", "nat-mini"], 2, "not both"),
        (["{onnx}", "-o", "{dir}"], 2, "folder"),
        (["{onnx}", "--batch", "0"], 2, "--batch"),
        (["{onnx}", "--min", "8", "--max", "2"], 2, "min <= opt <= max"),
        (["{onnx}", "--min", "1x3", "--max", "2x3"], 2, "dims"),
        (["{onnx}", "--batch", "2", "--max", "4"], 2, "not both"),
    ],
    "models": [
        (["--json", "{dir}"], 2, "folder"),
        (["--json", "{out}"], 2, "exists; pass --force"),
    ],
}


@pytest.mark.parametrize(
    "command, argv, code, words",
    [(cmd, argv, code, words) for cmd, cases in CASES.items() for argv, code, words in cases],
    ids=[f"{cmd}-{i}" for cmd, cases in CASES.items() for i in range(len(cases))],
)
def test_bad_input_is_one_clear_line(run_cli, files, command, argv, code, words):
    argv = [str(a).format(**files) for a in argv]
    watched = [files["onnx"], files["img"], files["out"]]
    before = _digest(watched)
    exit_code, _, err = run_cli(command, *argv)
    errors = [line for line in err.splitlines() if f"nat-export {command}: error:" in line]
    assert exit_code != 0 and (code is None or exit_code == code), (exit_code, err)
    assert len(errors) == 1 and words in errors[0], err
    assert "Traceback" not in err
    assert _digest(watched) == before
    assert not list(files["tmp"].rglob(".*.tmp"))


@pytest.mark.parametrize(
    "argv, words",
    [
        (["{onnx}", "--host-io"], "--host-io do not apply to an .onnx file"),
        (["{onnx}", "--resolution", "64"], "--resolution do not apply"),
        (["{onnx}", "--device", "cpu"], "--device do not apply"),
        (["--torch", "--model", "nat-mini", "--resolution", "10"], "too small"),
        (["--torch", "--model", "nat-mini", "--no-cuda-graphs"], "do not apply to --torch"),
    ],
)
def test_bench_flags_that_do_not_apply_are_refused(run_cli, files, argv, words):
    code, _, err = run_cli("bench", *[str(a).format(**files) for a in argv])
    assert code == 2 and words in err and "Traceback" not in err


def test_tampered_dtype_and_label_count(run_cli, micro_onnx, image_file, tmp_path):
    import onnx

    from nat_export.onnx.metadata import ModelDescription

    m = onnx.load(str(micro_onnx))
    desc = ModelDescription.read(m)
    desc.dtype, desc.labels = "fp16", ["a", "b"]
    desc.write(m)
    path = tmp_path / "tampered.onnx"
    onnx.save(m, str(path))
    code, _, err = run_cli("validate", path)
    assert code == 2 and "nat_export.dtype says fp16 but the graph's weights are fp32" in err
    code, out, err = run_cli("infer", path, image_file)
    assert code == 0 and "2 labels for 10 classes" in err and "class " in out


def test_preprocessing_that_does_not_fit_the_channels(run_cli, tmp_path):
    code, _, err = run_cli("onnx", tmp_path / "m.onnx", "--model", "nat-mini", "--preprocess", "mean=1,2")
    assert code == 2 and "2 mean / 3 std values for a 3-channel model" in err and not (tmp_path / "m.onnx").exists()


def test_outputs_that_are_not_regular_files_or_are_inputs(run_cli, micro_onnx, tmp_path):
    import os
    import shutil

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    code, _, err = run_cli("onnx", fifo, "--model", "nat-mini", "--force")
    assert code == 2 and "not a regular file" in err and fifo.exists() and not fifo.is_file()
    code, _, err = run_cli("models", "--json", fifo, "--force")
    assert code == 2 and "not a regular file" in err
    code, _, err = run_cli("onnx", f"{tmp_path}/newdir/", "--model", "nat-mini")
    assert code == 2 and "names a folder" in err and not (tmp_path / "newdir").exists()
    code, _, err = run_cli(
        "onnx", tmp_path / "m.onnx", "--model", "nat-mini", "--no-validate", "--json", tmp_path / "r"
    )
    assert code == 2 and "which --no-validate skips" in err
    hf = tmp_path / "hf"
    shutil.copytree(HF, hf)
    before = (hf / "config.json").read_bytes()
    code, _, err = run_cli("validate", micro_onnx, "--from-pretrained", hf, "--json", hf / "config.json", "--force")
    assert code == 2 and "also an input file" in err and (hf / "config.json").read_bytes() == before


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("na_mode", "plugin", "says plugin but the graph has no NA"),
        ("labels", ["a"] * 5, "5 labels for the graph's 10 classes"),
        ("config", {"num_classes": 7}, "7 classes, the graph has 10"),
    ],
)
def test_validate_refuses_metadata_that_contradicts_the_graph(run_cli, micro_onnx, tmp_path, field, value, words):
    import onnx

    from nat_export.onnx.metadata import ModelDescription

    m = onnx.load(str(micro_onnx))
    desc = ModelDescription.read(m)
    setattr(desc, field, value)
    desc.write(m)
    path = tmp_path / "tampered.onnx"
    onnx.save(m, str(path))
    code, _, err = run_cli("validate", path)
    assert code == 2 and words in err, err


def test_more_values_that_make_no_sense(run_cli, micro_onnx, image_file, tmp_path, capsys):
    import torch
    from safetensors.torch import load_file, save_file

    with pytest.raises(SystemExit) as e:  # argparse's own exit, one line (nat_export.cli.main._Parser)
        run_cli("infer", micro_onnx, image_file, "--threads", "-1")
    err = capsys.readouterr().err
    assert e.value.code == 2 and "--threads" in err and "must be >= 1" in err and err.count("\n") == 1
    code, _, err = run_cli("onnx", tmp_path / "m.onnx", "--model", "nat-mini", "--portable", "--plugin-namespace", "x")
    assert code == 2 and "--portable graph has no NA node" in err
    code, _, err = run_cli("onnx", tmp_path / "m.onnx", "--model", "nat-mini", "--plugin-namespace", "a b;c")
    assert code == 2 and "letters, digits" in err
    import shutil

    hf = tmp_path / "hf"
    shutil.copytree(HF, hf)
    weights = load_file(str(hf / "model.safetensors"))
    first = next(iter(weights))
    weights[first] = torch.full_like(weights[first], float("nan"))
    save_file(weights, str(hf / "model.safetensors"))
    code, _, err = run_cli("onnx", tmp_path / "n.onnx", "--from-pretrained", hf, "--resolution", "64", "--no-validate")
    assert code == 2 and "NaN or infinite" in err and not (tmp_path / "n.onnx").exists()
