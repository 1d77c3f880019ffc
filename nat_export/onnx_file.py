"""Facts about ONNX files and atomic writes, without torch: the contract's names, nat_export.* metadata,
NA node count, graph input shapes. Shared by export, validation and the TensorRT / runtime side."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

# The NA op contract, version 1 (docs/contract.md)
OP_TYPE = "NeighborhoodAttention2D"
DOMAIN = "trt.plugins"
PLUGIN_VERSION = "1"
CONTRACT_VERSION = "1"

METADATA_PREFIX = "nat_export."
METADATA_JSON_KEYS = frozenset({"config", "preprocessing", "labels", "resolution", "source"})


def read_metadata(model) -> dict:
    """The ``nat_export.*`` metadata_props of a ModelProto, prefix dropped, JSON values decoded."""
    out = {}
    for prop in model.metadata_props:
        if not prop.key.startswith(METADATA_PREFIX):
            continue
        key = prop.key[len(METADATA_PREFIX):]
        try:
            out[key] = json.loads(prop.value) if key in METADATA_JSON_KEYS else prop.value
        except json.JSONDecodeError:
            out[key] = prop.value
    return out


def count_na_nodes(model) -> int:
    return sum(1 for n in model.graph.node if n.op_type == OP_TYPE and n.domain == DOMAIN)


def input_shapes(model) -> dict[str, list[int | str | None]]:
    """Graph inputs (initializers excluded) -> dims (int, or the dim_param / None when dynamic)."""
    inits = {i.name for i in model.graph.initializer}
    out = {}
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        out[vi.name] = [
            int(d.dim_value) if d.HasField("dim_value") and d.dim_value > 0 else (d.dim_param or None)
            for d in vi.type.tensor_type.shape.dim
        ]
    return out


def write_atomic(path: str | Path, data: bytes | memoryview, force: bool = True) -> None:
    """Write to a temporary file beside ``path`` and rename it into place."""
    path = Path(path)
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists; pass --force to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
