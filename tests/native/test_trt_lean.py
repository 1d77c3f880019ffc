"""The TensorRT plugin library inside TensorRT's lean runtime (PyPI wheels
``tensorrt-lean-cu13-libs`` / ``tensorrt-lean-cu13-bindings``), with no GPU.

What runs here is what TensorRT itself does with the library before any engine exists:
``IPluginRegistry::loadLibrary`` (calls ``setLoggerFinder`` and ``getCreators``), the
creator lookup by name/version/namespace, ``createPlugin`` at build and runtime phase,
and, through a small C++ driver (the Python bindings cannot call
``getFieldsToSerialize`` on C++ plugins), the serialize -> recreate round trip. No
TensorRT ``Runtime`` or ``Builder`` is ever constructed (that needs a GPU).

Every TensorRT call runs in a subprocess: the plugin registry is process-global, and a
crash there must fail one test, not kill pytest.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PLUGIN = "NeighborhoodAttention2D"


def _lean_module() -> str | None:
    for name in ("tensorrt_lean_bindings", "tensorrt_lean"):
        if importlib.util.find_spec(name) is not None:
            return name
    return None


LEAN = _lean_module()
pytestmark = pytest.mark.skipif(
    LEAN is None,
    reason="TensorRT lean runtime not installed "
    "(pip install 'tensorrt-lean-cu13-libs==11.4.*' 'tensorrt-lean-cu13-bindings==11.4.*')",
)


def _lean_library() -> Path | None:
    """libnvinfer_lean.so.* from the tensorrt_lean_libs wheel."""
    spec = importlib.util.find_spec("tensorrt_lean_libs")
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        found = sorted(Path(loc).glob("libnvinfer_lean.so*"))
        if found:
            return found[-1]
    return None


# ------------------------------------------------------------------ fixtures


def _libs(native_libs) -> dict:
    return getattr(native_libs, "libs", native_libs)


@pytest.fixture(scope="module")
def trt_lib(native_libs) -> Path:
    lib = _libs(native_libs).get("trt")
    if lib is None:
        pytest.skip(
            "libnat_export_trt.so was not built (needs TensorRT headers, e.g. pip install kernel-lens==2.0.1, "
            "and a CUDA compiler)"
        )
    return Path(lib)


@pytest.fixture(scope="module")
def autoreg_lib(native_libs) -> Path:
    lib = _libs(native_libs).get("trt_autoreg")
    if lib is None:
        pytest.skip("libnat_export_trt_autoreg.so was not built (needs TensorRT headers and a CUDA compiler)")
    return Path(lib)


# ------------------------------------------------------------------ subprocess helper

_PRELUDE = f"""
import json, sys, ctypes
import numpy as np
import {LEAN} as trt

def pf(name, values, kind):
    dtype = {{"INT32": np.int32, "INT64": np.int64, "FLOAT32": np.float32, "FLOAT64": np.float64}}[kind]
    return trt.PluginField(name, np.array(values, dtype=dtype), getattr(trt.PluginFieldType, kind))

def sf(name, text):
    return trt.PluginField(name, np.frombuffer(text.encode() + b"\\0", dtype=np.int8), trt.PluginFieldType.CHAR)

def fields(spec):
    out = []
    for name, kind, values in spec:
        out.append(sf(name, values) if kind == "CHAR" else pf(name, values, kind))
    return trt.PluginFieldCollection(out)

def describe(plugin):
    if plugin is None:
        return None
    core = plugin.get_capability_interface(trt.PluginCapabilityType.CORE)
    return {{"kind": plugin.interface_info.kind, "language": str(plugin.api_language),
             "name": core.plugin_name, "version": core.plugin_version, "namespace": core.plugin_namespace}}

