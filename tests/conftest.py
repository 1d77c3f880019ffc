"""Shared fixtures: the golden fixtures copied from ../shared (the repo tests itself without it), a tiny
exported model (portable, runs in stock ONNX Runtime), hand-built ONNX graphs, images, a fake TensorRT
module for error paths, and the CLI run in-process."""

from __future__ import annotations

import importlib.util
import json
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

FIXTURES = Path(__file__).parent / "fixtures"
MICRO = ("nat_micro", "dinat_micro")


def load_script(path: Path) -> types.ModuleType:
    """A file of scripts/ imported as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


def micro_io(name: str) -> dict[str, torch.Tensor]:
    return load_file(str(FIXTURES / name / "io.safetensors"))


def micro_meta(name: str) -> dict:
    return json.loads((FIXTURES / name / "meta.json").read_text())


def micro_config_path(name: str) -> Path:
    return FIXTURES / name / "hf" / "config.json"


MICRO_RES = 64


@pytest.fixture(scope="session")
def micro_loaded():
    from nat_export.models import load_model

    return load_model(from_pretrained=str(FIXTURES / "nat_micro" / "hf"))


@pytest.fixture(scope="session")
def micro_onnx(tmp_path_factory, micro_loaded) -> Path:
    """nat_micro exported portable (no plugin needed), dynamic batch, 64x64, with metadata."""
    import warnings

    from nat_export.export import ExportOptions, export_onnx

    out = tmp_path_factory.mktemp("micro") / "nat_micro.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_onnx(micro_loaded, out, ExportOptions(resolution=(MICRO_RES, MICRO_RES), portable=True))
    return out


def na_graph(path: Path | None = None, batch="N"):
    """A minimal graph with one NeighborhoodAttention2D node (what the exporter emits), for error paths."""
    import onnx
    from onnx import TensorProto, helper

    heads, d, k = 2, 4, 3
    x = helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, [batch, 8, 8, 3 * heads * d])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, 8, 8, heads * d])
    rpb = helper.make_tensor(
        "rpb", TensorProto.FLOAT, [heads, 2 * k - 1, 2 * k - 1], np.zeros(heads * (2 * k - 1) ** 2, np.float32).tolist()
    )
    node = helper.make_node(
        "NeighborhoodAttention2D",
        ["pixel_values", "rpb"],
        ["logits"],
        domain="trt.plugins",
        num_heads=heads,
        kernel_size=[k, k],
        dilation=[1, 1],
        scale=0.5,
        plugin_version="1",
        plugin_namespace="",
    )
    g = helper.make_graph([node], "na", [x], [y], [rpb])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("trt.plugins", 1)])
    helper.set_model_props(
        m, {"nat_export.variant": "na-test", "nat_export.na_mode": "plugin", "nat_export.dtype": "fp32"}
    )
    if path is not None:
        onnx.save(m, str(path))
    return m


@pytest.fixture
def na_onnx(tmp_path) -> Path:
    p = tmp_path / "na.onnx"
    na_graph(p)
    return p


@pytest.fixture
def image_file(tmp_path) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    small = rng.integers(0, 255, (12, 16, 3)).astype(np.uint8)
    p = tmp_path / "img.png"
    Image.fromarray(small).resize((120, 90), Image.BICUBIC).save(p)
    return p


@pytest.fixture
def no_plugins(tmp_path, monkeypatch):
    """No plugin library anywhere: an empty NAT_EXPORT_PLUGIN_DIR and HOME."""
    empty = tmp_path / "no_plugins"
    empty.mkdir()
    monkeypatch.setenv("NAT_EXPORT_PLUGIN_DIR", str(empty))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return empty


class _Forbidden:
    """Stands for a TensorRT class that must never be constructed in these tests."""

    def __init__(self, *a, **k):
        raise AssertionError("a TensorRT Runtime/Builder was constructed")


def _fake_trt(version: str = "10.14.1.48"):
    m = types.SimpleNamespace(__version__=version, __name__="tensorrt")
    m.Builder = _Forbidden
    m.Runtime = _Forbidden
    m.OnnxParser = _Forbidden
    return m


@pytest.fixture
def fake_trt():
    """Factory of stand-in ``tensorrt`` modules whose Runtime/Builder fail the test if constructed."""
    return _fake_trt


@pytest.fixture
def na_model():
    return na_graph()


@pytest.fixture
def run_cli(capsys):
    """Run ``nat-export ARGS`` in-process: (exit code, stdout, stderr)."""
    from nat_export.cli import main

    def run(*args):
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run
