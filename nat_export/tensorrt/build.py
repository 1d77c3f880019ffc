"""ONNX -> TensorRT engine + sidecar: :func:`build_engine`.

Needs the full TensorRT (``tensorrt``, with its builder and ONNX parser) and a GPU. The parts
that need neither live beside it and are tested everywhere: :mod:`.profiles`,
:mod:`.precision`, :mod:`.sidecar`, and the fp16/bf16 pass :mod:`nat_export.onnx.fp16`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..native import plugin_build_info
from ..onnx.files import read_onnx, write_atomic
from . import env
from .plugins import load_plugin_library, plugin_creator_info, resolve_plugin
from .precision import PRECISIONS, precision_plan
from .profiles import ProfileError, profiles_from_args
from .sidecar import make_sidecar, sidecar_path, write_sidecar

__all__ = ["BuildOptions", "BuildResult", "build_engine", "make_progress_monitor"]


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
        where = ", ".join(
            x
            for x in (
                call(e, "node_name") and f"node {call(e, 'node_name')}",
                call(e, "node_operator") and f"op {call(e, 'node_operator')}",
            )
            if x
        )
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


def build_engine(
    onnx_path: str | Path,
    engine_path: str | Path,
    opts: BuildOptions | None = None,
    *,
    force: bool = False,
    progress=None,
    log=None,
) -> BuildResult:
    """Build ``engine_path`` (+ its sidecar) from ``onnx_path``; nothing is written unless the build succeeds.

    ``progress``: a ``rich.progress.Progress`` (not started) to show the build phases on; ``log``: a
    callable taking one line of text (notes such as the precision plan).
    """
    from ..onnx import fp16 as fp16_mod

    opts = opts or BuildOptions()
    say = log or (lambda _msg: None)
    onnx_path, engine_path = Path(onnx_path), Path(engine_path)
    if engine_path.exists() and not force:
        raise FileExistsError(f"{engine_path} exists; pass --force to overwrite it")
    if opts.precision not in PRECISIONS:
        raise ProfileError(f"unknown precision {opts.precision!r}; use one of {', '.join(PRECISIONS)}")
    if engine_path.resolve() == onnx_path.resolve():
        raise ProfileError(f"the engine {engine_path} would replace its ONNX input; give the engine another name")
    if opts.save_onnx is not None:
        keep = Path(opts.save_onnx)
        if keep.resolve() in (onnx_path.resolve(), engine_path.resolve()):
            raise ProfileError(
                f"--save-onnx {keep} is also the input or the engine; give the converted ONNX another name"
            )
        if keep.exists() and not force:
            raise FileExistsError(f"{keep} exists; pass --force to overwrite it")
    side = sidecar_path(engine_path)
    if side.exists() and not force:
        raise FileExistsError(f"{side} (the engine's sidecar) exists; pass --force to overwrite it")
    if opts.timing_cache is not None:
        tc = Path(opts.timing_cache)
        if tc.resolve() in {p.resolve() for p in (onnx_path, engine_path, side, Path(opts.save_onnx or side))}:
            raise ProfileError(f"--timing-cache {tc} is also the input or an output; give the cache its own file")
        if tc.exists() and not tc.is_file():
            raise ProfileError(f"--timing-cache {tc} is not a regular file; give a file name, e.g. trt.cache")

    # Inputs the user can fix come first (cheap), then TensorRT, then the GPU.
    model, facts = read_onnx(onnx_path)
    desc = facts.description
    profiles = profiles_from_args(
        facts.inputs,
        batch=opts.batch,
        min_shapes=opts.min_shapes,
        opt_shapes=opts.opt_shapes,
        max_shapes=opts.max_shapes,
        resolution=desc.resolution,
    )
    plugin_path = resolve_plugin(opts.plugin, facts.na_nodes > 0)
    onnx_type = fp16_mod.graph_float_type(model) or desc.dtype
    del model
    trt = env.import_tensorrt()
    if not hasattr(trt, "Builder") or not hasattr(trt, "OnnxParser"):
        raise env.TrtError(
            f"this TensorRT package ({getattr(trt, '__name__', 'tensorrt')}) has no builder / ONNX parser; "
            "install the full TensorRT"
        )
    major = env.trt_major(trt)
    plan = precision_plan(opts.precision, onnx_type, major, opts.strongly_typed)
    notes = [f"precision: {plan.note}"]
    env.require_gpu("building a TensorRT engine")  # before any Builder exists
    say(notes[-1])

    parse_bytes = None
    if plan.convert_to:
        full, _ = read_onnx(onnx_path, load_weights=True)
        converted, report = fp16_mod.convert_float_graph(full, plan.convert_to)
        notes.append(f"converted: {report.summary()}")
        say(notes[-1])
        parse_bytes = converted.SerializeToString()
        if opts.save_onnx:
            write_atomic(Path(opts.save_onnx), parse_bytes, force=force)
            say(f"wrote the {plan.convert_to} ONNX to {opts.save_onnx}")
        del full, converted

    logger = env.make_logger(trt, opts.verbose)
    start = time.perf_counter()
    builder = trt.Builder(logger)
    registry = builder.get_plugin_registry() if hasattr(builder, "get_plugin_registry") else trt.get_plugin_registry()
    plugin_info = None
    if plugin_path is not None:
        load_plugin_library(registry, plugin_path, logger)
        plugin_info = {"library": plugin_path.name, "path": str(plugin_path), **(plugin_creator_info(registry) or {})}
        # What the library was built with (CUDA runtime, nvcc, archs), as recorded in it by build-plugins.
        plugin_info["build"] = plugin_build_info(plugin_path)

    flags = 0
    if plan.strongly_typed and major < 11 and hasattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED"):
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    ok = (
        parser.parse(parse_bytes, str(onnx_path)) if parse_bytes is not None else parser.parse_from_file(str(onnx_path))
    )
    if not ok:
        raise env.TrtRefusedError(
            f"TensorRT's ONNX parser rejected {onnx_path}: {_parser_error(parser)}; re-export it with `nat-export onnx`, or run with -v"
        )

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
        raise env.TrtRefusedError(
            f"TensorRT could not build the engine: {logger.last_error()}; run with -v for TensorRT's log"
        )
    seconds = time.perf_counter() - start

    ins, outs = _io_info(network)
    info = make_sidecar(
        engine_path=engine_path,
        onnx_path=onnx_path,
        description=desc,
        plan=plan,
        tensorrt_version=trt.__version__,
        profiles=profiles,
        inputs=ins,
        outputs=outs,
        plugin=plugin_info,
        gpu=env.gpu_info(0),
        workspace_mb=opts.workspace_mb,
        tf32=opts.tf32,
        version_compatible=opts.version_compatible,
        build_seconds=seconds,
    )
    write_atomic(engine_path, memoryview(serialized), force=force)
    side = write_sidecar(engine_path, info, force=True)
    if cache is not None:
        write_atomic(Path(opts.timing_cache), memoryview(config.get_timing_cache().serialize()), force=True)
    return BuildResult(engine_path, side, info, seconds, notes)
