"""Bad input, command by command (tests/cli/test_bad_*.py): the named files the cases use, and the one check
every case gets (:func:`bad`): exactly one line ``nat-export CMD: error: <problem>; <fix>`` on stderr naming
the expected words, exit 1, no traceback and no bug report, and no file changed, added or left behind."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from ..conftest import FIXTURES

HF = FIXTURES / "nat_micro" / "hf"


def snapshot(*roots: Path) -> dict[str, str]:
    """Every path under ``roots`` (hidden ones too) -> sha256 of its content ('dir' for folders)."""
    out = {}
    for root in roots:
        for p in [root, *root.rglob("*")] if root.is_dir() else [root]:
            if p.is_symlink() or not p.exists():
                out[str(p)] = "other"
            elif p.is_dir():
                out[str(p)] = "dir"
            elif p.is_file():
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
            else:
                out[str(p)] = "other"  # a pipe or device
    return out


@pytest.fixture
def files(tmp_path, micro_onnx, image_file):
    """Named inputs for the cases (``{name}`` in their argv): the model, an image, junk files, a folder, an
    existing output, configs and checkpoints that are wrong in one way each."""
    f = {"onnx": micro_onnx, "img": image_file, "dir": tmp_path / "folder", "out": tmp_path / "exists.json"}
    f["dir"].mkdir()
    f["out"].write_text("{}")
    (tmp_path / "text.onnx").write_text("not a model")
    (tmp_path / "empty.onnx").write_bytes(b"")
    (tmp_path / "cut.onnx").write_bytes(micro_onnx.read_bytes()[:2000])
    (tmp_path / "model.txt").write_bytes(micro_onnx.read_bytes())  # a real ONNX model with another suffix
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("not an image")
    (tmp_path / "fake.engine").write_bytes(b"not an engine")
    (tmp_path / "cfg_zero_heads.json").write_text('{"model_type": "nat", "num_heads": [0, 2, 2, 4]}')
    (tmp_path / "cfg_even_kernel.json").write_text('{"model_type": "dinat", "kernel_size": 4}')
    (tmp_path / "cfg_not_json.json").write_text("{depths: [1, 2")
    (tmp_path / "cfg_list.json").write_text("[1, 2, 3]")
    (tmp_path / "cfg_neg_classes.json").write_text('{"model_type": "nat", "num_classes": -5}')
    (tmp_path / "cfg_zero_dilation.json").write_text('{"model_type": "dinat", "dilations": [[0], [1], [1], [1]]}')
    (tmp_path / "cfg_string_depths.json").write_text('{"model_type": "nat", "depths": "3,4,6,5"}')
    (tmp_path / "cfg_unknown_type.json").write_text('{"model_type": "swin"}')
    (tmp_path / "weights.txt").write_text("hello")
    (tmp_path / "empty.pth").write_bytes(b"")
    (tmp_path / "empty_hf").mkdir()
    f["tmp"] = tmp_path
    f["hf"] = HF
    return f


BUG = re.compile(r"Traceback|run again with --debug")  # the line of an unexpected error


@pytest.fixture
def bad(files, capsys):
    """``bad(command, argv, words)``: run ``nat-export command *argv`` in-process ({name} in argv: a file of
    :func:`files`) and check it fails as bad input must; returns the error line. ``warnings``: how many
    warning lines (a deprecated spelling) may come before it."""
    from nat_export.cli import main

    def check(command: str, argv, words: str, warnings: int = 0) -> str:
        argv = [str(a).format(**files) for a in argv]
        roots = (files["tmp"], files["onnx"], HF)
        before = snapshot(*roots)
        try:
            code = main([command, *argv] if command else argv)
        except SystemExit as e:  # argparse's own errors (nat_export.cli.main._Parser)
            code = e.code
        out, err = capsys.readouterr()
        lines = err.splitlines()
        assert code == 1, (code, err)
        assert len(lines) == 1 + warnings and all("warning:" in w for w in lines[:-1]), err
        line = lines[-1]
        prog = f"nat-export {command}" if command else "nat-export"
        assert re.fullmatch(rf"{prog}: error: \S.*; \S.*", line), f"not `<problem>; <fix>`: {line}"
        assert not BUG.search(err), err
        assert words in line, (words, line)
        assert snapshot(*roots) == before, "a file was changed, added or left behind"
        return line

    return check