ARGS = json.loads(sys.argv[1])
"""


def run_lean(script: str, args: dict, env: dict | None = None, timeout: int = 120):
    """Runs PRELUDE + script in a fresh Python; the script prints one JSON line last."""
    code = _PRELUDE + textwrap.dedent(script)
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(args)], capture_output=True, text=True, timeout=timeout, env=full_env
    )
    result = None
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    if lines:
        try:
            result = json.loads(lines[-1])
        except json.JSONDecodeError:
            result = None
    return proc, result


def _ok(proc, result):
    assert proc.returncode == 0, f"subprocess failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    assert result is not None, f"no result line:\n{proc.stdout}\n{proc.stderr}"
    return result


VALID = [
    ("num_heads", "INT32", [4]),
    ("kernel_size", "INT32", [7, 5]),
    ("dilation", "INT32", [2, 1]),
    ("scale", "FLOAT32", [0.125]),
]


# ------------------------------------------------------------------ loadLibrary library


def test_load_library_registers_the_creator(trt_lib):
    proc, res = run_lean(
        """
        reg = trt.get_plugin_registry()
        before = len(reg.all_creators)
        handle = reg.load_library(ARGS["lib"])
        c = reg.get_creator(ARGS["name"], "1", "")
        listed = [(x.name, x.plugin_version, x.plugin_namespace) for x in reg.all_creators]
        again = reg.load_library(ARGS["lib"])  # the same creator twice: refused, no crash
        print(json.dumps({
            "handle": handle is not None, "before": before, "after": len(listed), "listed": listed,
            "creator": None if c is None else {
                "type": type(c).__name__, "name": c.name, "version": c.plugin_version,
                "namespace": c.plugin_namespace, "kind": c.interface_info.kind,
                "fields": [(f.name, f.type.name, f.size) for f in c.field_names]},
            "second_load": again is not None,
            "other_versions": [reg.get_creator(ARGS["name"], v, ns) is not None for v, ns in (("2", ""), ("1", "x"))],
        }))
        """,
        {"lib": str(trt_lib), "name": PLUGIN},
    )
    res = _ok(proc, res)
    assert res["handle"], proc.stderr
    assert res["after"] == res["before"] + 1
    assert [PLUGIN, "1", ""] in res["listed"]
    c = res["creator"]
    assert c is not None
    assert (c["name"], c["version"], c["namespace"]) == (PLUGIN, "1", "")
    assert c["type"] == "IPluginCreatorV3One" and c["kind"] == "PLUGIN CREATOR_V3ONE"
    assert c["fields"] == [
        ["num_heads", "INT32", 1],
        ["kernel_size", "INT32", 2],
        ["dilation", "INT32", 2],
        ["scale", "FLOAT32", 1],
    ]
    assert res["second_load"] is False
    assert res["other_versions"] == [False, False]


def test_create_plugin_at_build_and_runtime_phase(trt_lib):
    onnx_style = [
        ("num_heads", "INT64", [2]),  # the parser may hand ints over as int64
        ("kernel_size", "INT64", [3, 3]),
        ("dilation", "INT64", [4, 2]),
        ("scale", "FLOAT64", [0.5]),
        ("plugin_version", "CHAR", "1"),
        ("plugin_namespace", "CHAR", ""),
    ]
    proc, res = run_lean(
        """
        reg = trt.get_plugin_registry()
        reg.load_library(ARGS["lib"])
        c = reg.get_creator(ARGS["name"], "1", "")
        out = {}
        for label, spec in ARGS["cases"].items():
            for phase in ("BUILD", "RUNTIME"):
                p = c.create_plugin("layer_" + label, fields(spec), getattr(trt.TensorRTPhase, phase))
                out[label + "/" + phase] = describe(p)
        print(json.dumps(out))
        """,
        {"lib": str(trt_lib), "name": PLUGIN, "cases": {"valid": VALID, "onnx_style": onnx_style}},
    )
    res = _ok(proc, res)
    assert len(res) == 4
    for key, d in res.items():
        assert d is not None, f"{key}: create_plugin returned None\n{proc.stderr}"
        assert d["kind"] == "PLUGIN"
        assert d["language"].endswith("CPP")
        assert (d["name"], d["version"], d["namespace"]) == (PLUGIN, "1", "")
    assert "ERROR" not in proc.stderr


INVALID = {
    "missing_scale": ([f for f in VALID if f[0] != "scale"], "missing required field(s): scale"),
    "missing_all": ([], "missing required field(s): num_heads kernel_size dilation scale"),
    "even_kernel": ([VALID[0], ("kernel_size", "INT32", [6, 7]), VALID[2], VALID[3]], "kernel_size must be odd"),
    "zero_dilation": ([VALID[0], VALID[1], ("dilation", "INT32", [0, 1]), VALID[3]], "dilation must be >= 1"),
    "zero_heads": ([("num_heads", "INT32", [0])] + VALID[1:], "num_heads must be >= 1"),
    "negative_scale": (VALID[:3] + [("scale", "FLOAT32", [-0.5])], "scale must be a finite number > 0"),
    "nan_scale": (VALID[:3] + [("scale", "FLOAT32", [float("nan")])], "scale must be a finite number > 0"),
    "float_heads": ([("num_heads", "FLOAT32", [4.0])] + VALID[1:], "field 'num_heads' has type float32"),
    "kernel_len3": ([VALID[0], ("kernel_size", "INT32", [7, 7, 7])] + VALID[2:], "field 'kernel_size'"),
    "wrong_plugin_version": (VALID + [("plugin_version", "CHAR", "2")], "plugin_version is '2'"),
}


def test_invalid_fields_give_none_and_an_error_message(trt_lib):
    proc, res = run_lean(
        """
        reg = trt.get_plugin_registry()
        reg.load_library(ARGS["lib"])
        c = reg.get_creator(ARGS["name"], "1", "")
        out = {}
        for label, spec in ARGS["cases"].items():
            for phase in ("BUILD", "RUNTIME"):
                out[label + "/" + phase] = describe(c.create_plugin("bad_" + label, fields(spec),
                                                                    getattr(trt.TensorRTPhase, phase)))
        print(json.dumps(out))
        """,
        {"lib": str(trt_lib), "name": PLUGIN, "cases": {k: v[0] for k, v in INVALID.items()}},
    )
    res = _ok(proc, res)
    assert len(res) == 2 * len(INVALID)
    for key, d in res.items():
        assert d is None, f"{key}: expected None, got {d}"
    for label, (_, message) in INVALID.items():
        # No TensorRT logger exists before a runtime/builder does: the plugin writes to stderr.
        assert f"layer 'bad_{label}': {message}" in proc.stderr, f"{label}: message missing in\n{proc.stderr}"


def test_fields_round_trip_through_the_lean_registry(native_libs, trt_lib):
    """C++ driver: loadLibrary through libnvinfer_lean's registry, createPlugin(kBUILD),
    getFieldsToSerialize -> createPlugin(kRUNTIME) -> same fields, clone, attachToContext."""
    lean = _lean_library()
    if lean is None:
        pytest.skip("libnvinfer_lean.so not found in the tensorrt_lean_libs wheel")
    driver = native_libs.program("natx_trt_lean_driver")
    proc = subprocess.run([str(driver), str(lean), str(trt_lib)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    assert "FAIL" not in proc.stdout
    for line in (
        "PASS loadLibrary(plugin)",
        "PASS createPlugin(kRUNTIME, serialized fields)",
        "PASS round trip keeps every field",
        "PASS clone keeps every field",
        "PASS second loadLibrary refused",
        "0 failed",
    ):
        assert line in proc.stdout, proc.stdout


# ------------------------------------------------------------------ self-registering library


def test_autoreg_library_registers_when_loaded(autoreg_lib):
    proc, res = run_lean(
        """
        reg = trt.get_plugin_registry()
        before = reg.get_creator(ARGS["name"], "1", "")
        ctypes.CDLL(ARGS["lib"])  # static initializer registers the creator
        c = reg.get_creator(ARGS["name"], "1", "")
        p = c.create_plugin("layer", fields(ARGS["valid"]), trt.TensorRTPhase.BUILD) if c is not None else None
        print(json.dumps({"before": before is not None, "after": c is not None,
                          "namespace": None if c is None else c.plugin_namespace, "plugin": describe(p)}))
        """,
        {"lib": str(autoreg_lib), "name": PLUGIN, "valid": VALID},
    )
    res = _ok(proc, res)
    assert res["before"] is False
    assert res["after"] is True, proc.stderr
    assert res["namespace"] == ""
    assert res["plugin"]["name"] == PLUGIN


def test_autoreg_namespace_from_environment(autoreg_lib):
    proc, res = run_lean(
        """
        reg = trt.get_plugin_registry()
        ctypes.CDLL(ARGS["lib"])
        print(json.dumps({ns: reg.get_creator(ARGS["name"], "1", ns) is not None for ns in ("", "natx")}))
        """,
        {"lib": str(autoreg_lib), "name": PLUGIN},
        env={"NATX_TRT_PLUGIN_NAMESPACE": "natx"},
    )
    assert _ok(proc, res) == {"": False, "natx": True}


def test_autoreg_without_any_tensorrt_reports_and_survives(autoreg_lib, tmp_path):
    code = textwrap.dedent(
        """
        import ctypes, sys
        ctypes.CDLL(sys.argv[1])
        maps = open("/proc/self/maps").read()
        print("still alive", "libnvinfer" in maps)
        """
    )
    env = dict(os.environ, LD_LIBRARY_PATH=str(tmp_path))  # an empty search path entry first
    proc = subprocess.run(
        [sys.executable, "-c", code, str(autoreg_lib)], capture_output=True, text=True, timeout=60, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert "still alive" in proc.stdout
    if "still alive False" in proc.stdout:
        # No TensorRT anywhere: a clear one-line error, no crash.
        assert "no TensorRT library is loaded in this process" in proc.stderr, proc.stderr
    # else: a system libnvinfer.so.11/10 is on the search path and was loaded instead.


def test_autoreg_loaded_before_tensorrt_finds_it_on_the_search_path(autoreg_lib, tmp_path):
    """polygraphy --plugins loads plugin libraries before it imports tensorrt. Simulated:
    the lean library, named libnvinfer.so.11 on LD_LIBRARY_PATH, is found and loaded by the
    plugin library; the later import of the bindings shares it and sees the creator."""
    lean = _lean_library()
    if lean is None:
        pytest.skip("libnvinfer_lean.so not found in the tensorrt_lean_libs wheel")
    (tmp_path / "libnvinfer.so.11").symlink_to(lean)
    code = textwrap.dedent(
        f"""
        import ctypes, json, sys
        ctypes.CDLL(sys.argv[1])
        import {LEAN} as trt
        reg = trt.get_plugin_registry()
        print(json.dumps({{"creator": reg.get_creator("{PLUGIN}", "1", "") is not None}}))
        """
    )
    env = dict(os.environ, LD_LIBRARY_PATH=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-c", code, str(autoreg_lib)], capture_output=True, text=True, timeout=120, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1]) == {"creator": True}, proc.stderr


def test_autoreg_then_load_library_is_refused_not_crashing(trt_lib, autoreg_lib):
    proc, res = run_lean(
        """
        reg = trt.get_plugin_registry()
        ctypes.CDLL(ARGS["autoreg"])
        handle = reg.load_library(ARGS["lib"])
        print(json.dumps({"handle": handle is not None,
                          "creator": reg.get_creator(ARGS["name"], "1", "") is not None}))
        """,
        {"lib": str(trt_lib), "autoreg": str(autoreg_lib), "name": PLUGIN},
    )
    assert _ok(proc, res) == {"handle": False, "creator": True}


# ------------------------------------------------------------------ the library files


def test_exported_entry_points(trt_lib, autoreg_lib):
    code = textwrap.dedent(
        """
        import ctypes, json, sys
        out = {}
        for path in sys.argv[1:]:
            lib = ctypes.CDLL(path)
            out[path] = {s: hasattr(lib, s) for s in ("getCreators", "setLoggerFinder", "getPluginCreators",
                                                      "na2d_forward_cuda", "cudaMalloc")}
        print(json.dumps(out))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(trt_lib), str(autoreg_lib)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout.splitlines()[-1])
    assert res[str(trt_lib)] == {
        "getCreators": True,
        "setLoggerFinder": True,
        "getPluginCreators": False,
        "na2d_forward_cuda": False,
        "cudaMalloc": False,
    }
    assert res[str(autoreg_lib)] == {
        "getCreators": False,
        "setLoggerFinder": True,
        "getPluginCreators": False,
        "na2d_forward_cuda": False,
        "cudaMalloc": False,
    }


