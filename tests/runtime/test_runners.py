"""open_model: one runner per model file, with its description, input facts and batch rules."""

from __future__ import annotations

import numpy as np
import pytest

from nat_export.native import PluginNotFoundError
from nat_export.runtime.runners import OrtRunner, RunnerError, TorchRunner, open_model


def test_onnx_runner_facts_and_run(micro_onnx, micro_loaded):
    r = open_model(micro_onnx)
    assert isinstance(r, OrtRunner) and r.name == "ort" and r.backend.startswith("ONNX Runtime")
    assert r.input_name == "pixel_values" and r.input_dtype == np.float32 and r.output_names == ["logits"]
    assert r.description.resolution == (64, 64) and r.description.labels[0] == "LABEL_0"
    assert r.shape_for_batch(3) == (3, 3, 64, 64) and (r.min_batch, r.max_batch) == (1, None)
    x = np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32)
    out = r({"pixel_values": x})
    assert out["logits"].shape == (2, 10) and r.last_inference_time() > 0
    with TorchRunner(micro_loaded.model) as t:
        ref = t.infer({"pixel_values": x})["logits"]
    np.testing.assert_allclose(out["logits"], ref, atol=1e-4)
    timed = r.timed_call(4)
    assert timed()["logits"].shape == (4, 10)


def test_fixed_batch_file(tmp_path, micro_loaded):
    from nat_export.export import ExportOptions, export_onnx

    path = tmp_path / "b2.onnx"
    export_onnx(micro_loaded, path, ExportOptions(resolution=(64, 64), portable=True, batch=2))
    r = open_model(path)
    assert (r.min_batch, r.max_batch) == (2, 2)
    with pytest.raises(RunnerError, match="fixed batch of 2"):
        r.shape_for_batch(5)


def test_na_graph_needs_the_op_library_or_expansion(micro_loaded, tmp_path, no_plugins):
    from nat_export.export import ExportOptions, export_onnx

    path = tmp_path / "na.onnx"
    export_onnx(micro_loaded, path, ExportOptions(resolution=(64, 64)))
    with pytest.raises(PluginNotFoundError, match="build-plugins"):
        open_model(path)
    r = open_model(path, expand_missing_op=True)
    assert r.name == "ort-portable" and "not built" in r.notes[0]
    with pytest.raises(PluginNotFoundError, match="not found at"):
        open_model(path, ort_op_library=tmp_path / "missing.so", expand_missing_op=True)


def test_engine_path_without_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        open_model(tmp_path / "none.engine")


def test_torch_runner_batch_and_shape(micro_loaded):
    t = TorchRunner(micro_loaded.model, resolution=(32, 48))
    assert t.shape_for_batch(2) == (2, 3, 32, 48)
    with pytest.raises(RunnerError, match="batch must be >= 1"):
        t.shape_for_batch(0)
    out = t.timed_call(1)()
    assert out[0].shape == (1, 10)
