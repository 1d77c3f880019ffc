"""torch -> ONNX with every NA layer as one contract node (default) or as standard ops (--portable)."""

from __future__ import annotations

import copy
import re
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import onnx
import torch
from torch import nn

from ..models import LoadedModel, NatConfig
from ..onnx.files import count_na_nodes, write_atomic
from ..ops import NAShapeError
from .contract import translation_table
from .fusion import gelu_translation
from .metadata import describe
from .portable import expand_na_nodes

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
MIN_OPSET = 18
#: newest opset the exporter's version conversion handles (onnxscript 0.7 has no Gelu adapter past opset 25:
#: 26..28 wrote an opset-18-stamped graph the checker rejects)
MAX_OPSET = 25
MAX_DYNAMIC_SIDE = 4096
#: smallest side of a --dynamic-resolution graph (NAT/DiNAT downsample by 32)
MIN_SIDE = 32
MAX_DYNAMIC_BATCH = 4096


@dataclass
class ExportOptions:
    resolution: tuple[int, int] = (224, 224)
    batch: int | None = None  # None: dynamic batch
    dynamic_resolution: bool = False
    dtype: str = "fp32"
    opset: int = 18
    portable: bool = False
    plugin_namespace: str = ""

    @property
    def na_mode(self) -> str:
        return "portable" if self.portable else "plugin"


@dataclass
class ExportResult:
    path: Path
    model: onnx.ModelProto
    seconds: float
    na_nodes: int


def parse_resolution(text: str | int) -> tuple[int, int]:
    """'224' or '256x192' (H x W) -> (H, W)."""
    s = str(text).lower().replace(" ", "")
    try:
        parts = [int(p) for p in s.split("x")]
    except ValueError:
        parts = []
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or min(parts) <= 0:
        raise NAShapeError(f"resolution {text!r} is not N or HxW with positive integers; use e.g. 224 or 256x192")
    return parts[0], parts[1]


def check_options(config: NatConfig, opts: ExportOptions) -> None:
    """Every rule that would otherwise fail deep inside export, checked up front.

    Raises:
        NAShapeError: a resolution below 32 or (with ``dynamic_resolution``) above the graph's largest side, an
            unknown dtype, an opset outside the supported range, a batch below 1.
    """
    h, w = opts.resolution
    if min(h, w) < MIN_SIDE:
        raise NAShapeError(
            f"resolution {h}x{w} is too small (NAT/DiNAT downsample by 32); use at least {MIN_SIDE}x{MIN_SIDE}"
        )
    if opts.dynamic_resolution and max(h, w) > MAX_DYNAMIC_SIDE:
        raise NAShapeError(
            f"--dynamic-resolution graphs take sides up to {MAX_DYNAMIC_SIDE}, got {h}x{w}; use a smaller --resolution"
        )
    if opts.dtype not in DTYPES:
        raise NAShapeError(f"--dtype {opts.dtype!r} is not one of {', '.join(DTYPES)}; use --fp16 or --bf16")
    newest = min(MAX_OPSET, onnx.defs.onnx_opset_version())
    if opts.opset > newest:
        raise NAShapeError(
            f"--opset {opts.opset} is newer than the exporter converts to reliably; use {MIN_OPSET}..{newest}"
        )
    if opts.opset < MIN_OPSET:
        raise NAShapeError(
            f"--opset {opts.opset} is too old: LayerNormalization and the exporter need opset >= {MIN_OPSET}; "
            f"use --opset {MIN_OPSET}"
        )
    pp = getattr(config, "preprocessing", None)
    if pp is not None and (len(pp.mean) not in (1, config.in_chans) or len(pp.std) not in (1, config.in_chans)):
        raise NAShapeError(
            f"the preprocessing has {len(pp.mean)} mean / {len(pp.std)} std values for a {config.in_chans}-channel "
            f"model; give 1 or {config.in_chans} (e.g. --preprocess mean=0.5,0.5,0.5)"
        )
    if opts.batch is not None and opts.batch < 1:
        raise NAShapeError(
            f"--batch must be >= 1, got {opts.batch}; e.g. --batch 1, or leave it out for a dynamic batch"
        )


