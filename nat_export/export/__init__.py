"""PyTorch -> ONNX export of NAT / DiNAT with the NA contract op."""

from .contract import CONTRACT_VERSION, DOMAIN, OP_TYPE, PLUGIN_VERSION, register_schema
from .exporter import ExportOptions, ExportResult, check_options, count_na_nodes, export_onnx, parse_resolution, to_onnx
from .metadata import build_metadata, describe

__all__ = [
    "CONTRACT_VERSION",
    "DOMAIN",
    "ExportOptions",
    "ExportResult",
    "OP_TYPE",
    "PLUGIN_VERSION",
    "build_metadata",
    "check_options",
    "count_na_nodes",
    "export_onnx",
    "parse_resolution",
    "describe",
    "register_schema",
    "to_onnx",
]
