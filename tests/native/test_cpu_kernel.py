"""The CPU kernels (na_cpu.h: `scalar`, the SIMD kernel compiled for the `baseline` ISA and for
`avx2`), float32 / float16 / bfloat16, against natten 0.17 and a brute-force float64 reference,
through the C test entry points (ctypes)."""

from __future__ import annotations

import ctypes

import ml_dtypes
import numpy as np
import pytest

_P = ctypes.c_void_p
DTYPES = {"float32": (0, np.float32), "float16": (1, np.float16), "bfloat16": (2, ml_dtypes.bfloat16)}
KERNELS = ["scalar", "baseline", "avx2"]


@pytest.fixture(scope="module")
def capi(native_libs):
    lib = ctypes.CDLL(str(native_libs.cpu_capi))
    lib.natx_na2d_forward_cpu_ex.restype = ctypes.c_char_p
    lib.natx_na2d_forward_cpu_ex.argtypes = [ctypes.c_int] * 9 + [ctypes.c_float, _P, _P, _P] + [ctypes.c_int] * 2
    lib.natx_na2d_forward_cpu_ex.argtypes += [ctypes.c_char_p]
    lib.natx_na2d_forward_cpu.restype = ctypes.c_char_p
    lib.natx_na2d_forward_cpu.argtypes = [ctypes.c_int] * 9 + [ctypes.c_float, _P, _P, _P, ctypes.c_int]
    lib.natx_cpu_kernel_for.restype = ctypes.c_char_p
    lib.natx_cpu_kernel_for.argtypes = [ctypes.c_int] * 9 + [ctypes.c_char_p]
    return lib


def kernel_for(capi, kernel, B=1, H=16, W=16, heads=2, D=32, K=(7, 7), d=(1, 1)) -> str:
    return capi.natx_cpu_kernel_for(B, H, W, heads, D, *K, *d, kernel.encode()).decode()


@pytest.fixture(params=KERNELS)
def kernel(request, capi):
    """Each CPU kernel this machine can run (avx2 needs AVX2, FMA and F16C)."""
    name = kernel_for(capi, request.param)
    if name != request.param:
        pytest.skip(f"CPU kernel {request.param} cannot run here: {name}")
    return request.param


def run(capi, qkv, heads, kernel_size, dilation, scale, rpb=None, *, threads=1, kernel="auto", dtype="float32"):
    """qkv [B, H, W, 3*heads*D] and rpb as float arrays, rounded to `dtype` first; returns float64."""
    code, np_type = DTYPES[dtype]
    q = np.ascontiguousarray(qkv, dtype=np.float32).astype(np_type)
    B, H, W, C3 = q.shape
    D = C3 // (3 * heads)
    out = np.full((B, H, W, heads * D), np.nan, dtype=np_type)  # poisoned
    r = None if rpb is None else np.ascontiguousarray(rpb, dtype=np.float32).astype(np_type)
    err = capi.natx_na2d_forward_cpu_ex(
        B, H, W, heads, D, *kernel_size, *dilation, scale,
        q.ctypes.data, None if r is None else r.ctypes.data, out.ctypes.data, threads, code, kernel.encode(),
    )  # fmt: skip
    if err:
        raise ValueError(err.decode())
    return out.astype(np.float64)


def rounded(t, dtype):
    return None if t is None else np.asarray(t, dtype=np.float32).astype(DTYPES[dtype][1]).astype(np.float64)


# float16 / bfloat16: the reference runs on the rounded inputs in float64; the kernels accumulate in
# float32 and round the output once (half an ulp of the type: 2^-11 / 2^-8 relative, outputs here are < 4).
TOLERANCE = {"float32": 1e-5, "float16": 2e-3, "bfloat16": 1.6e-2}


def test_matches_natten(capi, kernel, na_ref, natten_case):
    m, q, k, v, rpb, ref = natten_case
    K, d = m["kernel_size"], m["dilation"]
    out = run(capi, na_ref.pack_qkv(q, k, v), m["heads"], (K, K), (d, d), m["scale"], rpb, kernel=kernel)
    assert np.abs(out - ref).max() <= 1e-5


