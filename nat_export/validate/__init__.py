"""Parity of ONNX Runtime / TensorRT with the PyTorch reference."""

from .metrics import TOLERANCES, Tolerance, compare, passes
from .table import print_report
from .validation import ValidationError, ValidationReport, random_inputs, validate

__all__ = [
    "TOLERANCES",
    "Tolerance",
    "ValidationError",
    "ValidationReport",
    "compare",
    "passes",
    "print_report",
    "random_inputs",
    "validate",
]
