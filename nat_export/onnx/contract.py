"""The NA op contract (version 1, docs/contract.md) as ONNX sees it: names and the op schema.

Torch-free: the exporter (:mod:`nat_export.export.contract`) adds the torch -> ONNX translation.
"""

from __future__ import annotations

import onnx
from onnx.defs import OpSchema

OP_TYPE = "NeighborhoodAttention2D"
DOMAIN = "trt.plugins"
PLUGIN_VERSION = "1"
CONTRACT_VERSION = "1"

__all__ = ["CONTRACT_VERSION", "DOMAIN", "OP_TYPE", "PLUGIN_VERSION", "is_na_node", "register_schema"]


def is_na_node(node) -> bool:
    """Whether an ONNX ``NodeProto`` is a contract NA node."""
    return node.op_type == OP_TYPE and node.domain == DOMAIN


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
