"""The exporter's side of the NA op contract: ``nat_export::na2d_qkv`` -> one contract node.

Names and the op schema live in the torch-free :mod:`nat_export.onnx.contract`.
"""

from __future__ import annotations

from ..onnx.contract import CONTRACT_VERSION, DOMAIN, OP_TYPE, PLUGIN_VERSION, register_schema

__all__ = ["CONTRACT_VERSION", "DOMAIN", "OP_TYPE", "PLUGIN_VERSION", "register_schema", "translation_table"]


def translation_table(plugin_namespace: str = "") -> dict:
    """custom_translation_table for torch.onnx.export: nat_export::na2d_qkv -> one contract node."""
    import onnxscript
    import torch

    register_schema()
    opset = onnxscript.values.Opset(DOMAIN, 1)

    def neighborhood_attention_2d(qkv, rpb, num_heads: int, kernel_size, dilation, scale: float):
        return opset.NeighborhoodAttention2D(
            qkv,
            rpb,
            num_heads=num_heads,
            kernel_size=list(kernel_size),
            dilation=list(dilation),
            scale=float(scale),
            plugin_version=PLUGIN_VERSION,
            plugin_namespace=plugin_namespace,
        )

    return {torch.ops.nat_export.na2d_qkv.default: neighborhood_attention_2d}
