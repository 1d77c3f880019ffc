"""The TensorRT runtime API that TrtEngine and the build use exists in TensorRT 11 (checked on the
lean runtime's Python bindings from PyPI: attribute look-ups only, nothing is constructed)."""

from __future__ import annotations

import pytest

trt = pytest.importorskip("tensorrt_lean_bindings", reason="needs tensorrt-lean-cu13-bindings (pip install '.[test]')")


@pytest.mark.parametrize(
    "cls, names",
    [
        ("Runtime", ["deserialize_cuda_engine", "get_plugin_registry", "engine_host_code_allowed"]),
        (
            "ICudaEngine",
            [
                "num_io_tensors",
                "get_tensor_name",
                "get_tensor_mode",
                "get_tensor_dtype",
                "get_tensor_profile_shape",
                "create_execution_context",
            ],
        ),
        ("IExecutionContext", ["set_input_shape", "get_tensor_shape", "set_tensor_address", "execute_async_v3"]),
        ("IPluginRegistry", ["load_library", "all_creators"]),
        ("IProgressMonitor", ["phase_start", "step_complete", "phase_finish"]),
        ("ILogger", ["log"]),
    ],
)
def test_runtime_api(cls, names):
    c = getattr(trt, cls)
    missing = [n for n in names if not hasattr(c, n)]
    assert not missing, f"{cls} lacks {missing} in TensorRT {trt.__version__}"


def test_enums():
    assert hasattr(trt.TensorIOMode, "INPUT") and hasattr(trt.TensorIOMode, "OUTPUT")
    for name in ("TF32", "VERSION_COMPATIBLE"):
        assert hasattr(trt.BuilderFlag, name)
    assert not hasattr(trt.BuilderFlag, "FP16"), "TensorRT 11 has no FP16 builder flag (strong typing only)"
    assert hasattr(trt.MemoryPoolType, "WORKSPACE")
    from nat_export.tensorrt.engine import _TORCH_DTYPE_NAMES

    for name in ("FLOAT", "HALF", "BF16", "INT32", "INT64", "BOOL"):
        assert hasattr(trt.DataType, name) and name in _TORCH_DTYPE_NAMES
