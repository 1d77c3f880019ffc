"""The CPU kernel (na2d_forward_cpu, its own thread pool) against natten 0.17 and a
brute-force reference, through the C test entry point (ctypes)."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

_F32P = ctypes.POINTER(ctypes.c_float)


@pytest.fixture(scope="module")
def cpu_kernel(native_libs):
    lib = ctypes.CDLL(str(native_libs.cpu_capi))
    fn = lib.natx_na2d_forward_cpu
    fn.restype = ctypes.c_char_p
    fn.argtypes = [ctypes.c_int] * 9 + [ctypes.c_float, _F32P, _F32P, _F32P, ctypes.c_int]

    def run(qkv, heads, kernel_size, dilation, scale, rpb=None, threads=0):
        qkv = np.ascontiguousarray(qkv, dtype=np.float32)
        B, H, W, C3 = qkv.shape
        D = C3 // (3 * heads)
        out = np.full((B, H, W, heads * D), np.nan, dtype=np.float32)  # poisoned
        r = None if rpb is None else np.ascontiguousarray(rpb, dtype=np.float32)
        err = fn(
            B,
            H,
            W,
            heads,
            D,
            kernel_size[0],
            kernel_size[1],
            dilation[0],
            dilation[1],
            scale,
            qkv.ctypes.data_as(_F32P),
            None if r is None else r.ctypes.data_as(_F32P),
            out.ctypes.data_as(_F32P),
            threads,
        )
        if err:
            raise ValueError(err.decode())
        return out

    return run


def test_matches_natten(cpu_kernel, na_ref, natten_case):
    m, q, k, v, rpb, ref = natten_case
    K, d = m["kernel_size"], m["dilation"]
    out = cpu_kernel(na_ref.pack_qkv(q, k, v), m["heads"], (K, K), (d, d), m["scale"], rpb)
    assert np.abs(out - ref).max() <= 1e-5


RANDOM = [
    # B, H, W, heads, D, (Kh, Kw), (dh, dw), rpb
    (2, 9, 13, 2, 8, (3, 5), (1, 1), True),
    (1, 10, 7, 3, 5, (3, 3), (3, 2), True),  # H % d != 0, odd D
    (1, 23, 17, 2, 12, (5, 3), (4, 5), False),  # no rpb, dilation on both axes
    (3, 7, 7, 1, 32, (7, 7), (1, 1), True),  # K == H == W
    (1, 16, 21, 4, 16, (1, 3), (2, 7), True),  # K = 1 on one axis
    (1, 14, 14, 2, 33, (5, 5), (2, 2), True),  # D not a multiple of 8
]


@pytest.mark.parametrize("shape", RANDOM, ids=[f"case{i}" for i in range(len(RANDOM))])
@pytest.mark.parametrize("threads", [1, 2])
def test_random_shapes(cpu_kernel, na_ref, shape, threads):
    B, H, W, heads, D, K, d, has_rpb = shape
    rng = np.random.default_rng(RANDOM.index(shape))
    q, k, v, rpb = na_ref.random_case(rng, B, H, W, heads, D, K, d, has_rpb)
    scale = D**-0.5
    ref = na_ref.reference(q, k, v, K, d, scale, rpb)
    out = cpu_kernel(na_ref.pack_qkv(q, k, v), heads, K, d, scale, rpb, threads=threads)
    assert np.abs(out - ref).max() <= 1e-5


def test_many_threads_same_result(cpu_kernel, na_ref):
    rng = np.random.default_rng(0)
    q, k, v, rpb = na_ref.random_case(rng, 4, 20, 20, 2, 16, (7, 7), (2, 2), True)
    qkv = na_ref.pack_qkv(q, k, v)
    one = cpu_kernel(qkv, 2, (7, 7), (2, 2), 0.25, rpb, threads=1)
    many = cpu_kernel(qkv, 2, (7, 7), (2, 2), 0.25, rpb, threads=7)
    np.testing.assert_array_equal(one, many)


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
def test_invalid_params_rejected(cpu_kernel, kernel_size, dilation, hw, match):
    qkv = np.zeros((1, *hw, 3 * 2 * 4), dtype=np.float32)
    with pytest.raises(ValueError, match=match):
        cpu_kernel(qkv, 2, kernel_size, dilation, 0.5)


@pytest.mark.parametrize("scale", [0.0, -0.25, float("nan"), float("inf")])
def test_non_positive_or_non_finite_scale_rejected(cpu_kernel, scale):
    """The kernels run na_validate, which applies the same attribute rules as the adapters."""
    with pytest.raises(ValueError, match="scale must be a finite number > 0"):
        cpu_kernel(np.zeros((1, 8, 8, 24), dtype=np.float32), 2, (3, 3), (1, 1), scale)