RANDOM = [
    # B, H, W, heads, D, (Kh, Kw), (dh, dw), rpb
    (2, 9, 13, 2, 8, (3, 5), (1, 1), True),
    (1, 10, 7, 3, 5, (3, 3), (3, 2), True),  # H % d != 0, odd D (scalar kernel whatever is asked)
    (1, 23, 17, 2, 16, (5, 3), (4, 5), False),  # no rpb, dilation on both axes
    (3, 7, 7, 1, 32, (7, 7), (1, 1), True),  # K == H == W: one window for all
    (1, 16, 21, 4, 16, (1, 3), (2, 7), True),  # K = 1 on one axis
    (1, 14, 14, 2, 33, (5, 5), (2, 2), True),  # D not a multiple of 8
    (1, 19, 26, 2, 64, (13, 11), (1, 2), True),  # K 13 / 11, D 64, several tiles per axis
    (1, 13, 13, 1, 128, (13, 13), (1, 1), True),  # D 128 (the SIMD limit), window = map
    (1, 12, 12, 3, 96, (9, 9), (1, 1), True),  # D 96
    (2, 17, 9, 2, 24, (3, 7), (5, 1), True),  # D 24 (3 x 8), tiles cut by the group length
]


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("shape", RANDOM, ids=[f"case{i}" for i in range(len(RANDOM))])
def test_random_shapes(capi, kernel, na_ref, shape, dtype):
    B, H, W, heads, D, K, d, has_rpb = shape
    rng = np.random.default_rng(RANDOM.index(shape))
    q, k, v, rpb = na_ref.random_case(rng, B, H, W, heads, D, K, d, has_rpb)
    scale = D**-0.5
    ref = na_ref.reference(*(rounded(t, dtype) for t in (q, k, v)), K, d, scale, rounded(rpb, dtype))
    out = run(capi, na_ref.pack_qkv(q, k, v), heads, K, d, scale, rpb, threads=2, kernel=kernel, dtype=dtype)
    assert np.abs(out - ref).max() <= TOLERANCE[dtype]


@pytest.mark.parametrize("dtype", list(DTYPES))
def test_simd_kernels_agree_with_scalar(capi, kernel, na_ref, dtype):
    """Same inputs, same dtype: every kernel within float32 rounding of the scalar one (16-bit outputs: one
    rounding step apart at most)."""
    rng = np.random.default_rng(11)
    q, k, v, rpb = na_ref.random_case(rng, 2, 20, 24, 3, 32, (7, 7), (2, 3), True)
    qkv = na_ref.pack_qkv(q, k, v)
    ref = run(capi, qkv, 3, (7, 7), (2, 3), 0.2, rpb, kernel="scalar", dtype=dtype)
    out = run(capi, qkv, 3, (7, 7), (2, 3), 0.2, rpb, kernel=kernel, dtype=dtype)
    step = {"float32": 2e-6, "float16": 2.0**-10, "bfloat16": 2.0**-7}[dtype]
    assert np.all(np.abs(out - ref) <= step * np.maximum(1.0, np.abs(ref)))


def test_threads_give_identical_results(capi, kernel, na_ref):
    rng = np.random.default_rng(0)
    q, k, v, rpb = na_ref.random_case(rng, 4, 20, 20, 2, 16, (7, 7), (2, 2), True)
    qkv = na_ref.pack_qkv(q, k, v)
    one = run(capi, qkv, 2, (7, 7), (2, 2), 0.25, rpb, threads=1, kernel=kernel)
    for n in (2, 7):
        np.testing.assert_array_equal(one, run(capi, qkv, 2, (7, 7), (2, 2), 0.25, rpb, threads=n, kernel=kernel))


@pytest.mark.parametrize("dtype", list(DTYPES))
def test_masking_bias(capi, kernel, na_ref, dtype):
    """-inf bias entries (masks) get weight 0, also in a window's first row and first key; a window whose every
    logit is -inf gives NaN, as softmax does."""
    rng = np.random.default_rng(5)
    q, k, v, rpb = na_ref.random_case(rng, 1, 9, 9, 2, 16, (3, 3), (1, 1), True)
    rpb[0, :2, :] = -np.inf  # interior queries: the window's first row; bottom-border queries: its first two
    rpb[1, :, :2] = -np.inf
    rpb[1, 2, 2] = -np.inf  # the centre (each query's own key) of head 1
    ref = na_ref.reference(*(rounded(t, dtype) for t in (q, k, v)), (3, 3), (1, 1), 0.25, rounded(rpb, dtype))
    out = run(capi, na_ref.pack_qkv(q, k, v), 2, (3, 3), (1, 1), 0.25, rpb, kernel=kernel, dtype=dtype)
    assert np.isfinite(out).all()
    assert np.abs(out - ref).max() <= TOLERANCE[dtype]
    rpb[:] = -np.inf
    out = run(capi, na_ref.pack_qkv(q, k, v), 2, (3, 3), (1, 1), 0.25, rpb, kernel=kernel, dtype=dtype)
    assert np.isnan(out).all()


