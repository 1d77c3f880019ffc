"""Neighborhood attention (NA) op: reference definition and torch custom op."""

from .checks import NAShapeError
from .custom_op import na2d_qkv
from .indexing import window_indices
from .reference import na2d, na2d_gather, na2d_qkv_reference, split_qkv

__all__ = [
    "NAShapeError",
    "na2d",
    "na2d_gather",
    "na2d_qkv",
    "na2d_qkv_reference",
    "split_qkv",
    "window_indices",
]
