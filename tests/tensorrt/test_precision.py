"""The precision policy per TensorRT major (pure function)."""

from __future__ import annotations

import pytest

from nat_export.tensorrt.precision import precision_plan
from nat_export.tensorrt.profiles import ProfileError


@pytest.mark.parametrize(
    "requested, onnx_type, major, strongly, expect",
    [
        ("fp32", "fp32", 10, False, ("fp32", True, None, None)),
        ("fp32", "fp32", 11, False, ("fp32", True, None, None)),
        ("fp16", "fp32", 11, False, ("fp16", True, "fp16", None)),
        ("bf16", "fp32", 11, False, ("bf16", True, "bf16", None)),
        ("fp16", "fp32", 10, False, ("fp16", False, None, "FP16")),
        ("bf16", "fp32", 10, False, ("bf16", False, None, "BF16")),
        ("fp16", "fp32", 10, True, ("fp16", True, "fp16", None)),
        ("fp16", "fp16", 10, False, ("fp16", True, None, None)),
        ("fp16", "fp16", 11, False, ("fp16", True, None, None)),
        ("fp32", "fp16", 11, False, ("fp16", True, None, None)),
    ],
)
def test_precision_plan(requested, onnx_type, major, strongly, expect):
    plan = precision_plan(requested, onnx_type, major, strongly)
    assert (plan.precision, plan.strongly_typed, plan.convert_to, plan.builder_flag) == expect
    assert plan.mode


def test_precision_plan_refuses_cross_conversion():
    with pytest.raises(ProfileError, match="cannot be built as bf16"):
        precision_plan("bf16", "fp16", 11)
