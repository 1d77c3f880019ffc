"""Argument normalisation and validation shared by every NA entry point."""
from __future__ import annotations


class NAShapeError(ValueError):
    """A feature map or argument that the NA op contract does not allow."""


def pair(value, name: str) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    value = tuple(int(v) for v in value)
    if len(value) != 2:
        raise NAShapeError(f"{name} must be an int or a pair (h, w), got {value}")
    return value


def check_args(height: int, width: int, kernel: tuple[int, int], dilation: tuple[int, int]) -> None:
    """Raise NAShapeError when the op contract rejects these sizes."""
    for k in kernel:
        if k < 1 or k % 2 == 0:
            raise NAShapeError(f"kernel_size must be odd and >= 1, got {kernel}")
    for d in dilation:
        if d < 1:
            raise NAShapeError(f"dilation must be >= 1, got {dilation}")
    for axis, size, k, d in (("height", height, kernel[0], dilation[0]), ("width", width, kernel[1], dilation[1])):
        if isinstance(size, int) and size < k * d:
            raise NAShapeError(
                f"feature map {axis} {size} is smaller than kernel_size*dilation = {k}*{d} = {k * d}; "
                "pad the map first (the NAT/DiNAT models do this) or use a larger input"
            )
