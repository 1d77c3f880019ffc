"""Run two or more backends on the same inputs and report their agreement with the PyTorch reference."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx

from ..export import ExportOptions
from ..onnx_file import count_na_nodes, read_metadata
from ..export.portable import expand_na_nodes
from ..models import NAT
from ..runtime.ort import make_session, run_session
from .metrics import TOLERANCES, Tolerance, compare, passes
from .runners import CallableRunner, TorchRunner


class ValidationError(ValueError):
    """Validation cannot run as asked (the message says what to pass instead)."""


@dataclass
class Check:
    backend: str
    output: str
    shape: list[int]
    metrics: dict
    ok: bool


@dataclass
class ValidationReport:
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    tolerance: Tolerance | None = None
    samples: int = 0

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "samples": self.samples,
            "tolerance": vars(self.tolerance) if self.tolerance else None,
            "notes": self.notes,
            "checks": [vars(c) for c in self.checks],
        }

    def write_json(self, path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1))


def random_inputs(samples: int, batch: int, resolution, channels: int = 3, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((batch, channels, *resolution)).astype(np.float32) for _ in range(samples)]


def find_ort_library(explicit=None):
    """The ORT custom-op library, or None when it is not built (the caller says what it does instead)."""
    from ..native.libs import find_library

    try:
        return find_library("ort", explicit)
    except (FileNotFoundError, OSError):
        if explicit:
            raise
        return None


def ort_backend(onnx_path: Path, proto: onnx.ModelProto, ort_library=None) -> tuple[str, object, list[str]]:
    """(label, feed->outputs callable, notes) running the file in ONNX Runtime on the CPU."""
    meta = read_metadata(proto)
    notes = []
    if meta.get("na_mode", "plugin") == "portable" or count_na_nodes(proto) == 0:
        session = make_session(onnx_path)
        label = "ort"
    else:
        lib = find_ort_library(ort_library)
        if lib is not None:
            session = make_session(onnx_path, custom_op_library=lib)
            label = "ort+na-op"
            notes.append(f"ONNX Runtime ran the custom-op graph with the NA op library {lib}")
        else:
            session = make_session(expand_na_nodes(proto))
            label = "ort-portable"
            notes.append(
                "the NA custom-op library is not built, so ONNX Runtime ran this graph with every NA node expanded "
                "into standard ops (--portable); run `nat-export build-plugins` to validate the custom-op graph itself"
            )
    return label, (lambda feed: run_session(session, feed["pixel_values"])), notes


def _options_from_metadata(proto, meta: dict) -> ExportOptions:
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    resolution = tuple(meta.get("resolution") or [dims[2].dim_value, dims[3].dim_value])
    return ExportOptions(
        resolution=resolution,
        batch=dims[0].dim_value or None,
        dynamic_resolution=bool(dims[2].dim_param),
        dtype=meta.get("dtype", "fp32"),
        portable=meta.get("na_mode") == "portable",
        features=len(proto.graph.output) > 1,
    )


def validate(
    onnx_path: str | Path,
    model: NAT,
    *,
    samples: int = 4,
    batch: int | None = None,
    inputs: list[np.ndarray] | None = None,
    engine=None,
    engine_precision: str | None = None,
    ort_library=None,
    tolerance: Tolerance | None = None,
    seed: int = 0,
) -> ValidationReport:
    """Compare ONNX Runtime (and a TensorRT engine when given) with the PyTorch reference ``model``."""
    from polygraphy.comparator import Comparator
    from polygraphy.logger import G_LOGGER

    onnx_path = Path(onnx_path)
    proto = onnx.load(str(onnx_path))  # read once: metadata, shapes and (for the expansion) the weights
    meta = read_metadata(proto)
    opts = _options_from_metadata(proto, meta)
    precision = engine_precision if engine_precision in ("fp16", "bf16") else opts.dtype
    report = ValidationReport(tolerance=tolerance or TOLERANCES[precision])
    names = [o.name for o in proto.graph.output]
    if inputs is None:
        inputs = random_inputs(samples, batch or opts.batch or 2, opts.resolution, model.config.in_chans, seed)
    report.samples = sum(x.shape[0] for x in inputs)

    runners = [TorchRunner(model, names, opts.features)]
    if opts.dtype == "bf16":
        report.notes.append("ONNX Runtime on the CPU cannot run bf16 graphs: only the TensorRT engine is compared")
    else:
        label, fn, notes = ort_backend(onnx_path, proto, ort_library)
        runners.append(CallableRunner(fn, label))
        report.notes += notes
    if engine is not None:
        runners.append(CallableRunner(engine, "tensorrt"))
    if len(runners) < 2:
        raise ValidationError(
            "nothing to compare: ONNX Runtime on the CPU cannot run this bf16 graph; pass --engine ENGINE "
            "(a TensorRT engine built from it)"
        )

    G_LOGGER.module_severity = G_LOGGER.ERROR
    results = Comparator.run(runners, data_loader=[{"pixel_values": x} for x in inputs])
    ref_name, ref_iters = results[0]
    for name, iters in list(results)[1:]:
        for out in names:
            ref = np.concatenate([it[out] for it in ref_iters])
            got = np.concatenate([it[out] for it in iters])
            m = compare(ref, got, logits=(out == "logits"))
            report.checks.append(Check(name, out, list(got.shape), m, passes(m, report.tolerance)))
    return report
