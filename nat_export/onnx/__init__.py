"""The ONNX layer, torch-free: what every other layer knows of an ONNX file.

- :mod:`.contract`  the NA op's names and ONNX schema (docs/contract.md)
- :mod:`.metadata`  :class:`ModelDescription` / :class:`Preprocessing`: the one metadata schema
- :mod:`.files`     :func:`read_onnx` (parse once -> :class:`OnnxFacts`), :func:`write_atomic`
- :mod:`.fp16`      the fp32 -> fp16/bf16 graph pass for strongly typed TensorRT builds
"""

from .contract import CONTRACT_VERSION, DOMAIN, OP_TYPE, PLUGIN_VERSION, register_schema
from .files import OnnxFacts, OnnxFileError, count_na_nodes, input_shapes, read_onnx, write_atomic
from .metadata import METADATA_PREFIX, MetadataError, ModelDescription, Preprocessing

__all__ = [
    "CONTRACT_VERSION",
    "DOMAIN",
    "METADATA_PREFIX",
    "MetadataError",
    "ModelDescription",
    "OP_TYPE",
    "OnnxFacts",
    "OnnxFileError",
    "PLUGIN_VERSION",
    "Preprocessing",
    "count_na_nodes",
    "input_shapes",
    "read_onnx",
    "register_schema",
    "write_atomic",
]
