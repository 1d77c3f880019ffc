"""The package's layers (docs/design.md): no import runs against the flow, and the ONNX layer needs no torch.

model -> op -> export -> runtime -> validate -> cli; `onnx` (file facts, metadata, fp16 pass) and `native`
(building / finding the libraries) sit below everything; the backends `ort` and `tensorrt` and the
runners in `runtime` form one layer.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "nat_export"

#: rank of each top-level part; a module may import its own rank or lower.
RANKS = {
    "__init__": 0,
    "data": 0,
    "onnx": 0,
    "native": 0,
    "ops": 1,
    "models": 2,
    "export": 3,
    "ort": 4,
    "tensorrt": 4,
    "runtime": 4,
    "validate": 5,
    "serving": 5,
    "cli": 6,
}


def _part(module: str) -> str:
    rel = module.split(".")
    if len(rel) < 2 or not ((PKG / rel[1]).is_dir() or (PKG / f"{rel[1]}.py").is_file()):
        return "__init__"  # the package itself (e.g. `from .. import __version__`)
    return rel[1]


def _imports(path: Path) -> list[tuple[str, int]]:
    """nat_export modules a source file imports (absolute names), with the line."""
    mod = ".".join(path.relative_to(PKG.parent).with_suffix("").parts)
    pkg = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
                if node.module is None:  # from . import x
                    out += [(f"{name}.{a.name}", node.lineno) for a in node.names]
                    continue
            else:
                name = node.module or ""
            if name.startswith("nat_export"):
                out.append((name, node.lineno))
        elif isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names if a.name.startswith("nat_export")]
    return out


def test_every_part_has_a_rank():
    parts = {p.stem if p.is_file() else p.name for p in PKG.iterdir() if not p.name.startswith("__pycache__")}
    parts = {p for p in parts if (PKG / p).is_dir() or (PKG / f"{p}.py").is_file()}
    assert parts <= set(RANKS), f"give these parts a rank in RANKS: {sorted(parts - set(RANKS))}"


def test_no_import_runs_against_the_flow():
    bad = []
    for path in sorted(PKG.rglob("*.py")):
        src = ".".join(path.relative_to(PKG.parent).with_suffix("").parts)
        for target, line in _imports(path):
            if RANKS[_part(target)] > RANKS[_part(src)]:
                bad.append(f"{path.relative_to(PKG.parent)}:{line} imports {target}")
    assert not bad, "imports against the flow:\n" + "\n".join(bad)


@pytest.mark.parametrize("module", ["nat_export.onnx", "nat_export.onnx.fp16", "nat_export.tensorrt", "nat_export.ort"])
def test_lower_layers_import_without_torch(module):
    code = f"import sys; sys.modules['torch'] = None; import {module}; print('ok')"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]


def test_the_checker_sees_a_backward_import(tmp_path, monkeypatch):
    """The rule above can fail: a module of the onnx layer importing the CLI is caught."""
    fake_pkg = tmp_path / "nat_export"
    (fake_pkg / "onnx").mkdir(parents=True)
    (fake_pkg / "onnx" / "bad.py").write_text("from ..cli import main\n")
    (fake_pkg / "cli").mkdir()
    monkeypatch.setattr(sys.modules[__name__], "PKG", fake_pkg)
    with pytest.raises(AssertionError, match=r"onnx/bad.py:1 imports nat_export.cli"):
        test_no_import_runs_against_the_flow()
