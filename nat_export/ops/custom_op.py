"""The fused-qkv NA op as a torch custom op, so that export sees exactly one node per NA layer.

``torch.ops.nat_export.na2d_qkv(qkv, rpb, num_heads, kernel_size, dilation, scale)`` mirrors the
ONNX contract (``NeighborhoodAttention2D``, domain ``trt.plugins``) argument for argument.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .checks import pair
from .reference import na2d_qkv_reference

OP_NAME = "nat_export::na2d_qkv"


@torch.library.custom_op(OP_NAME, mutates_args=())
def _na2d_qkv_op(
    qkv: torch.Tensor,
    rpb: torch.Tensor | None,
    num_heads: int,
    kernel_size: Sequence[int],
    dilation: Sequence[int],
    scale: float,
) -> torch.Tensor:
    return na2d_qkv_reference(qkv, num_heads, kernel_size, dilation, rpb, scale).contiguous()


@_na2d_qkv_op.register_fake
def _na2d_qkv_fake(qkv, rpb, num_heads, kernel_size, dilation, scale):
    return qkv.new_empty((*qkv.shape[:-1], qkv.shape[-1] // 3))


def na2d_qkv(qkv, num_heads: int, kernel_size, dilation=1, rpb=None, scale=None) -> torch.Tensor:
    """Fused-qkv neighborhood attention through the custom op (one node when exported)."""
    if scale is None:
        scale = (qkv.shape[-1] // (3 * num_heads)) ** -0.5
    return torch.ops.nat_export.na2d_qkv(
        qkv, rpb, int(num_heads), list(pair(kernel_size, "kernel_size")), list(pair(dilation, "dilation")), float(scale)
    )
