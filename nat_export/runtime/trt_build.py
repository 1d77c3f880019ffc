"""ONNX -> TensorRT engine: optimization profiles, precision policy, build, engine + sidecar.

Pure parts (tested everywhere): :func:`profiles_from_args`, :func:`precision_plan`,
:func:`make_sidecar` / :func:`write_sidecar`. :func:`build_engine`
needs TensorRT (``tensorrt``, with its builder and ONNX parser) and a GPU.

Precision policy (see docs/tensorrt.md):

- fp32: strongly typed build with TF32 off (``--tf32`` allows it), so the engine agrees with
  PyTorch fp32 to about 1e-5.
- fp16 / bf16 on TensorRT >= 11: only strongly typed networks exist, so an fp32 ONNX is first
  converted by :mod:`nat_export.runtime.fp16` (fp16 weights and activations; LayerNorm,
  softmax and reductions in fp32; inputs/outputs stay fp32); an ONNX already of that type is
  built as it is.
- fp16 / bf16 on TensorRT 10: the builder flag on the fp32 ONNX (weak typing, TensorRT picks
  per layer), unless ``strongly_typed=True`` asks for the TensorRT 11 way.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ..onnx_file import count_na_nodes, input_shapes, read_metadata, write_atomic
from .trt_engine import TrtError, sidecar_path

PRECISIONS = ("fp32", "fp16", "bf16")
#: min / opt / max batch for a dynamic batch axis when no shape is given.
DEFAULT_BATCH_PROFILE = (1, 8, 32)
SIDECAR_FORMAT = "nat-export.engine"
SIDECAR_VERSION = 1
#: metadata_props the exporter writes (``nat_export.<key>``); JSON-valued ones are decoded.
METADATA_KEYS = ("variant", "config", "preprocessing", "labels", "contract_version", "na_mode", "dtype", "resolution")


class ProfileError(ValueError):
    """Shapes for the optimization profile that do not fit the ONNX inputs; the message says how to fix them."""


# ---------------------------------------------------------------- profiles


@dataclass(frozen=True)
class Profile:
    """One optimization profile: per input name, the (min, opt, max) shapes."""

    shapes: dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]

    def to_json(self) -> dict:
        return {n: {"min": list(s[0]), "opt": list(s[1]), "max": list(s[2])} for n, s in self.shapes.items()}


def _is_static(d) -> bool:
    return isinstance(d, int) and d > 0


def parse_shape_arg(text: str | int | None) -> dict[str | None, tuple[int, ...]]:
    """``"8"`` (batch), ``"1x3x224x224"`` (full shape) or ``"name:1x3x224x224,other:..."``.

    Returns ``{input name or None: dims}``; one dim means the batch only.
    """
    if text is None:
        return {}
    out: dict[str | None, tuple[int, ...]] = {}
    for part in str(text).replace(" ", "").split(","):
        if not part:
            continue
        name, _, dims = part.rpartition(":")
        try:
            shape = tuple(int(d) for d in dims.lower().split("x"))
        except ValueError:
            raise ProfileError(
                f"shape {part!r} is not N (batch), NxCxHxW, or NAME:NxCxHxW with positive integers"
            ) from None
        if not shape or min(shape) < 1:
            raise ProfileError(f"shape {part!r} has a dimension < 1; every dimension must be a positive integer")
        key = name or None
        if key in out:
            raise ProfileError(f"shape for {key or 'the input'} given twice in {text!r}")
        out[key] = shape
    return out


def _spec_for(spec: dict[str | None, tuple[int, ...]], name: str, n_inputs: int, flag: str):
    if name in spec:
        return spec[name]
    if None in spec:
        if n_inputs > 1:
            raise ProfileError(f"the ONNX has {n_inputs} inputs: name the one {flag} is for ({flag} NAME:NxCxHxW)")
        return spec[None]
    return None


def _full_shape(name: str, onnx_shape: Sequence, spec, flag: str, resolution) -> tuple[int, ...] | None:
    if spec is None:
        return None
    rank = len(onnx_shape)
    if len(spec) == 1 and rank != 1:  # batch only
        dims = [spec[0]]
        for ax, d in enumerate(onnx_shape[1:], start=1):
            if _is_static(d):
                dims.append(d)
            elif resolution is not None and rank == 4 and ax in (2, 3):
                dims.append(int(resolution[ax - 2]))
            else:
                raise ProfileError(
                    f"input {name} has a dynamic axis {ax} ({d!r}); give full shapes, e.g. {flag} {name}:"
                    + "x".join(str(x if _is_static(x) else "N") for x in onnx_shape)
                )
        return tuple(dims)
    if len(spec) != rank:
        raise ProfileError(f"{flag} gives {len(spec)} dims for input {name}, which has {rank} ({list(onnx_shape)})")
    for ax, (want, d) in enumerate(zip(spec, onnx_shape)):
        if _is_static(d) and want != d:
            raise ProfileError(f"{flag} sets axis {ax} of input {name} to {want}, but the ONNX fixes it to {d}")
    return tuple(spec)


def profiles_from_args(
    inputs: dict[str, Sequence[int | str | None]],
    *,
    batch: int | None = None,
    min_shapes: str | None = None,
    opt_shapes: str | None = None,
    max_shapes: str | None = None,
    resolution: Sequence[int] | None = None,
) -> list[Profile]:
    """The optimization profile for ``inputs`` (name -> ONNX shape; str/None/<=0 = dynamic).

    - ``batch=N``: the batch axis is fixed to N (min = opt = max).
    - ``min_shapes``/``opt_shapes``/``max_shapes`` (each as :func:`parse_shape_arg`): a missing
      opt is max, a missing max is opt, a missing min is batch 1 with opt's other dims.
    - nothing: static inputs as they are; a dynamic batch gets :data:`DEFAULT_BATCH_PROFILE`.

    Dynamic axes other than the batch take ``resolution`` (H, W of a 4-D input) when only
    the batch is given, otherwise full shapes are required.
    """
    if not inputs:
        raise ProfileError("the ONNX graph has no inputs")
    given = [a for a in (min_shapes, opt_shapes, max_shapes) if a is not None]
    if batch is not None and given:
        raise ProfileError("use either --batch or --min/--opt/--max, not both")
    if batch is not None and batch < 1:
        raise ProfileError(f"--batch must be >= 1, got {batch}")
    mins, opts, maxs = (parse_shape_arg(a) for a in (min_shapes, opt_shapes, max_shapes))
    if mins and not (opts or maxs):
        raise ProfileError("--min needs --max (and optionally --opt)")
    for spec, flag in ((mins, "--min"), (opts, "--opt"), (maxs, "--max")):
        unknown = [k for k in spec if k is not None and k not in inputs]
        if unknown:
            raise ProfileError(f"{flag} names input {unknown[0]!r}; the ONNX inputs are {', '.join(inputs)}")
    n = len(inputs)
    shapes = {}
    for name, onnx_shape in inputs.items():
        onnx_shape = list(onnx_shape)
        dynamic = [ax for ax, d in enumerate(onnx_shape) if not _is_static(d)]
        if batch is not None:
            if onnx_shape and _is_static(onnx_shape[0]) and onnx_shape[0] != batch:
                raise ProfileError(
                    f"input {name} has a fixed batch of {onnx_shape[0]}; drop --batch or re-export with a dynamic batch"
                )
            s = _full_shape(name, onnx_shape, (batch,), "--batch", resolution)
            lo = op = hi = s
        elif given:
            lo = _full_shape(name, onnx_shape, _spec_for(mins, name, n, "--min"), "--min", resolution)
            op = _full_shape(name, onnx_shape, _spec_for(opts, name, n, "--opt"), "--opt", resolution)
            hi = _full_shape(name, onnx_shape, _spec_for(maxs, name, n, "--max"), "--max", resolution)
            op = op or hi
            hi = hi or op
            if op is None:
                if dynamic:
                    raise ProfileError(f"no --opt/--max shape for input {name}, which has dynamic axes {dynamic}")
                op = hi = lo = tuple(onnx_shape)
            if lo is None:
                lo = (1, *op[1:]) if onnx_shape and not _is_static(onnx_shape[0]) else op
        else:
            if not dynamic:
                lo = op = hi = tuple(onnx_shape)
            else:
                b_lo, b_opt, b_hi = DEFAULT_BATCH_PROFILE if 0 in dynamic else (onnx_shape[0],) * 3
                lo = _full_shape(name, onnx_shape, (b_lo,), "--min", resolution)
                op = _full_shape(name, onnx_shape, (b_opt,), "--opt", resolution)
                hi = _full_shape(name, onnx_shape, (b_hi,), "--max", resolution)
        if not (len(lo) == len(op) == len(hi)):
            raise ProfileError(f"min/opt/max shapes of input {name} have different ranks")
        for ax in range(len(lo)):
            if not lo[ax] <= op[ax] <= hi[ax]:
                raise ProfileError(
                    f"input {name}: axis {ax} needs min <= opt <= max, got {lo[ax]} / {op[ax]} / {hi[ax]} "
                    f"(min {list(lo)}, opt {list(op)}, max {list(hi)})"
                )
        shapes[name] = (tuple(lo), tuple(op), tuple(hi))
    return [Profile(shapes)]


# ---------------------------------------------------------------- precision


@dataclass(frozen=True)
class PrecisionPlan:
    precision: str  # what the engine computes in: fp32 / fp16 / bf16
    strongly_typed: bool
    convert_to: str | None  # run nat_export.runtime.fp16 to this type before parsing
    builder_flag: str | None  # "FP16" / "BF16": TensorRT 10 weak typing
    note: str

    @property
    def mode(self) -> str:
        if self.builder_flag:
            return f"builder flag {self.builder_flag} on the fp32 ONNX (TensorRT 10 weak typing)"
        if self.convert_to:
            return f"strongly typed; {self.convert_to}-typed ONNX prepared by nat_export.runtime.fp16"
        return f"strongly typed; the ONNX is {self.precision}-typed as given"


def precision_plan(requested: str, onnx_type: str | None, trt_major: int, strongly_typed: bool = False) -> PrecisionPlan:
    """How to build ``requested`` precision from an ONNX of ``onnx_type`` with TensorRT ``trt_major``."""
    if requested not in PRECISIONS:
        raise ProfileError(f"unknown precision {requested!r}; use one of {', '.join(PRECISIONS)}")
    onnx_type = onnx_type or "fp32"
    if requested == "fp32":
        if onnx_type != "fp32":
            return PrecisionPlan(onnx_type, True, None, None, f"the ONNX is {onnx_type}-typed: the engine is {onnx_type}")
        return PrecisionPlan("fp32", True, None, None, "fp32, TF32 off")
    if onnx_type == requested:
        return PrecisionPlan(requested, True, None, None, f"the ONNX is already {requested}-typed")
    if onnx_type != "fp32":
        raise ProfileError(
            f"the ONNX is {onnx_type}-typed and cannot be built as {requested}; export it in fp32 "
            f"(nat-export onnx) and build with --{requested}"
        )
    if trt_major >= 11 or strongly_typed:
        return PrecisionPlan(requested, True, requested, None, f"fp32 ONNX converted to {requested} for a strongly typed build")
    return PrecisionPlan(requested, False, None, requested.upper(), f"TensorRT {trt_major}: builder flag {requested.upper()}")


# ---------------------------------------------------------------- files


def make_sidecar(
    *,
    engine_path: str | Path,
    onnx_path: str | Path | None,
    metadata: dict,
    plan: PrecisionPlan,
    tensorrt_version: str,
    profiles: Sequence[Profile],
    inputs: Sequence[dict],
    outputs: Sequence[dict],
    plugin: dict | None = None,
    gpu: dict | None = None,
    workspace_mb: int | None = None,
    tf32: bool = False,
    version_compatible: bool = False,
    build_seconds: float | None = None,
) -> dict:
    """The JSON sidecar of an engine: what it is, how it was built, how to feed it."""
    from .. import __version__

    data: dict[str, Any] = {
        "format": SIDECAR_FORMAT,
        "format_version": SIDECAR_VERSION,
        "engine": Path(engine_path).name,
        "onnx": Path(onnx_path).name if onnx_path else None,
    }
    for key in METADATA_KEYS:
        if key in metadata:
            data[key] = metadata[key]
    data.update(
        precision=plan.precision,
        precision_mode=plan.mode,
        strongly_typed=plan.strongly_typed,
        tf32=bool(tf32),
        tensorrt_version=str(tensorrt_version),
        version_compatible=bool(version_compatible),
        plugin_serialized=bool(version_compatible and plugin),
        plugin=plugin,
        gpu=gpu,
        profiles=[p.to_json() for p in profiles],
        inputs=list(inputs),
        outputs=list(outputs),
        workspace_mb=workspace_mb,
        build_seconds=None if build_seconds is None else round(float(build_seconds), 2),
        created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        nat_export_version=__version__,
    )
    return data


def write_sidecar(engine_path: str | Path, data: dict, force: bool = True) -> Path:
    path = sidecar_path(engine_path)
    write_atomic(path, (json.dumps(data, indent=1) + "\n").encode(), force=force)
    return path


# ---------------------------------------------------------------- build


@dataclass
class BuildOptions:
    precision: str = "fp32"
    batch: int | None = None
    min_shapes: str | None = None
    opt_shapes: str | None = None
    max_shapes: str | None = None
    workspace_mb: int | None = None
    timing_cache: str | Path | None = None
    plugin: str | Path | None = None
    strongly_typed: bool = False  # TensorRT 10: convert instead of the fp16/bf16 builder flag
    tf32: bool = False
    version_compatible: bool = False
    save_onnx: str | Path | None = None  # where to keep the fp16/bf16-converted ONNX
    verbose: bool = False


@dataclass
class BuildResult:
    engine: Path
    sidecar: Path
    info: dict
    seconds: float
    notes: list[str] = field(default_factory=list)


def _dims(d) -> list[int]:
    return [int(x) for x in d]


def _parser_error(parser) -> str:
    def call(e, attr):
        try:
            return str(getattr(e, attr)()) if hasattr(e, attr) else ""
        except Exception:  # noqa: BLE001 - informative only
            return ""

    errs = []
    for i in range(parser.num_errors):
        e = parser.get_error(i)
        desc = call(e, "desc") or str(e)
        where = ", ".join(x for x in (call(e, "node_name") and f"node {call(e, 'node_name')}",
                                      call(e, "node_operator") and f"op {call(e, 'node_operator')}") if x)
        errs.append(" ".join(desc.split()) + (f" ({where})" if where else ""))
    if not errs:
        return "unknown parser error"
    return errs[0] + (f" (and {len(errs) - 1} more)" if len(errs) > 1 else "")


def make_progress_monitor(trt, progress):
    """An ``IProgressMonitor`` that shows TensorRT's build phases as rich progress bars.

    Ctrl-C while building asks TensorRT to stop (the build then returns no engine).
    """

    class _Monitor(trt.IProgressMonitor):
        def __init__(self):
            trt.IProgressMonitor.__init__(self)
            self.tasks: dict[str, Any] = {}
            self.depth: dict[str, int] = {}
            self.cancelled = False

        def phase_start(self, phase_name, parent_phase, num_steps):
            try:
                depth = self.depth.get(parent_phase, -1) + 1 if parent_phase else 0
                self.depth[phase_name] = depth
                self.tasks[phase_name] = progress.add_task("  " * depth + str(phase_name), total=max(int(num_steps), 1))
            except KeyboardInterrupt:
                self.cancelled = True

        def step_complete(self, phase_name, step):
            try:
                task = self.tasks.get(phase_name)
                if task is not None:
                    progress.update(task, completed=int(step) + 1)
            except KeyboardInterrupt:
                self.cancelled = True
            return not self.cancelled

        def phase_finish(self, phase_name):
            try:
                task = self.tasks.pop(phase_name, None)
                if task is not None:
                    progress.remove_task(task)
                self.depth.pop(phase_name, None)
            except KeyboardInterrupt:
                self.cancelled = True

    return _Monitor()


def _io_info(network) -> tuple[list[dict], list[dict]]:
    def info(t):
        return {"name": t.name, "dtype": getattr(t.dtype, "name", str(t.dtype)), "shape": _dims(t.shape)}

    return (
        [info(network.get_input(i)) for i in range(network.num_inputs)],
        [info(network.get_output(i)) for i in range(network.num_outputs)],
    )


def build_engine(onnx_path: str | Path, engine_path: str | Path, opts: BuildOptions | None = None, *,
                 force: bool = False, progress=None, log=None) -> BuildResult:
    """Build ``engine_path`` (+ its sidecar) from ``onnx_path``; nothing is written unless the build succeeds.

    ``progress``: a ``rich.progress.Progress`` (not started) to show the build phases on; ``log``: a
    callable taking one line of text (notes such as the precision plan).
    """
    import onnx

    from ..native import find_library
    from . import fp16 as fp16_mod
    from .trt_engine import gpu_info, import_tensorrt, load_plugin_library, make_logger, plugin_creator_info, require_gpu, trt_major

    opts = opts or BuildOptions()
    say = log or (lambda _msg: None)
    onnx_path, engine_path = Path(onnx_path), Path(engine_path)
    if engine_path.exists() and not force:
        raise FileExistsError(f"{engine_path} exists; pass --force to overwrite it")
    if not onnx_path.is_file():
        raise FileNotFoundError(f"ONNX file {onnx_path} not found; export one with `nat-export onnx {onnx_path}`")
    if opts.precision not in PRECISIONS:
        raise ProfileError(f"unknown precision {opts.precision!r}; use one of {', '.join(PRECISIONS)}")

    # Inputs the user can fix come first (cheap), then TensorRT, then the GPU.
    model = onnx.load(str(onnx_path), load_external_data=False)
    meta = read_metadata(model)
    inputs = input_shapes(model)
    profiles = profiles_from_args(
        inputs, batch=opts.batch, min_shapes=opts.min_shapes, opt_shapes=opts.opt_shapes, max_shapes=opts.max_shapes,
        resolution=meta.get("resolution"),
    )
    needs_plugin = count_na_nodes(model) > 0
    plugin_path = find_library("trt", opts.plugin) if (needs_plugin or opts.plugin is not None) else None
    onnx_type = fp16_mod.graph_float_type(model) or meta.get("dtype")
    del model
    trt = import_tensorrt()
    if not hasattr(trt, "Builder") or not hasattr(trt, "OnnxParser"):
        raise TrtError(f"this TensorRT package ({getattr(trt, '__name__', 'tensorrt')}) has no builder / ONNX parser; install the full TensorRT")
    major = trt_major(trt)
    plan = precision_plan(opts.precision, onnx_type, major, opts.strongly_typed)
    notes = [f"precision: {plan.note}"]
    require_gpu("building a TensorRT engine")  # before any Builder exists
    say(notes[-1])

    parse_bytes = None
    if plan.convert_to:
        full = onnx.load(str(onnx_path))
        converted, report = fp16_mod.convert_float_graph(full, plan.convert_to)
        notes.append(f"converted: {report.summary()}")
        say(notes[-1])
        parse_bytes = converted.SerializeToString()
        if opts.save_onnx:
            write_atomic(Path(opts.save_onnx), parse_bytes, force=True)
            say(f"wrote the {plan.convert_to} ONNX to {opts.save_onnx}")
        del full, converted

    logger = make_logger(trt, opts.verbose)
    start = time.perf_counter()
    builder = trt.Builder(logger)
    registry = builder.get_plugin_registry() if hasattr(builder, "get_plugin_registry") else trt.get_plugin_registry()
    plugin_info = None
    if plugin_path is not None:
        load_plugin_library(registry, plugin_path, logger)
        plugin_info = {"library": plugin_path.name, "path": str(plugin_path), **(plugin_creator_info(registry) or {})}

    flags = 0
    if plan.strongly_typed and major < 11 and hasattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED"):
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    ok = parser.parse(parse_bytes, str(onnx_path)) if parse_bytes is not None else parser.parse_from_file(str(onnx_path))
    if not ok:
        raise TrtError(f"TensorRT's ONNX parser rejected {onnx_path}: {_parser_error(parser)}")

    config = builder.create_builder_config()
    if opts.workspace_mb:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(opts.workspace_mb) << 20)
    if plan.builder_flag:
        config.set_flag(getattr(trt.BuilderFlag, plan.builder_flag))
    if hasattr(trt.BuilderFlag, "TF32"):
        (config.set_flag if opts.tf32 else config.clear_flag)(trt.BuilderFlag.TF32)
    if opts.version_compatible:
        config.set_flag(trt.BuilderFlag.VERSION_COMPATIBLE)
        if plugin_path is not None:
            config.plugins_to_serialize = [str(plugin_path)]
    for prof in profiles:
        p = builder.create_optimization_profile()
        for name, (lo, op, hi) in prof.shapes.items():
            p.set_shape(name, lo, op, hi)
        config.add_optimization_profile(p)
    cache = None
    if opts.timing_cache:
        tc = Path(opts.timing_cache)
        cache = config.create_timing_cache(tc.read_bytes() if tc.is_file() else b"")
        config.set_timing_cache(cache, ignore_mismatch=False)
    monitor = None
    if progress is not None and hasattr(trt, "IProgressMonitor"):
        monitor = make_progress_monitor(trt, progress)
        config.progress_monitor = monitor

    if progress is not None:
        progress.start()
    try:
        serialized = builder.build_serialized_network(network, config)
    finally:
        if progress is not None:
            progress.stop()
    if serialized is None:
        if monitor is not None and monitor.cancelled:
            raise KeyboardInterrupt
        raise TrtError(f"TensorRT could not build the engine: {logger.last_error()}")
    seconds = time.perf_counter() - start

    ins, outs = _io_info(network)
    info = make_sidecar(
        engine_path=engine_path, onnx_path=onnx_path, metadata=meta, plan=plan, tensorrt_version=trt.__version__,
        profiles=profiles, inputs=ins, outputs=outs, plugin=plugin_info, gpu=gpu_info(0), workspace_mb=opts.workspace_mb,
        tf32=opts.tf32, version_compatible=opts.version_compatible, build_seconds=seconds,
    )
    write_atomic(engine_path, memoryview(serialized), force=force)
    side = write_sidecar(engine_path, info, force=True)
    if cache is not None:
        write_atomic(Path(opts.timing_cache), memoryview(config.get_timing_cache().serialize()), force=True)
    return BuildResult(engine_path, side, info, seconds, notes)

