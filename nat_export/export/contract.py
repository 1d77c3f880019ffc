"""The NA op contract (version 1) as ONNX sees it: names, schema, and the exporter's translation."""
from __future__ import annotations

import onnx
from onnx.defs import OpSchema

from ..onnx_file import CONTRACT_VERSION, DOMAIN, OP_TYPE, PLUGIN_VERSION

__all__ = ["CONTRACT_VERSION", "DOMAIN", "OP_TYPE", "PLUGIN_VERSION", "register_schema", "translation_table"]


def _schema() -> OpSchema:
    attr = OpSchema.AttrType
    optional = OpSchema.FormalParameterOption.Optional
    return OpSchema(
        OP_TYPE,
        DOMAIN,
        1,
        doc=(
            "2-D neighborhood attention on the fused qkv projection (nat-export contract v1): "
            "qkv [B,H,W,3*heads*D] ordered (3, heads, D), optional rpb [heads,2Kh-1,2Kw-1]; "
            "out [B,H,W,heads*D]. Windows are shifted inward at borders; float32 accumulation."
        ),
        inputs=[OpSchema.FormalParameter("qkv", "T"), OpSchema.FormalParameter("rpb", "T", param_option=optional)],
        outputs=[OpSchema.FormalParameter("out", "T")],
        type_constraints=[("T", ["tensor(float)", "tensor(float16)", "tensor(bfloat16)"], "float types")],
        attributes=[
            OpSchema.Attribute("num_heads", attr.INT, "number of heads", required=True),
            OpSchema.Attribute("kernel_size", attr.INTS, "[Kh, Kw], odd", required=True),
            OpSchema.Attribute("dilation", attr.INTS, "[dh, dw], >= 1", required=True),
            OpSchema.Attribute("scale", attr.FLOAT, "multiplies q.k (not the bias)", required=True),
            OpSchema.Attribute("plugin_version", attr.STRING, "TensorRT plugin version", required=False),
            OpSchema.Attribute("plugin_namespace", attr.STRING, "TensorRT plugin namespace", required=False),
        ],
    )


def register_schema() -> None:
    """Make onnx (and onnxscript) know the op; idempotent."""
    try:
        onnx.defs.get_schema(OP_TYPE, 1, DOMAIN)
    except onnx.defs.SchemaError:
        onnx.defs.register_schema(_schema())


def translation_table(plugin_namespace: str = "") -> dict:
    """custom_translation_table for torch.onnx.export: nat_export::na2d_qkv -> one contract node."""
    import onnxscript
    import torch

    register_schema()
    opset = onnxscript.values.Opset(DOMAIN, 1)

    def neighborhood_attention_2d(qkv, rpb, num_heads: int, kernel_size, dilation, scale: float):
        return opset.NeighborhoodAttention2D(
            qkv, rpb, num_heads=num_heads, kernel_size=list(kernel_size), dilation=list(dilation),
            scale=float(scale), plugin_version=PLUGIN_VERSION, plugin_namespace=plugin_namespace,
        )

    return {torch.ops.nat_export.na2d_qkv.default: neighborhood_attention_2d}
