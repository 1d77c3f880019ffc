"""ONNX Runtime CPU sessions: the portable graph as it is, the custom-op graph with our op library."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def make_session(onnx_path, custom_op_library: str | Path | None = None, threads: int | None = None):
    """An ``InferenceSession`` on the CPU; registers the NA custom-op library when given."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    if threads:
        so.intra_op_num_threads = threads
    if custom_op_library is not None:
        so.register_custom_ops_library(str(custom_op_library))
    model = onnx_path.SerializeToString() if hasattr(onnx_path, "SerializeToString") else str(onnx_path)
    return ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])


def run_session(session, pixel_values: np.ndarray) -> dict[str, np.ndarray]:
    """Feed ``pixel_values`` (cast to the graph's input type) and return every output by name."""
    inp = session.get_inputs()[0]
    dtype = {"tensor(float16)": np.float16, "tensor(bfloat16)": None}.get(inp.type, np.float32)
    if dtype is None:
        raise RuntimeError("ONNX Runtime on the CPU cannot run a bfloat16 graph")
    names = [o.name for o in session.get_outputs()]
    outs = session.run(names, {inp.name: pixel_values.astype(dtype)})
    return {n: np.asarray(o) for n, o in zip(names, outs)}
