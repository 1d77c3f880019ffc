"""Argument normalisation and validation shared by every NA entry point.

The rules are the NA op's (contract version 1, docs/contract.md) exactly as the kernel core
states them in ``plugins/core/na_params.{h,cpp}``, which the TensorRT plugin and the ONNX
Runtime op apply; ``tests/native/test_attr_rules.py`` runs a grid of good and bad values
through both and proves they accept and reject the same inputs with the same message.

- ``num_heads``: ``1 <= num_heads <= MAX_NUM_HEADS``
- ``kernel_size``: odd, ``1 <= K <= MAX_KERNEL_SIZE`` on both axes
- ``dilation``: ``1 <= d <= MAX_DILATION`` on both axes
- ``scale``: finite and > 0 as float32 (the attribute's type)
- ``qkv [B, H, W, C]``: ``C`` a positive multiple of ``3 * num_heads``; ``H >= Kh * dh``, ``W >= Kw * dw``
- ``rpb``: exactly ``[num_heads, 2*Kh - 1, 2*Kw - 1]``
"""

from __future__ import annotations

import ctypes
import math

#: Upper limits of the attributes (``kNAMaxNumHeads`` etc. in plugins/core/na_params.h).
MAX_NUM_HEADS = 1 << 20
MAX_KERNEL_SIZE = 4095
MAX_DILATION = 4095


class NAShapeError(ValueError):
    """A feature map or argument that the NA op contract does not allow."""


def pair(value, name: str) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    value = tuple(int(v) for v in value)
    if len(value) != 2:
        raise NAShapeError(f"{name} must be an int or a pair (h, w), got {value}")
    return value


def _pair_str(a, b) -> str:
    return f"[{int(a)},{int(b)}]"


def check_num_heads(num_heads: int) -> None:
    """Raise NAShapeError unless ``1 <= num_heads <= MAX_NUM_HEADS``."""
    n = int(num_heads)
    if n < 1:
        raise NAShapeError(f"num_heads must be >= 1, got {n}")
    if n > MAX_NUM_HEADS:
        raise NAShapeError(f"num_heads must be <= {MAX_NUM_HEADS}, got {n}")


def check_kernel_size(kernel: tuple[int, int]) -> None:
    """Raise NAShapeError unless both kernel sizes are odd and in ``[1, MAX_KERNEL_SIZE]``."""
    kh, kw = (int(k) for k in kernel)
    if kh < 1 or kw < 1 or kh % 2 == 0 or kw % 2 == 0:
        raise NAShapeError(f"kernel_size must be odd and >= 1 on both axes, got {_pair_str(kh, kw)}")
    if kh > MAX_KERNEL_SIZE or kw > MAX_KERNEL_SIZE:
        raise NAShapeError(f"kernel_size must be <= {MAX_KERNEL_SIZE} on both axes, got {_pair_str(kh, kw)}")


def check_dilation(dilation: tuple[int, int]) -> None:
    """Raise NAShapeError unless both dilations are in ``[1, MAX_DILATION]``."""
    dh, dw = (int(d) for d in dilation)
    if dh < 1 or dw < 1:
        raise NAShapeError(f"dilation must be >= 1 on both axes, got {_pair_str(dh, dw)}")
    if dh > MAX_DILATION or dw > MAX_DILATION:
        raise NAShapeError(f"dilation must be <= {MAX_DILATION} on both axes, got {_pair_str(dh, dw)}")


def check_scale(scale: float) -> None:
    """Raise NAShapeError unless ``scale``, rounded to float32 as the ONNX attribute stores it,
    is finite and > 0 (``1e-50`` becomes 0 and ``1e39`` becomes inf, both refused)."""
    s = ctypes.c_float(float(scale)).value
    if not (math.isfinite(s) and s > 0):
        raise NAShapeError(f"scale must be a finite number > 0, got {s:g}")


def check_attrs(num_heads: int, kernel: tuple[int, int], dilation: tuple[int, int], scale: float) -> None:
    """The four attribute rules in the core's order; raises for the first one broken."""
    check_num_heads(num_heads)
    check_kernel_size(kernel)
    check_dilation(dilation)
    check_scale(scale)


def check_args(height: int, width: int, kernel: tuple[int, int], dilation: tuple[int, int]) -> None:
    """Raise NAShapeError when the op contract rejects these sizes (symbolic sizes are not checked)."""
    check_kernel_size(kernel)
    check_dilation(dilation)
    for axis, size, k, d in (("height", height, kernel[0], dilation[0]), ("width", width, kernel[1], dilation[1])):
        if isinstance(size, int) and size < k * d:
            raise NAShapeError(
                f"feature map {axis} {size} is smaller than kernel_size*dilation = {k}*{d} = {k * d}; "
                "pad the map first (the NAT/DiNAT models do this) or use a larger input"
            )


def check_qkv_shape(shape, num_heads: int, kernel: tuple[int, int], dilation: tuple[int, int]) -> None:
    """``qkv`` must be ``[B, H, W, 3*num_heads*D]`` with ``D >= 1`` and a map no smaller than the window.

    For valid attributes (:func:`check_attrs`); sizes that are not ints (symbolic) are not checked.
    """
    check_num_heads(num_heads)
    shape = tuple(shape)
    if len(shape) != 4:
        dims = ",".join(str(s) for s in shape)
        raise NAShapeError(f"qkv must be 4-D [B, H, W, 3*num_heads*head_dim], got [{dims}]")
    c = shape[3]
    if isinstance(c, int) and (c <= 0 or c % (3 * num_heads) != 0):
        raise NAShapeError(f"qkv last dim {c} is not a positive multiple of 3*num_heads = {3 * num_heads}")
    check_args(shape[1], shape[2], kernel, dilation)


def check_rpb_shape(shape, num_heads: int, kernel: tuple[int, int]) -> None:
    """``rpb`` must be exactly ``[num_heads, 2*Kh - 1, 2*Kw - 1]``."""
    want = (int(num_heads), 2 * int(kernel[0]) - 1, 2 * int(kernel[1]) - 1)
    shape = tuple(shape)
    if len(shape) != 3 or any(isinstance(s, int) and s != w for s, w in zip(shape, want)):
        got = ",".join(str(s) for s in shape)
        raise NAShapeError(f"rpb must be [num_heads, 2*Kh-1, 2*Kw-1] = [{want[0]},{want[1]},{want[2]}], got [{got}]")
