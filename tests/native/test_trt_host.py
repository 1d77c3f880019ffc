"""C++ host test of the TensorRT plugin (plugins/tensorrt/tests/trt_host_test.cpp).

Drives the creator and every plugin method that needs no GPU, with a fake IExprBuilder
and a recording logger: output shapes, format/type combinations, configure/onShapeChange
checks, clone, getFieldsToSerialize round trip, invalid fields giving nullptr with a
logged error, enqueue errors that return before any launch, that the TensorRT 10
registry layout mirrored for the self-registering library matches the 10.x headers' class,
and that registration goes through the compiled headers' IPluginRegistry for their major
and through the mirrored layout only for the other one, and that the logger finder and loggers
are called through the layout of the TensorRT major (10: slot 0; 11: slot 4) with fakes of both.
Links no TensorRT library.

Where a CUDA GPU is present, natx_trt_gpu_test also runs enqueue() against the CPU
kernel (float32/float16/bfloat16, with and without rpb); elsewhere it skips.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

EXPECTED_TESTS = [
    "creator",
    "create_and_capabilities",
    "lenient_valid_fields",
    "invalid_fields",
    "output_data_types",
    "output_shapes",
    "supports_format_combination",
    "configure_and_shape_change",
    "enqueue_errors_without_launching",
    "clone_and_serialize_round_trip",
    "logger_fallback",
    "logger_abi",
    "registry_v10_layout",
    "registry_dispatch",
]


def _program(native_libs, name: str) -> Path:
    if "trt" not in native_libs.libs:
        pytest.skip(
            "TensorRT plugin not built (needs TensorRT headers, e.g. pip install kernel-lens==2.0.1, "
            "and a CUDA compiler)"
        )
    return native_libs.program(name)


@pytest.fixture(scope="module")
def host_test(native_libs) -> Path:
    return _program(native_libs, "natx_trt_host_test")


def test_host_test_passes(host_test):
    proc = subprocess.run([str(host_test)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "FAIL" not in proc.stdout, proc.stdout
    for name in EXPECTED_TESTS:
        assert f"PASS {name}" in proc.stdout, f"{name} did not run:\n{proc.stdout}"
    summary = [ln for ln in proc.stdout.splitlines() if ln.startswith("natx_trt_host_test:")]
    assert summary and f"{len(EXPECTED_TESTS)} tests, 0 failed" in summary[-1], proc.stdout
    # The one check that runs with no logger at all writes its error to stderr.
    assert "layer 'stderr_layer': num_heads must be >= 1" in proc.stderr
    # An 11-layout finder that finds no logger: the error goes to stderr (logger_abi).
    assert "NeighborhoodAttention2D: abi_stderr_11" in proc.stderr


@pytest.mark.gpu
def test_enqueue_on_gpu_matches_cpu_kernel(native_libs):
    exe = _program(native_libs, "natx_trt_gpu_test")
    proc = subprocess.run([str(exe)], capture_output=True, text=True, timeout=600)
    if proc.returncode == 77:
        pytest.skip(proc.stdout.strip() or "no CUDA GPU")
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "FAIL" not in proc.stdout and "0 failed" in proc.stdout, proc.stdout
