"""Style is checked in CI: ruff (lint + format) on the Python, clang-format on the C++/CUDA (pinned in [test])."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CPP_SUFFIXES = {".cpp", ".h", ".cu", ".cuh", ".hpp", ".cc"}


def _tool(name: str) -> str:
    exe = Path(sys.executable).parent / name
    found = str(exe) if exe.is_file() else shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (pip install '.[test]' installs it)")
    return found


@pytest.mark.parametrize("args", [["check"], ["format", "--check", "--diff"]], ids=["lint", "format"])
def test_ruff(args):
    proc = subprocess.run([_tool("ruff"), *args, "."], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, (
        f"ruff {' '.join(args)} (fix with `ruff check --fix . && ruff format .`):\n{proc.stdout[-4000:]}{proc.stderr[-2000:]}"
    )


def test_clang_format():
    files = sorted(str(p) for d in ("plugins", "samples") for p in (ROOT / d).rglob("*") if p.suffix in CPP_SUFFIXES)
    assert files
    proc = subprocess.run(
        [_tool("clang-format"), "--dry-run", "--Werror", *files], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, f"clang-format -i on these files:\n{proc.stderr[-4000:]}"
