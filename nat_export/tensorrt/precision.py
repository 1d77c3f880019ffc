"""The precision policy: how to build fp32 / fp16 / bf16 from an ONNX of a given float type.

- fp32: strongly typed build with TF32 off (``--tf32`` allows it), so the engine agrees with
  PyTorch fp32 to about 1e-5.
- fp16 / bf16 on TensorRT >= 11: only strongly typed networks exist, so an fp32 ONNX is first
  converted by :mod:`nat_export.onnx.fp16` (fp16 weights and activations; LayerNorm, softmax
  and reductions in fp32; inputs/outputs stay fp32); an ONNX already of that type is built as it is.
- fp16 / bf16 on TensorRT 10: the builder flag on the fp32 ONNX (weak typing, TensorRT picks
  per layer), unless ``strongly_typed=True`` asks for the TensorRT 11 way.
"""

from __future__ import annotations

from dataclasses import dataclass

from .profiles import ProfileError

__all__ = ["PRECISIONS", "PrecisionPlan", "precision_plan"]

PRECISIONS = ("fp32", "fp16", "bf16")


@dataclass(frozen=True)
class PrecisionPlan:
    precision: str  # what the engine computes in: fp32 / fp16 / bf16
    strongly_typed: bool
    convert_to: str | None  # run nat_export.onnx.fp16 to this type before parsing
    builder_flag: str | None  # "FP16" / "BF16": TensorRT 10 weak typing
    note: str

    @property
    def mode(self) -> str:
        if self.builder_flag:
            return f"builder flag {self.builder_flag} on the fp32 ONNX (TensorRT 10 weak typing)"
        if self.convert_to:
            return f"strongly typed; {self.convert_to}-typed ONNX prepared by nat_export.onnx.fp16"
        return f"strongly typed; the ONNX is {self.precision}-typed as given"


def precision_plan(
    requested: str, onnx_type: str | None, trt_major: int, strongly_typed: bool = False
) -> PrecisionPlan:
    """How to build ``requested`` precision from an ONNX of ``onnx_type`` with TensorRT ``trt_major``."""
    if requested not in PRECISIONS:
        raise ProfileError(f"unknown precision {requested!r}; use one of {', '.join(PRECISIONS)}")
    onnx_type = onnx_type or "fp32"
    if requested == "fp32":
        if onnx_type != "fp32":
            return PrecisionPlan(
                onnx_type, True, None, None, f"the ONNX is {onnx_type}-typed: the engine is {onnx_type}"
            )
        return PrecisionPlan("fp32", True, None, None, "fp32, TF32 off")
    if onnx_type == requested:
        return PrecisionPlan(requested, True, None, None, f"the ONNX is already {requested}-typed")
    if onnx_type != "fp32":
        raise ProfileError(
            f"the ONNX is {onnx_type}-typed and cannot be built as {requested}; export it in fp32 "
            f"(nat-export onnx) and build with --{requested}"
        )
    if trt_major >= 11 or strongly_typed:
        return PrecisionPlan(
            requested, True, requested, None, f"fp32 ONNX converted to {requested} for a strongly typed build"
        )
    return PrecisionPlan(
        requested, False, None, requested.upper(), f"TensorRT {trt_major}: builder flag {requested.upper()}"
    )
