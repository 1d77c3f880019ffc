"""Reference neighborhood attention in plain PyTorch: the definition everything is checked against.

Two formulations of the same contract:

* :func:`na2d` loops over the ``Kh * Kw`` window offsets, so memory stays at
  ``O(B*H*W*heads*(K*K + D))``: no ``[.., K*K, D]`` gather, never a dense ``HW x HW`` matrix.
  It is the eager reference and the implementation behind the torch custom op.
* :func:`na2d_gather` gathers every key/value of the window at once
  (``O(B*H*W*heads*K*K*D)`` memory). It exports to a handful of standard ONNX ops and is the
  ``--portable`` decomposition.

fp16 / bf16 inputs are computed in float32 and the result cast back.
"""

from __future__ import annotations

import torch

from .checks import NAShapeError, check_args, check_num_heads, check_scale, pair
from .indexing import window_indices


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def _prepare(q, k, v, kernel_size, dilation, rpb, scale):
    if q.dim() != 5 or k.shape != q.shape or v.shape != q.shape:
        raise NAShapeError(
            f"q, k, v must all be [B, H, W, heads, D] with the same shape, got {tuple(q.shape)}, "
            f"{tuple(k.shape)}, {tuple(v.shape)}"
        )
    _, height, width, heads, head_dim = q.shape
    kernel, dil = pair(kernel_size, "kernel_size"), pair(dilation, "dilation")
    check_args(height, width, kernel, dil)
    if rpb is not None and tuple(rpb.shape) != (heads, 2 * kernel[0] - 1, 2 * kernel[1] - 1):
        raise NAShapeError(
            f"rpb must be [heads, 2*Kh-1, 2*Kw-1] = {[heads, 2 * kernel[0] - 1, 2 * kernel[1] - 1]}, "
            f"got {list(rpb.shape)}"
        )
    scale = head_dim**-0.5 if scale is None else float(scale)
    if isinstance(heads, int):
        check_num_heads(heads)
    check_scale(scale)
    return kernel, dil, scale


def na2d(q, k, v, kernel_size, dilation=1, rpb=None, scale=None) -> torch.Tensor:
    """2-D neighborhood attention; q, k, v ``[B, H, W, heads, D]``, rpb ``[heads, 2Kh-1, 2Kw-1]``.

    ``scale`` (default ``D ** -0.5``) multiplies q.k; the bias is added unscaled.
    """
    (kh, kw), (dh, dw), scale = _prepare(q, k, v, kernel_size, dilation, rpb, scale)
    height, width = q.shape[1], q.shape[2]
    ct = _compute_dtype(q.dtype)
    qs, k, v = q.to(ct) * scale, k.to(ct), v.to(ct)
    bias = rpb.to(ct) if rpb is not None else None
    keys_h, bias_h = window_indices(height, kh, dh, q.device)
    keys_w, bias_w = window_indices(width, kw, dw, q.device)

    logits = []
    for a in range(kh):
        k_rows = k.index_select(1, keys_h[:, a])
        bias_rows = bias.index_select(1, bias_h[:, a]) if bias is not None else None
        for b in range(kw):
            logit = (qs * k_rows.index_select(2, keys_w[:, b])).sum(-1)  # [B, H, W, heads]
            if bias_rows is not None:
                logit = logit + bias_rows.index_select(2, bias_w[:, b]).permute(1, 2, 0)
            logits.append(logit)
    attn = torch.stack(logits, dim=-1).softmax(dim=-1)  # [B, H, W, heads, Kh*Kw]

    out = torch.zeros_like(qs)
    for a in range(kh):
        v_rows = v.index_select(1, keys_h[:, a])
        for b in range(kw):
            out = out + attn[..., a * kw + b, None] * v_rows.index_select(2, keys_w[:, b])
    return out.to(q.dtype)


def na2d_gather(q, k, v, kernel_size, dilation=1, rpb=None, scale=None) -> torch.Tensor:
    """Same result as :func:`na2d`, as one gather + two batched matmuls (export-friendly)."""
    (kh, kw), (dh, dw), scale = _prepare(q, k, v, kernel_size, dilation, rpb, scale)
    batch, height, width, heads, head_dim = q.shape
    ct = _compute_dtype(q.dtype)
    keys_h, bias_h = window_indices(height, kh, dh, q.device)
    keys_w, bias_w = window_indices(width, kw, dw, q.device)
    # flat key index per query and window slot: [H, W, Kh, Kw] -> [H*W*Kh*Kw]
    flat = (keys_h[:, None, :, None] * width + keys_w[None, :, None, :]).reshape(-1)

    def neighbours(x):  # [B, H, W, heads, D] -> [B, H, W, heads, Kh*Kw, D]
        g = x.to(ct).reshape(batch, height * width, heads * head_dim).index_select(1, flat)
        return g.reshape(batch, height, width, kh * kw, heads, head_dim).transpose(3, 4)

    logits = torch.matmul((q.to(ct) * scale).unsqueeze(-2), neighbours(k).transpose(-1, -2)).squeeze(-2)
    if rpb is not None:
        b = rpb.to(ct)[:, bias_h[:, None, :, None], bias_w[None, :, None, :]]  # [heads, H, W, Kh, Kw]
        logits = logits + b.reshape(heads, height, width, kh * kw).permute(1, 2, 0, 3)
    attn = logits.softmax(dim=-1)
    out = torch.matmul(attn.unsqueeze(-2), neighbours(v)).squeeze(-2)
    return out.to(q.dtype)


def split_qkv(qkv: torch.Tensor, num_heads: int):
    """``[B, H, W, 3*heads*D]`` (ordered (3, heads, D)) -> q, k, v ``[B, H, W, heads, D]``."""
    if qkv.dim() != 4 or qkv.shape[-1] % (3 * num_heads) != 0:
        raise NAShapeError(f"qkv must be [B, H, W, 3*heads*D] with heads={num_heads}, got {list(qkv.shape)}")
    b, h, w, c = qkv.shape
    q, k, v = qkv.reshape(b, h, w, 3, num_heads, c // (3 * num_heads)).unbind(3)
    return q, k, v


def na2d_qkv_reference(qkv, num_heads, kernel_size, dilation=1, rpb=None, scale=None, gather=False):
    """The fused-qkv form of the contract: ``[B,H,W,3*heads*D]`` -> ``[B,H,W,heads*D]``."""
    q, k, v = split_qkv(qkv, num_heads)
    fn = na2d_gather if gather else na2d
    out = fn(q, k, v, kernel_size, dilation, rpb, scale)
    return out.flatten(3)
