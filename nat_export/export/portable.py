"""--portable: every NeighborhoodAttention2D node expanded into standard ONNX ops.

Each distinct NA signature (heads, kernel, dilation, scale, dtype, bias, head dim, map size) is
exported once from the gather form of the reference op (:func:`nat_export.ops.na2d_gather`), turned
into an ONNX local function, and inlined at every node that has it. The same expansion serves
``nat-export validate`` for custom-op files when the ONNX Runtime op library is not built.
"""

from __future__ import annotations

import warnings

import onnx
import onnx.inliner
import torch
from onnx import helper

from ..ops import na2d_qkv_reference
from .contract import DOMAIN, OP_TYPE

FUNCTION_DOMAIN = "nat_export.portable"
_TORCH_DTYPE = {
    onnx.TensorProto.FLOAT: torch.float32,
    onnx.TensorProto.FLOAT16: torch.float16,
    onnx.TensorProto.BFLOAT16: torch.bfloat16,
}


_CACHE: dict[tuple, onnx.FunctionProto] = {}  # one export per signature and process


class _NA(torch.nn.Module):
    def __init__(self, heads, kernel, dilation, scale):
        super().__init__()
        self.args = heads, kernel, dilation, scale

    def forward(self, qkv, rpb=None):
        heads, kernel, dilation, scale = self.args
        return na2d_qkv_reference(qkv, heads, kernel, dilation, rpb, scale, gather=True)


def _value_types(proto: onnx.ModelProto) -> dict[str, onnx.TypeProto]:
    g = proto.graph
    types = {v.name: v.type for v in [*g.input, *g.value_info, *g.output]}
    for init in g.initializer:
        types[init.name] = helper.make_tensor_type_proto(init.data_type, list(init.dims))
    return types


def _signature(node, types) -> tuple:
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    t = types.get(node.input[0])
    if t is None or not t.tensor_type.shape.dim:
        raise ValueError(
            f"{node.name}: the type and shape of input {node.input[0]!r} are unknown; run onnx shape inference first"
        )
    dims = [d.dim_value if d.HasField("dim_value") else None for d in t.tensor_type.shape.dim]
    has_rpb = len(node.input) > 1 and node.input[1] != ""
    return (
        int(attrs["num_heads"]),
        tuple(attrs["kernel_size"]),
        tuple(attrs["dilation"]),
        float(attrs["scale"]),
        t.tensor_type.elem_type,
        has_rpb,
        dims[1],
        dims[2],
        dims[3],
    )


def _function_for(sig, name: str, opset: int) -> onnx.FunctionProto:
    heads, kernel, dilation, scale, elem, has_rpb, height, width, channels = sig
    dtype = _TORCH_DTYPE[elem]
    h = height or kernel[0] * dilation[0] + 1
    w = width or kernel[1] * dilation[1] + 1
    args = [torch.zeros(2, h, w, channels, dtype=dtype)]
    if has_rpb:
        args.append(torch.zeros(heads, 2 * kernel[0] - 1, 2 * kernel[1] - 1, dtype=dtype))
    dims = {0: torch.export.Dim("batch", min=1)}
    if height is None:
        dims[1] = torch.export.Dim("height", min=kernel[0] * dilation[0])
    if width is None:
        dims[2] = torch.export.Dim("width", min=kernel[1] * dilation[1])
    shapes = (dims, None) if has_rpb else (dims,)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.export.export(
            _NA(heads, kernel, dilation, scale), tuple(args), dynamic_shapes=shapes, strict=False
        )
        sub = torch.onnx.export(
            program, tuple(args), dynamo=True, opset_version=opset, optimize=True, verbose=False
        ).model_proto
    g = sub.graph
    consts = [helper.make_node("Constant", [], [i.name], value=i) for i in g.initializer]
    return helper.make_function(
        FUNCTION_DOMAIN,
        name,
        [i.name for i in g.input],
        [o.name for o in g.output],
        consts + list(g.node),
        list(sub.opset_import),
    )


def expand_na_nodes(proto: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``proto`` with every NA contract node replaced by standard ops."""
    model = onnx.ModelProto()
    model.CopyFrom(proto)
    if not any(n.op_type == OP_TYPE and n.domain == DOMAIN for n in model.graph.node):
        return model
    if not model.graph.value_info:
        model = onnx.shape_inference.infer_shapes(model)
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    types = _value_types(model)
    functions: dict[tuple, onnx.FunctionProto] = {}
    for node in model.graph.node:
        if node.op_type != OP_TYPE or node.domain != DOMAIN:
            continue
        sig = _signature(node, types)
        if sig not in functions:
            key = (*sig, opset)
            if key not in _CACHE:
                _CACHE[key] = _function_for(sig, f"NeighborhoodAttention2D_{len(_CACHE)}", opset)
            functions[sig] = _CACHE[key]
        fn = functions[sig]
        node.op_type, node.domain = fn.name, FUNCTION_DOMAIN
        del node.attribute[:]
        if len(node.input) > 1 and node.input[1] == "":
            del node.input[1:]
    model.functions.extend(functions.values())
    model.opset_import.append(helper.make_opsetid(FUNCTION_DOMAIN, 1))
    model = onnx.inliner.inline_local_functions(model)
    keep = [o for o in model.opset_import if o.domain not in (DOMAIN, FUNCTION_DOMAIN)]
    del model.opset_import[:]
    model.opset_import.extend(keep)
    return model


__all__ = ["expand_na_nodes"]
