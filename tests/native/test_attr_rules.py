"""The NA op's rules are stated once in C++ (plugins/core/na_params.{h,cpp}: what the TensorRT
plugin and the ONNX Runtime op apply) and once in Python (nat_export/ops/checks.py: what the
reference and the exporter apply). A grid of good and bad attribute values and shapes goes
through both (the C++ side through libnatx_cpu_capi.so, ctypes); they must accept and reject
the same inputs, with the same message where both phrase it (every attribute rule, the qkv rank
and channel rules, the rpb rule)."""

from __future__ import annotations

import ctypes
import itertools
import math

import pytest

from nat_export.ops import checks
from nat_export.ops.checks import NAShapeError

HEADS = [-1, 0, 1, 4, 1 << 20, (1 << 20) + 1, 1 << 40]
KERNELS = [-3, 0, 1, 2, 3, 4, 7, 4095, 4096, 4097, 1 << 40]
KERNEL_PAIRS = [(k, k) for k in KERNELS] + [(3, 4), (4, 3), (7, 0), (5, 4097), (4095, 4095), (1, 13), (-1, 3)]
DILATIONS = [-1, 0, 1, 2, 4095, 4096]
DILATION_PAIRS = [(d, d) for d in DILATIONS] + [(1, 0), (0, 1), (2, 4096), (3, 1)]
SCALES = [
    0.0,
    -0.0,
    -1.0,
    float("nan"),
    float("inf"),
    float("-inf"),
    0.125,
    1.0,
    1e-50,
    1e-40,
    1e39,
    3.4e38,
    3.40282357e38,
]

_I64 = ctypes.c_int64
_I64P = ctypes.POINTER(ctypes.c_int64)


@pytest.fixture(scope="module")
def core(native_libs):
    lib = ctypes.CDLL(str(native_libs.cpu_capi))
    lib.natx_na_check_attrs.restype = ctypes.c_char_p
    lib.natx_na_check_attrs.argtypes = [ctypes.c_int, _I64, _I64, _I64, _I64, _I64, ctypes.c_float]
    lib.natx_na_check_qkv_dims.restype = ctypes.c_char_p
    lib.natx_na_check_qkv_dims.argtypes = [_I64P, ctypes.c_int, _I64, _I64, _I64, _I64, _I64]
    lib.natx_na_check_rpb_dims.restype = ctypes.c_char_p
    lib.natx_na_check_rpb_dims.argtypes = [_I64P, ctypes.c_int, _I64, _I64, _I64]
    lib.natx_na_limit.restype = _I64
    lib.natx_na_limit.argtypes = [ctypes.c_int]
    return lib


def _dims(values):
    return (_I64 * max(len(values), 1))(*values), len(values)


def _py(fn, *args) -> str | None:
    """The Python rule's verdict: None when accepted, else its message."""
    try:
        fn(*args)
    except NAShapeError as e:
        return str(e)
    return None


def _c(msg: bytes | None) -> str | None:
    return None if msg is None else msg.decode().replace("-nan", "nan")


def test_limits_are_the_same(core):
    assert [core.natx_na_limit(i) for i in range(3)] == [
        checks.MAX_NUM_HEADS,
        checks.MAX_KERNEL_SIZE,
        checks.MAX_DILATION,
    ]


@pytest.mark.parametrize(
    "which, fn, grid",
    [
        (1, lambda h, k, d, s: checks.check_num_heads(h), [(h, (3, 3), (1, 1), 0.5) for h in HEADS]),
        (2, lambda h, k, d, s: checks.check_kernel_size(k), [(1, k, (1, 1), 0.5) for k in KERNEL_PAIRS]),
        (3, lambda h, k, d, s: checks.check_dilation(d), [(1, (3, 3), d, 0.5) for d in DILATION_PAIRS]),
        (4, lambda h, k, d, s: checks.check_scale(s), [(1, (3, 3), (1, 1), s) for s in SCALES]),
    ],
    ids=["num_heads", "kernel_size", "dilation", "scale"],
)
def test_each_attribute_rule_is_identical(core, which, fn, grid):
    for heads, (kh, kw), (dh, dw), scale in grid:
        want = _c(core.natx_na_check_attrs(which, heads, kh, kw, dh, dw, scale))
        got = _py(fn, heads, (kh, kw), (dh, dw), scale)
        assert got == want, (
            f"heads={heads} kernel={(kh, kw)} dilation={(dh, dw)} scale={scale}: python {got!r}, core {want!r}"
        )


def test_all_attribute_rules_together_are_identical(core):
    """Every combination of the grids: the same verdict and the same first rule broken."""
    n_ok = n_bad = 0
    for heads, (kh, kw), (dh, dw), scale in itertools.product(HEADS, KERNEL_PAIRS, DILATION_PAIRS, SCALES):
        want = _c(core.natx_na_check_attrs(0, heads, kh, kw, dh, dw, scale))
        got = _py(checks.check_attrs, heads, (kh, kw), (dh, dw), scale)
        assert got == want, (
            f"heads={heads} kernel={(kh, kw)} dilation={(dh, dw)} scale={scale}: python {got!r}, core {want!r}"
        )
        n_ok += want is None
        n_bad += want is not None
    assert n_ok > 100 and n_bad > 10000  # the grid has both kinds