def output_names(config: NatConfig) -> list[str]:
    """The graph's outputs: ``logits`` (a classifier) or one map per ``out_features`` stage (a backbone)."""
    return list(config.out_features) if config.is_backbone else ["logits"]


def _export_program(model: nn.Module, config: NatConfig, opts: ExportOptions):
    dtype = DTYPES[opts.dtype]
    net = copy.deepcopy(model).to(dtype).eval()
    batch = opts.batch or 2  # an example batch of 1 would specialise a dynamic axis
    size = tuple(max(side, MIN_SIDE + 1) for side in opts.resolution) if opts.dynamic_resolution else opts.resolution
    x = torch.randn(batch, config.in_chans, *size, dtype=dtype)
    dims = {}
    if opts.batch is None:
        dims[0] = torch.export.Dim("batch", min=1, max=MAX_DYNAMIC_BATCH)
    if opts.dynamic_resolution:
        # Traced from 33: at 32 the last map is 1x1 and torch.export specialises size-1 dims; the graph has no
        # such branch and runs at 32 (tested).
        dims[2] = torch.export.Dim("height", min=MIN_SIDE + 1, max=MAX_DYNAMIC_SIDE)
        dims[3] = torch.export.Dim("width", min=MIN_SIDE + 1, max=MAX_DYNAMIC_SIDE)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.export.export(net, (x,), dynamic_shapes=({**dims},) if dims else None, strict=False)
    return program, x


def to_onnx(model: nn.Module, config: NatConfig, opts: ExportOptions) -> onnx.ModelProto:
    """Export in memory; the ModelProto has no metadata yet."""
    program, x = _export_program(model, config, opts)
    table = {**gelu_translation(opts.opset), **translation_table(opts.plugin_namespace)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        onnx_program = torch.onnx.export(
            program,
            (x,),
            dynamo=True,
            input_names=["pixel_values"],
            output_names=output_names(config),
            custom_translation_table=table,
            opset_version=opts.opset,
            optimize=True,
            verbose=False,
        )
    proto = onnx_program.model_proto
    _strip_node_metadata(proto)
    _name_dynamic_axes(proto)
    return expand_na_nodes(proto) if opts.portable else proto


def _name_dynamic_axes(proto: onnx.ModelProto) -> None:
    """Give the exporter's symbolic dims (s0, s1, ...) the names users see: batch, height, width."""
    names = {0: "batch", 2: "height", 3: "width"}
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    rename = {d.dim_param: names[i] for i, d in enumerate(dims) if d.dim_param and i in names}
    for value in [*proto.graph.input, *proto.graph.output, *proto.graph.value_info]:
        for d in value.type.tensor_type.shape.dim:
            if d.dim_param:
                new = d.dim_param
                for old, name in rename.items():
                    new = re.sub(rf"\b{re.escape(old)}\b", name, new)
                d.dim_param = new


def _strip_node_metadata(proto: onnx.ModelProto) -> None:
    """Drop the exporter's per-node debugging metadata (stack traces of this machine's paths)."""
    for node in proto.graph.node:
        del node.metadata_props[:]


def export_onnx(
    loaded: LoadedModel, out: str | Path, opts: ExportOptions | None = None, force: bool = False
) -> ExportResult:
    """Export ``loaded`` to ``out`` per ``opts``; nothing is written unless the export succeeds.

    The file gets the model's :class:`~nat_export.onnx.metadata.ModelDescription` as ``nat_export.*`` metadata.

    Raises:
        FileExistsError: ``out`` exists and ``force`` is False.
        NAShapeError: options the model cannot be exported with (:func:`check_options`).
    """
    opts = opts or ExportOptions()
    out = Path(out)
    if out.exists() and not force:
        raise FileExistsError(f"{out} exists; pass --force to overwrite it")
    config = loaded.model.config
    check_options(config, opts)
    start = time.perf_counter()
    proto = to_onnx(loaded.model, config, opts)
    describe(loaded.name, config, opts.resolution, opts.dtype, opts.na_mode, loaded.spec).write(proto)
    write_atomic(out, proto.SerializeToString(), force=force)
    return ExportResult(out, proto, time.perf_counter() - start, count_na_nodes(proto))
