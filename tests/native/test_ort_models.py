"""Exported custom-op micro models run in ONNX Runtime with the NA op library and match the HF goldens."""

from __future__ import annotations

import numpy as np
import pytest

from nat_export.export import ExportOptions, export_onnx
from nat_export.models import load_model
from nat_export.ort import make_session, run_session
from nat_export.validate import validate

from ..conftest import FIXTURES, MICRO, micro_config_path, micro_io, micro_meta


@pytest.mark.parametrize("fmt", ["hf", "original"])
@pytest.mark.parametrize("name", MICRO)
def test_custom_op_graph_matches_hf(tmp_path, ort_lib, name, fmt):
    if fmt == "hf":
        loaded = load_model(from_pretrained=str(FIXTURES / name / "hf"))
    else:
        loaded = load_model(str(micro_config_path(name)), weights=str(FIXTURES / name / "original.pth"))
    io = micro_io(name)
    for i, shape in enumerate(micro_meta(name)["inputs"]):
        out = tmp_path / f"{name}_{i}.onnx"
        result = export_onnx(loaded, out, ExportOptions(resolution=tuple(shape[1:])))
        assert result.na_nodes == sum(loaded.model.config.depths)
        logits = run_session(make_session(out, custom_op_library=ort_lib), io[f"input_{i}"].numpy())["logits"]
        assert np.abs(logits - io[f"logits_{i}"].numpy()).max() <= 1e-4


def test_validate_uses_the_op_library(tmp_path, ort_lib):
    loaded = load_model(from_pretrained=str(FIXTURES / "dinat_micro" / "hf"))
    out = tmp_path / "m.onnx"
    export_onnx(loaded, out, ExportOptions(dtype="fp16"))
    report = validate(out, loaded.model, samples=1, ort_op_library=ort_lib)
    assert report.ok, report.to_dict()
    assert [c.backend for c in report.checks] == ["ort+na-op"]