def test_nan_propagates(capi, kernel, na_ref):
    """A NaN in one query gives NaN for that pixel and head only; a NaN value reaches every query that sees it."""
    rng = np.random.default_rng(6)
    q, k, v, _ = na_ref.random_case(rng, 1, 12, 12, 2, 16, (3, 3), (1, 1), False)
    q[0, 5, 6, 1, 3] = np.nan
    v[0, 0, 0, 0, 0] = np.nan  # key (0, 0) is in the windows of the queries (0..1, 0..1)
    out = run(capi, na_ref.pack_qkv(q, k, v), 2, (3, 3), (1, 1), 0.25, kernel=kernel).reshape(1, 12, 12, 2, 16)
    nan = np.isnan(out).any(-1)[0]
    expected = np.zeros((12, 12, 2), bool)
    expected[5, 6, 1] = True
    expected[:2, :2, 0] = True
    np.testing.assert_array_equal(nan, expected)


def test_kernel_choice(capi):
    simd = kernel_for(capi, "auto")
    assert simd in ("avx2", "baseline")
    assert kernel_for(capi, "scalar") == "scalar"
    assert kernel_for(capi, "baseline") == "baseline"
    # Shapes the SIMD kernel does not take run the scalar one, whatever is asked.
    assert kernel_for(capi, "auto", D=33) == "scalar"
    assert kernel_for(capi, "baseline", D=136) == "scalar"
    assert kernel_for(capi, "auto", K=(33, 3), H=40, W=40) == "scalar"
    assert kernel_for(capi, "auto", K=(31, 31), H=40, W=40) == simd
    assert "must be one of auto, scalar, baseline, avx2, got 'sse9'" in kernel_for(capi, "sse9")


def test_float32_entry_point_runs_the_auto_kernel(capi, na_ref):
    rng = np.random.default_rng(2)
    q, k, v, rpb = na_ref.random_case(rng, 1, 10, 10, 2, 16, (5, 5), (1, 1), True)
    qkv = np.ascontiguousarray(na_ref.pack_qkv(q, k, v), dtype=np.float32)
    r = np.ascontiguousarray(rpb, dtype=np.float32)
    out = np.full((1, 10, 10, 32), np.nan, np.float32)
    assert capi.natx_na2d_forward_cpu(1, 10, 10, 2, 16, 5, 5, 1, 1, 0.25, qkv.ctypes.data, r.ctypes.data,
                                      out.ctypes.data, 0) is None  # fmt: skip
    np.testing.assert_array_equal(out, run(capi, qkv, 2, (5, 5), (1, 1), 0.25, rpb, threads=2).astype(np.float32))


@pytest.mark.parametrize(
    "kernel_size, dilation, hw, match",
    [
        ((4, 3), (1, 1), (8, 8), "kernel_size must be odd"),
        ((3, 3), (0, 1), (8, 8), "dilation must be >= 1"),
        ((5, 5), (2, 1), (9, 9), "H = 9 is smaller than kernel_size\\*dilation = 10"),
        ((3, 5), (1, 2), (9, 9), "W = 9 is smaller than kernel_size\\*dilation = 10"),
        ((4097, 3), (1, 1), (8, 8), "kernel_size must be <= 4095"),
    ],
)
def test_invalid_params_rejected(capi, kernel_size, dilation, hw, match):
    qkv = np.zeros((1, *hw, 3 * 2 * 4), dtype=np.float32)
    with pytest.raises(ValueError, match=match):
        run(capi, qkv, 2, kernel_size, dilation, 0.5)


@pytest.mark.parametrize("scale", [0.0, -0.25, float("nan"), float("inf")])
def test_non_positive_or_non_finite_scale_rejected(capi, scale):
    """The kernels run na_validate, which applies the same attribute rules as the adapters."""
    with pytest.raises(ValueError, match="scale must be a finite number > 0"):
        run(capi, np.zeros((1, 8, 8, 24), dtype=np.float32), 2, (3, 3), (1, 1), scale)


def test_bad_kernel_or_dtype_rejected(capi):
    qkv = np.zeros((1, 8, 8, 24), dtype=np.float32)
    with pytest.raises(ValueError, match="CPU kernel must be one of auto, scalar, baseline, avx2, got 'fast'"):
        run(capi, qkv, 2, (3, 3), (1, 1), 0.5, kernel="fast")
    out = np.zeros((1, 8, 8, 8), np.float32)
    err = capi.natx_na2d_forward_cpu_ex(1, 8, 8, 2, 4, 3, 3, 1, 1, 0.5, qkv.ctypes.data, None, out.ctypes.data, 1, 3,
                                        b"auto")  # fmt: skip
    assert err.decode() == "dtype must be 0, 1 or 2, got 3"