def test_the_brief_cases():
    """The values named in the rules, each on its own (Python side; the core agrees by the tests above)."""
    bad = {
        "heads 0": (0, (3, 3), (1, 1), 0.125),
        "heads -1": (-1, (3, 3), (1, 1), 0.125),
        "kernel 0": (1, (0, 0), (1, 1), 0.125),
        "kernel 2": (1, (2, 2), (1, 1), 0.125),
        "kernel 4": (1, (4, 4), (1, 1), 0.125),
        "kernel 4097": (1, (4097, 4097), (1, 1), 0.125),
        "dilation 0": (1, (3, 3), (0, 0), 0.125),
        "dilation -1": (1, (3, 3), (-1, -1), 0.125),
        "scale 0": (1, (3, 3), (1, 1), 0.0),
        "scale -1": (1, (3, 3), (1, 1), -1.0),
        "scale nan": (1, (3, 3), (1, 1), math.nan),
        "scale inf": (1, (3, 3), (1, 1), math.inf),
    }
    for what, args in bad.items():
        assert _py(checks.check_attrs, *args) is not None, what
    assert "kernel_size must be <= 4095" in _py(checks.check_attrs, *bad["kernel 4097"])
    for args in [(1, (1, 1), (1, 1), 0.125), (1, (3, 3), (2, 2), 0.125), (4, (4095, 4095), (1, 1), 0.125)]:
        assert _py(checks.check_attrs, *args) is None, args


QKV_SHAPES = [
    (1, 9, 9, 24),
    (0, 9, 9, 24),
    (2, 6, 9, 24),
    (2, 9, 6, 24),
    (1, 7, 7, 24),
    (1, 9, 9, 25),
    (1, 9, 9, 0),
    (1, 9, 9, 6),
    (1, 9, 9, 12),
    (9, 9, 24),
    (1, 1, 9, 9, 24),
    (),
    (1, 14, 13, 48),
]


@pytest.mark.parametrize(
    "heads, kernel, dilation",
    [
        (2, (3, 3), (1, 1)),
        (2, (7, 7), (1, 1)),
        (4, (3, 5), (2, 1)),
        (1, (3, 3), (3, 3)),
        (2, (1, 1), (1, 1)),
    ],
)
def test_qkv_shape_rules_are_identical(core, heads, kernel, dilation):
    for shape in QKV_SHAPES:
        dims, rank = _dims(shape)
        want = _c(core.natx_na_check_qkv_dims(dims, rank, heads, *kernel, *dilation))
        got = _py(checks.check_qkv_shape, shape, heads, kernel, dilation)
        where = f"qkv {shape} heads={heads} kernel={kernel} dilation={dilation}: python {got!r}, core {want!r}"
        assert (got is None) == (want is None), where
        if want is None:
            continue
        if "smaller than kernel_size*dilation" in want:
            # Python names the axis and the factors ("feature map height 6 ... = 7*1 = 7"), C++ the dim.
            assert "smaller than kernel_size*dilation" in got, where
            axis = {"H": "height", "W": "width"}[want.split(" ", 1)[0]]
            assert f"feature map {axis} " in got, where
        else:
            assert got == want, where


@pytest.mark.parametrize("heads, kernel", [(2, (3, 3)), (4, (7, 5)), (1, (1, 1))])
def test_rpb_shape_rule_is_identical(core, heads, kernel):
    kh, kw = kernel
    good = (heads, 2 * kh - 1, 2 * kw - 1)
    shapes = [
        good,
        (heads + 1, *good[1:]),
        (heads, 2 * kh, 2 * kw - 1),
        (heads, 2 * kh - 1, 2 * kw + 1),
        good[:2],
        (*good, 1),
        (),
        (0, 0, 0),
    ]
    for shape in shapes:
        dims, rank = _dims(shape)
        want = _c(core.natx_na_check_rpb_dims(dims, rank, heads, kh, kw))
        got = _py(checks.check_rpb_shape, shape, heads, kernel)
        assert got == want, f"rpb {shape} heads={heads} kernel={kernel}: python {got!r}, core {want!r}"
    assert _c(core.natx_na_check_rpb_dims(*_dims(good), heads, kh, kw)) is None


def test_unknown_dims_pass_in_the_core(core):
    """TensorRT's build-time dims (-1) are not judged; known ones still are."""
    assert core.natx_na_check_qkv_dims(*_dims((-1, -1, -1, -1)), 2, 7, 7, 1, 1) is None
    assert b"not a positive multiple" in core.natx_na_check_qkv_dims(*_dims((-1, -1, -1, 100)), 2, 7, 7, 1, 1)
    assert b"H = 6 is smaller" in core.natx_na_check_qkv_dims(*_dims((-1, 6, -1, -1)), 2, 7, 7, 1, 1)
    assert core.natx_na_check_rpb_dims(*_dims((-1, 13, -1)), 2, 7, 7) is None
