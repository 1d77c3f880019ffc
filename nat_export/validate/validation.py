"""Run two or more backends on the same inputs and report their agreement with the PyTorch reference."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..models import NAT
from ..onnx.files import OnnxFacts, read_onnx, write_atomic
from ..runtime.runners import ModelRunner, RunnerError, TorchRunner, open_model
from .metrics import TOLERANCES, Tolerance, compare, passes


class ValidationError(ValueError):
    """Validation cannot run as asked (the message says what to pass instead)."""


@dataclass
class Check:
    backend: str
    output: str
    shape: list[int]
    metrics: dict
    ok: bool
    input_shape: list[int] | None = None


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

    def write_json(self, path, force: bool = True) -> None:
        """Write the report atomically (``force=False``: refuse to replace an existing file)."""
        write_atomic(Path(path), (json.dumps(self.to_dict(), indent=1) + "\n").encode(), force=force)


def random_inputs(samples: int, batch: int, resolution, channels: int = 3, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((batch, channels, *resolution)).astype(np.float32) for _ in range(samples)]


def _resolution(facts: OnnxFacts) -> tuple[int, int]:
    if facts.description.resolution:
        return facts.description.resolution
    hw = facts.input_shape[2:]
    if len(hw) == 2 and all(isinstance(d, int) for d in hw):
        return (int(hw[0]), int(hw[1]))
    raise ValidationError(f"{facts.path} records no resolution and its input size is dynamic; pass --images DIR")


def check_description(onnx_path, onnx_model, facts: OnnxFacts) -> None:
    """The recorded description must agree with the graph it describes (metadata is data, and may be tampered).

    Raises:
        MetadataError: dtype, NA mode, labels, classes or the preprocessing crop contradict the graph.
    """
    from ..onnx.fp16 import graph_float_type
    from ..onnx.metadata import MetadataError

    desc = facts.description

    def fail(what: str) -> MetadataError:
        return MetadataError(f"{onnx_path}: {what}; re-export the model with `nat-export onnx`")

    actual = graph_float_type(onnx_model)
    if desc.dtype is not None and actual is not None and actual != desc.dtype:
        raise fail(
            f"nat_export.dtype says {desc.dtype} but the graph's weights are {actual} (the tolerance depends on it)"
        )
    if desc.na_mode == "portable" and facts.na_nodes > 0:
        raise fail(f"nat_export.na_mode says portable but the graph has {facts.na_nodes} NA custom-op nodes")
    if desc.na_mode == "plugin" and facts.na_nodes == 0:
        raise fail("nat_export.na_mode says plugin but the graph has no NA custom-op node")
    dims = [
        d.dim_value if d.HasField("dim_value") else None for d in onnx_model.graph.output[0].type.tensor_type.shape.dim
    ]
    classes = dims[-1] if len(dims) == 2 else None
    if classes and desc.labels is not None and len(desc.labels) != classes:
        raise fail(f"nat_export.labels has {len(desc.labels)} labels for the graph's {classes} classes")
    if classes and isinstance(desc.config, dict) and desc.config.get("num_classes") not in (None, 0, classes):
        raise fail(f"nat_export.config says {desc.config.get('num_classes')} classes, the graph has {classes}")
    if isinstance(desc.config, dict) and desc.config:
        from ..models import ConfigError, NatConfig

        try:
            NatConfig.from_dict(desc.config)
        except ConfigError as e:
            raise fail(f"nat_export.config is not a valid NAT/DiNAT config ({str(e).split('; ')[0]})") from None
    hw = facts.input_shape[2:] if len(facts.input_shape) == 4 else []
    if desc.preprocessing is not None and len(hw) == 2 and all(isinstance(d, int) for d in hw):
        if tuple(desc.preprocessing.center_crop) != tuple(hw):
            raise fail(f"the recorded preprocessing crops {list(desc.preprocessing.center_crop)}, the graph takes {hw}")


def _fit_to_graph(inputs: list[np.ndarray], facts: OnnxFacts) -> list[np.ndarray]:
    """Inputs as the graph takes them: split into its fixed batch (the last chunk padded with repeats of its
    images, which compare like any other); a size the graph fixes otherwise is one clear error."""
    shape = facts.input_shape
    for x in inputs:
        for ax in range(1, min(len(shape), x.ndim)):
            if isinstance(shape[ax], int) and x.shape[ax] != shape[ax]:
                raise RunnerError(
                    f"{facts.path} takes inputs {['N' if ax == 0 else d for ax, d in enumerate(shape)]}, but the "
                    f"inputs are {list(x.shape)} (recorded resolution {facts.description.resolution}); re-export "
                    "the file with `nat-export onnx`"
                )
    fixed = facts.fixed_batch
    if fixed is None:
        return inputs
    out = []
    for x in inputs:
        for start in range(0, x.shape[0], fixed):
            chunk = x[start : start + fixed]
            if chunk.shape[0] < fixed:
                chunk = np.concatenate([chunk, np.resize(chunk, (fixed - chunk.shape[0], *chunk.shape[1:]))])
            out.append(chunk)
    return out


class _FunctionRunner(ModelRunner):
    """Any ``feed -> {name: array}`` callable as a runner (outputs compared as float32)."""

    def __init__(self, fn, name: str):
        super().__init__(name=name, prefix="function-runner")
        self._fn = fn

    def get_input_metadata_impl(self):
        from polygraphy.common import TensorMetadata

        return TensorMetadata().add("pixel_values", np.float32, (None, None, None, None))

    def infer_impl(self, feed_dict):
        out = self._fn(feed_dict)
        return {k: np.asarray(v, dtype=np.float32) for k, v in out.items()}


def validate(
    onnx_path: str | Path,
    model: NAT,
    *,
    samples: int = 4,
    batch: int | None = None,
    inputs: list[np.ndarray] | None = None,
    engine=None,
    engine_precision: str | None = None,
    ort_op_library=None,
    tolerance: Tolerance | None = None,
    seed: int = 0,
    onnx_model=None,
    facts: OnnxFacts | None = None,
    resolutions: list[tuple[int, int]] | None = None,
) -> ValidationReport:
    """Compare ONNX Runtime (and a TensorRT engine when given) with the PyTorch reference ``model``.

    Args:
        onnx_path: the exported file; ``onnx_model`` / ``facts`` when the caller already parsed it.
        model: the PyTorch reference (``nat_export.models.NAT``), run in fp32 on the CPU.
        samples, batch, seed: random inputs ``[batch, C, H, W]`` at the recorded resolution (batch: the
            file's fixed batch, else 2); ``inputs`` replaces them.
        resolutions: make the random inputs at each of these (H, W) instead (a dynamic-resolution file checked
            at several sizes); every output is compared at every size, one check each.
        engine: a runner (:class:`~nat_export.runtime.runners.TrtRunner`), a ``TrtEngine`` or any
            ``feed -> outputs`` callable to compare as well; ``engine_precision`` its precision.
        ort_op_library: the ONNX Runtime NA op library (default: the built one; without one the NA
            nodes are expanded into standard ops, and a note says so).
        tolerance: default per precision (:data:`~nat_export.validate.metrics.TOLERANCES`).

    Raises:
        ValidationError: nothing to compare (a bf16 graph without an engine), a batch the file cannot
            take, or no resolution to make inputs at.
    """
    from polygraphy.comparator import Comparator
    from polygraphy.logger import G_LOGGER

    onnx_path = Path(onnx_path)
    if facts is None:
        onnx_model, facts = read_onnx(onnx_path, load_weights=True)  # once: metadata, shapes, weights
    desc = facts.description
    dtype = desc.dtype or "fp32"
    if onnx_model is not None:
        check_description(onnx_path, onnx_model, facts)
    fixed = facts.fixed_batch
    if samples < 1 and inputs is None:
        raise RunnerError(f"--samples must be >= 1, got {samples}; e.g. --samples 4")
    if batch is not None and (batch < 1 or (fixed is not None and batch != fixed)):
        raise RunnerError(
            f"{onnx_path} has a fixed batch of {fixed}; use --batch {fixed} (or leave --batch out)"
            if fixed is not None
            else f"--batch must be >= 1, got {batch}; e.g. --batch 2, or leave it out"
        )
    if engine is not None and not isinstance(engine, ModelRunner):
        from ..runtime.runners import TrtRunner

        engine = TrtRunner(engine) if hasattr(engine, "run_device") else _FunctionRunner(engine, "tensorrt")
    if engine_precision is None and engine is not None:
        engine_precision = getattr(getattr(engine, "engine", None), "precision", None)
    precision = engine_precision if engine_precision in ("fp16", "bf16") else dtype
    report = ValidationReport(tolerance=tolerance or TOLERANCES[precision])
    if inputs is not None:
        groups = [inputs]
    else:
        groups = [
            random_inputs(samples, batch or fixed or 2, hw, model.config.in_chans, seed)
            for hw in (resolutions or [_resolution(facts)])
        ]
    report.samples = sum(x.shape[0] for group in groups for x in group)
    groups = [_fit_to_graph(group, facts) for group in groups]

    runners: list[ModelRunner] = [TorchRunner(model, facts.outputs)]
    if dtype == "bf16":
        report.notes.append("ONNX Runtime on the CPU cannot run bf16 graphs: only the TensorRT engine is compared")
    else:
        ort = open_model(
            onnx_path, ort_op_library=ort_op_library, expand_missing_op=True, model=onnx_model, facts=facts
        )
        runners.append(ort)
        report.notes += list(ort.notes)
    if engine is not None:
        engine.name = "tensorrt"
        runners.append(engine)
    if len(runners) < 2:
        raise ValidationError(
            "nothing to compare: ONNX Runtime on the CPU cannot run this bf16 graph; pass --engine ENGINE "
            "(a TensorRT engine built from it)"
        )

    G_LOGGER.module_severity = G_LOGGER.ERROR
    for group in groups:
        results = Comparator.run(runners, data_loader=[{"pixel_values": x} for x in group])
        _, ref_iters = results[0]
        input_shape = list(group[0].shape)
        for name, iters in list(results)[1:]:
            for out in facts.outputs:
                ref = np.concatenate([it[out] for it in ref_iters])
                got = np.concatenate([np.asarray(it[out], dtype=np.float32) for it in iters])
                m = compare(ref, got, logits=(out == "logits"))
                ok = passes(m, report.tolerance)
                report.checks.append(Check(name, out, list(got.shape), m, ok, input_shape))
    return report
