"""The ONNX Runtime custom op (libnat_export_ort.so): one-node models run on the CPU
execution provider, against natten 0.17 and a brute-force reference; bad attributes
and shapes give ORT errors, not crashes."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

DOMAIN = "trt.plugins"


def make_model(
    heads, kernel_size, dilation, scale, *, dtype=TensorProto.FLOAT, has_rpb=True, extra_attrs=None, drop=()
):
    attrs = {
        "num_heads": heads,
        "kernel_size": list(kernel_size),
        "dilation": list(dilation),
        "scale": float(scale),
        "plugin_version": "1",
        "plugin_namespace": "",
    }
    attrs.update(extra_attrs or {})
    for name in drop:
        attrs.pop(name)
    inputs = [helper.make_tensor_value_info("qkv", dtype, None)]  # rank unchecked: the op checks it
    if has_rpb:
        inputs.append(helper.make_tensor_value_info("rpb", dtype, [None, None, None]))
    node = helper.make_node("NeighborhoodAttention2D", [i.name for i in inputs], ["out"], domain=DOMAIN, **attrs)
    graph = helper.make_graph([node], "na", inputs, [helper.make_tensor_value_info("out", dtype, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(DOMAIN, 1)])
    return model.SerializeToString()


@pytest.fixture(scope="module")
def ort_lib(native_libs):
    if "ort" not in native_libs.libs:
        pytest.fail("libnat_export_ort.so was not built (ONNX Runtime headers missing?)")
    return str(native_libs.libs["ort"])


@pytest.fixture(scope="module")
def session(ort_lib):
    def make(model: bytes, threads: int = 0):
        so = ort.SessionOptions()
        so.register_custom_ops_library(ort_lib)
        so.intra_op_num_threads = threads
        return ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])

    return make


def run_op(session, qkv, heads, kernel_size, dilation, scale, rpb=None, threads=0, **kw):
    dtype = TensorProto.FLOAT16 if qkv.dtype == np.float16 else TensorProto.FLOAT
    sess = session(make_model(heads, kernel_size, dilation, scale, dtype=dtype, has_rpb=rpb is not None, **kw), threads)
    feeds = {"qkv": qkv}
    if rpb is not None:
        feeds["rpb"] = rpb
    return sess.run(None, feeds)[0]


def test_matches_natten(session, na_ref, natten_case):
    m, q, k, v, rpb, ref = natten_case
    K, d = m["kernel_size"], m["dilation"]
    qkv = na_ref.pack_qkv(q, k, v).astype(np.float32)
    out = run_op(session, qkv, m["heads"], (K, K), (d, d), m["scale"], None if rpb is None else rpb.astype(np.float32))
    assert out.dtype == np.float32 and out.shape == ref.shape
    assert np.abs(out - ref).max() <= 1e-5


RANDOM = [
    # B, H, W, heads, D, (Kh, Kw), (dh, dw), rpb
    (2, 11, 8, 2, 16, (5, 3), (1, 2), True),  # non-square, W % d == 0
    (1, 13, 10, 3, 8, (3, 3), (4, 3), True),  # H % d != 0 on both axes
    (2, 9, 9, 2, 32, (7, 5), (1, 1), False),  # no rpb
    (1, 5, 30, 1, 7, (5, 9), (1, 3), True),  # wide, odd D
    (1, 8, 8, 4, 4, (1, 1), (1, 1), True),  # K = 1: out == v
]


@pytest.mark.parametrize("shape", RANDOM, ids=[f"case{i}" for i in range(len(RANDOM))])
def test_random_shapes(session, na_ref, shape):
    B, H, W, heads, D, K, d, has_rpb = shape
    rng = np.random.default_rng(100 + RANDOM.index(shape))
    q, k, v, rpb = na_ref.random_case(rng, B, H, W, heads, D, K, d, has_rpb)
    scale = 0.7 * D**-0.5
    ref = na_ref.reference(q, k, v, K, d, scale, rpb)
    out = run_op(
        session,
        na_ref.pack_qkv(q, k, v).astype(np.float32),
        heads,
        K,
        d,
        scale,
        None if rpb is None else rpb.astype(np.float32),
    )
    assert np.abs(out - ref).max() <= 1e-5


def test_float16(session, na_ref):
    rng = np.random.default_rng(7)
    q, k, v, rpb = na_ref.random_case(rng, 2, 12, 10, 2, 16, (5, 5), (2, 1), True)
    q16, k16, v16, rpb16 = (t.astype(np.float16) for t in (q, k, v, rpb))
    ref = na_ref.reference(q16, k16, v16, (5, 5), (2, 1), 0.25, rpb16)
    out = run_op(session, na_ref.pack_qkv(q16, k16, v16), 2, (5, 5), (2, 1), 0.25, rpb16)
    assert out.dtype == np.float16
    assert np.abs(out.astype(np.float64) - ref).max() <= 2e-3


def test_rpb_as_initializer_and_threads(session, ort_lib, na_ref):
    """rpb as a constant initializer (as exported models have it); 1 and 2 intra-op threads agree."""
    rng = np.random.default_rng(3)
    q, k, v, rpb = na_ref.random_case(rng, 3, 14, 14, 2, 8, (7, 7), (2, 2), True)
    model = onnx.load_from_string(make_model(2, (7, 7), (2, 2), 0.5))
    model.graph.input.pop()  # rpb becomes an initializer
    model.graph.initializer.append(onnx.numpy_helper.from_array(rpb.astype(np.float32), "rpb"))
    qkv = na_ref.pack_qkv(q, k, v).astype(np.float32)
    outs = [session(model.SerializeToString(), n).run(None, {"qkv": qkv})[0] for n in (1, 2)]
    np.testing.assert_array_equal(outs[0], outs[1])
    assert np.abs(outs[0] - na_ref.reference(q, k, v, (7, 7), (2, 2), 0.5, rpb)).max() <= 1e-5


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_cpu_kernel_env(session, na_ref, monkeypatch, dtype):
    """NATX_CPU_KERNEL, read when the session is made, picks the kernel: scalar and auto agree within float32
    rounding (16-bit outputs: one rounding step); a bad value fails the session in one line."""
    rng = np.random.default_rng(9)
    q, k, v, rpb = na_ref.random_case(rng, 2, 15, 18, 2, 32, (7, 7), (2, 1), True)
    qkv, rpb = na_ref.pack_qkv(q, k, v).astype(dtype), rpb.astype(dtype)
    outs = {}
    for name in ("scalar", "baseline", "auto"):
        monkeypatch.setenv("NATX_CPU_KERNEL", name)
        outs[name] = run_op(session, qkv, 2, (7, 7), (2, 1), 0.2, rpb, threads=2).astype(np.float64)
    step = 2e-6 if dtype == np.float32 else 2.0**-10
    for name in ("baseline", "auto"):
        assert np.all(np.abs(outs[name] - outs["scalar"]) <= step * np.maximum(1.0, np.abs(outs["scalar"])))
    monkeypatch.setenv("NATX_CPU_KERNEL", "fastest")
    with pytest.raises(Exception, match="NATX_CPU_KERNEL: CPU kernel must be one of auto, scalar, baseline, avx2"):
        run_op(session, qkv, 2, (7, 7), (2, 1), 0.2, rpb)


def test_empty_batch(session):
    out = run_op(session, np.zeros((0, 7, 7, 24), np.float32), 2, (3, 3), (1, 1), 0.5)
    assert out.shape == (0, 7, 7, 8)


def test_default_dilation_and_scale(session, na_ref):
    """dilation absent -> 1, scale absent -> head_dim ** -0.5."""
    rng = np.random.default_rng(5)
    q, k, v, _ = na_ref.random_case(rng, 1, 9, 9, 2, 16, (3, 3), (1, 1), False)
    out = run_op(
        session, na_ref.pack_qkv(q, k, v).astype(np.float32), 2, (3, 3), (1, 1), 0.0, drop=("dilation", "scale")
    )
    assert np.abs(out - na_ref.reference(q, k, v, (3, 3), (1, 1), 0.25)).max() <= 1e-5


# ------------------------------------------------------------------ errors

ORT_ERRORS = (
    ort.capi.onnxruntime_pybind11_state.Fail,
    ort.capi.onnxruntime_pybind11_state.InvalidArgument,
    ort.capi.onnxruntime_pybind11_state.RuntimeException,
)


@pytest.mark.parametrize(
    "attrs, drop, match",
    [
        ({"kernel_size": [4, 4]}, (), "kernel_size must be odd and >= 1 on both axes, got \\[4,4\\]"),
        ({"kernel_size": [0]}, (), "kernel_size must be odd and >= 1"),
        ({"kernel_size": [4097, 3]}, (), "kernel_size must be <= 4095 on both axes, got \\[4097,3\\]"),
        ({"kernel_size": [3, 3, 3]}, (), "must have 1 or 2 values"),
        ({"dilation": [0, 1]}, (), "dilation must be >= 1"),
        ({"dilation": [4096]}, (), "dilation must be <= 4095"),
        ({"num_heads": 0}, (), "num_heads must be >= 1"),
        ({"num_heads": -1}, (), "num_heads must be >= 1"),
        ({"scale": 0.0}, (), "scale must be a finite number > 0, got 0"),
        ({"scale": -0.5}, (), "scale must be a finite number > 0"),
        ({"scale": float("nan")}, (), "scale must be a finite number > 0"),
        ({"scale": float("inf")}, (), "scale must be a finite number > 0"),
        ({}, ("num_heads",), "missing int attribute 'num_heads'"),
        ({}, ("kernel_size",), "missing attribute 'kernel_size'"),
    ],
)
def test_bad_attributes(session, attrs, drop, match):
    qkv = np.zeros((1, 9, 9, 24), np.float32)
    with pytest.raises(ORT_ERRORS, match=match):
        sess = session(make_model(2, (3, 3), (1, 1), 0.5, has_rpb=False, extra_attrs=attrs, drop=drop))
        sess.run(None, {"qkv": qkv})


@pytest.mark.parametrize(
    "shape, kernel_size, dilation, rpb_shape, match",
    [
        ((1, 6, 12, 24), (7, 7), (1, 1), None, "H = 6 is smaller than kernel_size\\*dilation = 7 \\(pad"),
        ((1, 12, 9, 24), (3, 5), (1, 2), None, "W = 9 is smaller than kernel_size\\*dilation = 10"),
        ((1, 9, 9, 25), (3, 3), (1, 1), None, "qkv last dim 25 is not a positive multiple of 3\\*num_heads = 6"),
        ((9, 9, 24), (3, 3), (1, 1), None, "qkv must be 4-D \\[B, H, W"),
        (
            (1, 9, 9, 24),
            (3, 3),
            (1, 1),
            (2, 3, 3),
            "rpb must be \\[num_heads, 2\\*Kh-1, 2\\*Kw-1\\] = \\[2,5,5\\], got \\[2,3,3\\]",
        ),
    ],
)
def test_bad_shapes(session, shape, kernel_size, dilation, rpb_shape, match):
    qkv = np.zeros(shape, np.float32)
    rpb = None if rpb_shape is None else np.zeros(rpb_shape, np.float32)
    with pytest.raises(ORT_ERRORS, match=match):
        run_op(session, qkv, 2, kernel_size, dilation, 0.5, rpb)


def test_rpb_input_with_empty_name(session, na_ref):
    """An optional input given as '' (how ONNX spells 'absent') means no bias."""
    rng = np.random.default_rng(9)
    q, k, v, _ = na_ref.random_case(rng, 1, 9, 9, 2, 8, (3, 3), (1, 1), False)
    model = onnx.load_from_string(make_model(2, (3, 3), (1, 1), 0.5, has_rpb=False))
    model.graph.node[0].input.append("")
    out = session(model.SerializeToString()).run(None, {"qkv": na_ref.pack_qkv(q, k, v).astype(np.float32)})[0]
    assert np.abs(out - na_ref.reference(q, k, v, (3, 3), (1, 1), 0.5)).max() <= 1e-5


# ------------------------------------------------------------------ library lookup


def test_find_library(native_libs, monkeypatch, tmp_path):
    from nat_export.native import PluginNotFoundError, find_library

    lib = native_libs.libs["ort"]
    assert find_library("ort", lib) == lib.resolve()
    assert find_library("ort", lib.parent) == lib.resolve()
    monkeypatch.setenv("NAT_EXPORT_PLUGIN_DIR", str(lib.parent))
    assert find_library("ort") == lib.resolve()
    with pytest.raises(PluginNotFoundError, match="nat-export build-plugins"):
        find_library("ort", tmp_path / "nope.so")
    monkeypatch.setenv("NAT_EXPORT_PLUGIN_DIR", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="--plugin"):
        find_library("trt")
    with pytest.raises(ValueError, match="unknown plugin kind"):
        find_library("tensorflow")


def test_build_cli_arguments():
    import argparse
    import inspect

    from nat_export.native import build

    ns = build.add_arguments(argparse.ArgumentParser()).parse_args(
        ["--out-dir", "/tmp/x", "--cuda-archs", "86", "--fetch-ort-headers", "-j", "3", "--json"]
    )
    assert ns.cuda_archs == "86" and ns.fetch_ort_headers and ns.jobs == 3 and ns.json
    assert str(ns.out_dir) == "/tmp/x"
    # Test targets are opt-in: users' builds make only the libraries.
    assert not build.add_arguments(argparse.ArgumentParser()).parse_args([]).build_tests
    assert build.add_arguments(argparse.ArgumentParser()).parse_args(["--build-tests"]).build_tests
    assert inspect.signature(build.build_plugins).parameters["build_tests"].default is False


def test_bad_explicit_headers_are_one_line_errors(tmp_path):
    from nat_export.native import NativeBuildError
    from nat_export.native.build import find_ort_include, find_trt_include

    with pytest.raises(NativeBuildError, match="no onnxruntime_cxx_api.h in --ort-include"):
        find_ort_include(str(tmp_path))
    with pytest.raises(NativeBuildError, match="no NvInfer.h in --trt-include"):
        find_trt_include(str(tmp_path))
