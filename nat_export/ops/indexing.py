"""Neighborhood index arithmetic of the NA op contract (one axis at a time).

Written with plain tensor arithmetic on ``arange(length)`` so that it traces with a
symbolic ``length`` (dynamic resolution in torch.export / ONNX).
"""

from __future__ import annotations

import torch


def window_indices(length, kernel: int, dilation: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Key positions and bias offsets for every query along one axis.

    Returns ``(keys, bias)``, both int64 ``[length, kernel]``:
    ``keys[i, t]`` is the position of the t-th key of query ``i`` and ``bias[i, t]`` the
    matching index into the rpb axis of size ``2 * kernel - 1``.

    Per the contract: group ``g = i % d``, position in group ``p = i // d``, group length
    ``Lg = ceil(L / d)`` minus one for the last ``ceil(L/d)*d - L`` groups, window start
    ``s = max(p - nb, 0) + (p + nb >= Lg) * (Lg - p - nb - 1)`` (shifted inward at the
    borders), keys ``(s + t) * d + g``, bias ``(K - 1) + (s + t - p)``.
    """
    i = torch.arange(length, device=device)
    nb = kernel // 2
    g = i % dilation
    p = i // dilation
    full = (length + dilation - 1) // dilation
    short_groups = full * dilation - length
    group_len = full - (g >= dilation - short_groups).to(torch.int64)
    start = (p - nb).clamp(min=0) + (p + nb >= group_len).to(torch.int64) * (group_len - p - nb - 1)
    rel = start.unsqueeze(1) + torch.arange(kernel, device=device).unsqueeze(0)
    keys = rel * dilation + g.unsqueeze(1)
    bias = (kernel - 1) + rel - p.unsqueeze(1)
    return keys, bias
