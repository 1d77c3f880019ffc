"""GELU in the form ONNX Runtime and TensorRT fuse (docs/export.md, "What the graph contains").

Below opset 20 the exporter's stock translation writes exact GELU as ``x * (0.5 * (1 + erf(x / sqrt 2)))``: five
nodes per MLP that ONNX Runtime's ``GeluFusion`` does not match (it matches ``(x * (1 + erf(x / sqrt 2))) * 0.5``
and ``(x * 0.5) * (1 + erf(x / sqrt 2))``), so they ran as five element-wise passes, and the fc1 bias ``Add`` in
front of them stayed a sixth (its tanh form, likewise, is not the order ``FastGeluFusion`` matches).
:func:`gelu_translation`, used by :func:`nat_export.export.to_onnx` through ``custom_translation_table``, emits
instead:

- opset >= 20: the ONNX ``Gelu`` op (``approximate`` kept). ONNX Runtime fuses it with the preceding bias ``Add``
  into ``BiasGelu``; TensorRT >= 10.0 parses it as one GELU activation.
- opset < 20 (the default export is 18): the erf form in the order ONNX Runtime's ``GeluFusion`` matches, which
  it turns into ``Gelu`` and then ``BiasGelu`` with the bias; TensorRT fuses the pointwise chain in any order.

The same function either way: validation parity and tolerances are unchanged.
"""

from __future__ import annotations

import math

__all__ = ["gelu_translation"]


def gelu_translation(opset: int) -> dict:
    """custom_translation_table entry for ``aten.gelu`` at export opset ``opset``."""
    import onnx_ir as ir
    import torch
    from onnxscript import opset18 as op
    from onnxscript import opset20 as op20

    def gelu(self, approximate: str = "none"):
        if opset >= 20:
            return op20.Gelu(self, approximate=approximate)
        dtype = self.dtype  # fp32, fp16 or bf16 exports: the scalars take the tensor's type

        def c(value: float):
            return op.CastLike(ir.tensor(value), self) if dtype is None else ir.tensor(value, dtype=dtype)

        x = self
        if approximate == "tanh":  # FastGeluFusion's order: (x * 0.5) * (1 + tanh((x^3 * 0.044715 + x) * sqrt(2/pi)))
            inner = op.Mul(op.Add(op.Mul(op.Pow(x, c(3.0)), c(0.044715)), x), c(math.sqrt(2 / math.pi)))
            return op.Mul(op.Mul(x, c(0.5)), op.Add(op.Tanh(inner), c(1.0)))
        return op.Mul(op.Mul(x, op.Add(op.Erf(op.Div(x, c(math.sqrt(2.0)))), c(1.0))), c(0.5))

    return {torch.ops.aten.gelu.default: gelu}