def test_dynamic_symbol_tables_hold_only_the_entry_points(trt_lib, autoreg_lib):
    """Each library's own linker version script (common/exports.map, common/exports_autoreg.map):
    its defined dynamic symbols are exactly its entry points."""
    nm = shutil.which("nm")
    if nm is None:
        pytest.skip("nm not found")
    for lib, expected in ((trt_lib, {"getCreators", "setLoggerFinder"}), (autoreg_lib, {"setLoggerFinder"})):
        out = subprocess.run([nm, "-D", "--defined-only", str(lib)], capture_output=True, text=True, check=True)
        names = {ln.split()[-1] for ln in out.stdout.splitlines() if ln.strip()}
        assert names == expected, f"{lib.name}: {sorted(names)}"


def test_libraries_do_not_link_tensorrt_or_cudart(trt_lib, autoreg_lib):
    readelf = shutil.which("readelf")
    if readelf is None:
        pytest.skip("readelf not found")
    for lib in (trt_lib, autoreg_lib):
        out = subprocess.run([readelf, "-d", str(lib)], capture_output=True, text=True, check=True).stdout
        needed = [ln.split("[", 1)[1].rstrip("]") for ln in out.splitlines() if "(NEEDED)" in ln]
        assert not [n for n in needed if "nvinfer" in n or "cudart" in n], f"{lib.name} needs {needed}"
