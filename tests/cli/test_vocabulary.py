"""One CLI vocabulary: the same flag means the same thing in every command; old spellings still work, with a
warning; one exception -> exit-code table."""

from __future__ import annotations

import json

import pytest

from nat_export.cli.main import COMMANDS, build_parser

ALL = [c.replace("_", "-") for c in COMMANDS]


@pytest.mark.parametrize("cmd", ALL)
def test_every_command_has_help_with_examples(cmd, capsys):
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args([cmd, "--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and "examples:" in out


FLAGS = {
    "--json": ("onnx", "validate", "bench", "infer", "trt", "models", "build-plugins"),
    "--force": ("onnx", "validate", "bench", "infer", "trt", "models"),
    "--verbose": ("onnx", "validate", "bench", "infer", "trt", "build-plugins"),
    "--plugin": ("validate", "bench", "infer", "trt"),
    "--ort-op-library": ("onnx", "validate", "bench", "infer"),
    "--fp16": ("onnx", "bench", "trt"),
    "--bf16": ("onnx", "bench", "trt"),
}


@pytest.mark.parametrize("flag", sorted(FLAGS))
def test_shared_flags_are_everywhere_they_apply(flag, capsys):
    for cmd in FLAGS[flag]:
        with pytest.raises(SystemExit):
            build_parser().parse_args([cmd, "--help"])
        assert flag in capsys.readouterr().out, f"{cmd} lacks {flag}"


def test_json_is_a_file_everywhere(run_cli, micro_onnx, tmp_path):
    report = tmp_path / "models.json"
    code, out, err = run_cli("models", "--json", report)
    assert code == 0 and json.loads(report.read_text())[0]["name"]
    code, out, err = run_cli("models", "--json", report)
    assert code == 1 and "exists; pass --force" in err
    code, out, _ = run_cli("models", "--json", "-")
    assert code == 0 and json.loads(out)
    code, out, err = run_cli("models", "--json")  # bare: stdout (the old switch), deprecated
    assert code == 0 and json.loads(out) and "--json without a FILE is deprecated" in err


@pytest.mark.parametrize("cmd", ["validate", "bench", "infer"])
def test_json_report_never_replaces_the_model(run_cli, micro_onnx, image_file, cmd):
    before = micro_onnx.read_bytes()
    extra = [image_file] if cmd == "infer" else []
    code, _, err = run_cli(cmd, micro_onnx, *extra, "--json", micro_onnx, "--force")
    assert code == 1 and "also an input file" in err and len(err.strip().splitlines()) == 1
    assert micro_onnx.read_bytes() == before


def test_onnx_json_cannot_be_the_output(run_cli, tmp_path):
    out = tmp_path / "m.onnx"
    code, _, err = run_cli("onnx", out, "--json", out)
    assert code == 1 and "also an input file" in err and not out.exists()


def test_deprecated_spellings_work_and_warn(run_cli, micro_onnx, tmp_path):
    code, _, err = run_cli("bench", micro_onnx, "--batch", "1", "--iterations", "1", "--warmup", "0")
    assert code == 0 and "--batch is deprecated" in err and "--batch-sizes" in err
    code, _, err = run_cli("bench", micro_onnx, "--batch-sizes", "1", "--iterations", "1", "--warmup", "0")
    assert code == 0 and "deprecated" not in err
    args = build_parser().parse_args(["onnx", str(tmp_path / "x.onnx"), "--dtype", "fp16"])
    assert args.precision == "fp16"
    assert build_parser().parse_args(["onnx", "x.onnx", "--fp16"]).precision == "fp16"
    assert build_parser().parse_args(["onnx", "x.onnx"]).precision == "fp32"


def test_infer_plugin_for_onnx_is_the_old_spelling(run_cli, micro_onnx, image_file, tmp_path):
    code, _, err = run_cli("infer", micro_onnx, image_file, "--plugin", tmp_path / "missing.so")
    assert code == 1 and "--plugin for an .onnx file on the CPU is deprecated" in err
    assert "ONNX Runtime custom-op library not found" in err


def test_exit_code_table():
    """Every expected failure exits 1 (bad input, a missing library, TensorRT / ONNX Runtime refusing, out of
    memory, a failed check); Ctrl-C 130; anything else is not in the table (a bug, reported with --debug)."""
    from nat_export.cli.errors import UsageError, exit_code_table
    from nat_export.models import CheckpointError, ConfigError
    from nat_export.models.memory import MemoryCheckError
    from nat_export.native import NativeBuildError, PluginNotFoundError
    from nat_export.onnx import MetadataError, OnnxFileError
    from nat_export.ort import OrtError
    from nat_export.tensorrt import ProfileError, TrtError
    from nat_export.tensorrt.env import EngineFileError, TrtRefusedError
    from nat_export.validate import ValidationError

    table = exit_code_table()

    def code(e):
        return next((c for types, c in table if isinstance(e, types)), None)

    expected = (
        UsageError, ProfileError, ConfigError, CheckpointError, MetadataError, OnnxFileError, PluginNotFoundError,
        FileExistsError, IsADirectoryError, PermissionError, TrtError, TrtRefusedError, EngineFileError,
        NativeBuildError, OrtError, ValidationError, MemoryCheckError, MemoryError,
    )  # fmt: skip
    assert {type_: code(type_("x")) for type_ in expected} == dict.fromkeys(expected, 1)
    assert code(KeyboardInterrupt()) == 130
    assert code(ZeroDivisionError()) is None and code(KeyError("x")) is None


@pytest.mark.parametrize(
    "argv",
    [[], ["bogus"], ["onnx"], ["infer", "m.onnx", "i.png", "--threads", "0"], ["bench", "--batch-sizes"]],
)
def test_usage_errors_exit_1_in_one_line(argv, capsys):
    """argparse's own errors go through the same path: one line, exit 1."""
    from nat_export.cli import main

    try:
        code = main(argv)
    except SystemExit as e:
        code = e.code
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and err.startswith("nat-export") and "error: " in err and "; " in err


def test_unreadable_onnx_is_one_line(run_cli, tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_text("not a model")
    for cmd in ("validate", "bench", "trt"):
        code, out, err = run_cli(cmd, bad)
        assert code == 1, (cmd, err)
        assert err.count("\n") == 1 and "not a readable ONNX model" in err and "Traceback" not in err


def test_bench_precision_flags_do_not_apply_to_engines(run_cli, tmp_path):
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"x")
    code, _, err = run_cli("bench", engine, "--fp16")
    assert code == 1 and "fixed when it is built" in err


def test_unexpected_errors_are_one_line_unless_debug(run_cli, monkeypatch):
    from nat_export.cli import models_cmd

    def boom(args):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(models_cmd, "run", boom)
    code, _, err = run_cli("models")
    assert code == 1 and err.count("\n") == 1 and "unexpected ZeroDivisionError" in err and "--debug" in err
    with pytest.raises(ZeroDivisionError):
        run_cli("models", "--debug")


def test_models_json_into_a_closed_pipe(monkeypatch, capsys):
    """`nat-export models --json - | head`: the reader leaves early; no traceback, exit 0."""
    import io
    import sys

    from nat_export.cli import main

    class ClosedPipe(io.StringIO):
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert main(["models", "--json", "-"]) == 0
    assert "Traceback" not in capsys.readouterr().err


def test_a_recorded_hub_id_is_never_downloaded(run_cli, micro_onnx, tmp_path, monkeypatch):
    """Metadata is data: validate uses a hub id recorded in the file from the local cache only."""
    import huggingface_hub
    import onnx

    from nat_export.onnx.metadata import ModelDescription

    calls = []

    def snapshot_download(repo_id, revision=None, allow_patterns=None, local_files_only=False, **kw):
        calls.append(local_files_only)
        raise FileNotFoundError("not cached")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    m = onnx.load(str(micro_onnx))
    desc = ModelDescription.read(m)
    desc.source = {"from_pretrained": "someone/evil-model"}
    desc.write(m)
    path = tmp_path / "downloaded.onnx"
    onnx.save(m, str(path))
    code, _, err = run_cli("validate", path)
    assert code == 1 and "does not download what a model file names" in err and "--from-pretrained" in err
    assert calls == [True]  # only the local cache was asked


def test_random_weights_warning_names_the_variants_own_checkpoint(run_cli, tmp_path):
    code, _, err = run_cli("onnx", tmp_path / "d.onnx", "--model", "dinat-mini", "--resolution", "64", "--no-validate")
    text = " ".join(err.split())
    assert code == 0 and "randomly initialised" in text and "shi-labs/dinat-mini-in1k-224" in text


def test_an_output_never_replaces_an_input(run_cli, tmp_path):
    import shutil

    from ..conftest import FIXTURES

    hf = tmp_path / "hf"
    shutil.copytree(FIXTURES / "nat_micro" / "hf", hf)
    before = (hf / "model.safetensors").read_bytes()
    for out in (hf / "model.safetensors", hf / "config.json"):
        code, _, err = run_cli("onnx", out, "--from-pretrained", hf, "--resolution", "64", "--force")
        assert code == 1 and "also an input" in err
    assert (hf / "model.safetensors").read_bytes() == before
    weights = tmp_path / "w.pth"
    shutil.copy(FIXTURES / "nat_micro" / "original.pth", weights)
    code, _, err = run_cli("onnx", weights, "--model", hf / "config.json", "--weights", weights, "--force")
    assert code == 1 and "also an input" in err


def test_engine_never_replaces_its_onnx(run_cli, micro_onnx):
    before = micro_onnx.read_bytes()
    code, _, err = run_cli("trt", micro_onnx, "-o", micro_onnx, "--force")
    assert code == 1 and "also an input" in err and micro_onnx.read_bytes() == before


def test_json_to_stdout_is_clean_json(run_cli, micro_onnx):
    code, out, err = run_cli("validate", micro_onnx, "--samples", "1", "--json", "-")
    assert code == 0, err
    assert json.loads(out)["ok"] is True and "validation passed" in err


def test_validate_fixed_batch_file(run_cli, micro_loaded, image_file, tmp_path):
    """A file with a fixed batch: images run in chunks of it; another --batch is bad input (2)."""
    import shutil

    from nat_export.export import ExportOptions, export_onnx

    path = tmp_path / "b2.onnx"
    export_onnx(micro_loaded, path, ExportOptions(resolution=(64, 64), portable=True, batch=2))
    images = tmp_path / "images"
    images.mkdir()
    for i in range(3):
        shutil.copy(image_file, images / f"{i}.png")
    code, _, err = run_cli("validate", path, "--images", images)
    assert code == 0, err
    code, _, err = run_cli("validate", path, "--batch", "4")
    assert code == 1 and "fixed batch of 2" in err
    code, _, err = run_cli("validate", path, "--atol", "nan")
    assert code == 1 and "--atol must be a finite number" in err
    code, _, err = run_cli("validate", path, "--engine", path)
    assert code == 1 and "--engine takes a TensorRT engine" in err


def test_unwritable_output_folder_is_refused_before_any_work(run_cli, micro_onnx, tmp_path, monkeypatch):
    import os

    ro = tmp_path / "ro"
    ro.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(ro) else real(p, mode))
    code, _, err = run_cli("validate", micro_onnx, "--json", ro / "r.json")
    assert code == 1 and "not writable" in err and str(ro / "r.json") in err and ".tmp" not in err
    code, _, err = run_cli("onnx", ro / "m.onnx", "--model", "nat-mini")
    assert code == 1 and "not writable" in err


def test_future_contract_version_is_refused():
    from nat_export.onnx.metadata import MetadataError, ModelDescription

    with pytest.raises(MetadataError, match="contract_version is '99'"):
        ModelDescription.from_props({"nat_export.contract_version": "99"})
